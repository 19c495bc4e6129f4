"""Who acts: a signed-in `User`, or the named system actor of a job. One definition for every module.

A job that runs without a person behind it (the deadline job, a CLI import run by the server's operator,
the demo loader) acts as `system_actor("<module>.<job>")`. It is audited with the user id `system` and
its job name in the entry's details, sees every record (the operator already holds the database) and is
granted every permission; what a job may *do* is still bounded by each module's state rules, the same
ones a user meets. No module defines a system user of its own, and `None` is never an actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from passage.security.models import Role, User
from passage.security.permissions import Permission, permissions_for

SYSTEM_ACTOR_ID = "system"
"""The `actor_user_id` of every audit entry and the actor id of every timeline event written by a job."""


@dataclass(frozen=True)
class SystemActor:
    """The named system actor of a job (`readmission.deadlines`, `forms.cli`, `demo`, ...)."""

    job: str
    organisation_id: str | None = None
    """The organisation a job acts for, where it creates records someone must own (CLI `--organisation`)."""
    id: str = field(default=SYSTEM_ACTOR_ID, init=False)
    is_active: bool = field(default=True, init=False)
    role_set: frozenset[Role] = field(default=frozenset(), init=False)

    def __post_init__(self) -> None:
        if not self.job or not self.job.replace(".", "").replace("_", "").replace("-", "").isalnum():
            raise ValueError("a system actor is named by its job, e.g. 'readmission.deadlines'")


Actor: TypeAlias = User | SystemActor
"""Every service operation's `actor`."""


def system_actor(job: str, *, organisation_id: str | None = None) -> SystemActor:
    """The system actor of `job`; the same value everywhere the job runs (CLI, scheduler, tests)."""
    return SystemActor(job=job, organisation_id=organisation_id)


def is_system(actor: object) -> bool:
    return isinstance(actor, SystemActor)


def granted(actor: Actor) -> frozenset[Permission]:
    """The permissions an actor holds: a user's roles (none once disabled), every permission for a job."""
    if isinstance(actor, SystemActor):
        return frozenset(Permission)
    return permissions_for(actor.role_set) if actor.is_active else frozenset()


def may(actor: Actor, permission: Permission) -> bool:
    return permission in granted(actor)


__all__ = ["SYSTEM_ACTOR_ID", "Actor", "SystemActor", "granted", "is_system", "may", "system_actor"]
