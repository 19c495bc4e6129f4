"""Retention as a job: one registry of per-record-type policies, one runner, one command.

Each module that keeps personal data past the life of a record contributes its policies in
`passage/<module>/retention.py` as a module-level list ``policies`` of `RetentionPolicy`; the runner
discovers them the way the CLI discovers commands (`passage.MODULES`), so a new module (e.g. `consular`)
adds a policy without touching this file. A policy says which records are expired on a day and erases
one record through the module's own erasure code - the code its tests check - in the runner's
transaction; the runner adds one audit entry per policy run (`retention.run`), and the module's erasure
writes its own entry per record. `passage retention run --dry-run` prints the policy table and what
would be erased, changing nothing.

Why a job: the GDPR storage-limitation principle (Regulation (EU) 2016/679, Art. 5(1)(e)) and the
agreements' data-protection articles (e.g. EU-Serbia readmission agreement, Art. 17) require erasure when
the retention period ends, not when someone remembers to run it; docs/deploy.md schedules it daily.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from passage.security import audit
from passage.security.actors import Actor, system_actor

RETENTION_JOB = system_actor("retention")
"""The system actor of `passage retention run`."""

FindExpired = Callable[[Session, dt.date], list[str]]
"""(session, today) -> ids of the records whose retention has ended and that are not yet erased."""
EraseOne = Callable[[Session, str, Actor, dt.date], None]
"""(session, record id, actor, today) -> None: erase one record's personal data and audit it."""


@dataclass(frozen=True)
class RetentionPolicy:
    record_type: str
    """The entity type as the audit log names it, e.g. ``readmission_case``."""
    module: str
    erased: str
    """What is erased, in words (for the policy table)."""
    kept: str
    """What is kept (e.g. the fields statistics need)."""
    period: str
    """When a record expires, in words, with its source (agreement article, regulation, setting)."""
    find_expired: FindExpired
    erase: EraseOne

    def row(self) -> dict[str, str]:
        return {"record_type": self.record_type, "module": self.module, "period": self.period, "erased": self.erased, "kept": self.kept}


@dataclass
class PolicyRun:
    policy: RetentionPolicy
    expired: list[str] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)


@dataclass
class RetentionReport:
    today: dt.date
    dry_run: bool
    runs: list[PolicyRun] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "dry_run": self.dry_run,
            "policies": [run.policy.row() | {"expired": len(run.expired), "erased": len(run.erased), "ids": run.erased if not self.dry_run else run.expired}
                         for run in self.runs],
        }


def discover(modules: Iterable[str] | None = None) -> list[RetentionPolicy]:
    """Every policy the installed modules contribute, in module order (record types must be unique)."""
    from passage import MODULES

    found: list[RetentionPolicy] = []
    for module in modules if modules is not None else MODULES:
        name = f"passage.{module}.retention"
        if importlib.util.find_spec(f"passage.{module}") is None or importlib.util.find_spec(name) is None:
            continue
        found.extend(getattr(importlib.import_module(name), "policies", []))
    seen: set[str] = set()
    for policy in found:
        if policy.record_type in seen:
            raise ValueError(f"two retention policies for {policy.record_type}")
        seen.add(policy.record_type)
    return found


def run(session: Session, *, today: dt.date, dry_run: bool = False, actor: Actor = RETENTION_JOB,
        policies: Iterable[RetentionPolicy] | None = None, progress: Callable[[str, int, int], None] | None = None) -> RetentionReport:
    """Find (and unless `dry_run`, erase) every expired record of every policy, in the caller's transaction.

    `actor` is the system actor of the job (`RETENTION_JOB`). Idempotent: an erased
    record is no longer expired-and-not-erased, so a second run on the same day erases nothing.
    """
    report = RetentionReport(today=today, dry_run=dry_run)
    for policy in discover() if policies is None else list(policies):
        expired = sorted(policy.find_expired(session, today))
        outcome = PolicyRun(policy=policy, expired=expired)
        if not dry_run:
            for done, record_id in enumerate(expired, start=1):
                policy.erase(session, record_id, actor, today)
                outcome.erased.append(record_id)
                if progress is not None:
                    progress(policy.record_type, done, len(expired))
            audit.record(session, actor=actor, action="retention.run", entity_type=policy.record_type,
                         details={"today": today.isoformat(), "erased": len(outcome.erased), "ids": outcome.erased})
        report.runs.append(outcome)
    return report
