"""The append-only, hash-chained audit log.

Each entry stores the hash of the previous entry and its own HMAC-SHA256 over the previous hash and a
canonical JSON rendering of its fields, keyed with a secret kept outside the database (derived from
`PASSAGE_SECRET_KEY`): the MAC-keyed hash chain of Schneier & Kelsey, "Secure Audit Logs to Support
Computer Forensics", ACM TISSEC 2(2), 1999. Someone with write access to the database alone can no longer
edit an entry and recompute the later hashes. Checkpoints (`passage audit checkpoint`) publish the head of
the chain (sequence, hash, and an HMAC over both) to a file outside the database, so that cutting entries
off the end, which a chain alone cannot show, is detected too (`verify_chain(..., checkpoints=...)`). An entry is written in the same
transaction as the change it records, so both commit or neither does. Writers are serialised (an advisory
transaction lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises), so the chain never forks.
`verify_chain` recomputes every hash and reports the first entry where an edit, deletion or reordering
breaks it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from passage.core.i18n import T_
from passage.core.models import utcnow
from passage.security.actors import Actor, SystemActor
from passage.security.models import AuditEntry

GENESIS_HASH = "0" * 64
_ADVISORY_LOCK_KEY = 0x5A55A6E  # any constant shared by all Passage processes


def _canonical(entry: AuditEntry) -> bytes:
    occurred = entry.occurred_at
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=dt.UTC)
    document = {
        "sequence": entry.sequence,
        "occurred_at": occurred.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_user_id": entry.actor_user_id,
        "actor_organisation_id": entry.actor_organisation_id,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "outcome": entry.outcome,
        "details": entry.details or {},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def chain_key() -> bytes:
    """The audit chain's MAC key: derived from the deployment secret, never stored in the database."""
    from passage.core.settings import get_settings

    return hashlib.sha256(("audit-chain:" + get_settings().secret_key).encode()).digest()


def compute_hash(previous_hash: str, entry: AuditEntry) -> str:
    return hmac.new(chain_key(), previous_hash.encode() + _canonical(entry), hashlib.sha256).hexdigest()


def _lock_chain(session: Session) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})


def record(
    session: Session,
    *,
    actor: Actor | None,
    action: str,
    entity_type: str,
    entity_id: str | None = None,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
    actor_user_id: str | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction. `details` must hold ids and field names, never personal values.

    A system actor is recorded as user `system` with its job name in `details["system_job"]`."""
    if isinstance(actor, SystemActor):
        details = {**(details or {}), "system_job": actor.job}
    _lock_chain(session)
    last = session.execute(
        select(AuditEntry.sequence, AuditEntry.entry_hash).order_by(AuditEntry.sequence.desc()).limit(1)
    ).first()
    sequence = (last.sequence + 1) if last else 1
    previous_hash = last.entry_hash if last else GENESIS_HASH
    # Normalise through JSON once, so that what is stored is exactly what is hashed (dates become strings).
    normalised_details = json.loads(json.dumps(details or {}, sort_keys=True, default=str, ensure_ascii=False))
    entry = AuditEntry(
        sequence=sequence,
        occurred_at=utcnow(),
        actor_user_id=actor.id if actor is not None else actor_user_id,
        actor_organisation_id=actor.organisation_id if actor is not None else None,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        outcome=outcome,
        details=normalised_details,
        previous_hash=previous_hash,
        entry_hash="",
    )
    entry.entry_hash = compute_hash(previous_hash, entry)
    session.add(entry)
    session.flush()
    return entry


def record_refusal(
    session: Session,
    *,
    actor: Actor,
    entity_type: str,
    entity_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a refused action in a transaction of its own: the caller's pending change is rolled back first,
    the refusal is committed, and the caller then raises its 403. Usable from services, the CLI and routes.

    This is the one refusal path: services reach it through `passage.security.operations.refuse`."""
    user_id, organisation_id = actor.id, actor.organisation_id
    if isinstance(actor, SystemActor):
        details = {**(details or {}), "system_job": actor.job}
    session.rollback()
    record(
        session,
        actor=None,
        actor_user_id=user_id,
        action="refused",
        entity_type=entity_type,
        entity_id=entity_id,
        outcome="refused",
        details={"organisation_id": organisation_id, **(details or {})},
    )
    session.commit()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries_checked: int
    first_bad_sequence: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.entries_checked} entries verified"
        return f"audit chain broken at entry {self.first_bad_sequence}: {self.problem}"


