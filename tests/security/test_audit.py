"""The audit log: written with the change, sealed in sequence order by one sealer (gaps and open transactions
included), verified, anchored by signed checkpoints, and still verifiable after key rotations."""

from __future__ import annotations

import concurrent.futures
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from passage.core.db import get_engine, session_factory, unit_of_work
from passage.core.models import utcnow
from passage.security import audit
from passage.security.models import AuditEntry

ONLY_POSTGRES = pytest.mark.postgres_only
"""Concurrent writers, sequence gaps and the sealer lock exist on PostgreSQL (SQLite has one writer)."""


def _write_entries(count: int) -> None:
    with unit_of_work() as session:
        for index in range(count):
            audit.record(session, actor=None, action="create", entity_type="thing", entity_id=f"t{index}", details={"n": index})


def _sealed_entries(count: int) -> None:
    _write_entries(count)
    audit.seal_all(grace_seconds=0)


def _verify(**options: object) -> audit.ChainReport:
    with unit_of_work() as session:
        return audit.verify_chain(session, **options)  # type: ignore[arg-type]


def _rows() -> list[AuditEntry]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.sequence)))


# --- writing and sealing ----------------------------------------------------------------------------------


def test_record_does_no_chain_work_and_the_sealer_links_in_sequence_order(any_store: Engine) -> None:
    _write_entries(3)
    assert [(e.sequence, e.entry_hash, e.previous_hash) for e in _rows()] == [(1, None, None), (2, None, None), (3, None, None)]
    report = _verify()
    assert report.ok and report.entries_checked == 0 and report.unsealed == 3
    sealed = audit.seal_all(grace_seconds=0)
    assert sealed.sealed == 3 and sealed.head_sequence == 3 and sealed.skipped == []
    entries = _rows()
    assert entries[0].previous_hash == audit.GENESIS_HASH
    assert entries[1].previous_hash == entries[0].entry_hash
    assert entries[2].previous_hash == entries[1].entry_hash
    assert {e.key_id for e in entries} == {audit.key_ring().active_id}
    report = _verify()
    assert report.ok and report.entries_checked == 3 and report.unsealed == 0
    _write_entries(2)  # later entries extend the sealed chain
    audit.seal_all(grace_seconds=0)
    assert _verify().entries_checked == 5


def test_a_rolled_back_change_leaves_no_entry_and_no_hole_in_the_chain(any_store: Engine) -> None:
    _write_entries(1)
    with pytest.raises(RuntimeError), unit_of_work() as session:
        audit.record(session, actor=None, action="update", entity_type="thing", entity_id="x")
        raise RuntimeError("crash in the middle of a request")
    _write_entries(1)
    report = audit.seal_all(grace_seconds=0)
    entries = _rows()
    assert [e.action for e in entries if e.action == "update"] == []
    if any_store.dialect.name == "postgresql":
        # The database sequence handed out 2 to the rolled-back transaction: the sealer records it as skipped.
        assert report.skipped == [2]
        assert [(e.sequence, e.action, e.outcome) for e in entries] == [(1, "create", "ok"), (2, "skip", "skipped"), (3, "create", "ok")]
    else:
        # On SQLite the single writer numbers MAX + 1: the number is taken again, no gap.
        assert report.skipped == [] and [e.sequence for e in entries] == [1, 2]
    assert _verify().ok and _verify().unsealed == 0


def test_details_with_dates_are_stored_as_hashed(any_store: Engine) -> None:
    import datetime as dt

    with unit_of_work() as session:
        audit.record(session, actor=None, action="schedule", entity_type="thing", entity_id="t", details={"due": dt.date(2026, 1, 2)})
    audit.seal_all(grace_seconds=0)
    assert _rows()[0].details == {"due": "2026-01-02"}
    assert _verify().ok


