"""Biometrics fixtures: NIST reference records and three real impressions (see data/NOTICE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from passage.biometrics.extract import Extraction, extract

FIXTURES = Path("/work/shared/fixtures/biometrics")
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def reference_records() -> dict[str, bytes]:
    return {name: (FIXTURES / f"fmr.{name}").read_bytes() for name in ("iso2005", "ansi2004", "ansi2007")}


@pytest.fixture(scope="session")
def extracted() -> dict[str, Extraction]:
    return {name: extract((DATA / f"{name}.png").read_bytes()) for name in ("p1_1", "p1_2", "p2_1")}
