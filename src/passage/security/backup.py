"""`passage backup` and `passage restore`: a logical, verifiable copy of the whole database.

A backup is a gzip'd tar file holding `manifest.json` (schema revision, row count and SHA-256 of every
table, the head of the audit chain) and one JSON-lines file per table, in dependency order. Field values
stay encrypted exactly as stored (the ciphertexts are copied, never decrypted), so a backup is no more
readable than the database; the key ring (`keys.json`) and `PASSAGE_SECRET_KEY` are backed up separately,
by the operator, and are needed to read it (NIST SP 800-57 Part 1 Rev. 5 §6.2.2: keys apart from data).

The format is the same for SQLite and PostgreSQL, so a backup moves between them. `restore` loads into an
empty database at the same schema revision (it migrates an empty one first), then checks the row counts
and the audit chain before committing; any mismatch rolls everything back.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, MetaData, Table, func, insert, select, text
from sqlalchemy import types as sqltypes

from passage.core.errors import Conflict, InvalidInput
from passage.core.files import atomic_path
from passage.core.i18n import N_, T_
from passage.core.models import Base

FORMAT = "passage-backup/1"


@dataclass(frozen=True)
class BackupSummary:
    tables: int
    rows: int
    revision: str | None
    audit_head: int | None


def _tables() -> list[Table]:
    from passage.core.schema import import_all_models

    import_all_models()
    return list(Base.metadata.sorted_tables)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return {"$t": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$d": str(value)}
    return value


def _decode(value: Any, column_type: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "$b64":
            return base64.b64decode(raw)
        if tag == "$d":
            return decimal.Decimal(raw)
        if tag == "$t":
            if isinstance(column_type, sqltypes.DateTime):
                return dt.datetime.fromisoformat(raw)
            if isinstance(column_type, sqltypes.Date):
                return dt.date.fromisoformat(raw)
            if isinstance(column_type, sqltypes.Time):
                return dt.time.fromisoformat(raw)
    return value


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:  # noqa: BLE001 - a database without Alembic's table has no revision
            return None


def _raw_type(column_type: Any) -> Any:
    while isinstance(column_type, sqltypes.TypeDecorator):
        column_type = column_type.impl_instance
    return column_type


def _raw_table(table: Table) -> Table:
    """The table with every type decorator replaced by its storage type: ciphertexts are read and written as
    the bytes they are, never decrypted or encrypted again."""
    return Table(table.name, MetaData(), *[Column(c.name, _raw_type(c.type), primary_key=c.primary_key) for c in table.columns])


def _rows(engine: Engine, table: Table) -> Iterator[dict[str, Any]]:
    raw = _raw_table(table)
    order = [raw.c[c.name] for c in table.primary_key.columns] or list(raw.columns)
    with engine.connect() as connection:
        for row in connection.execute(select(raw).order_by(*order)):
            yield dict(row._mapping)


def backup(engine: Engine, out: str | Path) -> BackupSummary:
    """Write a backup of every table to `out` (atomically: no partial file is left on failure).

    On SQLite the copy is taken in one read transaction; on PostgreSQL in one REPEATABLE READ snapshot, so
    concurrent writers do not tear it."""
    from passage.security import audit

    tables = _tables()
    manifest: dict[str, Any] = {"format": FORMAT, "created_at": dt.datetime.now(dt.UTC).isoformat(), "revision": _revision(engine), "tables": []}
    total = 0
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz") as archive:
        for table in tables:
            buffer = io.BytesIO()
            count = 0
            for row in _rows(engine, table):
                buffer.write(json.dumps({k: _encode(v) for k, v in row.items()}, ensure_ascii=False, default=str).encode() + b"\n")
                count += 1
            data = buffer.getvalue()
            info = tarfile.TarInfo(f"tables/{table.name}.jsonl")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            manifest["tables"].append({"name": table.name, "rows": count, "sha256": hashlib.sha256(data).hexdigest()})
            total += count
        from passage.core.db import session_factory

        with session_factory(engine)() as session:
            head = audit.chain_head(session)
        manifest["audit_head"] = {"sequence": head[0], "entry_hash": head[1]} if head else None
        document = json.dumps(manifest, indent=2).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(document)
        archive.addfile(info, io.BytesIO(document))
    return BackupSummary(len(tables), total, manifest["revision"], head[0] if head else None)


def _read(archive_path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    if not archive_path.exists():
        raise InvalidInput(T_("{name}: file not found", name=archive_path.name))
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            members = {m.name: m for m in archive.getmembers() if m.isfile()}
            if "manifest.json" not in members:
                raise InvalidInput(T_("{name}: not a Passage backup (no manifest.json)", name=archive_path.name))
            manifest = json.loads(archive.extractfile(members["manifest.json"]).read())  # type: ignore[union-attr]
            files = {}
            for entry in manifest.get("tables", []):
                member = members.get(f"tables/{entry['name']}.jsonl")
                if member is None:
                    raise InvalidInput(T_("{name}: table {value} is missing from the backup", name=archive_path.name, value=entry['name']))
                data = archive.extractfile(member).read()  # type: ignore[union-attr]
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    raise InvalidInput(T_("{name}: table {value} does not match its checksum (damaged backup)", name=archive_path.name, value=entry['name']))
                files[entry["name"]] = data
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, json.JSONDecodeError, KeyError):
        raise InvalidInput(T_("{name}: not a readable Passage backup", name=archive_path.name)) from None
    if manifest.get("format") != FORMAT:
        raise InvalidInput(T_("{name}: unknown backup format {value}", name=archive_path.name, value=manifest.get('format')))
    return manifest, files


def _parents_first(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a self-referencing table (organisations.parent_id) ordered so that each parent comes first."""
    self_keys = [(fk.parent.name, fk.column.name) for fk in table.foreign_keys if fk.column.table is table]
    if not self_keys:
        return rows
    local, remote = self_keys[0]
    placed: set[Any] = set()
    ordered: list[dict[str, Any]] = []
    pending = rows
    while pending:
        ready = [r for r in pending if r.get(local) is None or r.get(local) in placed]
        if not ready:
            raise InvalidInput(T_("backup: table {name} has rows whose parent is missing", name=table.name))
        ordered.extend(ready)
        placed |= {r[remote] for r in ready}
        taken = {id(r) for r in ready}
        pending = [r for r in pending if id(r) not in taken]
    return ordered


