"""Login rules: Argon2, second factor, lockout, rate limit; disabling ends sessions and tokens at once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.core.errors import NotAuthenticated, TooManyRequests
from passage.core.models import utcnow
from passage.security import service
from passage.security.actors import system_actor
from passage.security.models import ApiToken, AuditEntry, User, WebSession
from passage.security.passwords import hash_password, verify_password
from tests.conftest import demo_secret, totp_now


def test_passwords_are_argon2_and_verify() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "wrong")
    assert not verify_password(None, "anything")


def _check(username: str, password: str = "passage-demo-2026") -> service.PasswordCheck:
    with unit_of_work() as session:
        return service.check_password(session, username=username, password=password, client="test")


def test_second_factor_required_for_roles_with_personal_data(demo_people: dict[str, str]) -> None:
    service.rate_limiter.clear()
    assert _check("nl.officer").second_factor_required
    assert _check("admin").second_factor_required
    assert not _check("analyst").second_factor_required


def test_totp_verification(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        user = service.find_user(session, username="fj.officer")
        assert user is not None
        assert service.verify_second_factor(user, totp_now(demo_secret("fj.officer")))
        assert not service.verify_second_factor(user, "000000") or totp_now(demo_secret("fj.officer")) == "000000"
        assert not service.verify_second_factor(user, None)


def test_failures_back_off_one_address_not_the_owner(demo_people: dict[str, str]) -> None:
    service.rate_limiter.clear()
    for _ in range(3):
        with pytest.raises(NotAuthenticated), unit_of_work() as session:
            service.check_password(session, username="fr.officer", password="wrong", client="198.51.100.7")
        with unit_of_work() as session:
            service.record_login_failure(session, username="fr.officer", reason="not_authenticated", client="198.51.100.7")
    # The fourth failure starts the back-off of this address for this account ...
    with pytest.raises(NotAuthenticated), unit_of_work() as session:
        service.check_password(session, username="fr.officer", password="wrong", client="198.51.100.7")
    with unit_of_work() as session:
        service.record_login_failure(session, username="fr.officer", reason="not_authenticated", client="198.51.100.7")
    with pytest.raises(TooManyRequests) as refused, unit_of_work() as session:
        service.check_password(session, username="fr.officer", password="passage-demo-2026", client="198.51.100.7")
    assert refused.value.extra["retry_after"] >= 1
    # ... while the owner, from their own address, signs in at once.
    assert _check("fr.officer").user.username == "fr.officer"
    with unit_of_work() as session:
        failures = session.scalars(select(AuditEntry).where(AuditEntry.action == "login", AuditEntry.outcome == "failed")).all()
        assert len(failures) == 4
        assert all("wrong" not in str(f.details) for f in failures)


def test_backoff_grows_exponentially_and_is_capped() -> None:
    delays = [service.backoff_seconds(n) for n in range(1, 16)]
    assert delays[:3] == [0, 0, 0]
    assert delays[3:7] == [2, 4, 8, 16]
    assert max(delays) == 15 * 60


def test_rate_limit_counts_failures_per_username(demo_people: dict[str, str]) -> None:
    service.rate_limiter.clear()
    for _ in range(20):
        _check("analyst")  # successes do not count against the owner
    for _ in range(30):
        service.rate_limiter.record("user:analyst")
    with pytest.raises(TooManyRequests):
        _check("analyst")
    service.rate_limiter.clear()


def test_disable_ends_sessions_and_tokens_at_once(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        user = session.get(User, demo_people["nl.officer"])
        assert user is not None
        web_token, _ = service.start_web_session(session, user=user, second_factor_passed=True)
        api_token, _ = service.issue_api_token(session, user=user)
    with unit_of_work() as session:
        service.disable_user(session, actor=system_actor("security.test"), user_id=demo_people["nl.officer"])
    with unit_of_work() as session:
        assert session.scalars(select(WebSession).where(WebSession.user_id == demo_people["nl.officer"])).first() is None
        assert all(t.revoked_at is not None for t in session.scalars(select(ApiToken).where(ApiToken.user_id == demo_people["nl.officer"])))
        with pytest.raises(NotAuthenticated):
            service.user_for_api_token(session, token=api_token)
        with pytest.raises(NotAuthenticated):
            service.user_for_web_session(session, token=web_token)


def test_web_session_idle_and_absolute_timeouts(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        user = session.get(User, demo_people["analyst"])
        assert user is not None
        idle_token, idle = service.start_web_session(session, user=user, second_factor_passed=True)
        idle.last_seen_at = utcnow() - dt.timedelta(minutes=31)
        old_token, old = service.start_web_session(session, user=user, second_factor_passed=True)
        old.created_at = utcnow() - dt.timedelta(hours=13)
        fresh_token, _ = service.start_web_session(session, user=user, second_factor_passed=True)
    with unit_of_work() as session:
        with pytest.raises(NotAuthenticated, match="timed out"):
            service.user_for_web_session(session, token=idle_token)
    with unit_of_work() as session:
        with pytest.raises(NotAuthenticated, match="timed out"):
            service.user_for_web_session(session, token=old_token)
    with unit_of_work() as session:
        found, _ = service.user_for_web_session(session, token=fresh_token)
        assert found.username == "analyst"


def test_expired_and_revoked_tokens_are_refused(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        user = session.get(User, demo_people["analyst"])
        assert user is not None
        token, record = service.issue_api_token(session, user=user)
        record.expires_at = utcnow() - dt.timedelta(seconds=1)
    with unit_of_work() as session, pytest.raises(NotAuthenticated):
        service.user_for_api_token(session, token=token)
    with unit_of_work() as session:
        user = session.get(User, demo_people["analyst"])
        assert user is not None
        token2, record2 = service.issue_api_token(session, user=user)
        service.revoke_api_token(session, user=user, token_id=record2.id)
    with unit_of_work() as session, pytest.raises(NotAuthenticated):
        service.user_for_api_token(session, token=token2)


def test_admin_cannot_manage_users_outside_their_organisation_tree(demo_people: dict[str, str]) -> None:
    from passage.core.errors import NotFound

    with unit_of_work() as session:
        mps_central = session.get(User, demo_people["mps.central"])
        assert mps_central is not None
        # A central officer is not an administrator: nothing to manage.
        with pytest.raises(NotFound):
            service.get_user_for_admin(session, actor=mps_central, user_id=demo_people["fj.officer"])
        admin = session.get(User, demo_people["admin"])
        assert admin is not None
        assert service.get_user_for_admin(session, actor=admin, user_id=demo_people["fj.officer"]).username == "fj.officer"
