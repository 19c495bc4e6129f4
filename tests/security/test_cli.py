"""`passage users`, `audit` and `keys` through the real CLI entry point."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from passage.core.cli import main
from passage.core.db import unit_of_work
from passage.core.settings import get_settings
from passage.security.models import AuditEntry, DataKey, User


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0)


def test_users_create_and_disable(demo_people: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["users", "create", "new.officer", "--organisation", "Fujian Exit and Entry Administration Bureau", "--role", "provincial_officer", "--password", "a long enough password"]) == 0
    assert "created user new.officer" in capsys.readouterr().out
    with unit_of_work() as session:
        user = session.scalars(select(User).where(User.username == "new.officer")).one()
        assert user.is_active and user.totp_secret is None
    assert run(["users", "disable", "new.officer"]) == 0
    with unit_of_work() as session:
        assert not session.scalars(select(User).where(User.username == "new.officer")).one().is_active


def test_users_create_refuses_bad_input_with_one_line(demo_people: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["users", "create", "x", "--organisation", "No Such Org", "--role", "admin", "--password", "a long enough password"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: organisation") and err.count("\n") == 1
    assert run(["users", "create", "Bad Name", "--organisation", "IOM China", "--role", "admin", "--password", "short"]) == 2
    err = capsys.readouterr().err
    assert "username" in err and "password" in err and "short" not in err.split("password")[-1][:10]


def test_keys_rotate_rewraps_and_is_audited(demo_people: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    key_file = get_settings().key_file
    assert key_file is not None
    before = json.loads(key_file.read_text())["active"]
    assert run(["keys", "rotate"]) == 0
    after = json.loads(key_file.read_text())["active"]
    assert after != before
    with unit_of_work() as session:
        assert set(session.scalars(select(DataKey.kek_id))) == {after}
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "rotate_keys")).one().entity_id == after
        # Encrypted columns written before the rotation still read back.
        assert session.scalars(select(User).where(User.username == "fj.officer")).one().totp_secret
    assert run(["audit", "verify"]) == 0