def restore(engine: Engine, archive_path: str | Path) -> BackupSummary:
    """Load a backup into an empty database at the backup's schema revision, in one transaction; the row counts
    and the audit chain are checked before the commit."""
    from passage.core.db import session_factory
    from passage.security import audit

    path = Path(archive_path)
    manifest, files = _read(path)
    revision = _revision(engine)
    if revision != manifest["revision"]:
        raise Conflict(T_("the database is at schema revision {revision}, the backup at {value}; migrate first (`passage db upgrade`)", revision=revision, value=manifest['revision']))
    tables = {t.name: t for t in _tables()}
    unknown = [entry["name"] for entry in manifest["tables"] if entry["name"] not in tables]
    if unknown:
        raise InvalidInput(T_("backup: unknown table(s) {items}", items=', '.join(unknown)))
    total = 0
    with engine.begin() as connection:
        for name, table in tables.items():
            if name == "data_keys":
                continue
            if connection.execute(select(func.count()).select_from(table)).scalar():
                raise Conflict(T_("the database is not empty (table {name} has rows); restore only into a fresh database", name=name))
        # A fresh database has its own new data key; the backup's keys replace it (its ciphertexts need them).
        connection.execute(tables["data_keys"].delete())
        for entry in manifest["tables"]:
            table = tables[entry["name"]]
            raw = _raw_table(table)
            rows = [{k: _decode(v, raw.c[k].type) for k, v in json.loads(line).items()} for line in files[entry["name"]].splitlines() if line.strip()]
            rows = _parents_first(table, rows)
            for start in range(0, len(rows), 1000):
                connection.execute(insert(raw), rows[start : start + 1000])
            count = connection.execute(select(func.count()).select_from(table)).scalar() or 0
            if count != entry["rows"]:
                raise Conflict(T_("restore: table {value} has {count} rows, the backup {value2}", value=entry['name'], count=count, value2=entry['rows']))
            total += count
            if connection.dialect.name == "postgresql":
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (isinstance(column.type, sqltypes.Integer) and column.autoincrement == "auto" and len(table.primary_key.columns) == 1):
                        connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), COALESCE(MAX({column.name}), 1)) FROM {table.name}"))  # noqa: S608 - names from our own metadata
        audit.reset_sequence(connection)
        with session_factory(engine)(bind=connection) as session:
            report = audit.verify_chain(session)
            if not report.ok:
                raise Conflict(T_("restore: the restored audit chain does not verify ({value}); nothing was restored", value=report.summary()))
            head = audit.chain_head(session)
            expected = manifest.get("audit_head")
            if expected and (head is None or head[0] != expected["sequence"] or head[1] != expected["entry_hash"]):
                raise Conflict(N_("restore: the restored audit chain does not end where the backup's did; nothing was restored"))
    from passage.security.crypto import reset_cipher

    reset_cipher()
    return BackupSummary(len(manifest["tables"]), total, manifest["revision"], head[0] if head else None)
