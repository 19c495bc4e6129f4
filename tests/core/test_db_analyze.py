"""`core.db.analyze`: planner statistics after a bulk load, on SQLite and PostgreSQL, in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Engine, insert, text

from passage.core.db import analyze, unit_of_work
from passage.security.models import Organisation


def _row_estimate(session, engine: Engine) -> int:  # type: ignore[no-untyped-def]
    if engine.dialect.name == "sqlite":
        stat = session.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'organisations'")).scalars().first()
        return int(str(stat).split()[0]) if stat else 0
    return int(session.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'organisations'")).scalar_one())


def test_a_bulk_load_leaves_statistics_the_planner_can_use(any_store: Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    with unit_of_work() as session:
        session.execute(insert(Organisation), [{"id": secrets.token_hex(16), "name": f"Bulk {i}", "country": "NL", "level": "national", "version": 1,
                                                "created_at": now, "updated_at": now} for i in range(1200)])
        analyze(session, Organisation.__tablename__)
    with unit_of_work() as session:
        assert _row_estimate(session, any_store) >= 1200
        analyze(session)  # the whole database (the demo load) runs too
