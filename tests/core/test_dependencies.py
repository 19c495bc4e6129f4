"""Issue 20, "Dependencies": the runtime set holds only what the application imports, and each runtime
dependency is named in docs/architecture.md's table with why it is there."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def _project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_test_only_packages_are_not_runtime_dependencies_and_itsdangerous_is_gone() -> None:
    project = _project()
    runtime = _names(project["dependencies"])
    assert not runtime & {"httpx", "libhxl", "psutil", "itsdangerous"}
    assert {"httpx", "libhxl", "psutil"} <= _names(project["optional-dependencies"]["dev"])


def test_every_runtime_dependency_is_documented_with_a_reason() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    documented: set[str] = set()
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[1] and not set(cells[1]) <= {"-"}:
            documented |= {re.split(r"\[", name.strip(), maxsplit=1)[0].lower() for name in cells[0].split(",")}
    missing = sorted(_names(_project()["dependencies"]) - documented)
    assert not missing, f"runtime dependencies without a row in docs/architecture.md: {missing}"
