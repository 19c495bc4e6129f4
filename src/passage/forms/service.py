"""Forms operations: store form versions, import exports, quarantine and re-validate, web entry.

Every operation runs inside the caller's transaction (`unit_of_work()`), so an import commits its
batch, its submissions, its quarantine entries and its audit entry together, or nothing at all.

`actor` is the foundation's `Actor`: the signed-in `User` (records are then limited to the user's organisation
scope through `passage.security.scope`, and the audit entry names the user) or the system actor of a job
(`system_actor("forms.cli")`: the CLI, demo loading), which sees every record and is audited as the system.
Each operation checks its permission itself (`security.operations.require_permission`), so the CLI and
other modules get the answer a route would give.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import re
import uuid as uuid_module
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, func, select
from sqlalchemy.orm import Session

from passage.core.db import BULK_ROWS, analyze, check_version
from passage.core.errors import Conflict, FieldError, InvalidInput, NotFound
from passage.core.i18n import P_, T_, Text
from passage.core.models import new_id, utcnow
from passage.forms.definition import FormDefinition, load_xlsform
from passage.forms.exports import ExportRow
from passage.forms.import_check import (
    QUARANTINE_DATA_CONTEXT,
    SUBMISSION_DATA_CONTEXT,  # noqa: F401 - re-exported: the stored column's encryption context
    calculated_paths,
    check_rows,
    data_digest,
    digest_key,
    json_bytes,
    parse_time,
    same_value,
)
from passage.forms.import_reader import open_export, read_rows
from passage.forms.import_rules import Verdict, classify_row, comparable, repeated
from passage.forms.import_writer import BatchWriter, SubmissionRow, sorted_ids
from passage.forms.models import Form, FormVersion, ImportBatch, QuarantineEntry, QuarantineStatus, Submission
from passage.forms.validation import CheckedSubmission, SubmissionError, validator_for
from passage.security import audit
from passage.security.actors import Actor, is_system
from passage.security.crypto import get_cipher
from passage.security.operations import require_permission
from passage.security.permissions import Permission
from passage.security.scope import scoped_select


def _actor_id(actor: Actor) -> str | None:
    """The user id stored on a record (`loaded_by`, `imported_by`, ...); a job leaves it empty."""
    return None if is_system(actor) else actor.id


def _require(session: Session, actor: Actor, permission: Permission, operation: str, entity_type: str, entity_id: str | None = None) -> None:
    require_permission(session, actor=actor, permission=permission, entity_type=entity_type, entity_id=entity_id, operation=operation)


# ---------------------------------------------------------------------------------------------------
# forms and versions


@dataclass
class LoadResult:
    form: Form
    version: FormVersion
    created: bool
    """False when exactly this workbook was already stored (loading is idempotent)."""
    definition: FormDefinition


def load_form(
    session: Session, *, actor: Actor, content: bytes, filename: str, organisation_id: str | None = None,
    attachments: Mapping[str, bytes] | None = None,
) -> LoadResult:
    """Parse an XLSForm and store it as a new version of its form (created on first load).

    The form belongs to the actor's organisation (the system actor names one with `organisation_id`).
    The same bytes again return the stored version. A different workbook with the same settings
    `version` is refused: ODK clients tell versions apart only by that string.
    """
    _require(session, actor, Permission.FORMS_MANAGE, "load_form", "form_version")
    definition = load_xlsform(content, filename=filename, attachments=attachments)
    owner = organisation_id if is_system(actor) else actor.organisation_id
    form = session.scalars(
        select(Form).where(Form.form_key == definition.form_id, Form.organisation_id.is_(None) if owner is None else Form.organisation_id == owner)
    ).first()
    if form is None:
        form = Form(form_key=definition.form_id, title=definition.title or definition.form_id, organisation_id=owner)
        session.add(form)
        session.flush()
    label = definition.version or f"sha256:{definition.sha256[:12]}"
    same_label = session.scalars(
        select(FormVersion).where(FormVersion.form_id == form.id, FormVersion.version_label == label)
    ).one_or_none()
    if same_label is not None:
        if same_label.sha256 == definition.sha256:
            return LoadResult(form=form, version=same_label, created=False, definition=definition)
        raise Conflict(
            f"{filename}: form {definition.form_id} already has a version {label} with different content; "
            "change the version in the settings sheet before loading a changed form"
        )
    number = (session.scalar(select(func.max(FormVersion.number)).where(FormVersion.form_id == form.id)) or 0) + 1
    version = FormVersion(
        form_id=form.id,
        number=number,
        version_label=label,
        filename=filename,
        xlsx=content,
        sha256=definition.sha256,
        definition=definition.to_dict(),
        loaded_by=_actor_id(actor),
    )
    session.add(version)
    session.flush()
    form.current_version_id = version.id
    form.title = definition.title or form.title
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="form_version", entity_id=version.id, details={"form_id": form.id, "form_key": form.form_key, "number": number, "sha256": definition.sha256})
    return LoadResult(form=form, version=version, created=True, definition=definition)


def get_form(session: Session, *, form_ref: str, actor: Actor, organisation_id: str | None = None) -> Form:
    """A form by its id or its XLSForm form_id, within the actor's scope; NotFound otherwise.

    The system actor may narrow a form_id to one organisation's form; two organisations may both hold
    a form with the same form_id, and then the system actor must name the organisation.
    """
    query = scoped_select(Form, actor)
    form = session.scalars(query.where(Form.id == form_ref)).first() if re.fullmatch(r"[0-9a-f]{32}", form_ref) else None
    if form is None:
        by_key = query.where(Form.form_key == form_ref)
        if organisation_id is not None:
            by_key = by_key.where(Form.organisation_id == organisation_id)
        found = list(session.scalars(by_key.limit(2)))
        if len(found) > 1:
            raise InvalidInput(T_("form '{form_ref}' exists in several organisations; name the organisation", form_ref=form_ref))
        form = found[0] if found else None
    if form is None:
        raise NotFound(T_("no form '{form_ref}'; load it with `passage forms load FORM.xlsx`", form_ref=form_ref))
    return form


def current_version(session: Session, *, form: Form) -> FormVersion | None:
    """The form's current version (the one new submissions are validated against), if any."""
    return session.get(FormVersion, form.current_version_id) if form.current_version_id else None


