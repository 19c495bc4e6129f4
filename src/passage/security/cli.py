"""`passage users`, `passage audit`, `passage keys`, `passage demo` and `passage retention`."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pyotp
import typer
from sqlalchemy import select

from passage.core.db import get_engine, unit_of_work
from passage.core.errors import FieldError, InvalidInput, NotFound
from passage.core.i18n import N_, T_
from passage.core.settings import get_settings
from passage.security import audit, service
from passage.security.actors import system_actor
from passage.security.crypto import reset_cipher, rotate_key_encryption_key
from passage.security.models import Organisation, Role
from passage.security.retention_cli import retention_app

CLI_ACTOR = system_actor("security.cli")
"""The server operator running `passage users|keys ...`: audited as `system` with this job's name."""

users_app = typer.Typer(name="users", help="User accounts.", no_args_is_help=True)
audit_app = typer.Typer(name="audit", help="The hash-chained audit log.", no_args_is_help=True)
keys_app = typer.Typer(name="keys", help="Field-encryption keys.", no_args_is_help=True)
demo_app = typer.Typer(name="demo", help="Demonstration data.", no_args_is_help=True)
typer_apps = [users_app, audit_app, keys_app, demo_app, retention_app]


@demo_app.command("load")
def demo_load() -> None:
    """Load demonstration organisations, users of every role and records of every module (idempotent)."""
    from passage.security.demo import load_demo

    summary = load_demo()
    for line in summary:
        typer.echo(line)


@users_app.command("create")
def users_create(
    username: str = typer.Argument(..., help="Login name (lower case)."),
    organisation: str = typer.Option(..., "--organisation", "-o", help="Organisation id or exact name."),
    role: list[Role] = typer.Option(..., "--role", "-r", help="Role; repeat for several."),
    display_name: str = typer.Option(None, "--name", help="Display name (defaults to the username)."),
    password: str = typer.Option(None, "--password", help="Initial password; prompted for when omitted.", envvar="PASSAGE_NEW_PASSWORD"),
) -> None:
    """Create a user. The user enrols a second factor at first sign-in."""
    from passage.security.schemas import UserCreate

    secret = password or getpass.getpass("Initial password (12+ characters): ")
    with unit_of_work() as session:
        found = session.get(Organisation, organisation) or session.scalars(select(Organisation).where(Organisation.name == organisation)).first()
        if found is None:
            raise NotFound(T_("organisation {organisation} not found", organisation=organisation))
        from pydantic import ValidationError

        try:
            body = UserCreate(username=username, display_name=display_name or username, organisation_id=found.id, roles=role, password=secret)
        except ValidationError as exc:
            raise InvalidInput(N_("the user is not valid"), fields=[_field(e) for e in exc.errors()]) from None
        user = service.create_user(session, actor=CLI_ACTOR, **body.model_dump())
        typer.echo(f"created user {user.username} ({user.id})")


def _field(error: Any) -> FieldError:
    return FieldError(".".join(str(p) for p in error["loc"]), error["msg"])


@users_app.command("disable")
def users_disable(username: str = typer.Argument(..., help="Login name.")) -> None:
    """Disable a user: every session and token ends at once."""
    with unit_of_work() as session:
        user = service.find_user(session, username=username)
        if user is None:
            raise NotFound(N_("no such user"))
        service.disable_user(session, actor=CLI_ACTOR, user_id=user.id)
    typer.echo(f"disabled {username}; sessions and tokens revoked")


@users_app.command("enable")
def users_enable(username: str = typer.Argument(..., help="Login name.")) -> None:
    """Re-enable a disabled or locked user."""
    with unit_of_work() as session:
        user = service.find_user(session, username=username)
        if user is None:
            raise NotFound(N_("no such user"))
        service.enable_user(session, actor=CLI_ACTOR, user_id=user.id)
    typer.echo(f"enabled {username}")


@users_app.command("totp-code")
def users_totp_code(username: str = typer.Argument(..., help="Login name.")) -> None:
    """Print a user's current second-factor code. Development only, for the demo logins."""
    if get_settings().environment != "development":
        raise InvalidInput(N_("totp-code is available only in development"))
    with unit_of_work() as session:
        user = service.find_user(session, username=username)
        if user is None or not user.totp_secret:
            raise NotFound(N_("no such user with an enrolled second factor"))
        typer.echo(pyotp.TOTP(user.totp_secret).now())


@audit_app.command("verify")
def audit_verify(
    checkpoint: list[Path] = typer.Option(None, "--checkpoint", "--checkpoints", help="A published checkpoint file to check against (repeatable; default: the configured checkpoint file if it exists)."),
    public_key: list[Path] = typer.Option(None, "--public-key", help="A trusted Ed25519 public key (PEM) of the checkpoint signer (repeatable; default: the keys under <data_dir>/audit-public-keys/)."),
) -> None:
    """Recompute the keyed hash chain; exit 1 and name the first broken entry if anything was edited, deleted,
    reordered, or cut off before the newest signed checkpoint (stored in the database or in the given files)."""
    default = get_settings().audit_checkpoint_file
    paths = list(checkpoint or []) or ([default] if default is not None and default.exists() else [])
    published: list[audit.Checkpoint] = []
    for path in paths:
        if not path.exists():
            raise InvalidInput(f"{path.name}: file not found")
        published += audit.read_checkpoints(path.read_text(encoding="utf-8").splitlines())
    keys = audit.load_public_keys(list(public_key)) if public_key else None
    with unit_of_work() as session:
        report = audit.verify_chain(session, checkpoints=published, public_keys=keys)
    suffix = f"; {report.checkpoints_checked} signed checkpoint(s) checked" if report.ok and report.checkpoints_checked else ""
    typer.echo(report.summary() + suffix)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("seal")
