"""Read KoboToolbox / ODK exports (CSV or XLSX) into submission data for a form version.

Export layouts follow KoboToolbox's export settings (https://support.kobotoolbox.org/export_download.html)
and ODK Central's CSV: group paths as `group/field` (Kobo) or `group-field` (Central), optionally bare
field names (Kobo "include groups in headers" off); select_multiple also as one 0/1 column per choice
(`field/choice`); geopoints also split as `_field_latitude` etc.; repeats as separate XLSX sheets whose
rows link to their parent through `_parent_index` (= the parent's `_index`) and `_parent_table_name`.
Headers must be XML names ("XML values and headers"); a column that maps to no field and is not export
metadata is refused, so a wrong file or a labels-as-headers export never imports half-read.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import read_csv_table
from passage.forms.definition import Field, FormDefinition

UUID_COLUMNS = ("_uuid", "meta/instanceID", "meta-instanceID", "instanceID", "KEY")
SUBMISSION_TIME_COLUMNS = ("_submission_time", "SubmissionDate")
VERSION_COLUMNS = ("__version__", "_version_", "_version", "meta/instanceVersion")
INDEX_COLUMN = "_index"
PARENT_INDEX_COLUMN = "_parent_index"
PARENT_TABLE_COLUMN = "_parent_table_name"

METADATA_COLUMNS = frozenset(
    {
        "_id", "_uuid", "_submission_time", "_index", "_parent_index", "_parent_table_name", "_submission__id",
        "_submission__uuid", "_submission__submission_time", "_submission__validation_status",
        "_submission__notes", "_submission__status", "_submission__submitted_by", "_submission___version__",
        "_submission__tags", "_validation_status", "_notes", "_status", "_submitted_by", "__version__", "_version_",
        "_version", "_tags", "_attachments", "_geolocation", "_xform_id_string", "_xform_id", "_bamboo_dataset_id",
        "_media_count", "_total_media", "_media_all_received", "_duration", "_edited",
        "formhub/uuid", "formhub-uuid", "meta/instanceID", "meta-instanceID", "meta/instanceName", "meta-instanceName",
        "meta/rootUuid", "meta-rootUuid", "meta/deprecatedID", "meta-deprecatedID", "meta/audit", "meta-audit",
        "meta/instanceVersion", "instanceID", "KEY", "PARENT_KEY", "SubmissionDate", "SubmitterID", "SubmitterName",
        "AttachmentsPresent", "AttachmentsExpected", "Status", "ReviewState", "DeviceID", "Edits", "FormVersion",
    }
)  # fmt: skip
"""Columns Kobo and ODK Central add to exports; read for linking (`_uuid`, `_index`…) or ignored."""

_GEO_SUFFIXES = ("latitude", "longitude", "altitude", "precision")


@dataclass
class ExportRow:
    """One submission read from an export; `data` is submission data (docs/forms.md), values as text."""

    row_number: int
    uuid: str | None
    submission_time: str | None
    version_label: str | None
    data: dict[str, Any]
    index: str | None = None
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    """(field, reason, message) found while assembling, e.g. a repeat row linked to no parent."""


@dataclass
class ParsedExport:
    rows: list[ExportRow]
    columns: dict[str, str]
    """Header -> field path for the main sheet."""
    ignored_columns: list[str]
    version_labels: list[str]
    repeat_sheets: dict[str, str] = field(default_factory=dict)
    """Sheet title -> repeat path."""
    orphans: list[ExportRow] = field(default_factory=list)
    """Repeat rows whose `_parent_index` matched no parent: returned as rows to quarantine (`repeat_link`)."""


@dataclass
class _Columns:
    """How one sheet's header maps onto fields of one level (the form root or one repeat)."""

    values: dict[int, Field]
    multi_parts: dict[int, tuple[Field, str]]
    geo_parts: dict[int, tuple[Field, str]]
    ignored: list[str]
    meta: dict[str, int]


def _level_fields(items: Iterable[Field]) -> Iterator[Field]:
    """Fields stored at this level: descend into groups, stop at repeats (they have their own sheets)."""
    for item in items:
        if item.type == "group":
            yield from _level_fields(item.children)
        elif item.type == "repeat":
            yield item
        else:
            yield item


