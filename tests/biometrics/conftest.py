"""Biometrics fixtures: NIST reference records and three real impressions (see data/NOTICE)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from passage.biometrics.extract import Extraction, extract


def _shared_fixtures() -> Path:
    """NIST's reference records live in the project's shared folder beside the repository (CI clones it there)."""
    repository = Path(__file__).resolve().parents[2]
    candidates = [os.environ.get("PASSAGE_SHARED_DIR"), repository.parent / "shared", Path("/work/shared")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "fixtures" / "biometrics" / "fmr.iso2005").exists():
            return Path(candidate) / "fixtures" / "biometrics"
    raise FileNotFoundError("shared/fixtures/biometrics not found beside the repository; set PASSAGE_SHARED_DIR")


FIXTURES = _shared_fixtures()
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def reference_records() -> dict[str, bytes]:
    return {name: (FIXTURES / f"fmr.{name}").read_bytes() for name in ("iso2005", "ansi2004", "ansi2007")}


@pytest.fixture(scope="session")
def extracted() -> dict[str, Extraction]:
    return {name: extract((DATA / f"{name}.png").read_bytes()) for name in ("p1_1", "p1_2", "p2_1")}
