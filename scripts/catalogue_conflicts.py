"""List the English messages translated differently in two module catalogues, and whether the glossary lists the
difference as intended ("Words that differ by module" in docs/glossary.md).

    .venv/bin/python scripts/catalogue_conflicts.py [LOCALE]

Exits non-zero when a difference is not listed (as `tests/core/test_i18n_modules.py` does).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from passage.core import i18n

GLOSSARY = Path(__file__).resolve().parents[1] / "docs" / "glossary.md"


def intended() -> set[str]:
    text = GLOSSARY.read_text(encoding="utf-8")
    section = text[text.index("## Words that differ by module (intended)"):]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


def main(argv: list[str]) -> int:
    conflicts = i18n.catalogue_conflicts(argv[0] if argv else "zh_Hans")
    listed = intended()
    unlisted = 0
    for msgid, by_module in sorted(conflicts.items(), key=lambda item: str(item[0]).lower()):
        mark = "intended" if msgid in listed else "NOT LISTED"
        unlisted += mark != "intended"
        print(f"{mark:10} {msgid!r}: " + "; ".join(f"{module}: {chinese}" for module, chinese in by_module.items()))
    print(f"{len(conflicts)} messages differ between modules, {unlisted} not listed as intended")
    return 1 if unlisted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