def _iter_entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    # Ordered by the physical insertion id, not by `sequence`, so that swapping two entries' sequence
    # numbers (a reordering) is seen as well.
    last_id = 0
    while True:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        session.expunge_all()


def verify_chain(session: Session, *, checkpoints: list[Checkpoint] | None = None) -> ChainReport:
    """Recompute the chain and report the first entry where an edit, a deletion or a reordering breaks it;
    with `checkpoints`, also check that every published checkpoint is genuine and still in the chain."""
    report = _verify_links(session)
    if not report.ok or not checkpoints:
        return report
    for checkpoint in checkpoints:
        if not hmac.compare_digest(checkpoint.mac, checkpoint_mac(checkpoint.sequence, checkpoint.entry_hash)):
            return ChainReport(False, report.entries_checked, checkpoint.sequence, "a published checkpoint is not genuine (its MAC does not match)")
        stored = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.sequence == checkpoint.sequence))
        if stored is None:
            return ChainReport(False, report.entries_checked, checkpoint.sequence, "entries up to a published checkpoint are missing (the log was cut short)")
        if stored != checkpoint.entry_hash:
            return ChainReport(False, report.entries_checked, checkpoint.sequence, "the chain differs from a published checkpoint (rewritten)")
    return report


@dataclass(frozen=True)
class Checkpoint:
    """The head of the chain at one moment, with an HMAC under the chain key; published outside the database."""

    sequence: int
    entry_hash: str
    at: str
    mac: str

    def as_json(self) -> str:
        return json.dumps({"sequence": self.sequence, "entry_hash": self.entry_hash, "at": self.at, "mac": self.mac}, sort_keys=True)


def checkpoint_mac(sequence: int, entry_hash: str) -> str:
    return hmac.new(chain_key(), f"checkpoint:{sequence}:{entry_hash}".encode(), hashlib.sha256).hexdigest()


def make_checkpoint(session: Session) -> Checkpoint | None:
    """The current head of the chain as a checkpoint, or None for an empty log."""
    last = session.execute(select(AuditEntry.sequence, AuditEntry.entry_hash).order_by(AuditEntry.sequence.desc()).limit(1)).first()
    if last is None:
        return None
    return Checkpoint(last.sequence, last.entry_hash, utcnow().isoformat(timespec="seconds"), checkpoint_mac(last.sequence, last.entry_hash))


def read_checkpoints(lines: list[str]) -> list[Checkpoint]:
    """Checkpoints from a published file (one JSON object per line); blank lines are skipped."""
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
            found.append(Checkpoint(int(document["sequence"]), str(document["entry_hash"]), str(document["at"]), str(document["mac"])))
        except (ValueError, KeyError, TypeError):
            from passage.core.errors import InvalidInput

            raise InvalidInput(T_("checkpoint file: line {number}: not a checkpoint", number=number)) from None
    return found


def _verify_links(session: Session) -> ChainReport:
    previous_hash = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    for entry in _iter_entries(session):
        if entry.sequence != expected_sequence:
            expected_exists = session.scalar(select(AuditEntry.id).where(AuditEntry.sequence == expected_sequence)) is not None
            kind = "entries are out of order (reordered)" if expected_exists else "an entry is missing (deleted)"
            return ChainReport(False, checked, entry.sequence, f"expected sequence {expected_sequence}, found {entry.sequence}: {kind}")
        if entry.previous_hash != previous_hash:
            return ChainReport(False, checked, entry.sequence, "its link to the previous entry does not match (deleted or reordered entries)")
        if compute_hash(previous_hash, entry) != entry.entry_hash:
            return ChainReport(False, checked, entry.sequence, "its content does not match its hash (edited)")
        previous_hash = entry.entry_hash
        expected_sequence += 1
        checked += 1
    return ChainReport(True, checked)