@ONLY_POSTGRES
def test_an_open_transaction_holds_back_later_entries_until_it_commits(any_store: Engine) -> None:
    _write_entries(1)
    slow = session_factory()()
    audit.record(slow, actor=None, action="slow", entity_type="thing")  # takes 2 and stays open
    slow_sequence = slow.scalar(select(AuditEntry.sequence).where(AuditEntry.action == "slow"))
    assert slow_sequence == 2
    _write_entries(2)  # 3 and 4 commit first
    seen: dict[int, float] = {}
    # Even past the grace period the sealer must neither seal 3 nor skip 2: 2's row is uncommitted, and the
    # unique index makes the claim wait for it (then time out).
    report = audit.seal_once(grace_seconds=0, first_seen=seen)
    report = audit.seal_once(grace_seconds=0, first_seen=seen)
    assert report.waiting_for == 2 and report.skipped == []
    assert [(e.sequence, e.entry_hash is not None) for e in _rows()] == [(1, True), (3, False), (4, False)]
    slow.commit()
    slow.close()
    report = audit.seal_all(grace_seconds=0)
    assert report.skipped == [] and report.head_sequence == 4
    entries = _rows()
    assert [e.action for e in entries] == ["create", "slow", "create", "create"]
    assert all(e.entry_hash for e in entries) and _verify().entries_checked == 4


@ONLY_POSTGRES
def test_a_gap_waits_for_the_grace_period_then_is_recorded_as_skipped(any_store: Engine) -> None:
    _write_entries(1)
    doomed = [session_factory()() for _ in range(2)]
    for session in doomed:
        audit.record(session, actor=None, action="doomed", entity_type="thing")  # take 2 and 3
    _write_entries(1)  # 4
    for session in doomed:
        session.rollback()
        session.close()
    clock = [100.0]
    seen: dict[int, float] = {}
    with unit_of_work() as session:
        report = audit.seal(session, grace_seconds=5, first_seen=seen, clock=lambda: clock[0])
    assert report.sealed == 1 and report.waiting_for == 2 and report.skipped == []
    clock[0] = 104.0
    with unit_of_work() as session:
        report = audit.seal(session, grace_seconds=5, first_seen=seen, clock=lambda: clock[0])
    assert report.sealed == 0 and report.waiting_for == 2
    clock[0] = 105.5
    with unit_of_work() as session:
        report = audit.seal(session, grace_seconds=5, first_seen=seen, clock=lambda: clock[0])
    # both missing numbers ran their grace period together, from when the gap was first seen
    assert report.skipped == [2, 3] and report.sealed == 1 and report.head_sequence == 4 and report.waiting_for is None
    assert [(e.sequence, e.action) for e in _rows()] == [(1, "create"), (2, "skip"), (3, "skip"), (4, "create")]
    assert _verify().entries_checked == 4 and seen == {}
    # A transaction that still held the number now cannot commit an entry under it.
    late = session_factory()()
    late.add(AuditEntry(sequence=2, occurred_at=_rows()[0].occurred_at, action="late", entity_type="thing", outcome="ok", details={}))
    with pytest.raises(Exception, match="uq_audit_log_sequence"):
        late.flush()
    late.rollback()
    late.close()


@ONLY_POSTGRES
def test_concurrent_writers_on_postgresql_are_all_sealed_in_order(any_store: Engine) -> None:
    writers, per_writer = 8, 25
    barrier = threading.Barrier(writers)
    stop = threading.Event()

    def write(index: int) -> int:
        barrier.wait()
        committed = 0
        for number in range(per_writer):
            session = session_factory()()
            try:
                audit.record(session, actor=None, action="create", entity_type="thing", entity_id=f"w{index}-{number}")
                if number % 5 == 4:
                    session.rollback()  # every fifth request fails: a gap
                else:
                    session.commit()
                    committed += 1
            finally:
                session.close()
        return committed

    def sealer() -> None:
        seen: dict[int, float] = {}
        while not stop.is_set():
            audit.seal_once(grace_seconds=0.2, first_seen=seen)
            time.sleep(0.02)

    background = threading.Thread(target=sealer)
    background.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(writers) as pool:
            committed = sum(pool.map(write, range(writers)))
    finally:
        stop.set()
        background.join()
    audit.seal_all(grace_seconds=0)
    entries = _rows()
    real = [e for e in entries if e.action == "create"]
    skips = [e for e in entries if e.action == "skip"]
    assert len(real) == committed == writers * per_writer * 4 // 5
    with get_engine().connect() as connection:
        issued = connection.execute(text(f"SELECT last_value FROM {audit.SEQUENCE_NAME}")).scalar()  # noqa: S608 - a constant
    assert issued == writers * per_writer
    # Exactly the rolled-back numbers below the newest committed entry are skipped, never a committed one;
    # rolled-back numbers above it wait for a later entry.
    assert len(skips) == issued - len(real) - (issued - entries[-1].sequence)
    assert len(real) + len(skips) == entries[-1].sequence
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    assert all(e.entry_hash for e in entries)
    report = _verify()
    assert report.ok and report.entries_checked == len(entries)


