"""Read KoboToolbox / ODK exports (CSV, XLSX, ODK Central's CSV ZIP, JSON) into submission data for a form version.

Export layouts follow KoboToolbox's export settings (https://support.kobotoolbox.org/export_download.html)
and ODK Central's CSV: group paths as `group/field` (Kobo) or `group-field` (Central), optionally bare
field names (Kobo "include groups in headers" off); select_multiple also as one 0/1 column per choice
(`field/choice`); geopoints also split as `_field_latitude` etc.; repeats as separate XLSX sheets whose
rows link to their parent through `_parent_index` (= the parent's `_index`) and `_parent_table_name`.
Headers are XML names ("XML values and headers") or, failing that, the questions' labels in any of the
form's languages (Kobo's "labels" export; select values given as choice labels are read back to choice
names). A column that maps to no field and is not export metadata is refused, so a wrong file never
imports half-read. CSV files are comma- or semicolon-separated (Kobo's default is `;`): the delimiter is
detected on the header line. ODK Central's "CSV ZIP" holds the main CSV, one CSV per repeat linked by
`PARENT_KEY` -> `KEY`, and the attachments under `media/`. JSON exports are Kobo's API data
(`results`: a list of submissions with XML-path keys) or ODK Central's OData (`value`: nested groups,
repeats as lists, `__id`, `__system`).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import read_csv_table, sniff_delimiter
from passage.core.i18n import T_
from passage.forms.definition import Field, FormDefinition

UUID_COLUMNS = ("_uuid", "meta/instanceID", "meta-instanceID", "instanceID", "KEY")
SUBMISSION_TIME_COLUMNS = ("_submission_time", "SubmissionDate")
VERSION_COLUMNS = ("__version__", "_version_", "_version", "meta/instanceVersion")
INDEX_COLUMN = "_index"
PARENT_INDEX_COLUMN = "_parent_index"
PARENT_TABLE_COLUMN = "_parent_table_name"
KEY_COLUMN = "KEY"
PARENT_KEY_COLUMN = "PARENT_KEY"
MEDIA_TYPES = frozenset({"image", "audio", "video", "file", "background-audio"})
MAX_UNPACKED_BYTES = 500_000_000
"""The most an ODK Central ZIP may unpack to (its CSVs and media together)."""

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
    label_values: dict[int, dict[str, str]] = field(default_factory=dict)
    """Select columns found by their label: choice label -> choice name (Kobo's "labels" export)."""


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


def _label_lookup(level_items: list[Field], form: FormDefinition | None) -> dict[str, Field]:
    """Question label (any language, alone or after its groups' labels joined by `/`) -> field, for
    labels that name exactly one field."""
    found: dict[str, list[Field]] = defaultdict(list)
    for item in level_items:
        if item.type == "repeat":
            continue
        for text in item.labels.values():
            found[text.strip()].append(item)
    if form is not None:
        groups = {entry.path: entry for entry in form.walk() if entry.type == "group"}
        for item in level_items:
            parents = [groups[prefix] for prefix in _prefixes(item.path) if prefix in groups]
            for language, text in item.labels.items():
                chain = [group.labels.get(language) or group.name for group in parents]
                if chain:
                    found["/".join([*chain, text.strip()])].append(item)
    return {text: items[0] for text, items in found.items() if text and len({id(i) for i in items}) == 1}


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def _choice_label_map(item: Field, form: FormDefinition | None) -> dict[str, str]:
    if form is None:
        return {}
    mapping: dict[str, str] = {}
    for choice in form.choices_for(item):
        for text in choice.labels.values():
            mapping.setdefault(text.strip(), choice.name)
    return mapping


def _map_columns(
    header: list[str], level_items: list[Field], base: str, *, filename: str, sheet: str | None, form: FormDefinition | None = None
) -> _Columns:
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
        if not matched and "-" in column:
            # ODK Central splits a geopoint into `path-Latitude`, `-Longitude`, `-Altitude`, `-Accuracy`.
            head, _, tail = column.rpartition("-")
            suffix = {"Latitude": "latitude", "Longitude": "longitude", "Altitude": "altitude", "Accuracy": "precision"}.get(tail)
            if suffix is not None and head in geos:
                geo_parts[position] = (geos[head], suffix)
                matched = True
        if not matched and column.startswith("_"):
            for suffix in _GEO_SUFFIXES:
                if column.endswith("_" + suffix) and column[1 : -len(suffix) - 1] in geos:
                    geo_parts[position] = (geos[column[1 : -len(suffix) - 1]], suffix)
                    matched = True
                    break
        if not matched:
            unknown.append(column or f"(empty header at position {position + 1})")
    label_values: dict[int, dict[str, str]] = {}
    if unknown:
        # A labels-as-headers export: read the unknown columns by question label.
        by_label = _label_lookup(level_items, form)
        still: list[str] = []
        for position, raw_column in enumerate(header):
            column = raw_column.strip()
            if column not in unknown:
                continue
            found: Field | None = by_label.get(column)
            if found is None:
                for separator in ("/", "-", "."):
                    head, sep, tail = column.rpartition(separator)
                    multi = by_label.get(head) if sep else None
                    if multi is not None and multi.type == "select_multiple":
                        names = _choice_label_map(multi, form)
                        multi_parts[position] = (multi, names.get(tail.strip(), tail.strip()))
                        found = multi
                        break
                if found is None:
                    still.append(column)
                continue
            if found.type == "note":
                ignored.append(column)
                continue
            values[position] = found
            if found.type in ("select_one", "select_multiple"):
                label_values[position] = _choice_label_map(found, form)
        unknown = still
    if unknown:
        where = f"{filename}" + (f", sheet {sheet}" if sheet else "")
        raise InvalidInput(
            f"{where}: {len(unknown)} column(s) match no field of the form: {', '.join(unknown[:20])}"
            + (" …" if len(unknown) > 20 else "")
            + "; export with XML values and headers, or load the form version the data was collected with",
            fields=[FieldError(path=f"{where}, column {name}", message=T_("unknown column")) for name in unknown[:50]],
        )
    return _Columns(values=values, multi_parts=multi_parts, geo_parts=geo_parts, ignored=ignored, meta=meta, label_values=label_values)


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
            text = value.strip()
            names = columns.label_values.get(position)
            if names and text not in names.values():
                text = names.get(text, text)
            data[item.path] = text
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
        raise InvalidInput(T_("{file}: not a readable .xlsx workbook ({error})", file=path.name, error=type(exc).__name__)) from None
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
                    raise InvalidInput(T_("{file}: sheet {title}, row {row_number}: values beyond the last header column", file=path.name, title=worksheet.title, row_number=row_number))
                rows.append((row_number, cells))
            sheets.append((worksheet.title, header, rows))
    finally:
        workbook.close()
    if not sheets:
        raise InvalidInput(T_("{file}: the workbook is empty", file=path.name))
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
    submissions: list[dict[str, Any]] | None = None
    """A JSON export: one flat record per submission (see `_json_submissions`), instead of sheets."""
    attachments: dict[str, int] = field(default_factory=dict)
    """Files under `media/` in an ODK Central ZIP: name -> size in bytes."""

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
        if self.submissions is not None:
            return list(dict.fromkeys(label for record in self.submissions if (label := record.get("__version__"))))
        _, header, rows = self.sheets[0]
        positions = [header.index(name) for name in VERSION_COLUMNS if name in header]
        if not positions:
            return []
        at = positions[0]
        return list(dict.fromkeys(text for _, cells in rows if (text := _cell_text(cells[at]))))


def read_export(path: str | Path, *, strip: bool = True) -> RawExport:
    """Read a CSV (`,` or `;`, UTF-8), XLSX, ODK Central CSV ZIP or JSON export; refuses unreadable,
    empty or other files.

    `strip=False` leaves CSV cells as read (`strip_cells` strips them later, `ColumnarExport` strips
    only what it uses); XLSX cells are never stripped here.
    """
    file_path = Path(path)
    suffix = file_path.suffix.lower()
    if not file_path.exists():
        raise InvalidInput(T_("{file}: file not found", file=file_path.name))
    if suffix == ".csv":
        header, csv_rows = read_csv_table(file_path, required=[], strip=strip, delimiter=_delimiter_of(file_path))
        sheets: list[tuple[str, list[str], list[tuple[int, list[Any]]]]] = [("", header, csv_rows)]  # type: ignore[list-item]
    elif suffix in (".xlsx", ".xlsm"):
        sheets = _read_sheets(file_path)
    elif suffix == ".zip":
        return _read_central_zip(file_path)
    elif suffix == ".json":
        return RawExport(filename=file_path.name, sheets=[], text_cells=False, submissions=_json_submissions(file_path))
    else:
        raise InvalidInput(T_("{file}: an export must be a .csv, .xlsx, .zip (ODK Central) or .json file", file=file_path.name))
    if not sheets[0][2]:
        raise InvalidInput(T_("{file}: the export has a header but no rows", file=file_path.name))
    return RawExport(filename=file_path.name, sheets=sheets, text_cells=suffix == ".csv", stripped=strip or suffix != ".csv")


def _delimiter_of(path: Path) -> str:
    with path.open("rb") as handle:
        first = handle.readline(1 << 20)
    return sniff_delimiter(first.decode("utf-8-sig", errors="replace"))


def _read_central_zip(path: Path) -> RawExport:
    """ODK Central's "CSV ZIP": `<form>.csv`, `<form>-<repeat>.csv` per repeat, and `media/` files."""
    import tempfile
    import zipfile

    from passage.core.files import read_csv_table as read_table

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise InvalidInput(T_("{file}: not a readable ZIP file; download the export from ODK Central as 'CSV ZIP'", file=path.name)) from None
    attachments: dict[str, int] = {}
    tables: list[tuple[str, list[str], list[tuple[int, list[Any]]]]] = []
    with archive, tempfile.TemporaryDirectory(prefix="passage-central-") as directory:
        names = [info for info in archive.infolist() if not info.is_dir()]
        total = sum(info.file_size for info in names)
        if total > MAX_UNPACKED_BYTES:
            # Declared sizes, checked before anything is unpacked (a small ZIP can claim gigabytes).
            raise InvalidInput(T_("{file}: the ZIP would unpack to {total} bytes, more than the {MAX_UNPACKED_BYTES} an export may hold", file=path.name, total=total, MAX_UNPACKED_BYTES=MAX_UNPACKED_BYTES))
        for info in names:
            member = info.filename
            if member.startswith("media/") or "/media/" in member:
                attachments[member.rsplit("/", 1)[-1]] = info.file_size
                continue
            if not member.lower().endswith(".csv"):
                continue
            local = Path(directory) / f"t{len(tables)}.csv"
            local.write_bytes(archive.read(info))
            try:
                header, rows = read_table(local, required=[], strip=True, delimiter=_delimiter_of(local))
            except InvalidInput as exc:
                if "header but no rows" in str(exc):
                    continue  # a repeat nobody filled in
                raise InvalidInput(str(exc).replace(local.name, f"{path.name}!{member}")) from None
            tables.append((Path(member).stem, header, rows))  # type: ignore[arg-type]
    mains = [table for table in tables if PARENT_KEY_COLUMN not in table[1]]
    if len(mains) != 1:
        raise InvalidInput(
            f"{path.name}: expected one main CSV (without PARENT_KEY) in the ZIP, found {len(mains)}; "
            "download the export from ODK Central as 'CSV ZIP'"
        )
    main = mains[0]
    repeats = [table for table in tables if table is not main]
    # Sheet titles: the repeat name after the form's own name (`household-members` -> `members`).
    prefix = main[0] + "-"
    renamed = [(title[len(prefix):] if title.startswith(prefix) else title, header, rows) for title, header, rows in repeats]
    return RawExport(filename=path.name, sheets=[("", main[1], main[2]), *renamed], text_cells=True, attachments=attachments)


def _json_submissions(path: Path) -> list[dict[str, Any]]:
    import json

    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(T_("{file}: not readable JSON ({error}: {detail})", file=path.name, error=type(exc).__name__, detail=str(exc)[:120])) from None
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        records = [_central_record(item) for item in document["value"]]  # ODK Central OData
    elif isinstance(document, dict) and isinstance(document.get("results"), list):
        records = [_kobo_record(item) for item in document["results"]]  # KoboToolbox API v2
    elif isinstance(document, list):
        records = [_central_record(item) if isinstance(item, dict) and "__id" in item else _kobo_record(item) for item in document]
    else:
        raise InvalidInput(T_("{file}: expected Kobo's {{\"results\": [...]}} or ODK Central's {{\"value\": [...]}} JSON", file=path.name))
    if not records:
        raise InvalidInput(T_("{file}: the export holds no submissions", file=path.name))
    return records


def _json_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and value.get("type") == "Point" and isinstance(value.get("coordinates"), list):
        coordinates = value["coordinates"]  # GeoJSON is lon, lat[, alt]; ODK is lat lon [alt [accuracy]]
        parts = [coordinates[1], coordinates[0], *coordinates[2:3]]
        accuracy = (value.get("properties") or {}).get("accuracy")
        if accuracy is not None and len(coordinates) > 2:
            parts.append(accuracy)
        return " ".join(_cell_text(part) for part in parts)
    if isinstance(value, dict) and value.get("type") in ("LineString", "Polygon"):
        line = value["coordinates"][0] if value["type"] == "Polygon" else value["coordinates"]
        return "; ".join(" ".join(_cell_text(part) for part in [point[1], point[0], *point[2:3]]) for point in line)
    return value


def _kobo_record(item: Any) -> dict[str, Any]:
    """A Kobo API submission: keys are XML paths already; repeats are lists of dicts with path keys."""
    if not isinstance(item, dict):
        raise InvalidInput(T_("a Kobo JSON submission must be an object"))
    record: dict[str, Any] = {"__uuid": item.get("_uuid") or item.get("meta/instanceID"), "__time": item.get("_submission_time"),
                              "__version__": item.get("__version__")}
    data: dict[str, Any] = {}
    for key, value in item.items():
        if key in METADATA_COLUMNS or key.startswith("_") or key.startswith("meta/") or key.startswith("formhub/"):
            continue
        if isinstance(value, list) and all(isinstance(entry, dict) for entry in value):
            data[key] = [{k: _json_text(v) for k, v in entry.items() if not k.startswith("_")} for entry in value]
        else:
            data[key] = _json_text(value)
    record["data"] = data
    return record


def _central_record(item: Any) -> dict[str, Any]:
    """An ODK Central OData submission: groups nested as objects, repeats as lists, metadata in `__system`."""
    if not isinstance(item, dict):
        raise InvalidInput(T_("an ODK Central JSON submission must be an object"))
    system = item.get("__system") or {}
    meta = item.get("meta") or {}
    data: dict[str, Any] = {}

    def flatten(node: dict[str, Any], prefix: str, into: dict[str, Any]) -> None:
        for key, value in node.items():
            if key.startswith("__") or "@" in key or (not prefix and key in ("meta", "instanceID")):
                continue  # system fields, OData annotations (`members@odata.navigationLink`), metadata
            path = f"{prefix}{key}"
            if isinstance(value, list):
                instances: list[dict[str, Any]] = []
                for entry in value:
                    inner: dict[str, Any] = {}
                    if isinstance(entry, dict):
                        flatten(entry, path + "/", inner)
                    instances.append(inner)
                into[path] = instances
            elif isinstance(value, dict) and value.get("type") not in ("Point", "LineString", "Polygon"):
                flatten(value, path + "/", into)
            elif value is not None:
                into[path] = _json_text(value)

    flatten(item, "", data)
    return {"__uuid": item.get("__id") or meta.get("instanceID"), "__time": system.get("submissionDate"),
            "__version__": system.get("formVersion"), "data": data}


def parse_export(form: FormDefinition, path: str | Path | RawExport) -> ParsedExport:
    """Read a CSV (comma-separated, UTF-8) or XLSX export into rows of submission data for `form`.

    Raises InvalidInput for an unreadable file, unknown columns, a missing uuid column, or (XLSX) a
    sheet that is neither the main sheet nor one of the form's repeats.
    """
    raw = path if isinstance(path, RawExport) else read_export(path)
    if raw.submissions is not None:
        return _parse_json(raw)
    sheets = raw.sheets
    filename = raw.filename
    main_title, main_header, main_rows = sheets[0]
    columns = _map_columns(main_header, list(_level_fields(form.fields)), "", filename=filename, sheet=main_title or None, form=form)
    uuid_at = _first_meta(columns.meta, UUID_COLUMNS)
    if uuid_at is None:
        raise InvalidInput(T_("{file}: the export has no _uuid (or meta/instanceID) column; include submission metadata in the export", file=filename))
    time_at = _first_meta(columns.meta, SUBMISSION_TIME_COLUMNS)
    version_at = _first_meta(columns.meta, VERSION_COLUMNS)
    index_at = columns.meta.get(INDEX_COLUMN, columns.meta.get(KEY_COLUMN))
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


def _parse_json(raw: RawExport) -> ParsedExport:
    rows: list[ExportRow] = []
    for number, record in enumerate(raw.submissions or [], start=1):
        uuid = record.get("__uuid")
        rows.append(ExportRow(
            row_number=number,
            uuid=_uuid_of(str(uuid)) if uuid else None,
            submission_time=str(record["__time"]) if record.get("__time") else None,
            version_label=str(record["__version__"]) if record.get("__version__") else None,
            data=record["data"],
        ))
    return ParsedExport(rows=rows, columns={}, ignored_columns=[], version_labels=raw.version_labels())


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
        by_title[item.path.replace("/", "-")] = item
    main_title = sheets[0][0]
    tables: dict[str, dict[str, dict[str, Any]]] = {main_title: {row.index or "": row.data for row in parsed.rows}}
    by_key: dict[str, dict[str, Any]] = {row.index or "": row.data for row in parsed.rows}
    """ODK Central: every row's KEY (globally unique) -> its data, for PARENT_KEY links."""
    pending: list[tuple[str, Field, list[str], list[tuple[int, list[Any]]]]] = []
    for title, header, rows in sheets[1:]:
        repeat = by_title.get(title) or by_title.get(title.rsplit("-", 1)[-1])
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
        columns = _map_columns(header, level_items, repeat.path, filename=filename, sheet=title, form=form)
        central = PARENT_KEY_COLUMN in columns.meta
        parent_at = columns.meta.get(PARENT_KEY_COLUMN) if central else columns.meta.get(PARENT_INDEX_COLUMN)
        if parent_at is None:
            raise InvalidInput(T_("{file}: sheet {title} has no _parent_index (Kobo) or PARENT_KEY (ODK Central) column to link it to its parent rows", file=filename, title=title))
        table_at = columns.meta.get(PARENT_TABLE_COLUMN)
        index_at = columns.meta.get(KEY_COLUMN) if central else columns.meta.get(INDEX_COLUMN)
        own: dict[str, dict[str, Any]] = {}
        link = "PARENT_KEY" if central else "_parent_index"
        for row_number, cells in rows:
            instance = _assemble(columns, cells)
            parent_table = _cell_text(cells[table_at]) if table_at is not None else main_title
            parent_table = parent_table if parent_table in tables else main_title
            parent_index = _cell_text(cells[parent_at])
            parent = by_key.get(parent_index) if central else tables[parent_table].get(parent_index)
            if parent is None:
                orphan = ExportRow(row_number=row_number, uuid=None, submission_time=None, version_label=None, data={repeat.path: [instance]})
                orphan.problems.append((f"{title}!row {row_number}", "repeat_link", f"{link} matches no row of sheet {parent_table or 'main'}"))
                parsed.orphans.append(orphan)
                continue
            parent.setdefault(repeat.path, []).append(instance)
            if index_at is not None:
                own[_cell_text(cells[index_at])] = instance
                if central:
                    by_key[_cell_text(cells[index_at])] = instance
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
    if raw.submissions is not None or len(raw.sheets) != 1 or not raw.text_cells:
        return None
    main_title, header, main_rows = raw.sheets[0]
    columns = _map_columns(header, list(_level_fields(form.fields)), "", filename=raw.filename, sheet=main_title or None, form=form)
    if columns.multi_parts or columns.geo_parts or columns.label_values:
        return None
    uuid_at = _first_meta(columns.meta, UUID_COLUMNS)
    if uuid_at is None:
        raise InvalidInput(T_("{filename}: the export has no _uuid (or meta/instanceID) column; include submission metadata in the export", filename=raw.filename))
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
