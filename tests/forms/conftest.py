"""Fixtures for the forms tests: XLSForm workbooks built in code; the database is the shared migrated `store`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from passage.core.db import session_factory
from tests.forms.xlsform_factory import CHOICES, SETTINGS, SURVEY, write_xlsform


@pytest.fixture
def site_form_path(tmp_path: Path) -> Path:
    return write_xlsform(tmp_path / "site_check.xlsx", SURVEY, CHOICES, SETTINGS)


@pytest.fixture
def engine(store: Engine) -> Engine:
    """The migrated SQLite store (real migrations, real key ring) that the forms tables live in."""
    return store


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session