def list_forms(session: Session, *, actor: Actor) -> list[Form]:
    return list(session.scalars(scoped_select(Form, actor).order_by(Form.form_key)))


def page_forms(
    session: Session, *, actor: Actor, q: str | None = None, sort: str = "key", offset: int = 0, limit: int = 50
) -> tuple[list[Form], int]:
    """One page of the forms in scope and the total, filtered (form_id or title contains `q`) and sorted in SQL."""
    query = scoped_select(Form, actor)
    if q:
        needle = q.strip().lower()
        query = query.where(func.lower(Form.form_key).contains(needle, autoescape=True) | func.lower(Form.title).contains(needle, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = {"title": (func.lower(Form.title), Form.id), "updated": (Form.updated_at.desc(), Form.id)}.get(sort, (Form.form_key, Form.id))
    return list(session.scalars(query.order_by(*order).offset(offset).limit(limit))), total


def fix_value(data: Mapping[str, Any], field_path: str) -> Any:
    """The current raw value of an error's field for an inline fix; `members[2]/age` reads a repeat instance."""
    match = _REPEAT_PATH.match(field_path)
    if match is None:
        value = data.get(field_path, "")
        return "" if isinstance(value, list) else value
    instances = data.get(match["repeat"])
    index = int(match["index"])
    if not isinstance(instances, list) or not 1 <= index <= len(instances) or not isinstance(instances[index - 1], Mapping):
        return ""
    return fix_value(instances[index - 1], f"{match['repeat']}/{match['rest']}")


def list_versions(session: Session, *, form_ref: str, actor: Actor) -> list[FormVersion]:
    form = get_form(session, form_ref=form_ref, actor=actor)
    return list(session.scalars(select(FormVersion).where(FormVersion.form_id == form.id).order_by(FormVersion.number)))


_DEFINITIONS: dict[str, FormDefinition] = {}


def get_definition(session: Session, *, version_id: str | None) -> FormDefinition:
    """The parsed definition of a stored version (versions are immutable, so it is cached by id)."""
    if version_id is None:
        raise NotFound(T_("the form has no stored version"))
    cached = _DEFINITIONS.get(version_id)
    if cached is not None:
        return cached
    version = session.get(FormVersion, version_id)
    if version is None:
        raise NotFound(T_("no form version {version_id}", version_id=version_id))
    definition = FormDefinition.from_dict(version.definition)
    if len(_DEFINITIONS) > 256:
        _DEFINITIONS.clear()
    _DEFINITIONS[version_id] = definition
    return definition


# ---------------------------------------------------------------------------------------------------
# import


@dataclass
class ImportReport:
    batch_id: str
    form_key: str
    version_labels: list[str]
    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    attachments: int = 0
    """Attachment files the export carried (ODK Central's `media/`)."""
    not_evaluated: list[dict[str, Any]] = field(default_factory=list)
    """Checks of the form version that were not evaluated on these rows (sheet, row, column, reason)."""


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk import (and in its forked workers).

    An import creates millions of small lists, tuples and strings that are never cyclic garbage; with
    the collector on, its repeated full passes over the ever larger heap took most of the CPU time of
    reading the file and building rows (3.0 s -> 0.7 s to read 200,000 rows). Reference counting still
    frees everything; the collector is switched back on (if it was on) when the import ends or fails.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_gc_paused()
def import_export(
    session: Session,
    *,
    actor: Actor,
    form_ref: str,
    path: str | Path,
    today: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
    organisation_id: str | None = None,
    filename: str | None = None,
    workers: int = 1,
) -> ImportReport:
    """Import a Kobo/ODK export: validate every row against its form version, store or quarantine it.

    - the export's `__version__` values must all be stored versions of the form (else refused);
      without a version column the current version applies;
    - a `_uuid` already stored with the same data is a skipped duplicate (compared by `data_digest`,
      or by the decrypted data for rows stored without a usable digest); with different data, or a
      row without uuid, or an invalid row, goes to the quarantine with its row number, field and reason;
    - `progress(done, total)` is called after each chunk (the CLI draws a bar with it).
    Nothing is committed here: the caller's unit of work commits the batch as a whole, with one
    audit entry carrying the counts. `filename` names an uploaded file stored under a temporary path.
    A single-sheet CSV is read column-wise and most rows are proven valid a column at a time
    (`passage.forms.columns`); the others, and every row of other layouts, are checked one by one by
    the compiled plan, which alone writes quarantine reasons.
    `workers=2` validates and encrypts large files in two forked processes (CLI and benchmark only:
    forking a threaded web server is unsafe); the results are merged in row order and every database
    write stays in this process and this transaction. The cyclic garbage collector is paused meanwhile
    (`_gc_paused`).
    """
    _require(session, actor, Permission.FORMS_MANAGE, "import_export", "forms_import_batch")
    form = get_form(session, form_ref=form_ref, actor=actor, organisation_id=organisation_id)
    raw, content_hash = open_export(path, filename=filename)
    versions = {
        version.version_label: version
        for version in session.scalars(select(FormVersion).where(FormVersion.form_id == form.id))
    }
    labels = raw.version_labels()
    unknown_labels = [label for label in labels if label not in versions]
    if unknown_labels:
        raise InvalidInput(
            f"{raw.filename}: the export is for version(s) {', '.join(unknown_labels[:5])} of form {form.form_key}, "
            f"which are not loaded (loaded: {', '.join(sorted(versions)) or 'none'}); load that form version first"
        )
    if form.current_version_id is None:
        raise NotFound(T_("form {form_key} has no stored version", form_key=form.form_key))
    current = session.get(FormVersion, form.current_version_id)
    assert current is not None
    mapping_version = versions[labels[-1]] if labels else current
    mapping_definition = get_definition(session, version_id=mapping_version.id)
    rows, orphans = read_rows(raw, mapping_definition)
    export_filename = raw.filename
    attachment_count = len(raw.attachments)
    del raw  # the cells live on in `rows`; the sheet list is not needed any more

    batch = ImportBatch(
        organisation_id=form.organisation_id,
        form_id=form.id,
        form_version_id=mapping_version.id,
        filename=export_filename,
        sha256=content_hash,
        imported_by=_actor_id(actor),
    )
    session.add(batch)
    session.flush()
    report = ImportReport(batch_id=batch.id, form_key=form.form_key, version_labels=labels or [current.version_label],
                          attachments=attachment_count)

    version_ids = {label: version.id for label, version in versions.items()}
    current_id = current.id
    row_versions = [version_ids[label] if label else current_id for label in rows.version_labels]  # plain ids, no ORM reads per row
    definitions = {
        version_id: mapping_definition if version_id == mapping_version.id else get_definition(session, version_id=version_id)
        for version_id in dict.fromkeys(row_versions)
    }
    file_uuids = {uuid for uuid in rows.uuids if uuid}
    cipher = get_cipher()
    key_id, key = digest_key(cipher)  # one DEK lookup, before any fork, so workers inherit the key
    stored = _stored_digests(session, form_id=form.id, uuids=file_uuids)
    fallback = _digest_unusable(session, stored, rows.uuids, row_versions, key_id=key_id)
    stored_data = _stored_data(session, form_id=form.id, uuids=fallback)
    open_entries = _open_entries_by_uuid(session, form_id=form.id, uuids=file_uuids)
    needs_values = fallback | repeated(uuid for uuid in rows.uuids if uuid)

    dialect = session.get_bind().dialect
    to_db_time = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect) or same_value
    writer = BatchWriter(session)
    organisation, form_id, batch_id = form.organisation_id, form.id, batch.id  # plain locals: read once per row
    seen_in_file: dict[str, dict[str, Any]] = {}
    now = utcnow()
    now_db = to_db_time(now)
    total = len(rows) + len(orphans)
    actor_id = _actor_id(actor)

    def quarantine_row(row: ExportRow, version_id: str, errors: list[dict[str, str]], sheet: str | None) -> None:
        first = errors[0]
        writer.add_quarantine(
            {
                "id": new_id(),
                "organisation_id": organisation,
                "form_id": form_id,
                "form_version_id": version_id,
                "batch_id": batch_id,
                "row_number": row.row_number,
                "sheet": sheet,
                "uuid": row.uuid,
                "submission_time": parse_time(row.submission_time),
                "field": first["field"][:300],
                "reason": first["reason"],
                "errors": errors,
                "data": cipher.encrypt(json_bytes(row.data), context=QUARANTINE_DATA_CONTEXT),
                "status": QuarantineStatus.OPEN,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        report.quarantined_by_reason[first["reason"]] = report.quarantined_by_reason.get(first["reason"], 0) + 1
        report.quarantined += 1

    done = 0
    special = stored.keys() | needs_values | open_entries.keys()
    """Uuids whose rows need the row-by-row classifier; spans without them are inserted whole."""
    spans = check_rows(
        rows, row_versions, definitions, today=today, needs_values=needs_values, stored=stored.keys(), digest_key=(key_id, key),
        workers=workers, to_db_time=to_db_time,
    )
    ids = sorted_ids(len(rows))  # row i takes ids[i] if it is inserted: ascending in insert order
    for span in spans:
        uuids = rows.uuids[span.start : span.stop]
        size = span.stop - span.start
        if not span.errors and None not in span.blobs and special.isdisjoint(uuids):
            writer.add_submissions(map(SubmissionRow._make, zip(
                repeat(organisation, size), repeat(form_id, size), row_versions[span.start : span.stop], uuids, span.times, span.blobs,
                span.digests, repeat("import", size), repeat(batch_id, size), rows.row_numbers[span.start : span.stop],
                ids[span.start : span.stop], repeat(now_db, size), repeat(now_db, size), strict=True,
            )))
            report.accepted += size
        else:
            for offset, digest in enumerate(span.digests):
                index = span.start + offset
                version_id = row_versions[index]
                uuid = uuids[offset]
                if uuid and uuid not in special and offset not in span.errors:
                    # `classify_row`'s verdict, without the call: a valid row whose uuid is neither stored, nor
                    # repeated in the file, nor waiting in the quarantine is stored (most rows of a first import).
                    writer.add_submission(SubmissionRow(
                        organisation, form_id, version_id, uuid, span.times[offset], span.blobs[offset], digest, "import",  # type: ignore[arg-type]
                        batch_id, rows.row_numbers[index], ids[index], now_db, now_db,
                    ))
                    report.accepted += 1
                    continue
                values = span.values.get(offset)
                previous = open_entries.get(uuid or "")
                decided = classify_row(
                    uuid=uuid, errors=span.errors.get(offset, []), digest=digest, values=values,
                    calculated=calculated_paths(definitions[version_id]),
                    stored=stored.get(uuid) if uuid else None, stored_values=stored_data.get(uuid) if uuid else None,
                    seen_values=seen_in_file.get(uuid) if uuid else None,
                    open_entry_data=previous.data if previous is not None else None,
                    row_data=lambda index=index: rows.row(index).data,  # type: ignore[misc]
                )
                if decided.verdict is Verdict.DUPLICATE:
                    report.duplicates += 1
                elif decided.verdict is Verdict.QUARANTINE:
                    if previous is not None and decided.open_entry == "superseded":
                        previous.resolve(status=QuarantineStatus.SUPERSEDED, actor_id=actor_id, submission_id=None)
                    quarantine_row(rows.row(index), version_id, decided.errors, None)
                else:
                    assert uuid is not None and digest is not None
                    if uuid in needs_values and values is not None:
                        seen_in_file[uuid] = values
                    writer.add_submission(SubmissionRow(
                        organisation, form_id, version_id, uuid, span.times[offset], span.blobs[offset], digest, "import",  # type: ignore[arg-type]
                        batch_id, rows.row_numbers[index], ids[index], now_db, now_db,
                    ))
                    report.accepted += 1
                    if previous is not None and decided.open_entry == "accepted":
                        previous.resolve(status=QuarantineStatus.ACCEPTED, actor_id=actor_id, submission_id=ids[index])
        done += span.stop - span.start
        writer.flush_full()
        if progress is not None:
            progress(done, total)
    for orphan in orphans:
        field_name, reason, message = orphan.problems[0]
        quarantine_row(orphan, mapping_version.id, [{"field": field_name, "reason": reason, "message": message}], field_name.split("!")[0])
        done += 1
    writer.flush()
    report.rows_read = len(rows) + len(orphans)
    report.not_evaluated = [dict(entry) for definition in definitions.values() for entry in definition.unevaluated]
    batch.rows_read = report.rows_read
    batch.accepted = report.accepted
    batch.duplicates = report.duplicates
    batch.quarantined = report.quarantined
    session.flush()
    audit.record(session, actor=actor, action="import", entity_type="forms_import_batch", entity_id=batch.id, details={
        "form_id": form.id, "sha256": content_hash, "rows_read": report.rows_read, "accepted": report.accepted,
        "duplicates": report.duplicates, "quarantined": report.quarantined,
        "quarantined_by_reason": dict(sorted(report.quarantined_by_reason.items())),
    })
    if report.accepted + report.quarantined >= BULK_ROWS:
        analyze(session, Submission.__tablename__, QuarantineEntry.__tablename__)
    if progress is not None:
        progress(done, total)
    return report


def pull_from_central(
    session: Session,
    *,
    actor: Actor,
    form_ref: str,
    base_url: str,
    project_id: int,
    token: str,
    central_form_id: str | None = None,
    today: dt.date | None = None,
    organisation_id: str | None = None,
) -> ImportReport:
    """Pull a form's submissions from an ODK Central server (pyodk, bearer token) and import them as an
    ODK Central JSON export: validated, stored or quarantined, duplicates of earlier pulls skipped."""
    import tempfile

    from passage.forms.central import CentralSource, pull_submissions, write_pull

    _require(session, actor, Permission.FORMS_MANAGE, "pull_from_central", "forms_import_batch")
    form = get_form(session, form_ref=form_ref, actor=actor, organisation_id=organisation_id)
    source = CentralSource(base_url=base_url.rstrip("/"), project_id=project_id, form_id=central_form_id or form.form_key, token=token)
    records = pull_submissions(source)
    if not records:
        raise InvalidInput(T_("ODK Central {base_url}, project {project_id}, form {form_id}: no submissions to import", base_url=source.base_url, project_id=project_id, form_id=source.form_id))
    with tempfile.TemporaryDirectory(prefix="passage-central-") as directory:
        path = write_pull(records, Path(directory) / f"{source.form_id}.json")
        return import_export(session, actor=actor, form_ref=form.id, path=path, today=today,
                             filename=f"ODK Central {source.base_url} project {project_id} form {source.form_id}.json")


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stored_digests(session: Session, *, form_id: str, uuids: set[str]) -> dict[str, tuple[str, str | None]]:
    """uuid -> (form version id, data digest) of the form's stored submissions among `uuids`."""
    if not uuids:
        return {}
    count = session.scalar(select(func.count()).select_from(Submission).where(Submission.form_id == form_id)) or 0
    if count == 0:
        return {}
    query = select(Submission.uuid, Submission.form_version_id, Submission.data_digest).where(Submission.form_id == form_id)
    found: dict[str, tuple[str, str | None]] = {}
    if count < 4 * len(uuids):
        for uuid_value, version_id, digest in session.execute(query):
            if uuid_value in uuids:
                found[uuid_value] = (version_id, digest)
        return found
    for chunk in _chunks(sorted(uuids)):
        for uuid_value, version_id, digest in session.execute(query.where(Submission.uuid.in_(chunk))):
            found[uuid_value] = (version_id, digest)
    return found


def _digest_unusable(
    session: Session, stored: Mapping[str, tuple[str, str | None]], uuids: list[str | None], row_versions: list[str], *, key_id: str
) -> set[str]:
    """Stored uuids whose digest cannot stand in for the data: none stored, made under another data key,
    or made without a different set of calculations than the version of the row now imported."""
    unusable = {uuid for uuid, (_, digest) in stored.items() if digest is None or not digest.startswith(key_id + ":")}
    version_ids = {version_id for version_id, _ in stored.values()} | set(row_versions)
    calculated = {version_id: calculated_paths(get_definition(session, version_id=version_id)) for version_id in version_ids}
    if len(set(calculated.values())) > 1:
        for uuid, version_id in zip(uuids, row_versions, strict=True):
            if uuid is not None and uuid in stored and calculated[stored[uuid][0]] != calculated[version_id]:
                unusable.add(uuid)
    return unusable


def _stored_data(session: Session, *, form_id: str, uuids: set[str]) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(uuids)):
        for uuid_value, values in session.execute(
            select(Submission.uuid, Submission.data).where(Submission.form_id == form_id, Submission.uuid.in_(chunk))
        ):
            data[uuid_value] = values
    return data


def _open_entries_by_uuid(session: Session, *, form_id: str, uuids: set[str]) -> dict[str, QuarantineEntry]:
    open_count = session.scalar(
        select(func.count()).select_from(QuarantineEntry).where(
            QuarantineEntry.form_id == form_id, QuarantineEntry.status == QuarantineStatus.OPEN
        )
    )
    if not open_count:
        return {}
    entries: dict[str, QuarantineEntry] = {}
    for entry in session.scalars(
        select(QuarantineEntry).where(QuarantineEntry.form_id == form_id, QuarantineEntry.status == QuarantineStatus.OPEN)
    ):
        if entry.uuid and entry.uuid in uuids:
            entries[entry.uuid] = entry
    return entries


# ---------------------------------------------------------------------------------------------------
# quarantine


def _quarantine_query(form: Form, status: QuarantineStatus | str | None, reason: str | None) -> Any:
    query = select(QuarantineEntry).where(QuarantineEntry.form_id == form.id)
    if status is not None:
        query = query.where(QuarantineEntry.status == QuarantineStatus(status))
    if reason is not None:
        query = query.where(QuarantineEntry.reason == reason)
    return query


def list_quarantine(
    session: Session,
    *,
    form_ref: str,
    status: QuarantineStatus | str | None = QuarantineStatus.OPEN,
    reason: str | None = None,
    limit: int = 100,
    offset: int = 0,
    actor: Actor,
) -> list[QuarantineEntry]:
    """Quarantine entries of a form in file order (batch, then row number), filtered by status and reason.

    The rows hold personal data, so listing them is audited (ids and count only).
    """
    _require(session, actor, Permission.FORMS_MANAGE, "list_quarantine", "forms_quarantine_entry")
    form = get_form(session, form_ref=form_ref, actor=actor)
    query = _quarantine_query(form, status, reason)
    query = query.order_by(QuarantineEntry.created_at, QuarantineEntry.batch_id, QuarantineEntry.row_number).limit(limit).offset(offset)
    entries = list(session.scalars(query))
    # every read of quarantined rows is audited, a job's included
    audit.record(session, actor=actor, action="list", entity_type="forms_quarantine_entry", entity_id=None, details={"form_id": form.id, "count": len(entries)})
    return entries


def count_quarantine(
    session: Session, *, form_ref: str, status: QuarantineStatus | str | None = QuarantineStatus.OPEN,
    reason: str | None = None, actor: Actor,
) -> int:
    form = get_form(session, form_ref=form_ref, actor=actor)
    return session.scalar(select(func.count()).select_from(_quarantine_query(form, status, reason).subquery())) or 0


def quarantine_reasons(session: Session, *, form_ref: str, actor: Actor) -> dict[str, int]:
    """Open entries per reason (for the filter and the summary)."""
    form = get_form(session, form_ref=form_ref, actor=actor)
    rows = session.execute(
        select(QuarantineEntry.reason, func.count()).where(
            QuarantineEntry.form_id == form.id, QuarantineEntry.status == QuarantineStatus.OPEN
        ).group_by(QuarantineEntry.reason)
    )
    return {reason: count for reason, count in rows}


def get_quarantine_entry(session: Session, *, entry_id: str, actor: Actor) -> QuarantineEntry:
    entry = session.scalars(scoped_select(QuarantineEntry, actor).where(QuarantineEntry.id == entry_id)).first()
    if entry is None:
        raise NotFound(T_("no quarantine entry {entry_id}", entry_id=entry_id))
    return entry


_REPEAT_PATH = re.compile(r"^(?P<repeat>.+?)\[(?P<index>\d+)\]/(?P<rest>.+)$")


def _apply_change(definition: FormDefinition, data: dict[str, Any], key: str, value: Any) -> None:
    """Set one field in raw submission data; `members[2]/age` addresses a repeat instance (1-based)."""
    match = _REPEAT_PATH.match(key)
    if match:
        repeat_path = match["repeat"]
        repeat = definition.by_path.get(repeat_path)
        if repeat is None or repeat.type != "repeat":
            raise InvalidInput(T_("unknown repeat in fix"), fields=[FieldError(path=key, message=T_("the form has no such repeat"))])
        instances = data.setdefault(repeat_path, [])
        index = int(match["index"])
        if index < 1 or index > len(instances) + 1:
            raise InvalidInput(T_("repeat index out of range"), fields=[FieldError(path=key, message=T_("instances are 1 to {count}", count=len(instances)))])
        if index == len(instances) + 1:
            instances.append({})
        _apply_change(definition, instances[index - 1], f"{repeat_path}/{match['rest']}", value)
        return
    item = definition.by_path.get(key)
    if item is None or not item.holds_value or item.type == "repeat":
        raise InvalidInput(T_("unknown field in fix"), fields=[FieldError(path=key, message=T_("the form has no such field"))])
    if value is None or (isinstance(value, str) and not value.strip()):
        data.pop(key, None)
    else:
        data[key] = value


def _revalidate(session: Session, entry: QuarantineEntry, *, actor: Actor, definition: FormDefinition, today: dt.date | None) -> CheckedSubmission:
    checked = validator_for(definition).check(entry.data, today=today)
    errors = [error.as_record() for error in checked.errors]
    if not entry.uuid:
        errors.insert(0, {"field": "_uuid", "reason": "missing_uuid", "message": "the row has no submission uuid"})
    if not errors:
        assert entry.uuid is not None
        stored = session.scalars(select(Submission).where(Submission.form_id == entry.form_id, Submission.uuid == entry.uuid)).one_or_none()
        calculated = calculated_paths(definition)
        if stored is not None:
            if comparable(stored.data, calculated) == comparable(checked.values, calculated):
                entry.resolve(status=QuarantineStatus.DUPLICATE, actor_id=_actor_id(actor), submission_id=stored.id)
                return checked
            errors = [SubmissionError("_uuid", T_("this uuid is already stored with different data"), "uuid_conflict").as_record()]
    if errors:
        entry.errors = errors
        entry.field = errors[0]["field"][:300]
        entry.reason = errors[0]["reason"]
        checked.errors = [SubmissionError(e["field"], Text.from_stored(e["text"]) if e.get("text") else e["message"], e["reason"],
                                          e.get("labels")) for e in errors]
        return checked
    submission = Submission(
        organisation_id=entry.organisation_id,
        form_id=entry.form_id,
        form_version_id=entry.form_version_id,
        uuid=entry.uuid,
        submission_time=entry.submission_time,
        data=checked.values,
        data_digest=data_digest(checked.values, definition),
        source="quarantine",
        batch_id=entry.batch_id,
        source_row=entry.row_number,
    )
    session.add(submission)
    session.flush()
    entry.resolve(status=QuarantineStatus.ACCEPTED, actor_id=_actor_id(actor), submission_id=submission.id)
    return checked


def fix_quarantine_entry(
    session: Session,
    *,
    actor: Actor,
    entry_id: str,
    changes: Mapping[str, Any],
    expected_version: int | None,
    today: dt.date | None = None,
) -> QuarantineEntry:
    """Apply field fixes (`path -> new value`, `_uuid` allowed) and re-validate the row.

    A valid row becomes a submission (status `accepted`); an invalid one stays open with its new errors.
    A stale `expected_version` is refused with Conflict (optimistic concurrency).
    """
    _require(session, actor, Permission.FORMS_MANAGE, "fix_quarantine_entry", "forms_quarantine_entry")
    entry = get_quarantine_entry(session, entry_id=entry_id, actor=actor)
    check_version(entry, expected_version)
    if entry.status != QuarantineStatus.OPEN:
        raise Conflict(T_("quarantine entry {entry_id} is already {status}", entry_id=entry_id, status=entry.status.value))
    definition = get_definition(session, version_id=entry.form_version_id)
    data = _deep_copy(entry.data)
    for key, value in changes.items():
        if key == "_uuid":
            entry.uuid = str(value).strip() or None
            continue
        _apply_change(definition, data, key, value)
    entry.data = data
    _revalidate(session, entry, actor=actor, definition=definition, today=today)
    session.flush()
    audit.record(session, actor=actor, action="update", entity_type="forms_quarantine_entry", entity_id=entry.id, details={
        "fields": sorted(changes), "status": entry.status.value, "reason": entry.reason if entry.status == QuarantineStatus.OPEN else None,
        "submission_id": entry.submission_id,
    })
    return entry


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: [dict(instance) for instance in value] if isinstance(value, list) else value for key, value in data.items()}


@dataclass
class RevalidationReport:
    checked: int = 0
    accepted: int = 0
    duplicates: int = 0
    still_open: int = 0


def revalidate_quarantine(
    session: Session, *, actor: Actor, form_ref: str, use_current_version: bool = False, today: dt.date | None = None
) -> RevalidationReport:
    """Re-validate every open entry of a form, e.g. after a corrected form version was loaded.

    With `use_current_version`, entries move to the form's current version before validation.
    """
    _require(session, actor, Permission.FORMS_MANAGE, "revalidate_quarantine", "forms_quarantine")
    form = get_form(session, form_ref=form_ref, actor=actor)
    report = RevalidationReport()
    entries = list(
        session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.form_id == form.id, QuarantineEntry.status == QuarantineStatus.OPEN)
        )
    )
    for entry in entries:
        if use_current_version and form.current_version_id:
            entry.form_version_id = form.current_version_id
        definition = get_definition(session, version_id=entry.form_version_id)
        if entry.reason == "repeat_link":
            report.checked += 1
            report.still_open += 1
            continue
        _revalidate(session, entry, actor=actor, definition=definition, today=today)
        report.checked += 1
        if entry.status == QuarantineStatus.ACCEPTED:
            report.accepted += 1
        elif entry.status == QuarantineStatus.DUPLICATE:
            report.duplicates += 1
        else:
            report.still_open += 1
    session.flush()
    audit.record(session, actor=actor, action="revalidate", entity_type="forms_quarantine", entity_id=form.id, details={
        "checked": report.checked, "accepted": report.accepted, "duplicates": report.duplicates, "still_open": report.still_open,
    })
    return report


