"""The append-only audit log: entries written with the change, sealed into a keyed hash chain by one sealer,
and anchored by signed checkpoints.

Three steps, so that no request waits for another request's audit work:

1. **Write.** `record` inserts the entry in the caller's own transaction, so the change and its entry commit
   together or not at all. It takes a sequence number and nothing else: on PostgreSQL from the database
   sequence `audit_log_sequence_seq` (concurrent requests do not wait for each other; a rolled-back
   transaction leaves a gap), on SQLite as `MAX(sequence) + 1` inside the same INSERT, which is safe because
   SQLite's single writer (`BEGIN IMMEDIATE`, see `core/db.py`) already orders transactions. There is no
   Python lock and no chain work on the request path.
2. **Seal.** One sealer (`seal`, run every half second by the `passage serve` thread `SEALER`, or once by
   `passage audit seal`) links committed entries into the chain in sequence order: `entry_hash =
   HMAC-SHA256(key[key_id], previous_hash || canonical JSON of the entry, key id included)`, the MAC-keyed
   hash chain of Schneier & Kelsey, "Secure Audit Logs to Support Computer Forensics", ACM TISSEC 2(2),
   1999. The sealer only ever sees committed rows, so it never seals an open transaction's entry. It stops at
   the first missing sequence number: a request that took a lower number may still commit after a higher one
   did. After a grace period (`audit_gap_grace_seconds`) it tries to *claim* the missing number by inserting
   an explicit, sealed `skip` entry with it. The unique index on `sequence` decides: if the owning
   transaction has already inserted its entry and is still open, PostgreSQL makes the claim wait for it
   (bounded by `lock_timeout`; the sealer retries on its next round); if it committed, the claim fails and
   the real entry is sealed; if it rolled back, the claim succeeds and the gap is recorded in the chain. So
   a rolled-back number never blocks the chain for more than the grace period, and a committed entry is
   never skipped. Only one sealer works at a time (a PostgreSQL advisory lock; SQLite's writer lock).
3. **Checkpoint.** A signed checkpoint is the head of the chain (sequence, hash, time) signed with Ed25519
   (RFC 8032), the role of the signed tree head of Certificate Transparency (RFC 6962 §3.5). It is stored in
   `audit_checkpoints` and appended to a file outside the database; `verify_chain(..., checkpoints=...)`
   then detects entries cut off the end, which a chain alone cannot show (Crosby & Wallach, "Efficient
   Data Structures for Tamper-Evident Logging", USENIX Security 2009, §2: a log is only tamper-evident
   against an auditor who holds a commitment to a later state).

Chain keys live in the audit key ring (`audit_key_file`, outside the database), each with an id recorded on
every sealed entry, so rotating the chain key (`passage audit rotate-key`) or the deployment secret never
breaks the verification of older entries. Entries sealed before key ids existed carry the id `legacy`,
whose key (derived from `PASSAGE_SECRET_KEY`) is copied into the ring when the ring is first created.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from passage.core.db import defer_write, drop_deferred_writes
from passage.core.errors import InvalidInput
from passage.core.i18n import T_
from passage.core.models import utcnow
from passage.security.actors import Actor, SystemActor
from passage.security.models import AuditCheckpoint, AuditEntry

logger = logging.getLogger("passage.audit")

GENESIS_HASH = "0" * 64
LEGACY_KEY_ID = "legacy"
SEQUENCE_NAME = "audit_log_sequence_seq"
SKIP_ACTION = "skip"
SEAL_BATCH = 2000
_SEALER_LOCK_KEY = 0x5A55A6E  # any constant shared by all Passage processes


# --- write ------------------------------------------------------------------------------------------------


def _insert_statement(dialect: str) -> Any:
    """The INSERT that numbers a new entry inside itself (no round trip, no lock of ours); built once per
    dialect so that SQLAlchemy compiles it once."""
    statement = _INSERTS.get(dialect)
    if statement is None:
        table = cast(Table, AuditEntry.__table__)
        if dialect == "postgresql":
            number: Any = func.nextval(SEQUENCE_NAME)
        else:
            number = select(func.coalesce(func.max(table.c.sequence), 0) + 1).scalar_subquery()
        statement = _INSERTS[dialect] = insert(table).values(sequence=number)
    return statement


_INSERTS: dict[str, Any] = {}


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
    deferrable: bool = True,
) -> None:
    """Append one entry in the caller's transaction. `details` must hold ids and field names, never personal values.

    The entry is sealed into the chain by the sealer after the transaction commits. A system actor is
    recorded as user `system` with its job name in `details["system_job"]`."""
    if isinstance(actor, SystemActor):
        details = {**(details or {}), "system_job": actor.job}
    # Normalise through JSON once, so that what is stored is exactly what is hashed (dates become strings).
    normalised_details = json.loads(json.dumps(details or {}, sort_keys=True, default=str, ensure_ascii=False))
    statement = _insert_statement(session.get_bind().dialect.name)
    params = {
        "occurred_at": utcnow(),
        "actor_user_id": actor.id if actor is not None else actor_user_id,
        "actor_organisation_id": actor.organisation_id if actor is not None else None,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "outcome": outcome,
        "details": normalised_details,
    }
    # a read request on SQLite writes its entries after its reads, before the answer (`core.db.unit_of_work`);
    # a refusal is committed at once, in a transaction of its own
    if not (deferrable and defer_write(session, statement, params)):
        session.execute(statement, params)


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
    drop_deferred_writes(session)
    record(
        session,
        actor=None,
        actor_user_id=user_id,
        action="refused",
        entity_type=entity_type,
        entity_id=entity_id,
        outcome="refused",
        details={"organisation_id": organisation_id, **(details or {})},
        deferrable=False,
    )
    session.commit()


# --- chain keys -------------------------------------------------------------------------------------------


class AuditKeyRing:
    """The chain's MAC keys by id, from a JSON file outside the database (`{"active": id, "keys": {id: base64}}`).

    Created on first use with a fresh random active key and the `legacy` key (derived from the deployment
    secret, the construction before key ids), so that the secret can later be rotated without losing the
    ability to verify entries sealed under it. Re-read when the file changes (a rotation by another process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.active_id = ""
        self.keys: dict[str, bytes] = {}
        self._mtime: float | None = None
        self.reload()

    def reload(self) -> None:
        if not self.path.exists():
            self._create()
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            self.keys = {kid: base64.b64decode(value) for kid, value in document["keys"].items()}
            self.active_id = str(document["active"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(f"audit key file {self.path.name}: not a key ring") from None
        if self.active_id not in self.keys:
            raise InvalidInput(f"audit key file {self.path.name}: the active key {self.active_id} is not in the ring")
        self._mtime = mtime

    def _create(self) -> None:
        # Written beside the target and linked into place, so that two processes starting at once cannot
        # overwrite each other's first key (the loser reads the winner's ring).
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        kid = secrets.token_hex(8)
        draft = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        _write_ring(draft, active=kid, keys={LEGACY_KEY_ID: legacy_chain_key(), kid: secrets.token_bytes(32)})
        try:
            os.link(draft, self.path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()

    def get(self, key_id: str) -> bytes | None:
        if key_id not in self.keys:
            self._mtime = None
            self.reload()
        return self.keys.get(key_id)

    @property
    def active(self) -> tuple[str, bytes]:
        self.reload()
        return self.active_id, self.keys[self.active_id]

    def rotate(self) -> str:
        """Add a new random key and make it the active one; every older key is kept for verification."""
        self._mtime = None
        self.reload()
        kid = secrets.token_hex(8)
        _write_ring(self.path, active=kid, keys={**self.keys, kid: secrets.token_bytes(32)})
        self._mtime = None
        self.reload()
        return kid


def _write_ring(path: Path, *, active: str, keys: dict[str, bytes]) -> None:
    from passage.security.crypto import write_key_file

    write_key_file(path, active=active, keys=keys)


def legacy_chain_key() -> bytes:
    """The chain key before key ids: derived from the deployment secret (entries sealed with key id `legacy`)."""
    from passage.core.settings import get_settings

    return hashlib.sha256(("audit-chain:" + get_settings().secret_key).encode()).digest()


_rings: dict[Path, AuditKeyRing] = {}
_rings_lock = threading.Lock()


def key_ring() -> AuditKeyRing:
    """The configured audit key ring (one per key file per process)."""
    from passage.core.settings import get_settings

    path = get_settings().audit_key_file
    assert path is not None
    with _rings_lock:
        ring = _rings.get(path)
        if ring is None:
            ring = _rings[path] = AuditKeyRing(path)
    return ring


def _canonical(entry: AuditEntry) -> bytes:
    occurred = entry.occurred_at
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=dt.UTC)
    document: dict[str, Any] = {
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
    if entry.key_id and entry.key_id != LEGACY_KEY_ID:
        document["key_id"] = entry.key_id  # bound into the MAC, so a key id cannot be swapped
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def compute_hash(previous_hash: str, entry: AuditEntry, key: bytes) -> str:
    return hmac.new(key, previous_hash.encode() + _canonical(entry), hashlib.sha256).hexdigest()


# --- seal -------------------------------------------------------------------------------------------------


@dataclass
class SealReport:
    sealed: int = 0
    skipped: list[int] = field(default_factory=list)
    head_sequence: int = 0
    waiting_for: int | None = None
    """The lowest sequence number the sealer is waiting for (taken but not yet committed or rolled back)."""
    busy: bool = False
    """Another sealer was working; this one did nothing."""


def chain_head(session: Session) -> tuple[int, str] | None:
    """The last sealed entry's (sequence, hash), or None before the first seal."""
    row = session.execute(
        select(AuditEntry.sequence, AuditEntry.entry_hash).where(AuditEntry.entry_hash.is_not(None)).order_by(AuditEntry.sequence.desc()).limit(1)
    ).first()
    return (row.sequence, row.entry_hash) if row is not None else None


def _nothing_to_seal(engine: Engine) -> bool:
    # A lock-free read (autocommit; on SQLite a WAL read that does not take the writer lock).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        newest = connection.execute(select(func.max(AuditEntry.sequence))).scalar()
        if newest is None:
            return True
        sealed = connection.execute(select(AuditEntry.entry_hash).where(AuditEntry.sequence == newest)).scalar()
    return sealed is not None


def seal(
    session: Session,
    *,
    grace_seconds: float,
    first_seen: dict[int, float] | None = None,
    batch: int = SEAL_BATCH,
    clock: Any = time.monotonic,
) -> SealReport:
    """Link the committed, unsealed entries into the chain in sequence order, in the caller's transaction.

    `first_seen` remembers across calls when each missing sequence number was first seen; a number missing
    for `grace_seconds` is claimed with a sealed `skip` entry (see the module docstring for why the unique
    index makes this safe). Returns what was done; the caller commits."""
    report = SealReport()
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        if not session.execute(select(func.pg_try_advisory_xact_lock(_SEALER_LOCK_KEY))).scalar():
            report.busy = True
            return report
        session.execute(text("SET LOCAL lock_timeout = '200ms'"))
    seen = first_seen if first_seen is not None else {}
    head = chain_head(session)
    expected, previous = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    ring = key_ring()
    key_id, key = ring.active
    rows = list(session.scalars(select(AuditEntry).where(AuditEntry.sequence >= expected).order_by(AuditEntry.sequence).limit(batch)))
    now = clock()
    for entry in rows:
        if entry.sequence > expected:
            # Numbers missing below a committed one were all handed out before it was: their grace periods
            # start together, when the sealer first sees the gap.
            for number in range(expected, min(entry.sequence, expected + batch)):
                seen.setdefault(number, now)
        while entry.sequence > expected and len(report.skipped) < batch:
            claimed = _claim_gap(session, expected, previous, key_id, key) if now - seen.get(expected, now) >= grace_seconds else None
            if claimed is None:
                report.waiting_for = expected
                break
            previous = claimed
            seen.pop(expected, None)
            report.skipped.append(expected)
            expected += 1
        if entry.sequence != expected:
            if report.waiting_for is None:
                report.waiting_for = expected
            break
        entry.key_id = key_id
        entry.previous_hash = previous
        entry.entry_hash = compute_hash(previous, entry, key)
        previous = entry.entry_hash
        report.sealed += 1
        expected += 1
    session.flush()
    report.head_sequence = expected - 1
    for number in [n for n in seen if n < expected]:
        seen.pop(number, None)
    return report


def _claim_gap(session: Session, sequence: int, previous: str, key_id: str, key: bytes) -> str | None:
    """Insert a sealed `skip` entry with `sequence` and return its hash; None if the number's own entry
    committed meanwhile or its transaction is still open."""
    gap = AuditEntry(
        sequence=sequence, occurred_at=utcnow(), actor_user_id=None, actor_organisation_id=None, action=SKIP_ACTION,
        entity_type="audit_log", entity_id=None, outcome="skipped", details={"reason": "sequence number not committed"},
        key_id=key_id, previous_hash=previous,
    )
    gap.entry_hash = compute_hash(previous, gap, key)
    savepoint = session.begin_nested()
    try:
        session.add(gap)
        session.flush()
    except (IntegrityError, DBAPIError):
        # IntegrityError: the entry committed meanwhile; lock timeout: its transaction is still open.
        savepoint.rollback()
        return None
    savepoint.commit()
    return gap.entry_hash


def seal_once(engine: Engine | None = None, *, grace_seconds: float | None = None, first_seen: dict[int, float] | None = None) -> SealReport:
    """One sealing round in a transaction of its own (skipped without a write when nothing is unsealed)."""
    from passage.core.db import get_engine, unit_of_work
    from passage.core.settings import get_settings

    bound = engine or get_engine()
    if _nothing_to_seal(bound):
        report = SealReport()
        with bound.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            report.head_sequence = connection.execute(select(func.max(AuditEntry.sequence))).scalar() or 0
        return report
    grace = get_settings().audit_gap_grace_seconds if grace_seconds is None else grace_seconds
    with unit_of_work(bound) as session:
        return seal(session, grace_seconds=grace, first_seen=first_seen)


def seal_all(*, grace_seconds: float | None = None, timeout: float = 30.0) -> SealReport:
    """Seal until every committed entry is in the chain, waiting out gaps (for `passage audit seal` and tests)."""
    from passage.core.settings import get_settings

    grace = get_settings().audit_gap_grace_seconds if grace_seconds is None else grace_seconds
    seen: dict[int, float] = {}
    total = SealReport()
    deadline = time.monotonic() + timeout
    while True:
        report = seal_once(grace_seconds=grace, first_seen=seen)
        total.sealed += report.sealed
        total.skipped += report.skipped
        total.head_sequence = max(total.head_sequence, report.head_sequence)
        total.waiting_for = report.waiting_for
        if report.sealed == 0 and not report.skipped and report.waiting_for is None and not report.busy:
            return total
        if time.monotonic() > deadline:
            return total
        if report.waiting_for is not None or report.busy:
            time.sleep(min(0.2, max(grace, 0.01)))


class Sealer:
    """The background sealer of `passage serve`: one daemon thread per process; only one process seals at a time."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_checkpoint = -1e9

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="passage-audit-sealer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def _loop(self) -> None:
        from passage.core.settings import get_settings

        seen: dict[int, float] = {}
        published = 0
        while not self._stop.is_set():
            settings = get_settings()
            full = False
            try:
                report = seal_once(first_seen=seen)
                head, full = report.head_sequence, report.sealed >= SEAL_BATCH
                due = time.monotonic() - self._last_checkpoint >= settings.audit_checkpoint_interval_seconds
                if head > published and due:
                    self._last_checkpoint = time.monotonic()
                    checkpoint = publish_checkpoint()
                    published = checkpoint.sequence if checkpoint is not None else head
            except Exception:  # noqa: BLE001 - the database may be briefly unavailable; the next round retries
                logger.exception("audit sealing round failed")
            if not full:  # a full batch means a backlog: go on at once
                self._stop.wait(settings.audit_seal_interval_seconds)
        try:
            seal_once(first_seen=seen)
            publish_checkpoint()  # anchor the newest head on the way out
        except Exception:  # noqa: BLE001 - best effort at shutdown
            logger.exception("audit sealing at shutdown failed")


SEALER = Sealer()


def startup() -> None:
    """Start-up hook of the API router: start the sealer thread unless switched off (`audit_sealer_thread`)."""
    from passage.core.settings import get_settings

    if get_settings().audit_sealer_thread:
        SEALER.start()


def shutdown() -> None:
    SEALER.stop()


# --- checkpoints ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The head of the chain at one moment, signed with Ed25519 (RFC 8032); published outside the database.

    Like a signed tree head of Certificate Transparency (RFC 6962 §3.5): a verifier holding it can tell
    whether the log still contains, unchanged, every entry up to `sequence`."""

    sequence: int
    entry_hash: str
    at: str
    key_id: str
    signature: str
    legacy_mac: str | None = None

    def message(self) -> bytes:
        return f"passage-audit-checkpoint:v1:{self.sequence}:{self.entry_hash}:{self.at}".encode()

    def as_json(self) -> str:
        if self.legacy_mac is not None:
            return json.dumps({"sequence": self.sequence, "entry_hash": self.entry_hash, "at": self.at, "mac": self.legacy_mac}, sort_keys=True)
        return json.dumps({"sequence": self.sequence, "entry_hash": self.entry_hash, "at": self.at, "key_id": self.key_id, "signature": self.signature}, sort_keys=True)


def public_key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signing_key() -> Ed25519PrivateKey:
    """The checkpoint signing key (`audit_signing_key_file`, PKCS#8 PEM); a new one is generated there if absent
    (a demo key: production provisions its own and hands the public key to the auditors). Its public key is
    kept in `<data_dir>/audit-public-keys/<key id>.pem`, also after a later key change, for verification."""
    from passage.core.settings import get_settings

    settings = get_settings()
    path = settings.audit_signing_key_file
    assert path is not None
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        _write_private(path, pem)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise InvalidInput(f"audit signing key {path.name}: not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"audit signing key {path.name}: not an Ed25519 key")
    public = key.public_key()
    directory = settings.data_dir / "audit-public-keys"
    target = directory / f"{public_key_id(public)}.pem"
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        target.write_bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key


def _write_private(path: Path, data: bytes) -> None:
    import os

    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def load_public_keys(files: list[Path] | None = None) -> dict[str, Ed25519PublicKey]:
    """Public keys by key id: the given PEM files, or else those kept under `<data_dir>/audit-public-keys/`."""
    from passage.core.settings import get_settings

    paths = files if files else sorted((get_settings().data_dir / "audit-public-keys").glob("*.pem"))
    found: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        if not path.exists():
            raise InvalidInput(f"{path.name}: file not found")
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except ValueError:
            raise InvalidInput(f"{path.name}: not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidInput(f"{path.name}: not an Ed25519 public key")
        found[public_key_id(key)] = key
    return found


def make_checkpoint(session: Session) -> Checkpoint | None:
    """The sealed head of the chain as a signed checkpoint, or None before the first seal."""
    head = chain_head(session)
    if head is None:
        return None
    key = signing_key()
    unsigned = Checkpoint(head[0], head[1], utcnow().isoformat(timespec="seconds"), public_key_id(key.public_key()), "")
    signature = base64.b64encode(key.sign(unsigned.message())).decode()
    return Checkpoint(unsigned.sequence, unsigned.entry_hash, unsigned.at, unsigned.key_id, signature)


def publish_checkpoint(out: Path | None = None, *, engine: Engine | None = None) -> Checkpoint | None:
    """Sign the sealed head, store it in `audit_checkpoints` and append it to the checkpoint file; None if the
    head has not moved since the last stored checkpoint (or nothing is sealed yet)."""
    from passage.core.db import unit_of_work
    from passage.core.settings import get_settings

    with unit_of_work(engine) as session:
        checkpoint = make_checkpoint(session)
        if checkpoint is None:
            return None
        last = session.scalar(select(AuditCheckpoint.sequence).order_by(AuditCheckpoint.sequence.desc()).limit(1))
        if last is not None and last >= checkpoint.sequence and out is None:
            return None
        session.add(AuditCheckpoint(sequence=checkpoint.sequence, entry_hash=checkpoint.entry_hash, signed_at=checkpoint.at,
                                    key_id=checkpoint.key_id, signature=checkpoint.signature))
    target = out or get_settings().audit_checkpoint_file
    assert target is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as handle:
        handle.write(checkpoint.as_json() + "\n")
    return checkpoint


def read_checkpoints(lines: list[str]) -> list[Checkpoint]:
    """Checkpoints from a published file (one JSON object per line); blank lines are skipped. Lines of the
    older HMAC format (`mac` instead of `signature`) are read too and checked under the legacy chain key."""
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
            if "mac" in document:
                found.append(Checkpoint(int(document["sequence"]), str(document["entry_hash"]), str(document["at"]), LEGACY_KEY_ID, "", str(document["mac"])))
            else:
                found.append(Checkpoint(int(document["sequence"]), str(document["entry_hash"]), str(document["at"]), str(document["key_id"]), str(document["signature"])))
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(T_("checkpoint file: line {number}: not a checkpoint", number=number)) from None
    return found


def stored_checkpoints(session: Session) -> list[Checkpoint]:
    return [Checkpoint(c.sequence, c.entry_hash, c.signed_at, c.key_id, c.signature) for c in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id))]


def _checkpoint_genuine(checkpoint: Checkpoint, public_keys: dict[str, Ed25519PublicKey]) -> str | None:
    if checkpoint.legacy_mac is not None:
        key = key_ring().get(LEGACY_KEY_ID) or legacy_chain_key()
        expected = hmac.new(key, f"checkpoint:{checkpoint.sequence}:{checkpoint.entry_hash}".encode(), hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(expected, checkpoint.legacy_mac) else "a published checkpoint is not genuine (its MAC does not match)"
    public = public_keys.get(checkpoint.key_id)
    if public is None:
        return f"a published checkpoint is signed with key {checkpoint.key_id}, which is not among the known public keys"
    try:
        public.verify(base64.b64decode(checkpoint.signature), checkpoint.message())
    except (InvalidSignature, ValueError):
        return "a published checkpoint is not genuine (its signature does not verify)"
    return None


# --- verify -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries_checked: int
    first_bad_sequence: int | None = None
    problem: str | None = None
    unsealed: int = 0
    checkpoints_checked: int = 0

    def summary(self) -> str:
        if self.ok:
            pending = f", {self.unsealed} not sealed yet" if self.unsealed else ""
            return f"audit chain intact: {self.entries_checked} entries verified{pending}"
        return f"audit chain broken at entry {self.first_bad_sequence}: {self.problem}"


def _iter_entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last: int | None = None
    while True:
        statement = select(AuditEntry).order_by(AuditEntry.sequence).limit(batch)
        if last is not None:
            statement = statement.where(AuditEntry.sequence > last)
        rows = session.scalars(statement).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].sequence
        session.expunge_all()


def verify_chain(session: Session, *, checkpoints: list[Checkpoint] | None = None, public_keys: dict[str, Ed25519PublicKey] | None = None) -> ChainReport:
    """Recompute the chain and report the first entry where an edit, a deletion or a reordering breaks it.

    Also checks the checkpoints stored in the database and `checkpoints` (from a published file): each must
    be genuine (signature) and its entry still in the chain with the same hash, so entries cut off the end
    are seen up to the newest checkpoint. Entries not sealed yet are counted, not judged, except that none
    may sit below a sealed one (a removed seal)."""
    report = _verify_links(session)
    if not report.ok:
        return report
    every = stored_checkpoints(session) + list(checkpoints or [])
    if not every:
        return report
    keys = public_keys if public_keys is not None else load_public_keys()
    for checkpoint in every:
        problem = _checkpoint_genuine(checkpoint, keys)
        if problem:
            return ChainReport(False, report.entries_checked, checkpoint.sequence, problem, report.unsealed)
        stored = session.execute(select(AuditEntry.entry_hash).where(AuditEntry.sequence == checkpoint.sequence)).first()
        if stored is None or stored.entry_hash is None:
            return ChainReport(False, report.entries_checked, checkpoint.sequence, "entries up to a published checkpoint are missing (the log was cut short)", report.unsealed)
        if stored.entry_hash != checkpoint.entry_hash:
            return ChainReport(False, report.entries_checked, checkpoint.sequence, "the chain differs from a published checkpoint (rewritten)", report.unsealed)
    return ChainReport(True, report.entries_checked, unsealed=report.unsealed, checkpoints_checked=len(every))


def _verify_links(session: Session) -> ChainReport:
    ring = key_ring()
    previous_hash = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    unsealed = 0
    for entry in _iter_entries(session):
        if entry.entry_hash is None:
            unsealed += 1
            continue
        if unsealed:
            return ChainReport(False, checked, entry.sequence, "a sealed entry follows an entry that is not sealed (a seal was removed)")
        if entry.sequence != expected_sequence:
            kind = "entries are out of order (reordered)" if entry.sequence < expected_sequence else "an entry is missing (deleted)"
            return ChainReport(False, checked, entry.sequence, f"expected sequence {expected_sequence}, found {entry.sequence}: {kind}")
        if entry.previous_hash != previous_hash:
            return ChainReport(False, checked, entry.sequence, "its link to the previous entry does not match (deleted or reordered entries)")
        key = ring.get(entry.key_id or LEGACY_KEY_ID)
        if key is None:
            return ChainReport(False, checked, entry.sequence, f"it was sealed with key {entry.key_id}, which is not in the audit key ring")
        if not hmac.compare_digest(compute_hash(previous_hash, entry, key), entry.entry_hash):
            return ChainReport(False, checked, entry.sequence, "its content does not match its hash (edited)")
        previous_hash = entry.entry_hash
        expected_sequence += 1
        checked += 1
    return ChainReport(True, checked, unsealed=unsealed)


def reset_sequence(connection: Any) -> None:
    """After a restore on PostgreSQL: continue the entry numbering after the highest restored sequence."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT setval(CAST(:name AS regclass), COALESCE((SELECT MAX(sequence) FROM audit_log), 0) + 1, false)"),
                           {"name": SEQUENCE_NAME})

