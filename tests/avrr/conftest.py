"""A throwaway SQLite database with the AVRR tables, one per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import passage.avrr.models  # noqa: F401 - registers the AVRR tables on Base.metadata
from passage.core.db import make_engine, session_factory
from passage.core.models import Base


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'avrr.db'}")
    avrr_tables = [t for t in Base.metadata.sorted_tables if t.name.startswith("avrr_")]
    Base.metadata.create_all(eng, tables=avrr_tables)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s