# ---------------------------------------------------------------------------------------------------
# web entry and reading


def submit_entry(
    session: Session,
    *,
    actor: Actor,
    form_ref: str,
    data: Mapping[str, Any],
    submission_uuid: str | None = None,
    today: dt.date | None = None,
) -> Submission:
    """Store one submission entered on the web page, validated exactly like an imported row.

    Invalid data raises InvalidInput whose `fields` are the SubmissionErrors (path, message, reason).
    """
    _require(session, actor, Permission.FORMS_SUBMIT, "submit_entry", "forms_submission")
    form = get_form(session, form_ref=form_ref, actor=actor)
    definition = get_definition(session, version_id=form.current_version_id)
    checked = validator_for(definition).check(data, today=today)
    if checked.errors:
        raise InvalidInput(P_("the submission has {n} error", "the submission has {n} errors", len(checked.errors)), fields=list(checked.errors))
    identifier = submission_uuid or str(uuid_module.uuid4())
    exists = session.scalar(select(Submission.id).where(Submission.form_id == form.id, Submission.uuid == identifier))
    if exists is not None:
        raise Conflict(T_("submission {identifier} already exists", identifier=identifier))
    submission = Submission(
        organisation_id=form.organisation_id,
        form_id=form.id,
        form_version_id=form.current_version_id,
        uuid=identifier,
        submission_time=utcnow(),
        data=checked.values,
        data_digest=data_digest(checked.values, definition),
        source="web",
        source_row=None,
        batch_id=None,
    )
    session.add(submission)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="forms_submission", entity_id=submission.id, details={"form_id": form.id, "source": "web", "fields": sorted(checked.values)})
    return submission


