"""FastAPI dependencies shared by every module: the per-request database session.

`DbSession` opens one session per request and commits it once, after the route function returns and
before the response is sent (`scope="function"`), so a response is only sent for a committed change.
Any exception rolls the whole change back, audit entry included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from passage.core.db import unit_of_work


async def get_db(request: Request) -> AsyncIterator[Session]:
    """`unit_of_work` for the request. Opening it does no I/O (the session connects at its first statement), so
    it opens on the event loop; the commit or rollback, which block, run in the thread pool. A synchronous
    generator would cost two trips to the thread pool per request (one to open, one to close)."""
    context = unit_of_work(read_request=request.method in ("GET", "HEAD"))
    session = context.__enter__()
    try:
        yield session
    except BaseException as exc:
        # the rollback runs even if the request is being cancelled (a client that went away)
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(context.__exit__, type(exc), exc, exc.__traceback__)
        raise
    else:
        await run_in_threadpool(context.__exit__, None, None, None)


DbSession = Annotated[Session, Depends(get_db, scope="function")]
