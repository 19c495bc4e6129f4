"""The audit chain: written with the change, verified, and tamper-evident in the three ways that matter."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text, update

from passage.core.db import unit_of_work
from passage.security import audit
from passage.security.models import AuditEntry


def _write_entries(count: int) -> None:
    with unit_of_work() as session:
        for index in range(count):
            audit.record(session, actor=None, action="create", entity_type="thing", entity_id=f"t{index}", details={"n": index})


def _verify() -> audit.ChainReport:
    with unit_of_work() as session:
        return audit.verify_chain(session)


def test_intact_chain_verifies(any_store: Engine) -> None:
    _write_entries(5)
    report = _verify()
    assert report.ok and report.entries_checked == 5


def test_each_entry_links_to_the_previous_hash(any_store: Engine) -> None:
    _write_entries(3)
    with unit_of_work() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.sequence)).all()
        assert entries[0].previous_hash == audit.GENESIS_HASH
        assert entries[1].previous_hash == entries[0].entry_hash
        assert entries[2].previous_hash == entries[1].entry_hash
        assert [e.sequence for e in entries] == [1, 2, 3]


def test_an_edit_is_detected_at_the_edited_entry(any_store: Engine) -> None:
    _write_entries(5)
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 3).values(action="delete"))
    report = _verify()
    assert not report.ok
    assert report.first_bad_sequence == 3
    assert "edited" in (report.problem or "")


def test_an_edit_of_details_is_detected(any_store: Engine) -> None:
    _write_entries(4)
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 2).values(details={"n": 99}))
    assert _verify().first_bad_sequence == 2


def test_a_deletion_is_detected_where_the_gap_is(any_store: Engine) -> None:
    _write_entries(5)
    with unit_of_work() as session:
        session.execute(text("DELETE FROM audit_log WHERE sequence = 3"))
    report = _verify()
    assert not report.ok
    assert report.first_bad_sequence == 4
    assert "missing" in (report.problem or "")


def test_a_reordering_is_detected(any_store: Engine) -> None:
    _write_entries(5)
    with unit_of_work() as session:
        # Swap the sequence numbers of entries 2 and 4 (through a free value, because of the unique index).
        session.execute(text("UPDATE audit_log SET sequence = 1000 WHERE sequence = 2"))
        session.execute(text("UPDATE audit_log SET sequence = 2 WHERE sequence = 4"))
        session.execute(text("UPDATE audit_log SET sequence = 4 WHERE sequence = 1000"))
    report = _verify()
    assert not report.ok
    assert report.first_bad_sequence in (2, 4)
    assert "order" in (report.problem or "")


def test_a_rolled_back_change_leaves_no_audit_entry(any_store: Engine) -> None:
    _write_entries(1)
    with pytest.raises(RuntimeError), unit_of_work() as session:
        audit.record(session, actor=None, action="update", entity_type="thing", entity_id="x")
        raise RuntimeError("crash in the middle of a request")
    with unit_of_work() as session:
        assert session.scalar(select(AuditEntry.sequence).order_by(AuditEntry.sequence.desc())) == 1
    assert _verify().ok


def test_verify_command_exits_non_zero_on_tampering(store: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    from passage.core.cli import main

    _write_entries(3)
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify"])
    assert exited.value.code in (0, None)
    with unit_of_work() as session:
        session.execute(update(AuditEntry).where(AuditEntry.sequence == 2).values(entity_id="forged"))
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify"])
    assert exited.value.code == 1
    assert "broken at entry 2" in capsys.readouterr().out


def test_details_with_dates_are_stored_as_hashed(any_store: Engine) -> None:
    import datetime as dt

    with unit_of_work() as session:
        audit.record(session, actor=None, action="schedule", entity_type="thing", entity_id="t", details={"due": dt.date(2026, 1, 2)})
    with unit_of_work() as session:
        entry = session.scalars(select(AuditEntry)).one()
        assert entry.details == {"due": "2026-01-02"}
    assert _verify().ok


def test_an_edit_with_recomputed_plain_hashes_is_detected(store: Engine) -> None:
    """Issue 17 item 9: someone with the database but not the key edits an entry and recomputes every later
    hash with plain SHA-256 (the old construction); the keyed chain still names the edited entry."""
    import hashlib

    _write_entries(5)
    with unit_of_work() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.sequence)))
        entries[1].details = {"n": 99}
        previous = entries[0].entry_hash
        for entry in entries[1:]:
            entry.previous_hash = previous
            entry.entry_hash = hashlib.sha256(previous.encode() + audit._canonical(entry)).hexdigest()
            previous = entry.entry_hash
    report = _verify()
    assert not report.ok and report.first_bad_sequence == 2


def test_a_chain_rewritten_with_another_key_is_detected(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from passage.core.settings import reset_settings_cache

    _write_entries(3)
    monkeypatch.setenv("PASSAGE_SECRET_KEY", "an attacker's guess at the deployment secret, long")
    reset_settings_cache()
    _write_entries(1)  # entry 4 keyed with the wrong secret
    monkeypatch.delenv("PASSAGE_SECRET_KEY")
    reset_settings_cache()
    report = _verify()
    assert not report.ok and report.first_bad_sequence == 4


def test_checkpoints_detect_a_log_cut_short(store: Engine, tmp_path: object) -> None:
    _write_entries(5)
    with unit_of_work() as session:
        checkpoint = audit.make_checkpoint(session)
    assert checkpoint is not None and checkpoint.sequence == 5
    published = audit.read_checkpoints([checkpoint.as_json()])
    with unit_of_work() as session:
        assert audit.verify_chain(session, checkpoints=published).ok
    with unit_of_work() as session:
        session.execute(text("DELETE FROM audit_log WHERE sequence >= 4"))
    with unit_of_work() as session:
        assert audit.verify_chain(session).ok  # the chain alone cannot see a cut at the end
        report = audit.verify_chain(session, checkpoints=published)
    assert not report.ok and "cut short" in (report.problem or "")
    forged = audit.Checkpoint(3, "0" * 64, checkpoint.at, "f" * 64)
    with unit_of_work() as session:
        assert not audit.verify_chain(session, checkpoints=[forged]).ok


def test_checkpoint_and_verify_commands(store: Engine, tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from passage.core.cli import main

    _write_entries(3)
    target = Path(str(tmp_path)) / "published.jsonl"
    for arguments in (["audit", "checkpoint", "--out", str(target)], ["audit", "verify", "--checkpoints", str(target)]):
        with pytest.raises(SystemExit) as finished:
            main(arguments)
        assert finished.value.code in (0, None)
    output = capsys.readouterr().out
    assert '"sequence": 3' in output and "1 published checkpoint(s) checked" in output
