"""Issue 17 item 5: run the demo and the flows, then grep every log line for the demo's names, dates and numbers.

Every log record of every logger (Passage's own access and incident lines, the server's, libraries') is
captured at DEBUG while the demo is loaded and a live server is driven through sign-in, searches with names
in the query string, lists, details, exports, bad input and an unexpected error.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from passage.core.db import unit_of_work
from tests.conftest import LiveServer, api_headers

PERSONAL_KEYS = {"surname", "given_names", "date_of_birth", "father_name", "mother_name", "document_number", "aliases"}


def _values(document: Any, key: str | None = None) -> Iterator[tuple[str, str]]:
    if isinstance(document, dict):
        for k, v in document.items():
            yield from _values(v, k)
    elif isinstance(document, list):
        for item in document:
            yield from _values(item, key)
    elif isinstance(document, str) and key in PERSONAL_KEYS:
        yield key, document


def _needles(today: Any) -> set[str]:
    from passage.readmission.demo import demo_dataset
    from passage.security.demo import DEMO_USERS

    needles: set[str] = set()
    data = demo_dataset(today=today)
    for case in data.cases:
        application = case["application"]
        needles.add(f"{application['surname']} {application['given_names']}")
        needles.add(f"{application['given_names']} {application['surname']}")
        for key, value in _values(case):
            if key == "date_of_birth" or key == "document_number" or " " in value:
                needles.add(value)
    needles |= {str(spec["display_name"]) for spec in DEMO_USERS}
    return {n for n in needles if len(n) >= 6}


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("passage", "passage.access", "uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy"))]
    previous = [(lg, lg.level) for lg in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)  # SQL echo is off in Passage; keep it off here too
    try:
        yield stream
    finally:
        for logger, level in previous:
            logger.removeHandler(handler)
            logger.setLevel(level)


# TODO(pg): 200 s on PostgreSQL on the shared machine (loads the whole demo, then greps the logs); what it
# checks is written by the same logging code on both stores.
@pytest.mark.sqlite_only(reason="exhaustive matrix, store-independent logic; kept off PostgreSQL for the suite's 30 minutes")
@pytest.mark.slow
def test_no_demo_name_date_or_number_in_any_log(store: Any, captured_logs: io.StringIO) -> None:
    from sqlalchemy import select

    from passage.readmission import service as readmission_service
    from passage.readmission.models import ReadmissionCase
    from passage.security.demo import load_demo
    from passage.security.service import rate_limiter

    load_demo()
    today = readmission_service.today_utc()
    needles = _needles(today)
    assert len(needles) >= 30
    with unit_of_work() as session:
        case_ids = list(session.scalars(select(ReadmissionCase.id).limit(10)))
    rate_limiter.clear()
    # a name, not a document number: the test's own HTTP client logs its request line, query string included
    surname = next(n for n in sorted(needles) if (n.isupper() or " " in n) and n.replace(" ", "").isalpha()).split(" ")[0]
    with LiveServer() as server, httpx.Client(base_url=server.url, timeout=60) as client:
        nl = api_headers(client, "nl.officer")
        central = api_headers(client, "mps.central")
        analyst = api_headers(client, "analyst")
        for headers in (nl, central):
            client.get("/api/v1/readmission/cases", params={"q": surname, "limit": 50}, headers=headers)
            for case_id in case_ids:
                client.get(f"/api/v1/readmission/cases/{case_id}", headers=headers)
        client.get("/api/v1/readmission/statistics", params={"group_by": ["requesting_state"], "format": "csv"}, headers=analyst)
        search = {"family_name": surname, "given_name": "Xiaoling", "birth_date": "1990-04-02"}
        client.post("/api/v1/identity/search", json=search, headers=central)
        # Bad input carrying personal values: the errors name fields, never values.
        client.post("/api/v1/readmission/cases", json={"agreement_id": "eu-china-draft", "application": {"surname": "ZHENG Xiaoming", "date_of_birth": "31/02/1990"}}, headers=nl)
        client.post("/api/v1/auth/token", json={"username": "Anna de Vries", "password": "1990-04-02"})
        client.get("/api/v1/readmission/cases", params={"offset": "9223372036854775808", "q": "ZHENG Xiaoming"}, headers=nl)
    text = captured_logs.getvalue()
    assert "passage.access" in text and "/api/v1/readmission/cases?limit&q" in text  # the capture saw the traffic
    found = sorted(n for n in needles | {"ZHENG Xiaoming", "31/02/1990", "1990-04-02", "Xiaoling"} if re.search(re.escape(n), text, re.IGNORECASE))
    assert found == [], f"personal values in the logs: {found[:10]}"
    assert "Traceback" not in text
    assert json  # the capture is plain text; nothing is parsed from it
