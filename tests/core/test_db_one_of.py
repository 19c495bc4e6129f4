"""`core.db.one_of`: a long list of values bound as one parameter, with the same rows as `IN`, on both stores."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Engine, func, insert, select

from passage.core.db import count_rows, one_of, unit_of_work
from passage.security.models import Organisation


def _organisations(count: int) -> list[str]:
    now = dt.datetime.now(dt.UTC)
    ids = [secrets.token_hex(16) for _ in range(count)]
    with unit_of_work() as session:
        session.execute(insert(Organisation), [{"id": i, "name": f"One-of {n}", "country": "NL", "level": "national", "version": 1,
                                                "created_at": now, "updated_at": now} for n, i in enumerate(ids)])
    return ids


def test_one_of_selects_exactly_the_listed_rows_for_thousands_of_values(any_store: Engine) -> None:
    ids = _organisations(1500)
    # 5,000 values (more than SQLite's old 999-variable limit), of which 1,200 exist; plus one that looks like SQL
    wanted = ids[:1200] + [secrets.token_hex(16) for _ in range(3799)] + ["x') OR ('1'='1"]
    with unit_of_work() as session:
        found = set(session.scalars(select(Organisation.id).where(one_of(session, Organisation.id, wanted))))
        assert found == set(ids[:1200])
        # the same condition counted (count_rows wraps it in a sub-query, and on PostgreSQL asks EXPLAIN above the cap)
        assert count_rows(session, select(Organisation.id).where(one_of(session, Organisation.id, wanted)), exact_up_to=2000).value == 1200
        estimated = count_rows(session, select(Organisation.id).where(one_of(session, Organisation.id, wanted)), exact_up_to=100)
        assert estimated.value >= 101


def test_two_one_of_on_one_column_in_one_statement_keep_their_own_values(any_store: Engine) -> None:
    ids = _organisations(4)
    with unit_of_work() as session:
        both = select(Organisation.id).where(one_of(session, Organisation.id, ids[:3]), one_of(session, Organisation.id, ids[1:]))
        assert set(session.scalars(both)) == set(ids[1:3])


def test_one_of_with_no_values_selects_nothing(any_store: Engine) -> None:
    _organisations(3)
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Organisation).where(one_of(session, Organisation.id, []))) == 0
