"""Checking the rows of an import: validity, canonical JSON, digest and encryption, span by span.

The validation stage of `passage.forms.service.import_export` (issue 13 part 5). Rows are checked in
spans of `WORKER_CHUNK`, optionally in forked workers: column-wise where `passage.forms.columns` can
prove them valid, the others one by one with the compiled plan (which alone writes reasons). Each valid
row with a uuid gets its keyed digest (`data_digest`), its encrypted data (unless the uuid is already
stored) and its submission time as the driver takes it. Nothing here touches the database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from passage.forms.columns import ColumnCheck, column_check_for
from passage.forms.definition import FormDefinition
from passage.forms.import_reader import ImportRows
from passage.forms.import_rules import comparable
from passage.forms.validation import validator_for
from passage.security.crypto import get_cipher

_CALCULATED: dict[int, tuple[FormDefinition, frozenset[str]]] = {}


def calculated_paths(definition: FormDefinition) -> frozenset[str]:
    """The paths of a version's calculations (left out of duplicate comparisons), cached per definition."""
    cached = _CALCULATED.get(id(definition))
    if cached is None or cached[0] is not definition:
        cached = (definition, frozenset(item.path for item in definition.walk() if item.type == "calculate"))
        _CALCULATED[id(definition)] = cached
    return cached[1]


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


_MISSING = object()


def same_value(value: Any) -> Any:
    """The identity: the time converter for a dialect whose DateTime needs no bind processing."""
    return value


SUBMISSION_DATA_CONTEXT = "forms.submissions.data"
QUARANTINE_DATA_CONTEXT = "forms.quarantine_entries.data"
DIGEST_CONTEXT = b"passage.forms.submissions.data_digest"


def digest_key(cipher: Any) -> tuple[str, bytes]:
    """(active data-key id, the digest key derived from that data key) - never the data key itself."""
    dek_id, dek = cipher.active_dek()
    return dek_id, hashlib.blake2b(DIGEST_CONTEXT, key=dek, digest_size=32).digest()


def digest(document: bytes, key: tuple[str, bytes]) -> str:
    return key[0] + ":" + hashlib.blake2b(document, key=key[1], digest_size=16).hexdigest()


def data_digest(values: Mapping[str, Any], definition: FormDefinition) -> str:
    """`Submission.data_digest` for typed submission values: keyed BLAKE2b-128 of the canonical JSON
    (as stored, calculations left out since they may depend on today()), prefixed with the data-key id.

    BLAKE2 keyed mode (RFC 7693 section 2.5) with a key derived from the active data-encryption key:
    equal digests mean equal data, and a digest tells nothing about the data without the key.
    """
    return digest(json_bytes(comparable(values, calculated_paths(definition))), digest_key(get_cipher()))


