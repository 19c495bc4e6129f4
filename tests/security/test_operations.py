"""The operation protocol of the foundation: one actor type, one refusal path, one operation context, one
`allowed_operations`. Module tests check each service uses it; these check the protocol itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.core.errors import Conflict, Forbidden
from passage.security import operations
from passage.security.actors import SYSTEM_ACTOR_ID, SystemActor, granted, system_actor
from passage.security.models import AuditEntry, User
from passage.security.permissions import Permission, permissions_for
from passage.security.scope import can_see


def _user(session: object, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()  # type: ignore[attr-defined,no-any-return]


def _entries() -> list[AuditEntry]:
    """Entries written by the test (the demo people's creation is audited before it starts)."""
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.sequence > _baseline()).order_by(AuditEntry.sequence)))


_BASELINE: dict[str, int] = {}


def _baseline() -> int:
    return _BASELINE.get("sequence", 0)


@pytest.fixture(autouse=True)
def _mark_baseline(request: pytest.FixtureRequest) -> None:
    _BASELINE.clear()
    if "demo_people" in request.fixturenames:
        request.getfixturevalue("demo_people")
        with unit_of_work() as session:
            _BASELINE["sequence"] = session.scalar(select(AuditEntry.sequence).order_by(AuditEntry.sequence.desc()).limit(1)) or 0


def test_the_system_actor_is_one_value_with_every_permission() -> None:
    assert system_actor("readmission.deadlines") == SystemActor(job="readmission.deadlines")
    actor = system_actor("forms.cli", organisation_id="org1")
    assert actor.id == SYSTEM_ACTOR_ID and actor.is_active and actor.role_set == frozenset()
    assert granted(actor) == frozenset(Permission)
    with pytest.raises(ValueError):
        system_actor("")


def test_the_system_actor_sees_every_scoped_record() -> None:
    @dataclass
    class Unscoped:
        id: str = "x"

    # no `__scope__`: nobody sees it through scope, except a job running on the server
    assert can_see(Unscoped(), system_actor("test")) is True