@ONLY_POSTGRES
def test_only_one_sealer_works_at_a_time(any_store: Engine) -> None:
    _write_entries(2)
    holder = get_engine().connect()
    holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": audit._SEALER_LOCK_KEY})
    try:
        assert audit.seal_once(grace_seconds=0).busy
        assert _verify().unsealed == 2
    finally:
        holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": audit._SEALER_LOCK_KEY})
        holder.close()
    assert audit.seal_once(grace_seconds=0).sealed == 2


def test_the_server_thread_seals_within_about_a_second(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from passage.core.app import create_app
    from passage.core.settings import reset_settings_cache

    assert audit.startup in create_app().router.on_startup  # `passage serve` starts it with the application
    monkeypatch.setenv("PASSAGE_AUDIT_SEAL_INTERVAL_SECONDS", "0.1")
    monkeypatch.setenv("PASSAGE_AUDIT_SEALER_THREAD", "true")
    reset_settings_cache()
    audit.startup()
    try:
        _write_entries(3)
        deadline = time.monotonic() + 5
        while _verify().unsealed and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = 5 - (deadline - time.monotonic())
    finally:
        audit.shutdown()
    report = _verify()
    assert report.unsealed == 0 and report.entries_checked == 3, elapsed
    # the thread also signed a first checkpoint of the head
    with unit_of_work() as session:
        assert [c.sequence for c in audit.stored_checkpoints(session)] == [3]


# --- tamper detection -------------------------------------------------------------------------------------


def test_an_edit_is_detected_at_the_edited_entry(any_store: Engine) -> None:
    _sealed_entries(5)
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 3).values(action="delete"))
    report = _verify()
    assert not report.ok and report.first_bad_sequence == 3 and "edited" in (report.problem or "")


def test_an_edit_of_details_is_detected(any_store: Engine) -> None:
    _sealed_entries(4)
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 2).values(details={"n": 99}))
    assert _verify().first_bad_sequence == 2


def test_a_deletion_is_detected_where_the_gap_is(any_store: Engine) -> None:
    _sealed_entries(5)
    with unit_of_work() as session:
        session.execute(text("DELETE FROM audit_log WHERE sequence = 3"))
    report = _verify()
    assert not report.ok and report.first_bad_sequence == 4 and "missing" in (report.problem or "")


def test_a_deletion_of_the_first_entries_is_detected(any_store: Engine) -> None:
    _sealed_entries(4)
    with unit_of_work() as session:
        session.execute(text("DELETE FROM audit_log WHERE sequence <= 2"))
    report = _verify()
    assert not report.ok and report.first_bad_sequence == 3


def test_a_reordering_is_detected(any_store: Engine) -> None:
    _sealed_entries(5)
    with unit_of_work() as session:
        # Swap the sequence numbers of entries 2 and 4 (through a free value, because of the unique index).
        session.execute(text("UPDATE audit_log SET sequence = 1000 WHERE sequence = 2"))
        session.execute(text("UPDATE audit_log SET sequence = 2 WHERE sequence = 4"))
        session.execute(text("UPDATE audit_log SET sequence = 4 WHERE sequence = 1000"))
    report = _verify()
    assert not report.ok and report.first_bad_sequence == 2 and "order" in (report.problem or "")


def test_a_removed_seal_below_sealed_entries_is_detected(any_store: Engine) -> None:
    _sealed_entries(4)
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 2).values(entry_hash=None, previous_hash=None, key_id=None))
    report = _verify()
    assert not report.ok and report.first_bad_sequence == 3 and "seal was removed" in (report.problem or "")


