"""Writing an import: submissions and quarantine entries inserted in batches, in the caller's transaction.

The writer stage of `passage.forms.service.import_export` (issue 13 part 5). Submission rows are
`SubmissionRow`s (a named tuple in the table's column order, so the driver's `executemany` takes them as
they are); quarantine rows are column dicts. Rows are buffered and inserted every `INSERT_CHUNK` rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import LargeBinary, bindparam, column, insert, table
from sqlalchemy.orm import Session

from passage.forms.models import QuarantineEntry, Submission

INSERT_CHUNK = 2_000


class SubmissionRow(NamedTuple):
    """One `forms_submissions` row of plain driver values, in the table's column order."""

    organisation_id: str | None
    form_id: str
    form_version_id: str
    uuid: str
    submission_time: Any
    data: bytes
    data_digest: str
    source: str
    batch_id: str
    source_row: int
    id: str
    created_at: Any
    updated_at: Any


def _raw_rows(model: Any, *, plain: bool = False) -> Any:
    """The model's table with its encrypted `data` column as plain bytes: rows arrive encrypted already.

    Bulk import encrypts each row once (in the workers, when there are workers) with the same envelope
    (`get_cipher().encrypt`, the column's context) and serialisation as `EncryptedJSON`, so the stored
    bytes read back through the ORM exactly like rows written by it. With `plain`, every column is
    untyped: the caller passes values the driver takes as they are (times already converted with the
    dialect's own DateTime bind processor), so no per-row type processing runs.
    """
    columns = [
        column(c.name) if plain else column(c.name, LargeBinary if c.name == "data" else c.type) for c in model.__table__.columns
    ]
    return table(model.__tablename__, *columns)


_SUBMISSION_COLUMNS: tuple[str, ...] = SubmissionRow._fields
"""The order of the submission rows built by the import (the table's own column order, so no reordering)."""


def _insert_plain(session: Session, columns: tuple[str, ...], rows: list[SubmissionRow]) -> None:
    """Insert many `forms_submissions` rows of plain driver values (tuples in `columns` order) with one executemany.

    The statement is compiled from a Core `insert()` for the session's dialect (parameters bound, never
    formatted in); the rows go to the driver's `executemany` as they are, skipping SQLAlchemy's per-row
    parameter processing, which cost as much as SQLite's own insert.
    """
    connection = session.connection()
    compiled = insert(_SUBMISSION_ROWS).values({name: bindparam(name) for name in columns}).compile(dialect=connection.dialect)
    if compiled.positional:
        order = [columns.index(name) for name in compiled.positiontup or ()]
        parameters: list[Any] = rows if order == list(range(len(columns))) else [tuple(row[i] for i in order) for row in rows]
    else:
        parameters = [dict(zip(columns, row, strict=True)) for row in rows]
    connection.exec_driver_sql(str(compiled), parameters)


_SUBMISSION_ROWS = _raw_rows(Submission, plain=True)
_QUARANTINE_ROWS = _raw_rows(QuarantineEntry)




def sorted_ids(count: int) -> list[str]:
    """`count` new record ids in ascending order: random UUID4s as 32 hex digits, like `new_id`.

    Inserting ids in key order appends to the primary-key index instead of touching a random page per
    row; the ids stay as random and unguessable as `new_id`'s (122 random bits from `os.urandom`, read
    once for all of them rather than once per id).
    """
    if count <= 0:
        return []
    octets = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    octets[:, 6] = (octets[:, 6] & 0x0F) | 0x40  # version 4 (RFC 4122 section 4.4)
    octets[:, 8] = (octets[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = octets.tobytes().hex()
    ids = [text[start : start + 32] for start in range(0, 32 * count, 32)]
    ids.sort()
    return ids




class BatchWriter:
    """Buffers an import's rows and inserts them `INSERT_CHUNK` at a time (and the rest on `flush`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.submissions: list[SubmissionRow] = []
        self.quarantine: list[dict[str, Any]] = []

    def add_submissions(self, rows: Iterable[SubmissionRow]) -> None:
        self.submissions.extend(rows)

    def add_submission(self, row: SubmissionRow) -> None:
        self.submissions.append(row)

    def add_quarantine(self, record: dict[str, Any]) -> None:
        self.quarantine.append(record)

    def flush_full(self) -> None:
        """Insert what has reached a whole chunk."""
        if len(self.submissions) >= INSERT_CHUNK:
            _insert_plain(self.session, _SUBMISSION_COLUMNS, self.submissions)
            self.submissions.clear()
        if len(self.quarantine) >= INSERT_CHUNK:
            self.session.execute(insert(_QUARANTINE_ROWS), self.quarantine)
            self.quarantine.clear()

    def flush(self) -> None:
        """Insert everything still buffered."""
        if self.submissions:
            _insert_plain(self.session, _SUBMISSION_COLUMNS, self.submissions)
            self.submissions.clear()
        if self.quarantine:
            self.session.execute(insert(_QUARANTINE_ROWS), self.quarantine)
            self.quarantine.clear()
