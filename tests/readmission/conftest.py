from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import passage.readmission.models  # noqa: F401 - registers the tables
from passage.core.db import make_engine, session_factory
from passage.core.models import Base


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    """A throwaway SQLite database with every registered table."""
    eng = make_engine(f"sqlite:///{tmp_path / 'readmission.db'}")
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s