def test_an_edit_with_recomputed_plain_hashes_is_detected(store: Engine) -> None:
    """Someone with the database but not the key edits an entry and recomputes every later hash with plain
    SHA-256; the keyed chain still names the edited entry."""
    import hashlib

    _sealed_entries(5)
    with unit_of_work() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.sequence)))
        entries[1].details = {"n": 99}
        previous = entries[0].entry_hash or ""
        for entry in entries[1:]:
            entry.previous_hash = previous
            entry.entry_hash = hashlib.sha256(previous.encode() + audit._canonical(entry)).hexdigest()
            previous = entry.entry_hash
    report = _verify()
    assert not report.ok and report.first_bad_sequence == 2


def test_an_entry_claiming_an_unknown_key_is_detected(store: Engine) -> None:
    _sealed_entries(3)
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 3).values(key_id="forged"))
    report = _verify()
    assert not report.ok and report.first_bad_sequence == 3 and "not in the audit key ring" in (report.problem or "")


def test_verify_command_exits_non_zero_on_tampering(store: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    from passage.core.cli import main

    _sealed_entries(3)
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify"])
    assert exited.value.code in (0, None)
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 2).values(entity_id="forged"))
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify"])
    assert exited.value.code == 1
    assert "broken at entry 2" in capsys.readouterr().out


# --- signed checkpoints -----------------------------------------------------------------------------------


def test_signed_checkpoints_detect_a_log_cut_short(any_store: Engine, tmp_path: Path) -> None:
    _sealed_entries(5)
    published_file = tmp_path / "published.jsonl"
    checkpoint = audit.publish_checkpoint(published_file)
    assert checkpoint is not None and checkpoint.sequence == 5
    published = audit.read_checkpoints(published_file.read_text().splitlines())
    assert published == [checkpoint]
    assert _verify(checkpoints=published).checkpoints_checked == 2  # the stored copy and the published one
    with unit_of_work() as session:
        session.execute(text("DELETE FROM audit_log WHERE sequence >= 4"))
        session.execute(text("DELETE FROM audit_checkpoints"))  # an attacker with the database removes its copy too
    assert _verify().ok  # the chain alone cannot see a cut at the end
    report = _verify(checkpoints=published)
    assert not report.ok and report.first_bad_sequence == 5 and "cut short" in (report.problem or "")


def test_a_forged_or_foreign_checkpoint_is_refused(store: Engine, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _sealed_entries(3)
    with unit_of_work() as session:
        genuine = audit.make_checkpoint(session)
    assert genuine is not None
    tampered = audit.Checkpoint(2, genuine.entry_hash, genuine.at, genuine.key_id, genuine.signature)
    report = _verify(checkpoints=[tampered])
    assert not report.ok and "signature does not verify" in (report.problem or "")
    # Signed with a key the verifier does not trust (an attacker's own key)
    other = Ed25519PrivateKey.generate()
    foreign = audit.Checkpoint(3, genuine.entry_hash, genuine.at, audit.public_key_id(other.public_key()), "")
    import base64

    foreign = audit.Checkpoint(3, genuine.entry_hash, genuine.at, foreign.key_id, base64.b64encode(other.sign(foreign.message())).decode())
    report = _verify(checkpoints=[foreign])
    assert not report.ok and "not among the known public keys" in (report.problem or "")
    # A genuine checkpoint of a chain that was rewritten afterwards
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 3).values(entry_hash="f" * 64))
    assert not _verify(checkpoints=[genuine]).ok


def test_checkpoint_verifies_with_only_the_published_public_key(store: Engine, tmp_path: Path) -> None:
    import shutil

    from passage.core.settings import get_settings

    _sealed_entries(2)
    checkpoint = audit.publish_checkpoint(tmp_path / "cp.jsonl")
    assert checkpoint is not None
    public_dir = get_settings().data_dir / "audit-public-keys"
    trusted = tmp_path / "auditor.pem"
    shutil.copy(public_dir / f"{checkpoint.key_id}.pem", trusted)
    shutil.rmtree(public_dir)
    keys = audit.load_public_keys([trusted])
    assert _verify(checkpoints=[checkpoint], public_keys=keys).ok
    assert not _verify(checkpoints=[checkpoint], public_keys={}).ok


