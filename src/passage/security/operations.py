"""The operation protocol every module's `service.py` is written on.

One operation, in one transaction, always in this order:

1. **load** the record the actor may see (`security.scope.get_visible`: out of scope is 404, never 403);
2. **permission**: the actor's grants (`require_permission`), and for records with per-record rules the
   operation must be among `allowed_operations(actor, record)` (`require_operation`);
3. **version**: a change made from a stale read is refused (409, `core.db.check_version`, `VersionedMixin`);
4. **work**: the module changes its records and writes its domain event (timeline, stage history);
5. **audit**: the audit entry is appended in the same transaction, so the change and its entry commit together.

`operation(...)` is that sequence as a context manager; services with several records or no record use the
steps directly. A refusal goes one way only, `refuse`: the pending change is rolled back, the refusal is
audited and committed on its own (so it survives the request's rollback), and `Forbidden` is raised. It
behaves the same from a route, the CLI or another module's service, because the service asks, not the route
(OWASP ASVS 4.0.3 V4.1.1 and V4.1.5: access control enforced at a trusted service layer, failing securely).

`allowed_operations(actor, record)` is what pages and APIs ask to show or offer an operation; modules
register the rules of their record types with `operation_rules`, and `require_operation` refuses exactly
what those rules leave out, so a page never offers what the service would refuse, and the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from passage.core.db import check_version
from passage.core.errors import FieldError, Forbidden, PassageError
from passage.security import audit
from passage.security.actors import Actor, SystemActor, granted, is_system, may, system_actor
from passage.security.permissions import Permission
from passage.security.scope import get_visible

RecordT = TypeVar("RecordT")

DEFAULT_REFUSAL = "your role does not allow this"


# --- the one refusal path ----------------------------------------------------------------------------------


def refuse(
    session: Session,
    *,
    actor: Actor,
    entity_type: str,
    entity_id: str | None,
    operation: str,
    reason: str = "permission",
    message: str = DEFAULT_REFUSAL,
    details: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    fields: list[FieldError] | None = None,
) -> Forbidden:
    """Audit a refused operation in its own committed transaction and return the `Forbidden` to raise.

    `details` go to the audit entry (ids and names only); `extra` to the error body (e.g. allowed roles)."""
    audit.record_refusal(
        session, actor=actor, entity_type=entity_type, entity_id=entity_id,
        details={"operation": operation, "reason": reason, **(details or {})},
    )
    error = Forbidden(message, fields=fields, extra=extra)
    error.audited = True  # type: ignore[attr-defined]
    return error


@contextmanager
def refusals_audited(session: Session, *, actor: Actor, entity_type: str, entity_id: str | None, operation: str,
                     reason: str = "rule") -> Iterator[None]:
    """A `Forbidden` raised inside the block by a pure rule (no consent, a sensitive field without its permission)
    takes the refusal path: audited in its own committed transaction, then raised unchanged."""
    try:
        yield
    except Forbidden as error:
        if not getattr(error, "audited", False):
            audit.record_refusal(session, actor=actor, entity_type=entity_type, entity_id=entity_id,
                                 details={"operation": operation, "reason": reason})
            error.audited = True  # type: ignore[attr-defined]
        raise


def require_permission(
    session: Session,
    *,
    actor: Actor,
    permission: Permission | tuple[Permission, ...],
    entity_type: str,
    operation: str,
    entity_id: str | None = None,
    message: str = DEFAULT_REFUSAL,
) -> None:
    """Refuse (audited) unless the actor holds every permission named."""
    wanted = permission if isinstance(permission, tuple) else (permission,)
    have = granted(actor)
    missing = [p.value for p in wanted if p not in have]
    if missing:
        raise refuse(session, actor=actor, entity_type=entity_type, entity_id=entity_id, operation=operation,
                     message=message, details={"missing": missing})


# --- allowed operations -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationRules(Generic[RecordT]):
    """The per-record rules of one record type.

    `allowed(actor, record)` names the operations the actor may take on the record now. `denial(actor,
    record, operation)` explains a missing one: a `Forbidden` (who: role, side, organisation, permission),
    which is audited as a refusal, or a `Conflict` (when: the record's state), which is not."""

    allowed: Callable[[Actor, RecordT], frozenset[str]]
    denial: Callable[[Actor, RecordT, str], PassageError]


_RULES: dict[type, OperationRules[Any]] = {}


def operation_rules(model: type[RecordT], rules: OperationRules[RecordT]) -> None:
    """Register the rules of a record type (once, next to the service that enforces them)."""
    _RULES[model] = rules


def _rules_of(record: object) -> OperationRules[Any] | None:
    for klass in type(record).__mro__:
        found = _RULES.get(klass)
        if found is not None:
            return found
    return None


def allowed_operations(actor: Actor, record: object) -> frozenset[str]:
    """What `actor` may do to `record` now; empty for a record type without rules."""
    rules = _rules_of(record)
    return rules.allowed(actor, record) if rules is not None else frozenset()


def require_operation(session: Session, *, actor: Actor, record: Any, operation: str, entity_type: str) -> None:
    """Refuse exactly what `allowed_operations` leaves out: 403 audited (who), or 409 (when)."""
    if operation in allowed_operations(actor, record):
        return
    rules = _rules_of(record)
    error: PassageError = rules.denial(actor, record, operation) if rules is not None else Forbidden(DEFAULT_REFUSAL)
    if isinstance(error, Forbidden):
        raise refuse(session, actor=actor, entity_type=entity_type, entity_id=getattr(record, "id", None), operation=operation,
                     reason=str(error.extra.get("reason", "rule")), message=error.message,
                     details={k: v for k, v in error.extra.items() if k.startswith("allowed")}, extra=error.extra)
    raise error


# --- the operation context ------------------------------------------------------------------------------------


@dataclass
class Operation(Generic[RecordT]):
    """One operation in progress: its record and the audit details it will write on success."""

    session: Session
    actor: Actor
    action: str
    entity_type: str
    record: RecordT
    entity_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    audited: bool = True

    def note(self, **details: Any) -> None:
        """Add ids, counts or field names (never personal values) to the audit entry."""
        self.details.update(details)


@contextmanager
def operation(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity_type: str,
    permission: Permission | tuple[Permission, ...] | None = None,
    model: type[RecordT] | None = None,
    record_id: str | None = None,
    record: RecordT | None = None,
    expected_version: int | None = None,
    rule: str | None = None,
    for_update: bool = False,
) -> Iterator[Operation[Any]]:
    """Load → permission → version → (the caller's work) → audit, in the caller's transaction.

    Give `model` and `record_id` to load through scope, or an already loaded `record`. With `rule`, that
    operation must be among `allowed_operations(actor, record)`. The audit entry is written when the block
    ends without an exception; `op.audited = False` leaves it to the caller (e.g. an entry per row)."""
    loaded: Any = record
    if loaded is None and model is not None:
        if record_id is None:
            raise ValueError("operation(model=...) needs record_id")
        loaded = get_visible(session, model, record_id, actor, for_update=for_update)
    entity_id = getattr(loaded, "id", None) if loaded is not None else record_id
    if permission is not None:
        require_permission(session, actor=actor, permission=permission, entity_type=entity_type, entity_id=entity_id, operation=action)
    if rule is not None and loaded is not None:
        require_operation(session, actor=actor, record=loaded, operation=rule, entity_type=entity_type)
    if loaded is not None and expected_version is not None:
        check_version(loaded, expected_version)
    op: Operation[Any] = Operation(session=session, actor=actor, action=action, entity_type=entity_type, record=loaded, entity_id=entity_id)
    yield op
    if op.audited:
        session.flush()
        audit.record(session, actor=actor, action=op.action, entity_type=entity_type,
                     entity_id=op.entity_id if op.entity_id is not None else getattr(op.record, "id", None), details=op.details)


__all__ = [
    "Actor", "Operation", "OperationRules", "SystemActor", "allowed_operations", "granted", "is_system", "may",
    "operation", "operation_rules", "refusals_audited", "refuse", "require_operation", "require_permission", "system_actor",
]
