"""`core.db.unit_of_work(read_request=True)`: on SQLite a read request does not hold the single writer lock while it
reads, and its deferred audit entries are written before the unit ends (or not at all, if it fails)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import Engine, func, select

from passage.core.db import unit_of_work
from passage.security import audit
from passage.security.actors import system_actor
from passage.security.models import AuditEntry, Organisation


def _entries(action: str) -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)) or 0


def _write_from_another_connection(engine: Engine) -> None:
    """Take SQLite's writer lock and commit, failing fast if someone else holds it."""
    path = engine.url.database
    assert path
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE organisations SET name = name")
        other.execute("COMMIT")
    finally:
        other.close()


def test_a_read_request_reads_without_the_writer_lock_and_then_writes_its_audit_entry(sqlite_store: Engine) -> None:
    with unit_of_work(read_request=True) as session:
        session.scalars(select(Organisation)).all()
        audit.record(session, actor=None, action="list", entity_type="organisation", details={"probe": 1})
        # the request is between its reads and its answer: another writer gets the lock at once (it waited for
        # the whole request before, with BEGIN IMMEDIATE)
        _write_from_another_connection(sqlite_store)
        assert _entries("list") == 0
    assert _entries("list") == 1


def test_a_write_request_still_takes_the_writer_lock_up_front(sqlite_store: Engine) -> None:
    with unit_of_work() as session:
        session.scalars(select(Organisation)).all()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            _write_from_another_connection(sqlite_store)


def test_a_failed_read_request_leaves_no_audit_entry(sqlite_store: Engine) -> None:
    with pytest.raises(RuntimeError), unit_of_work(read_request=True) as session:
        audit.record(session, actor=None, action="list", entity_type="organisation")
        raise RuntimeError("the handler failed after recording its access")
    assert _entries("list") == 0


def test_a_refusal_inside_a_read_request_is_committed_at_once_and_drops_the_pending_entries(sqlite_store: Engine) -> None:
    with unit_of_work(read_request=True) as session:
        audit.record(session, actor=None, action="list", entity_type="organisation")
        audit.record_refusal(session, actor=system_actor("probe"), entity_type="organisation", entity_id=None)
        assert _entries("refused") == 1
    assert _entries("list") == 0


def test_read_requests_on_postgresql_are_one_transaction_as_before(any_store: Engine) -> None:
    with unit_of_work(read_request=True) as session:
        audit.record(session, actor=None, action="list", entity_type="organisation")
        visible_inside = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "list"))
    # on PostgreSQL the entry is written in the request's own transaction; on SQLite after its reads
    assert visible_inside == (0 if any_store.dialect.name == "sqlite" else 1)
    assert _entries("list") == 1
