"""Deny-by-default record scope: one mechanism for every list query and every record load.

A model opts in by declaring `__scope__ = RecordScope(...)` naming its columns:
- `owner_organisation`: the organisation that owns the record (a requesting state's return service);
- `routed_organisation`: the provincial organisation the record was routed to;
- `addressed_country`: the ISO country code of the state the record is addressed to;
- `protecting_country`: the ISO country code of the state whose consular service protects the person
  (consular records: a mission owns them, the national consular protection centre sees them all).

Visibility (OWASP ASVS 4.0.3 V4.2.1, access to records by identifier; the two states are tenants):
- every user sees records owned by their own organisation;
- a provincial officer also sees records routed to their organisation;
- a central officer of a national organisation also sees records addressed to their country;
- a consular-centre officer of a national organisation also sees the consular records of their country
  (Vienna Convention on Consular Relations 1963, art. 5: protection is the sending state's function, which its
  missions exercise within their consular district, art. 6-7).
A model without `__scope__` is visible to nobody through this module. Records outside scope are reported
as not found (404), so their existence is not revealed. The system actor of a job
(`passage.security.actors.SystemActor`) sees every record: it runs on the server, as the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import Session

from passage.core.errors import NotFound
from passage.core.i18n import T_
from passage.security.actors import Actor, SystemActor
from passage.security.models import OrganisationLevel, Role

ModelT = TypeVar("ModelT")


@dataclass(frozen=True)
class RecordScope:
    owner_organisation: str | None = None
    routed_organisation: str | None = None
    addressed_country: str | None = None
    protecting_country: str | None = None


def visible_clause(model: Any, user: Actor) -> ColumnElement[bool]:
    """The WHERE clause that limits `model` to what `user` may see; `false()` when nothing applies."""
    if isinstance(user, SystemActor):
        return true()
    scope: RecordScope | None = getattr(model, "__scope__", None)
    if scope is None or not user.is_active:
        return false()
    roles = user.role_set
    conditions: list[ColumnElement[bool]] = []
    if scope.owner_organisation:
        conditions.append(getattr(model, scope.owner_organisation) == user.organisation_id)
    if scope.routed_organisation and Role.PROVINCIAL_OFFICER in roles:
        conditions.append(getattr(model, scope.routed_organisation) == user.organisation_id)
    if (
        scope.addressed_country
        and Role.CENTRAL_OFFICER in roles
        and user.organisation.level == OrganisationLevel.NATIONAL
    ):
        conditions.append(getattr(model, scope.addressed_country) == user.organisation.country)
    if scope.protecting_country and _consular_centre(user):
        conditions.append(getattr(model, scope.protecting_country) == user.organisation.country)
    if not conditions:
        return false()
    return or_(*conditions)


def scoped_select(model: type[ModelT], user: Actor) -> Select[Any]:
    """`select(model)` already limited to the user's scope; add filters, ordering and paging to it."""
    return select(model).where(visible_clause(model, user))


def get_visible(session: Session, model: type[ModelT], record_id: str, user: Actor, *, for_update: bool = False) -> ModelT:
    """Load one record in scope in a single query, or raise NotFound (never Forbidden, to hide existence)."""
    statement = scoped_select(model, user).where(model.id == record_id)  # type: ignore[attr-defined]
    if for_update:
        statement = statement.with_for_update()
    record: ModelT | None = session.scalars(statement).first()
    if record is None:
        raise NotFound(T_("{value} {record_id} not found", value=getattr(model, '__tablename__', 'record'), record_id=record_id))
    return record


def can_see(record: Any, user: Actor) -> bool:
    """The same rule as `visible_clause`, evaluated in Python on a loaded record."""
    if isinstance(user, SystemActor):
        return True
    scope: RecordScope | None = getattr(type(record), "__scope__", None)
    if scope is None or not user.is_active:
        return False
    roles = user.role_set
    if scope.owner_organisation and getattr(record, scope.owner_organisation) == user.organisation_id:
        return True
    if scope.routed_organisation and Role.PROVINCIAL_OFFICER in roles and getattr(record, scope.routed_organisation) == user.organisation_id:
        return True
    if scope.protecting_country and _consular_centre(user) and getattr(record, scope.protecting_country) == user.organisation.country:
        return True
    return bool(
        scope.addressed_country
        and Role.CENTRAL_OFFICER in roles
        and user.organisation.level == OrganisationLevel.NATIONAL
        and getattr(record, scope.addressed_country) == user.organisation.country
    )


def _consular_centre(user: Any) -> bool:
    return Role.CONSULAR_CENTRE in user.role_set and user.organisation.level == OrganisationLevel.NATIONAL
