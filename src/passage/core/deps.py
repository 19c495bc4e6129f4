"""FastAPI dependencies shared by every module: the per-request database session.

`DbSession` opens one session per request and commits it once, after the route function returns and
before the response is sent (`scope="function"`), so a response is only sent for a committed change.
Any exception rolls the whole change back, audit entry included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from passage.core.db import session_factory


def get_db() -> Iterator[Session]:
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_db, scope="function")]