def _header_keys(item: Field, base: str) -> list[str]:
    relative = item.path[len(base) + 1 :] if base else item.path
    keys = [item.path, item.path.replace("/", "-"), relative, relative.replace("/", "-")]
    return list(dict.fromkeys(keys))


def _map_columns(header: list[str], level_items: list[Field], base: str, *, filename: str, sheet: str | None) -> _Columns:
    lookup: dict[str, Field] = {}
    by_name: dict[str, list[Field]] = defaultdict(list)
    for item in level_items:
        if item.type == "repeat":
            continue
        for key in _header_keys(item, base):
            lookup.setdefault(key, item)
        by_name[item.name].append(item)
    for name, items in by_name.items():
        if len(items) == 1:
            lookup.setdefault(name, items[0])
    values: dict[int, Field] = {}
    multi_parts: dict[int, tuple[Field, str]] = {}
    geo_parts: dict[int, tuple[Field, str]] = {}
    ignored: list[str] = []
    meta: dict[str, int] = {}
    unknown: list[str] = []
    multis = {key: item for key, item in lookup.items() if item.type == "select_multiple"}
    geos = {key: item for key, item in lookup.items() if item.type == "geopoint"}
    for position, raw_column in enumerate(header):
        column = raw_column.strip()
        if column in METADATA_COLUMNS or column.startswith("_submission_"):
            meta.setdefault(column, position)
            ignored.append(column)
            continue
        direct = lookup.get(column)
        if direct is not None:
            if direct.type == "note":
                ignored.append(column)
            else:
                values[position] = direct
            continue
        matched = False
        for separator in ("/", "-", "."):
            head, sep, tail = column.rpartition(separator)
            if sep and head in multis:
                multi_parts[position] = (multis[head], tail)
                matched = True
                break
        if not matched and column.startswith("_"):
            for suffix in _GEO_SUFFIXES:
                if column.endswith("_" + suffix) and column[1 : -len(suffix) - 1] in geos:
                    geo_parts[position] = (geos[column[1 : -len(suffix) - 1]], suffix)
                    matched = True
                    break
        if not matched:
            unknown.append(column or f"(empty header at position {position + 1})")
    if unknown:
        where = f"{filename}" + (f", sheet {sheet}" if sheet else "")
        raise InvalidInput(
            f"{where}: {len(unknown)} column(s) match no field of the form: {', '.join(unknown[:20])}"
            + (" …" if len(unknown) > 20 else "")
            + "; export with XML values and headers, or load the form version the data was collected with",
            fields=[FieldError(path=f"{where}, column {name}", message="unknown column") for name in unknown[:50]],
        )
    return _Columns(values=values, multi_parts=multi_parts, geo_parts=geo_parts, ignored=ignored, meta=meta)


