"""The central authority's inbox reads in index order and does not count every case on a wide scope (issue 18).

The page query of the default sort (recently changed) is captured as it runs and handed back to the store's
own planner: SQLite's `EXPLAIN QUERY PLAN` and PostgreSQL's `EXPLAIN`. The plan must walk
`ix_readmission_case_updated_id` and must not sort the scope (`USE TEMP B-TREE FOR ORDER BY` on SQLite, a `Sort`
node on PostgreSQL), at the first page and at a deep one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, text

from passage.core.db import get_engine, unit_of_work
from passage.readmission import service
from passage.readmission.models import ReadmissionCase
from passage.security.models import Organisation, User

CASES = 4000


def seed(engine: Engine, count: int = CASES) -> None:
    """`count` submitted cases addressed to China, most from NL and FR, straight into the table (no personal data)."""
    with unit_of_work() as s:
        orgs = list(s.scalars(select(Organisation)))
        mps = next(o for o in orgs if o.country == "CN" and o.province is None)
        requesting = [o for o in orgs if o.country in ("NL", "FR")]
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        rows = [
            {"id": f"plan{i:028d}", "reference": f"PLAN-{i:06d}", "procedure": "readmission", "state": "submitted", "agreement_slug": "eu-china-draft",
             "agreement_version": 1, "accelerated": False, "requesting_state": requesting[i % len(requesting)].country, "requested_state": "CN",
             "requesting_org_id": requesting[i % len(requesting)].id, "requested_central_org_id": mps.id, "aliases_confirmed_none": True,
             "submitted_on": dt.date(2026, 1, 1), "created_at": start, "updated_at": start + dt.timedelta(minutes=i), "version": 1}
            for i in range(count)
        ]
        s.execute(insert(ReadmissionCase), rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")  # PostgreSQL's autovacuum does this in service; the test cannot wait for it


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def plan_of(engine: Engine, statement: str, parameters: Any) -> str:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "sqlite":
            return "\n".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
        return "\n".join(str(row[0]) for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))


@pytest.mark.parametrize("offset", [0, 500])
def test_central_inbox_default_sort_walks_the_index_without_sorting(any_store_people: dict[str, str], offset: int) -> None:
    engine = get_engine()
    seed(engine)
    with unit_of_work() as s, captured(engine) as statements:
        central = s.scalars(select(User).where(User.username == "mps.central")).one()
        rows, total, _ = service.list_cases(s, actor=central, filters=service.CaseFilter(offset=offset), audit_list=False)
    assert [r.reference for r in rows] == [f"PLAN-{i:06d}" for i in range(CASES - 1 - offset, CASES - 26 - offset, -1)]
    [(page_sql, parameters)] = [(q, p) for q, p in statements if "ORDER BY" in q and "LIMIT" in q and "readmission_case.updated_at" in q]
    plan = plan_of(engine, page_sql, parameters)
    assert "ix_readmission_case_updated_id" in plan, plan
    if engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert not any(line.strip().lstrip("->").strip().startswith(("Sort", "Incremental Sort")) for line in plan.splitlines()), plan
        assert "Seq Scan" not in plan, plan


def test_wide_scope_total_is_estimated_on_postgresql_and_exact_on_sqlite(any_store_people: dict[str, str]) -> None:
    engine = get_engine()
    seed(engine)
    with unit_of_work() as s:
        central = s.scalars(select(User).where(User.username == "mps.central")).one()
        _, wide, _ = service.list_cases(s, actor=central, filters=service.CaseFilter(), audit_list=False)
        _, narrow, _ = service.list_cases(s, actor=central, filters=service.CaseFilter(q="PLAN-0001"), audit_list=False)
        exact = s.scalar(text("SELECT count(*) FROM readmission_case WHERE requested_state = 'CN'"))
    assert narrow.value == 100 and not narrow.estimated  # PLAN-000100 .. PLAN-000199
    if engine.dialect.name == "sqlite":
        assert wide.value == exact and not wide.estimated
    else:
        # the planner's figure from the statistics, at least the exact-count limit, within a fifth of the truth
        assert wide.estimated and wide.value > service.EXACT_COUNT_UP_TO and abs(wide.value - exact) <= exact / 5


def test_api_and_inbox_page_say_about_when_the_total_is_estimated(any_store_people: dict[str, str]) -> None:
    from fastapi.testclient import TestClient

    from passage.core.app import create_app
    from passage.security.service import rate_limiter
    from tests.conftest import api_headers

    engine = get_engine()
    seed(engine)
    rate_limiter.clear()
    with TestClient(create_app()) as client:
        headers = api_headers(client, "mps.central")
        body = client.get("/api/v1/readmission/cases", headers=headers).json()
        estimated = engine.dialect.name == "postgresql"
        assert body["total_estimated"] is estimated and body["total"] > service.EXACT_COUNT_UP_TO
        page = client.get("/readmission", headers=headers)
        assert page.status_code == 200
        visible = re.sub(r"<[^>]+>", "", page.text)
        assert (f"about {body['total']:,} cases" in visible) is estimated
        chinese = client.get("/readmission", headers={**headers, "Accept-Language": "zh-CN"})
        assert (f"约 {body['total']:,} 个案件" in re.sub(r"<[^>]+>", "", chinese.text)) is estimated
