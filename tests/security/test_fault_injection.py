"""Issue 17, "Prove it in CI": the k-th database or key-store call fails, for every k, in each readmission transition.

For every step of a case's life (submit, acknowledge, route, verify, accept, issue the travel document,
schedule and confirm the transfer), the request is sent again and again with the 1st, 2nd, 3rd ... call to
the database (every statement the driver executes) or to the field cipher (every encryption and decryption)
failing, until a run reaches the end without meeting its fault. Each faulted run must answer with an error
(never 2xx: no check may pass because its query failed) and leave the database exactly as it was (row counts
of every table, the case row, the head of the audit chain): 0 partial writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from passage.core.db import get_engine
from passage.core.settings import get_settings
from passage.security import crypto
from tests.conftest import api_headers

# TODO(pg): the snapshot reads the SQLite file with a plain sqlite3 connection (sqlite_master), and a fault is raised
# as sqlite3's error; on PostgreSQL both need a second engine and psycopg's error class. Slow (one request per
# fault position), so doubling it also costs minutes.
pytestmark = pytest.mark.sqlite_only(reason="reads the SQLite file directly")


class InjectedFault(Exception):
    pass


class Faults:
    """Counts database statements and cipher operations while armed, and fails the `fail_at`-th one."""

    def __init__(self) -> None:
        self.armed = False
        self.count = 0
        self.fail_at: int | None = None
        self.hit = False

    def tick(self, what: str) -> None:
        if not self.armed:
            return
        self.count += 1
        if self.fail_at is not None and self.count == self.fail_at:
            self.hit = True
            if what == "sql":
                raise sqlite3.OperationalError("injected fault")
            raise InjectedFault("injected key-store fault")

    def arm(self, fail_at: int) -> None:
        self.armed, self.count, self.fail_at, self.hit = True, 0, fail_at, False

    def disarm(self) -> None:
        self.armed = False


@pytest.fixture
def faults(app_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    state = Faults()
    engine = get_engine()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        state.tick("sql")

    event.listen(engine, "before_cursor_execute", before)
    original_encrypt, original_decrypt = crypto.FieldCipher.encrypt, crypto.FieldCipher.decrypt

    def encrypt(self: Any, data: bytes, *, context: str) -> bytes:
        state.tick("key")
        return original_encrypt(self, data, context=context)

    def decrypt(self: Any, blob: bytes, *, context: str) -> bytes:
        state.tick("key")
        return original_decrypt(self, blob, context=context)

    monkeypatch.setattr(crypto.FieldCipher, "encrypt", encrypt)
    monkeypatch.setattr(crypto.FieldCipher, "decrypt", decrypt)
    yield state
    event.remove(engine, "before_cursor_execute", before)


def _snapshot(case_id: str) -> str:
    """Row counts of every table, the case row and the audit head, read with a separate plain connection."""
    path = get_settings().database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        parts = []
        for table in tables:
            count = connection.execute('SELECT count(*) FROM "' + table + '"').fetchone()[0]  # noqa: S608 - names from sqlite_master
            parts.append(f"{table}:{count}")
        parts.append(repr(connection.execute("SELECT * FROM readmission_case WHERE id = ?", (case_id,)).fetchall()))
        parts.append(repr(connection.execute("SELECT sequence, entry_hash FROM audit_log ORDER BY sequence DESC LIMIT 1").fetchall()))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@pytest.mark.slow
def test_every_fault_in_every_transition_changes_nothing(app_client: Any, faults: Faults) -> None:
    from tests.readmission.test_api import complete_case, org_id

    users = {name: api_headers(app_client, name) for name in ("nl.officer", "mps.central", "fj.officer")}
    case = complete_case(app_client, users["nl.officer"])
    transfer_day = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    steps = [
        ("nl.officer", "submit", {}),
        ("mps.central", "acknowledge", {}),
        ("mps.central", "route", {"province_org_id": org_id("Fujian")}),
        ("fj.officer", "verify_identity", {"method": "interview"}),
        ("mps.central", "accept", {}),
        ("mps.central", "issue_travel_document", {"document_number": "LXZ123456"}),
        ("nl.officer", "schedule_transfer", {"transfer_date": transfer_day, "place_kind": "airport", "place_code": "FOC", "flight": "MU772"}),
        ("nl.officer", "confirm_transfer", {}),
    ]
    faulted_runs = 0
    for username, action, payload in steps:
        before = _snapshot(case["id"])
        for k in range(1, 1000):
            faults.arm(k)
            try:
                response = app_client.post(f"/api/v1/readmission/cases/{case['id']}/transitions",
                                           json={"action": action, "version": case["version"], "payload": payload}, headers=users[username])
            finally:
                faults.disarm()
            if not faults.hit:
                assert response.status_code == 200, (action, k, response.text)
                case = response.json()
                break
            faulted_runs += 1
            assert not 200 <= response.status_code < 300, f"{action}: allowed although call {k} failed"
            assert _snapshot(case["id"]) == before, f"{action}: call {k} failed and left a partial write"
        else:
            raise AssertionError(f"{action} never completed")
    assert case["state"] == "transferred"
    assert faulted_runs >= 8 * 10
    print(f"fault injection: {faulted_runs} faulted runs over {len(steps)} transitions, 0 partial writes, 0 allowed")