def test_a_disabled_user_holds_no_permission(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        user = _user(session, "analyst")
        assert granted(user) == permissions_for(user.role_set)
        user.is_active = False
        assert granted(user) == frozenset()
        session.rollback()


def test_a_service_call_without_permission_is_refused_and_the_refusal_survives_the_rollback(demo_people: dict[str, str]) -> None:
    # As the CLI or another module would call it: no route in front, so the service is the only check.
    with pytest.raises(Forbidden), unit_of_work() as session:
        analyst = _user(session, "analyst")
        analyst.display_name = "changed before the check"
        operations.require_permission(session, actor=analyst, permission=Permission.READMISSION_ACT,
                                      entity_type="readmission_case", entity_id="c1", operation="accept")
    entries = _entries()
    assert [e.action for e in entries] == ["refused"], "the refusal is committed"
    with unit_of_work() as session:
        assert _user(session, "analyst").display_name == "Data Analyst", "the pending change is rolled back"
    refusal = entries[0]
    assert refusal.outcome == "refused" and refusal.actor_user_id == demo_people["analyst"]
    assert refusal.details["missing"] == ["readmission:act"] and refusal.details["operation"] == "accept"


def test_the_operation_context_audits_on_success_only(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        admin = _user(session, "admin")
        with operations.operation(session, actor=admin, action="thing.rename", entity_type="user", record=admin,
                                  permission=Permission.USERS_MANAGE) as op:
            op.note(fields=["display_name"])
    with pytest.raises(RuntimeError), unit_of_work() as session:
        admin = _user(session, "admin")
        with operations.operation(session, actor=admin, action="thing.fail", entity_type="user", record=admin):
            raise RuntimeError("the work failed")
    entries = _entries()
    assert [(e.action, e.entity_id, e.details) for e in entries] == [("thing.rename", demo_people["admin"], {"fields": ["display_name"]})]


def test_the_operation_context_checks_the_version_after_the_permission(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        admin = _user(session, "admin")
        stale = admin.version - 1
        with pytest.raises(Conflict), operations.operation(session, actor=admin, action="x", entity_type="user", record=admin, expected_version=stale):
            pass
    with pytest.raises(Forbidden), unit_of_work() as session:
        analyst = _user(session, "analyst")
        with operations.operation(session, actor=analyst, action="x", entity_type="user", record=analyst,
                                  permission=Permission.USERS_MANAGE, expected_version=analyst.version - 1):
            pass
    assert [e.outcome for e in _entries()] == ["refused"]


@dataclass
class _Door:
    id: str
    locked: bool
    owner: str


def _allowed(actor: object, door: _Door) -> frozenset[str]:
    mine = getattr(actor, "id", None) in {door.owner, SYSTEM_ACTOR_ID}
    return frozenset({"open"} if mine and not door.locked else set())


def _denial(actor: object, door: _Door, operation: str) -> Conflict | Forbidden:
    if getattr(actor, "id", None) not in {door.owner, SYSTEM_ACTOR_ID}:
        return Forbidden("not your door", extra={"reason": "owner", "allowed_owner": door.owner})
    return Conflict("the door is locked")


def test_require_operation_refuses_exactly_what_allowed_operations_leaves_out(demo_people: dict[str, str]) -> None:
    operations.operation_rules(_Door, operations.OperationRules(allowed=_allowed, denial=_denial))
    owner = demo_people["admin"]
    job = system_actor("test.doors")
    with unit_of_work() as session:
        admin = _user(session, "admin")
        analyst = _user(session, "analyst")
        for actor in (admin, analyst, job):
            for door in (_Door("d1", False, owner), _Door("d2", True, owner)):
                allowed = "open" in operations.allowed_operations(actor, door)
                try:
                    operations.require_operation(session, actor=actor, record=door, operation="open", entity_type="door")
                    permitted = True
                except (Forbidden, Conflict):
                    permitted = False
                    session.rollback()
                assert allowed == permitted, (actor.id, door)
    refused = [e for e in _entries() if e.outcome == "refused"]
    # the analyst is refused (audited) twice; a locked door is a 409 for its owner, not a refusal
    assert [(e.actor_user_id, e.entity_id) for e in refused] == [(demo_people["analyst"], "d1"), (demo_people["analyst"], "d2")]


def test_a_job_is_audited_as_system_with_its_name(demo_people: dict[str, str]) -> None:
    from passage.security import audit

    with unit_of_work() as session:
        audit.record(session, actor=system_actor("readmission.deadlines"), action="deem_accepted", entity_type="readmission_case", entity_id="c1")
    (entry,) = _entries()
    assert entry.actor_user_id == SYSTEM_ACTOR_ID and entry.details == {"system_job": "readmission.deadlines"}


def _calls() -> dict[str, tuple[str, Any]]:
    """One operation of every module's service, called as the CLI or another module would (no route in front), by a
    user whose role lacks the permission: (username, call)."""
    import datetime as dt

    from passage.avrr import service as avrr
    from passage.biometrics import service as biometrics
    from passage.dialogue import service as dialogue
    from passage.dtm import service as dtm
    from passage.forms import service as forms
    from passage.identity import service as identity
    from passage.identity.compare import Query
    from passage.mobility import service as mobility
    from passage.readmission import service as readmission

    return {
        "readmission": ("analyst", lambda s, a: readmission.list_cases(s, actor=a, filters=readmission.CaseFilter())),
        "identity": ("analyst", lambda s, a: identity.search_person(s, actor=a, query=Query(query_id="q", family_name="Li"))),
        "biometrics": ("analyst", lambda s, a: biometrics.enrol(s, actor=a, items=[])),
        "avrr": ("analyst", lambda s, a: avrr.create_case(s, actor=a, data=None)),  # type: ignore[arg-type]
        "forms": ("iom.caseworker", lambda s, a: forms.load_form(s, actor=a, content=b"", filename="x.xlsx")),
        "dtm": ("iom.caseworker", lambda s, a: dtm.create_round(s, actor=a, operation="NGA", number=1, reporting_date=dt.date(2024, 1, 1))),
        "mobility": ("iom.caseworker", lambda s, a: mobility.start_run(s, actor=a, dataset_id="d" * 32, analysis="home_locations", parameters={})),
        "dialogue": ("analyst", lambda s, a: dialogue.create_institution(s, actor=a, data={"name_en": "X"})),
    }


@pytest.mark.parametrize("module", ["readmission", "identity", "biometrics", "avrr", "forms", "dtm", "mobility", "dialogue"])
def test_every_service_refuses_and_audits_without_a_route(demo_people: dict[str, str], module: str) -> None:
    username, call = _calls()[module]
    with pytest.raises(Forbidden), unit_of_work() as session:
        call(session, _user(session, username))
    refusals = [e for e in _entries() if e.outcome == "refused"]
    assert len(refusals) == 1, "refused once, by the service, through the foundation's refusal path"
    assert refusals[0].actor_user_id == demo_people[username] and refusals[0].details["reason"] == "permission"


@pytest.mark.parametrize("module", ["readmission", "forms", "dtm", "mobility", "dialogue"])
def test_a_job_passes_the_same_permission_checks(demo_people: dict[str, str], module: str) -> None:
    """The system actor is granted what a job needs: the call gets past the check (and may fail on its input)."""
    from passage.core.errors import PassageError

    _, call = _calls()[module]
    with unit_of_work() as session:
        try:
            call(session, system_actor(f"{module}.test"))
        except Forbidden:  # pragma: no cover - the assertion below names the failure
            raise AssertionError(f"{module} refused its job") from None
        except PassageError:
            pass
        session.rollback()
    assert not [e for e in _entries() if e.outcome == "refused"]
