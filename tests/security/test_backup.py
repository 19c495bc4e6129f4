"""Issue 17, "Prove it in CI": `passage backup` and `passage restore` into a fresh database, on SQLite and PostgreSQL:
the counts match, encrypted fields decrypt, and the audit chain verifies."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from passage.core.db import get_engine, unit_of_work
from passage.core.errors import Conflict, InvalidInput
from passage.core.schema import upgrade_database
from passage.core.settings import get_settings
from passage.security import audit, service
from passage.security.backup import backup, restore
from passage.security.models import AuditEntry, User
from tests.conftest import _configure, demo_secret, empty_store_url


def _counts() -> dict[str, int]:
    with unit_of_work() as session:
        return {
            "users": session.scalar(select(func.count()).select_from(User)) or 0,
            "audit": session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        }


def _fresh_target(tmp_path: Path, source_dir: Path, kind: str, request: pytest.FixtureRequest) -> None:
    target_dir = tmp_path / f"restored-{uuid.uuid4().hex[:6]}"
    target_dir.mkdir()
    shutil.copy(source_dir / "keys.json", target_dir / "keys.json")  # the key ring travels apart from the backup
    if (source_dir / "audit-keys.json").exists():  # so do the audit chain's keys and the checkpoint signers' public keys
        shutil.copy(source_dir / "audit-keys.json", target_dir / "audit-keys.json")
        shutil.copytree(source_dir / "audit-public-keys", target_dir / "audit-public-keys")
    url = empty_store_url(request, kind, target_dir, prefix="r")
    _configure(target_dir, url)
    upgrade_database(url=url)


def test_backup_and_restore_into_a_fresh_database(any_store_people: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> None:
    engine: Engine = get_engine()
    kind = engine.dialect.name
    with unit_of_work() as session:
        for index in range(3):
            audit.record(session, actor=None, action="test", entity_type="thing", entity_id=str(index))
    audit.seal_all(grace_seconds=0)
    assert audit.publish_checkpoint() is not None
    with unit_of_work() as session:  # and one entry the sealer has not reached yet
        audit.record(session, actor=None, action="test", entity_type="thing", entity_id="unsealed")
    before = _counts()
    source_dir = Path(get_settings().data_dir)
    archive = tmp_path / "passage-backup.tar.gz"
    summary = backup(engine, archive)
    assert archive.exists() and summary.rows >= before["users"] + before["audit"]
    # The backup holds ciphertexts only: a demo TOTP secret is nowhere in it.
    import gzip

    assert demo_secret("fj.officer").encode() not in gzip.decompress(archive.read_bytes())

    _fresh_target(tmp_path, source_dir, "sqlite" if kind == "sqlite" else "postgresql", request)
    restored = restore(get_engine(), archive)
    assert restored.rows == summary.rows
    assert _counts() == before
    with unit_of_work() as session:
        user = service.find_user(session, username="fj.officer")
        assert user is not None and user.totp_secret == demo_secret("fj.officer")  # decrypts with the key ring
        report = audit.verify_chain(session)
        assert report.ok and report.entries_checked == before["audit"] - 1 and report.unsealed == 1
        assert report.checkpoints_checked == 1  # the restored signed checkpoint still matches
        # New writes continue the numbering (on PostgreSQL the id and audit sequences) and the chain.
        audit.record(session, actor=None, action="after_restore", entity_type="thing")
    sealed = audit.seal_all(grace_seconds=0)
    assert sealed.sealed == 2 and sealed.skipped == [] and sealed.head_sequence == before["audit"] + 1
    with unit_of_work() as session:
        assert audit.verify_chain(session).entries_checked == before["audit"] + 1
    # A second restore into the now non-empty database is refused and changes nothing.
    with pytest.raises(Conflict, match="not empty"):
        restore(get_engine(), archive)


def test_a_damaged_backup_is_refused(demo_people: dict[str, str], tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    backup(get_engine(), archive)
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(archive.read_bytes()[: len(archive.read_bytes()) // 2])
    with pytest.raises(InvalidInput):
        restore(get_engine(), damaged)


def test_backup_and_restore_commands(demo_people: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from typer.testing import CliRunner

    from passage.core.cli import assembled_app

    runner = CliRunner()
    archive = tmp_path / "cli-backup.tar.gz"
    result = runner.invoke(assembled_app(), ["backup", str(archive)])
    assert result.exit_code == 0, result.output
    source_dir = Path(get_settings().data_dir)
    _fresh_target(tmp_path, source_dir, "sqlite", request)
    result = runner.invoke(assembled_app(), ["restore", str(archive)])
    assert result.exit_code == 0, result.output
    assert "audit chain verified" in result.output