def audit_seal(
    grace: float = typer.Option(None, "--grace", min=0, help="Seconds a missing sequence number may hold up the chain before it is recorded as skipped (default: the setting)."),
) -> None:
    """Link every committed entry into the chain now (what the server's sealer thread does every half second)."""
    report = audit.seal_all(grace_seconds=grace)
    waiting = f"; waiting for entry {report.waiting_for} (its transaction is still open)" if report.waiting_for is not None else ""
    typer.echo(f"sealed {report.sealed} entries, recorded {len(report.skipped)} skipped sequence number(s); chain head {report.head_sequence}{waiting}")


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Path = typer.Option(None, "--out", help="File to append the checkpoint to (default: the configured checkpoint file, <data_dir>/audit-checkpoints.jsonl)."),
) -> None:
    """Seal, then sign the head of the audit chain (sequence, hash, time; Ed25519), store it and append it to the
    checkpoint file, and print it. Publish it outside the server too (mail it to the partner, print it in the
    report): a later `audit verify --checkpoint FILE` then detects entries cut off the end or a rewritten chain."""
    audit.seal_all()
    checkpoint = audit.publish_checkpoint(out or get_settings().audit_checkpoint_file)
    if checkpoint is None:
        raise InvalidInput(N_("the audit log is empty: nothing to checkpoint"))
    typer.echo(checkpoint.as_json())


@audit_app.command("rotate-key")
def audit_rotate_key() -> None:
    """Start sealing under a new chain key; older keys stay in the audit key ring, so older entries still verify."""
    new_id = audit.key_ring().rotate()
    with unit_of_work() as session:
        audit.record(session, actor=CLI_ACTOR, action="rotate_keys", entity_type="audit_key", entity_id=new_id)
    typer.echo(f"audit chain key {new_id} is now active; earlier keys are kept for verification")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new key-encryption key, re-wrap every data key under it and make it active (no downtime)."""
    key_file = get_settings().key_file
    assert key_file is not None
    new_id, count = rotate_key_encryption_key(get_engine(), key_file)
    reset_cipher()
    with unit_of_work() as session:
        audit.record(session, actor=CLI_ACTOR, action="rotate_keys", entity_type="key_ring", entity_id=new_id, details={"data_keys_rewrapped": count})
    typer.echo(f"key-encryption key {new_id} is now active; {count} data key(s) re-wrapped")


@keys_app.command("rotate-blind-index")
def keys_rotate_blind_index() -> None:
    """Rotate the blind-index HMAC key: add a new key, re-compute every module's search tokens under it, drop the old key."""
    import importlib
    import importlib.util

    from passage import MODULES
    from passage.security import blind_index

    old_id, new_id = blind_index.rotate()
    counts: dict[str, int] = {}
    with unit_of_work() as session:
        for module in MODULES:
            if importlib.util.find_spec(f"passage.{module}") is None or importlib.util.find_spec(f"passage.{module}.service") is None:
                continue
            rebuild = getattr(importlib.import_module(f"passage.{module}.service"), "rebuild_blind_index", None)
            if rebuild is not None:
                counts[module] = rebuild(session)
        audit.record(session, actor=system_actor("security.keys"), action="rotate_blind_index_key", entity_type="key_ring", entity_id=new_id, details={"records": counts})
    blind_index.retire(new_id)
    typer.echo(f"blind-index key {new_id} is now active, {old_id} retired; tokens re-computed: {counts}")


def backup_command(out: Path = typer.Argument(..., help="The backup file to write (.tar.gz).")) -> None:
    """Back up the whole database (ciphertexts as stored) with a manifest of row counts, checksums and the audit head.

    The key ring and PASSAGE_SECRET_KEY are not in the backup: keep them apart, they are needed to restore."""
    from passage.security.backup import backup

    summary = backup(get_engine(), out)
    typer.echo(f"backed up {summary.rows} rows of {summary.tables} tables (schema {summary.revision}, audit head {summary.audit_head}) to {out}")


def restore_command(archive: Path = typer.Argument(..., help="A backup written by `passage backup`.")) -> None:
    """Restore a backup into an empty database (migrated first if needed); counts and the audit chain are checked."""
    from passage.core.schema import upgrade_database
    from passage.security.backup import restore

    upgrade_database(url=get_settings().database_url)
    summary = restore(get_engine(), archive)
    typer.echo(f"restored {summary.rows} rows of {summary.tables} tables; audit chain verified up to entry {summary.audit_head}")


backup_command.__name__ = "backup"
restore_command.__name__ = "restore"
commands = [backup_command, restore_command]
