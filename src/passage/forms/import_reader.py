"""Reading an export for import: the file's rows as one `ImportRows`, whatever the layout.

The reader stage of `passage.forms.service.import_export` (issue 13 part 5): a single-sheet CSV is kept
column-wise (`ColumnarExport`, for the column check), every other layout (XLSX with repeat sheets, ODK
Central's ZIP, JSON, label headers) is parsed into `ExportRow`s. Either way the importer sees the same
named lists: row numbers, uuids, submission times, version labels, and each row's data on demand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passage.forms.definition import FormDefinition
from passage.forms.exports import (
    ColumnarExport,
    ExportRow,
    RawExport,
    columnar_export,
    parse_export,
    read_export,
)


@dataclass
class ImportRows:
    """The rows of an export, whether read column-wise (`ColumnarExport`) or as `ExportRow`s."""

    row_numbers: list[int]
    uuids: list[str | None]
    submission_times: list[str | None]
    version_labels: list[str | None]
    row: Callable[[int], ExportRow]
    data: Callable[[int], dict[str, Any]]
    columnar: ColumnarExport | None = None

    def __len__(self) -> int:
        return len(self.row_numbers)

    @classmethod
    def from_columns(cls, columnar: ColumnarExport) -> ImportRows:
        return cls(columnar.row_numbers, columnar.uuids, columnar.submission_times, columnar.version_labels,
                   columnar.row, columnar.data, columnar)

    @classmethod
    def from_parsed(cls, rows: list[ExportRow]) -> ImportRows:
        return cls([row.row_number for row in rows], [row.uuid for row in rows], [row.submission_time for row in rows],
                   [row.version_label for row in rows], rows.__getitem__, lambda index: rows[index].data)


def open_export(path: str | Path, *, filename: str | None = None) -> tuple[RawExport, str]:
    """The export as read (cells unstripped: the column path strips only what it uses) and its SHA-256."""
    raw = read_export(path, strip=False)
    if filename:
        raw.filename = filename
    return raw, hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_rows(raw: RawExport, definition: FormDefinition) -> tuple[ImportRows, list[ExportRow]]:
    """The rows of `raw` mapped onto `definition`'s fields, and the repeat rows linked to no parent."""
    columnar = columnar_export(definition, raw)
    if columnar is not None:
        return ImportRows.from_columns(columnar), []
    raw.strip_cells()
    parsed = parse_export(definition, raw)
    return ImportRows.from_parsed(parsed.rows), parsed.orphans