def _first_meta(meta: dict[str, int], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in meta:
            return meta[name]
    return None


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _assemble(columns: _Columns, cells: list[Any]) -> dict[str, Any]:
    """Submission data for one row: direct columns, then choice and geopoint parts where no direct value."""
    data: dict[str, Any] = {}
    for position, item in columns.values.items():
        value = cells[position]
        if value is None or value == "":
            continue
        if isinstance(value, str):
            data[item.path] = value.strip()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            data[item.path] = value
        else:  # dates and times from spreadsheet cells: kept as ISO text so the raw row stays JSON
            data[item.path] = _cell_text(value)
    if columns.multi_parts:
        picked: dict[str, list[str]] = {}
        seen: set[str] = set()
        for position, (item, choice) in columns.multi_parts.items():
            seen.add(item.path)
            flag = _cell_text(cells[position]).lower()
            if flag in ("1", "true", "yes", "1.0"):
                picked.setdefault(item.path, []).append(choice)
        for path in seen:
            if path not in data and path in picked:
                data[path] = " ".join(picked[path])
    if columns.geo_parts:
        parts: dict[str, dict[str, str]] = defaultdict(dict)
        for position, (item, suffix) in columns.geo_parts.items():
            text = _cell_text(cells[position])
            if text:
                parts[item.path][suffix] = text
        for path, found in parts.items():
            if path not in data and "latitude" in found and "longitude" in found:
                data[path] = " ".join(found[s] for s in _GEO_SUFFIXES if s in found)
    return data


def _uuid_of(text: str) -> str | None:
    text = text.strip()
    if text.lower().startswith("uuid:"):
        text = text[5:]
    return text or None


def _read_sheets(path: Path) -> list[tuple[str, list[str], list[tuple[int, list[Any]]]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(path.read_bytes()), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a non-workbook
        raise InvalidInput(f"{path.name}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    sheets: list[tuple[str, list[str], list[tuple[int, list[Any]]]]] = []
    try:
        for worksheet in workbook.worksheets:
            iterator = worksheet.iter_rows(values_only=True)
            first = next(iterator, None)
            if first is None:
                continue
            header = [_cell_text(cell) for cell in first]
            while header and header[-1] == "":
                header.pop()
            rows: list[tuple[int, list[Any]]] = []
            for row_number, row in enumerate(iterator, start=2):
                cells = list(row[: len(header)]) + [None] * max(0, len(header) - len(row))
                if all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells):
                    continue
                if any(cell not in (None, "") for cell in row[len(header) :]):
                    raise InvalidInput(f"{path.name}: sheet {worksheet.title}, row {row_number}: values beyond the last header column")
                rows.append((row_number, cells))
            sheets.append((worksheet.title, header, rows))
    finally:
        workbook.close()
    if not sheets:
        raise InvalidInput(f"{path.name}: the workbook is empty")
    return sheets


@dataclass
class RawExport:
    """An export file as read, before mapping onto a form: sheets of (title, header, [(row number, cells)])."""

    filename: str
    sheets: list[tuple[str, list[str], list[tuple[int, list[Any]]]]]
    text_cells: bool = False
    """True when every cell is text (a CSV file); spreadsheet cells keep their types."""
    stripped: bool = True
    """False when CSV cells are as read, with surrounding whitespace (`read_export(strip=False)`)."""

    def strip_cells(self) -> None:
        """Strip every text cell in place, as `read_export` does by default."""
        if self.stripped:
            return
        for _, _, rows in self.sheets:
            for _, cells in rows:
                cells[:] = [cell.strip() if isinstance(cell, str) else cell for cell in cells]
        self.stripped = True

    def version_labels(self) -> list[str]:
        """Distinct `__version__` values of the main sheet, in order of appearance."""
        _, header, rows = self.sheets[0]
        positions = [header.index(name) for name in VERSION_COLUMNS if name in header]
        if not positions:
            return []
        at = positions[0]
        return list(dict.fromkeys(text for _, cells in rows if (text := _cell_text(cells[at]))))


def read_export(path: str | Path, *, strip: bool = True) -> RawExport:
    """Read a CSV (comma-separated, UTF-8) or XLSX export; refuses unreadable, empty or other files.

    `strip=False` leaves CSV cells as read (`strip_cells` strips them later, `ColumnarExport` strips
    only what it uses); XLSX cells are never stripped here.
    """
    file_path = Path(path)
    suffix = file_path.suffix.lower()
    if suffix == ".csv":
        header, csv_rows = read_csv_table(file_path, required=[], strip=strip)
        sheets: list[tuple[str, list[str], list[tuple[int, list[Any]]]]] = [("", header, csv_rows)]  # type: ignore[list-item]
    elif suffix in (".xlsx", ".xlsm"):
        if not file_path.exists():
            raise InvalidInput(f"{file_path.name}: file not found")
        sheets = _read_sheets(file_path)
    else:
        raise InvalidInput(f"{file_path.name}: an export must be a .csv or .xlsx file")
    if not sheets[0][2]:
        raise InvalidInput(f"{file_path.name}: the export has a header but no rows")
    return RawExport(filename=file_path.name, sheets=sheets, text_cells=suffix == ".csv", stripped=strip or suffix != ".csv")


def parse_export(form: FormDefinition, path: str | Path | RawExport) -> ParsedExport:
    """Read a CSV (comma-separated, UTF-8) or XLSX export into rows of submission data for `form`.

    Raises InvalidInput for an unreadable file, unknown columns, a missing uuid column, or (XLSX) a
    sheet that is neither the main sheet nor one of the form's repeats.
    """
    raw = path if isinstance(path, RawExport) else read_export(path)
    sheets = raw.sheets
    filename = raw.filename
    main_title, main_header, main_rows = sheets[0]
    columns = _map_columns(main_header, list(_level_fields(form.fields)), "", filename=filename, sheet=main_title or None)
    uuid_at = _first_meta(columns.meta, UUID_COLUMNS)
    if uuid_at is None:
        raise InvalidInput(f"{filename}: the export has no _uuid (or meta/instanceID) column; include submission metadata in the export")
    time_at = _first_meta(columns.meta, SUBMISSION_TIME_COLUMNS)
    version_at = _first_meta(columns.meta, VERSION_COLUMNS)
    index_at = columns.meta.get(INDEX_COLUMN)
    rows: list[ExportRow] = []
    versions: dict[str, None] = {}
    for row_number, cells in main_rows:
        version = _cell_text(cells[version_at]) if version_at is not None else ""
        if version:
            versions.setdefault(version, None)
        rows.append(
            ExportRow(
                row_number=row_number,
                uuid=_uuid_of(_cell_text(cells[uuid_at])),
                submission_time=(_cell_text(cells[time_at]) or None) if time_at is not None else None,
                version_label=version or None,
                data=_assemble(columns, cells),
                index=_cell_text(cells[index_at]) if index_at is not None else str(row_number - 1),
            )
        )
    parsed = ParsedExport(
        rows=rows,
        columns={main_header[p].strip(): item.path for p, item in columns.values.items()},
        ignored_columns=columns.ignored,
        version_labels=list(versions),
    )
    if len(sheets) > 1:
        _attach_repeats(form, sheets, parsed, filename)
    return parsed


def _attach_repeats(
    form: FormDefinition,
    sheets: list[tuple[str, list[str], list[tuple[int, list[Any]]]]],
    parsed: ParsedExport,
    filename: str,
) -> None:
    """Attach repeat sheets to their parents by `_parent_index` (Kobo's layout); nested repeats recurse."""
    repeats = {item.name: item for item in form.repeats}
    by_title: dict[str, Field] = {}
    for item in repeats.values():
        by_title[item.name] = item
        by_title[item.name[:31]] = item
    main_title = sheets[0][0]
    tables: dict[str, dict[str, dict[str, Any]]] = {main_title: {row.index or "": row.data for row in parsed.rows}}
    pending: list[tuple[str, Field, list[str], list[tuple[int, list[Any]]]]] = []
    for title, header, rows in sheets[1:]:
        repeat = by_title.get(title)
        if repeat is None:
            raise InvalidInput(
                f"{filename}: sheet {title} is not a repeat of this form (repeats: {', '.join(sorted(repeats)) or 'none'})"
            )
        parsed.repeat_sheets[title] = repeat.path
        pending.append((title, repeat, header, rows))
    # Parents before children: a nested repeat's sheet links to an outer repeat's sheet.
    pending.sort(key=lambda entry: entry[1].path.count("/"))
    for title, repeat, header, rows in pending:
        level_items = list(_level_fields(repeat.children))
        columns = _map_columns(header, level_items, repeat.path, filename=filename, sheet=title)
        parent_at = columns.meta.get(PARENT_INDEX_COLUMN)
        if parent_at is None:
            raise InvalidInput(f"{filename}: sheet {title} has no _parent_index column to link it to its parent rows")
        table_at = columns.meta.get(PARENT_TABLE_COLUMN)
        index_at = columns.meta.get(INDEX_COLUMN)
        own: dict[str, dict[str, Any]] = {}
        for row_number, cells in rows:
            instance = _assemble(columns, cells)
            parent_table = _cell_text(cells[table_at]) if table_at is not None else main_title
            parent_table = parent_table if parent_table in tables else main_title
            parent_index = _cell_text(cells[parent_at])
            parent = tables[parent_table].get(parent_index)
            if parent is None:
                orphan = ExportRow(row_number=row_number, uuid=None, submission_time=None, version_label=None, data={repeat.path: [instance]})
                orphan.problems.append((f"{title}!row {row_number}", "repeat_link", f"_parent_index matches no row of sheet {parent_table or 'main'}"))
                parsed.orphans.append(orphan)
                continue
            parent.setdefault(repeat.path, []).append(instance)
            if index_at is not None:
                own[_cell_text(cells[index_at])] = instance
        tables[title] = own


@dataclass
class ColumnarExport:
    """A single-sheet export of text cells read column-wise, for bulk import without a dict per row.

    Holds the cells as read (field cells possibly unstripped: `column()` gives them as read, consumers
    strip) and gives the same `ExportRow` as `parse_export` for any row on demand (`row(i)`), so rows are
    assembled only when they are quarantined or re-checked one by one.
    """

    row_numbers: list[int]
    uuids: list[str | None]
    submission_times: list[str | None]
    version_labels: list[str | None]
    fields: dict[str, int]
    """Field path -> column position (each field read from exactly one column)."""
    cells: list[list[str]]
    _columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row_numbers)

    def column(self, path: str) -> tuple[str, ...]:
        """The text of one field for every row as read (strip it: "" or whitespace where empty)."""
        cached = self._columns.get(path)
        if cached is None:
            position = self.fields[path]
            cached = tuple(cells[position] for cells in self.cells)
            self._columns[path] = cached
        return cached

    def span(self, start: int, stop: int) -> dict[str, tuple[str, ...]]:
        """Every field's cells for rows[start:stop] as read, transposed in one pass."""
        transposed = list(zip(*self.cells[start:stop], strict=True))
        return {path: transposed[position] for path, position in self.fields.items()} if transposed else {path: () for path in self.fields}

    def data(self, index: int) -> dict[str, Any]:
        """Submission data of row `index` exactly as `parse_export` assembles it."""
        cells = self.cells[index]
        return {path: value for path, position in self.fields.items() if (value := cells[position].strip())}

    def row(self, index: int) -> ExportRow:
        return ExportRow(
            row_number=self.row_numbers[index],
            uuid=self.uuids[index],
            submission_time=self.submission_times[index],
            version_label=self.version_labels[index],
            data=self.data(index),
        )


def columnar_export(form: FormDefinition, raw: RawExport) -> ColumnarExport | None:
    """The export read column-wise when its layout allows it, else None (use `parse_export`).

    Allowed: one sheet (no repeat sheets), every cell text (CSV), every field in one direct column
    (no select_multiple 0/1 columns, no split geopoint columns). Column mapping and refusals are those
    of `parse_export`.
    """
    if len(raw.sheets) != 1 or not raw.text_cells:
        return None
    main_title, header, main_rows = raw.sheets[0]
    columns = _map_columns(header, list(_level_fields(form.fields)), "", filename=raw.filename, sheet=main_title or None)
    if columns.multi_parts or columns.geo_parts:
        return None
    uuid_at = _first_meta(columns.meta, UUID_COLUMNS)
    if uuid_at is None:
        raise InvalidInput(f"{raw.filename}: the export has no _uuid (or meta/instanceID) column; include submission metadata in the export")
    paths = [item.path for item in columns.values.values()]
    if len(set(paths)) != len(paths):
        return None
    cells: list[list[str]] = [row for _, row in main_rows]
    time_at = _first_meta(columns.meta, SUBMISSION_TIME_COLUMNS)
    version_at = _first_meta(columns.meta, VERSION_COLUMNS)
    uuid_cache: dict[str, str | None] = {}
    uuids = [uuid_cache[text] if text in uuid_cache else uuid_cache.setdefault(text, _uuid_of(text)) for text in (row[uuid_at] for row in cells)]
    times: list[str | None] = [row[time_at].strip() or None for row in cells] if time_at is not None else [None] * len(cells)
    versions: list[str | None] = [row[version_at].strip() or None for row in cells] if version_at is not None else [None] * len(cells)
    return ColumnarExport(
        row_numbers=[number for number, _ in main_rows],
        uuids=uuids,
        submission_times=times,
        version_labels=versions,
        fields={item.path: position for position, item in columns.values.items()},
        cells=cells,
    )