def test_seal_checkpoint_and_verify_commands(store: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from passage.core.cli import main

    _write_entries(3)
    target = tmp_path / "published.jsonl"
    for arguments in (["audit", "seal", "--grace", "0"], ["audit", "checkpoint", "--out", str(target)], ["audit", "verify", "--checkpoint", str(target)]):
        with pytest.raises(SystemExit) as finished:
            main(arguments)
        assert finished.value.code in (0, None)
    output = capsys.readouterr().out
    assert "sealed 3 entries" in output
    assert json.loads(target.read_text().splitlines()[0])["sequence"] == 3
    assert "audit chain intact: 3 entries verified; 2 signed checkpoint(s) checked" in output
    with unit_of_work() as session:
        session.execute(text("DELETE FROM audit_log WHERE sequence = 3"))
        session.execute(text("DELETE FROM audit_checkpoints"))
    with pytest.raises(SystemExit) as finished:
        main(["audit", "verify", "--checkpoint", str(target)])
    assert finished.value.code == 1
    assert "cut short" in capsys.readouterr().out
    with pytest.raises(SystemExit) as finished:
        main(["audit", "verify", "--checkpoint", str(tmp_path / "missing.jsonl")])
    assert finished.value.code == 2


def test_a_legacy_hmac_checkpoint_line_is_still_checked(store: Engine) -> None:
    import hashlib
    import hmac

    _sealed_entries(2)
    head = _rows()[-1]
    key = audit.key_ring().get(audit.LEGACY_KEY_ID)
    assert key is not None
    mac = hmac.new(key, f"checkpoint:2:{head.entry_hash}".encode(), hashlib.sha256).hexdigest()
    line = json.dumps({"sequence": 2, "entry_hash": head.entry_hash, "at": "2026-12-01T00:00:00+00:00", "mac": mac})
    assert _verify(checkpoints=audit.read_checkpoints([line])).ok
    assert not _verify(checkpoints=audit.read_checkpoints([line.replace(mac, "0" * 64)])).ok


# --- key rotation (issue 17) ------------------------------------------------------------------------------


def _seal_as_legacy(count: int) -> None:
    """Entries chained the way they were before key ids: at insert, under the key derived from the secret."""
    previous = audit.GENESIS_HASH
    with unit_of_work() as session:
        for index in range(count):
            entry = AuditEntry(sequence=index + 1, occurred_at=utcnow(), action="old", entity_type="thing", entity_id=str(index),
                               outcome="ok", details={}, key_id=audit.LEGACY_KEY_ID, previous_hash=previous)
            entry.entry_hash = audit.compute_hash(previous, entry, audit.legacy_chain_key())
            previous = entry.entry_hash
            session.add(entry)
    if get_engine().dialect.name == "postgresql":
        with get_engine().begin() as connection:
            audit.reset_sequence(connection)


def test_rotating_the_secret_and_the_chain_key_keeps_every_entry_verifiable(any_store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from passage.core.cli import main
    from passage.core.settings import reset_settings_cache

    _seal_as_legacy(2)  # written before this version
    _sealed_entries(2)  # sealed under the ring's first key
    first_key = audit.key_ring().active_id
    with pytest.raises(SystemExit) as finished:
        main(["audit", "rotate-key"])
    assert finished.value.code in (0, None)
    second_key = audit.key_ring().active_id
    assert second_key != first_key
    _sealed_entries(2)  # under the new key; the rotation itself is audited too
    # The deployment secret is rotated as well (issue 17: this used to break the whole chain).
    monkeypatch.setenv("PASSAGE_SECRET_KEY", "a freshly rotated deployment secret, at least 32 characters")
    reset_settings_cache()
    _sealed_entries(1)
    rows = _rows()
    assert [r.key_id for r in rows] == ["legacy", "legacy", first_key, first_key, second_key, second_key, second_key, second_key]
    assert rows[4].action == "rotate_keys"
    report = _verify()
    assert report.ok and report.entries_checked == 8
    # and the old keys still catch an edit in their segment
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 3).values(entity_id="forged"))
    assert _verify().first_bad_sequence == 3