def iter_submissions(
    session: Session, *, form_ref: str, version_id: str | None = None, batch_size: int = 1000, actor: Actor
) -> Iterator[Submission]:
    """Accepted submissions of a form in submission-time order, streamed (the caller audits its read)."""
    form = get_form(session, form_ref=form_ref, actor=actor)
    query = select(Submission).where(Submission.form_id == form.id)
    if version_id is not None:
        query = query.where(Submission.form_version_id == version_id)
    query = query.order_by(Submission.submission_time, Submission.id).execution_options(yield_per=batch_size)
    yield from session.scalars(query)


def count_submissions(session: Session, *, form_ref: str, actor: Actor) -> int:
    form = get_form(session, form_ref=form_ref, actor=actor)
    return session.scalar(select(func.count()).select_from(Submission).where(Submission.form_id == form.id)) or 0


def list_submissions(
    session: Session, *, form_ref: str, actor: Actor, offset: int = 0, limit: int = 50, source: str | None = None
) -> tuple[list[Submission], int]:
    """One page of a form's submissions, newest first, and the total; the read is audited."""
    _require(session, actor, Permission.FORMS_READ, "list_submissions", "forms_submission")
    form = get_form(session, form_ref=form_ref, actor=actor)
    query = select(Submission).where(Submission.form_id == form.id)
    if source:
        query = query.where(Submission.source == source)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Submission.created_at.desc(), Submission.id).offset(offset).limit(limit)))
    audit.record(session, actor=actor, action="list", entity_type="forms_submission", entity_id=None, details={"form_id": form.id, "count": len(rows), "ids": [r.id for r in rows]})
    return rows, total


def list_batches(session: Session, *, form_ref: str, actor: Actor, limit: int = 20) -> list[ImportBatch]:
    form = get_form(session, form_ref=form_ref, actor=actor)
    return list(session.scalars(select(ImportBatch).where(ImportBatch.form_id == form.id).order_by(ImportBatch.created_at.desc()).limit(limit)))


def open_quarantine_counts(session: Session, *, actor: Actor) -> list[tuple[Form, int]]:
    """Forms in scope with open quarantine rows waiting, most first (for the home panel)."""
    forms = {form.id: form for form in session.scalars(scoped_select(Form, actor))}
    if not forms:
        return []
    rows = session.execute(
        select(QuarantineEntry.form_id, func.count()).where(
            QuarantineEntry.form_id.in_(list(forms)), QuarantineEntry.status == QuarantineStatus.OPEN
        ).group_by(QuarantineEntry.form_id)
    )
    return sorted(((forms[form_id], count) for form_id, count in rows), key=lambda pair: (-pair[1], pair[0].form_key))
