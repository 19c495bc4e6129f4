"""FastAPI dependencies shared by every module: the per-request database session.

`DbSession` opens one session per request and commits it once, after the route function returns and
before the response is sent (`scope="function"`), so a response is only sent for a committed change.
Any exception rolls the whole change back, audit entry included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from passage.core.db import unit_of_work


def get_db(request: Request) -> Iterator[Session]:
    with unit_of_work(read_request=request.method in ("GET", "HEAD")) as session:
        yield session


DbSession = Annotated[Session, Depends(get_db, scope="function")]