def test_the_key_ring_is_created_once_and_kept_private(store: Engine) -> None:
    from passage.core.settings import get_settings

    ring = audit.key_ring()
    path = get_settings().audit_key_file
    assert path is not None and path.stat().st_mode & 0o077 == 0
    again = audit.AuditKeyRing(path)
    assert again.active_id == ring.active_id and set(again.keys) == {audit.LEGACY_KEY_ID, ring.active_id}


# --- readers of the log -----------------------------------------------------------------------------------


def test_the_audit_log_page_and_api_show_entries_not_sealed_yet(app_client: Any) -> None:
    from tests.conftest import api_headers
    from tests.security.test_views import HTML, sign_in

    _write_entries(2)
    sign_in(app_client, "admin")
    page = app_client.get("/admin/audit?entity_type=thing&verify=true", headers=HTML)
    assert page.status_code == 200
    assert "2 entries" in re.sub(r"<[^>]+>", "", page.text) and "Not sealed into the chain yet" in page.text
    assert "The audit chain is intact." in page.text and "Entries not sealed into the chain yet:" in page.text
    exported = app_client.get("/admin/audit.csv?entity_type=thing", headers=HTML)
    assert exported.status_code == 200 and exported.text.count("\n") == 3  # header and both entries, hash cell empty
    headers = api_headers(app_client, "admin")
    listed = app_client.get("/api/v1/audit", params={"entity_type": "thing"}, headers=headers).json()
    assert listed["total"] == 2
    audit.seal_all(grace_seconds=0)
    page = app_client.get("/admin/audit?entity_type=thing", headers=HTML)
    assert "Not sealed into the chain yet" not in page.text
    verified = app_client.get("/api/v1/audit/verify", headers=headers).json()
    assert verified["ok"] and verified["unsealed"] <= 2  # the page views since the seal are audited reads themselves


# --- the migration ----------------------------------------------------------------------------------------


def test_the_migration_keeps_an_existing_chain_verifiable_and_numbering_continues(any_store: Engine, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Upgrade from 0010 with entries chained the old way (at insert, key from the secret, hashes NOT NULL)."""
    import uuid

    from passage.core.schema import upgrade_database
    from tests.conftest import _configure, empty_store_url

    kind = any_store.dialect.name
    target_dir = tmp_path / f"old-{uuid.uuid4().hex[:6]}"
    target_dir.mkdir()
    url = empty_store_url(request, kind, target_dir, prefix="m")
    _configure(target_dir, url)
    upgrade_database(url=url, revision="0010_consular")
    previous = audit.GENESIS_HASH
    with get_engine().begin() as connection:
        for number in (1, 2, 3):
            entry = AuditEntry(sequence=number, occurred_at=utcnow(), action="old", entity_type="thing", entity_id=str(number), outcome="ok", details={"n": number})
            entry_hash = audit.compute_hash(previous, entry, audit.legacy_chain_key())
            connection.execute(text(
                "INSERT INTO audit_log (sequence, occurred_at, actor_user_id, actor_organisation_id, action, entity_type, entity_id, outcome, details, previous_hash, entry_hash) "
                "VALUES (:s, :t, NULL, NULL, 'old', 'thing', :e, 'ok', :d, :p, :h)"),
                {"s": number, "t": entry.occurred_at, "e": str(number), "d": json.dumps({"n": number}), "p": previous, "h": entry_hash})
            previous = entry_hash
    upgrade_database(url=url)
    rows = _rows()
    assert [(r.sequence, r.key_id) for r in rows] == [(1, "legacy"), (2, "legacy"), (3, "legacy")]
    assert _verify().entries_checked == 3
    _write_entries(2)  # numbered after the old entries (on PostgreSQL: the new sequence starts after them)
    assert audit.seal_all(grace_seconds=0).skipped == []
    assert [r.sequence for r in _rows()] == [1, 2, 3, 4, 5]
    report = _verify()
    assert report.ok and report.entries_checked == 5