def json_bytes(value: Any) -> bytes:
    """Serialised exactly as `EncryptedJSON` does before encrypting."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


@dataclass
class CheckedSpan:
    """The outcome of checking rows[start:stop] (see `_check_span`): plain lists, cheap to send back from a worker."""

    start: int
    stop: int
    digests: list[str | None]
    """Per row: `data_digest` of a valid row with a uuid, else None."""
    blobs: list[bytes | None]
    """Per row: the encrypted data of a valid row to insert (a uuid not yet stored), else None."""
    times: list[Any]
    """Per row: the submission time as the driver takes it (or None)."""
    errors: dict[int, list[dict[str, str]]]
    """Row offset -> error records, for invalid rows."""
    values: dict[int, dict[str, Any]]
    """Row offset -> typed values, for valid rows whose uuid needs a comparison of values."""


_WORK: dict[str, Any] = {}
"""What forked workers read: set just before the fork, never sent through a pipe."""
PARALLEL_MIN_ROWS = 20_000
WORKER_CHUNK = 5_000


def _check_span(span: tuple[int, int]) -> CheckedSpan:
    """Check rows[start:stop]: column-wise where possible, the others one by one with the plan; digest,
    encrypt and convert the submission time of each valid row (plain lists: cheap to send back)."""
    rows: ImportRows = _WORK["rows"]
    versions: list[str] = _WORK["version_ids"]
    plans, checks, calculated = _WORK["plans"], _WORK["checks"], _WORK["calculated"]
    today, needs_values, stored, digest_key = _WORK["today"], _WORK["needs_values"], _WORK["stored"], _WORK["digest_key"]
    to_db_time: Callable[[Any], Any] = _WORK["to_db_time"]
    times: dict[str | None, Any] = _WORK.setdefault("times", {})
    start, stop = span
    proven: list[str | None] = [None] * (stop - start)
    if rows.columnar is not None:
        by_version: dict[str, list[int]] = {}
        for index in range(start, stop):
            by_version.setdefault(versions[index], []).append(index)
        for version_id, indices in by_version.items():
            check = checks.get(version_id)
            if check is None:
                continue
            columns: Mapping[str, Sequence[str]]
            if len(indices) == stop - start:
                columns = rows.columnar.span(start, stop)
            else:
                columns = {path: [rows.columnar.column(path)[i] for i in indices] for path in rows.columnar.fields}
            for index, text in zip(indices, check.check(columns, len(indices), today), strict=True):
                proven[index - start] = text
    encrypt = get_cipher().encrypt
    result = CheckedSpan(start, stop, [], [], [], {}, {})
    digests, blobs, moments = result.digests, result.blobs, result.times
    for index in range(start, stop):
        uuid = rows.uuids[index]
        text = proven[index - start]
        values: dict[str, Any] | None = None
        if text is not None and uuid not in needs_values:
            document = text.encode("utf-8")
        else:
            values, errors = plans[versions[index]](rows.data(index), today)
            if errors:
                result.errors[index - start] = [error.as_record() for error in errors]
                digests.append(None)
                blobs.append(None)
                moments.append(None)
                continue
            document = json_bytes(values)
            if uuid in needs_values:
                result.values[index - start] = values
        if not uuid:
            digests.append(None)
            blobs.append(None)
            moments.append(None)
            continue
        paths = calculated[versions[index]]
        digests.append(digest(json_bytes(comparable(values or {}, paths)) if paths else document, digest_key))
        blobs.append(None if uuid in stored else encrypt(document, context=SUBMISSION_DATA_CONTEXT))
        time_text = rows.submission_times[index]
        moment = times.get(time_text, _MISSING)
        if moment is _MISSING:
            parsed = parse_time(time_text)
            moment = times[time_text] = None if parsed is None else to_db_time(parsed)
        moments.append(moment)
    return result


WORKER_NICENESS = 5


def _worker_priority() -> None:
    """Workers yield the CPU to this process: it alone reads the file and inserts, in row order, so
    it is the import's critical path; workers only have to stay ahead of it."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)


def check_rows(
    rows: ImportRows,
    row_versions: list[str],
    definitions: dict[str, FormDefinition],
    *,
    today: dt.date | None,
    needs_values: set[str],
    stored: Iterable[str],
    digest_key: tuple[str, bytes],
    workers: int,
    to_db_time: Callable[[Any], Any],
) -> Iterator[CheckedSpan]:
    """Check every row with its version's column check and compiled plan, span by span in row order;
    optionally in forked workers."""
    day = today or dt.date.today()
    plans: dict[str, Any] = {}
    checks: dict[str, ColumnCheck] = {}
    for version_id, definition in definitions.items():
        validator = validator_for(definition)
        plans[version_id] = validator._plan  # noqa: SLF001 - the compiled plan
        check = column_check_for(validator)
        if check.supported:
            checks[version_id] = check
    calculated = {version_id: calculated_paths(definition) for version_id, definition in definitions.items()}
    spans = [(start, min(start + WORKER_CHUNK, len(rows))) for start in range(0, len(rows), WORKER_CHUNK)]
    _WORK.update(rows=rows, version_ids=row_versions, plans=plans, checks=checks, calculated=calculated, today=day,
                 needs_values=needs_values, stored=set(stored), digest_key=digest_key, to_db_time=to_db_time)
    try:
        if workers > 1 and len(rows) >= PARALLEL_MIN_ROWS and "fork" in multiprocessing.get_all_start_methods():
            with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_priority) as pool:
                yield from pool.imap(_check_span, spans)  # ordered: row order is kept
        else:
            for span in spans:
                yield _check_span(span)
    finally:
        _WORK.clear()


