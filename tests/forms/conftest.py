"""Fixtures for the forms tests: XLSForm workbooks built in code and a throwaway SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import passage.forms.models  # noqa: F401 - registers the forms tables on Base.metadata
from passage.core.db import make_engine, session_factory
from passage.core.models import Base
from tests.forms.xlsform_factory import CHOICES, SETTINGS, SURVEY, write_xlsform


@pytest.fixture
def site_form_path(tmp_path: Path) -> Path:
    return write_xlsform(tmp_path / "site_check.xlsx", SURVEY, CHOICES, SETTINGS)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'forms.db'}")
    Base.metadata.create_all(engine, tables=[t for t in Base.metadata.sorted_tables if t.name.startswith("forms_")])
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


