"""Load an XLSForm (.xlsx or .xls) through pyxform into a `FormDefinition`, Passage's parsed form.

XLSForm is specified at https://xlsform.org; pyxform is its reference implementation, and its verdict
decides whether a form is valid. We let pyxform check the workbook (types, names, references, groups),
then walk its JSON output into plain dataclasses and compile every expression with
`passage.forms.xpath`. A form pyxform refuses is refused with pyxform's message plus the sheet, row and
column. A form pyxform accepts always loads: an expression Passage cannot evaluate, or a type it
stores without checking, becomes a warning naming sheet, row and column (`FormDefinition.unevaluated`),
and that check is reported "not evaluated" on imports instead of refusing the form.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings as warnings_module
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import P_, T_, Published, Text
from passage.forms.xpath import Expression, ExpressionError, compile_expression

CORE_TYPES = frozenset(
    {"integer", "decimal", "text", "select_one", "select_multiple", "date", "geopoint", "calculate", "note"}
)
"""The question types the issue calls the core; all are validated on import and in web entry."""

METADATA_TYPES = frozenset(
    {"start", "end", "today", "deviceid", "username", "phonenumber", "subscriberid", "simserial", "datetime", "time", "audit", "email"}
)
"""Accepted and stored as given; `datetime`/`time` are checked for shape, the device metadata is not."""

MEDIA_TYPES = frozenset({"image", "audio", "video", "file", "background-audio"})
"""Stored as the attachment's file name (what Kobo and ODK Central exports carry)."""

OTHER_TYPES = frozenset(
    {"geotrace", "geoshape", "barcode", "range", "rank", "acknowledge", "hidden", "select_one_external", "osm"}
)
"""The rest of the ODK question types: geotrace/geoshape are checked as lists of points, range as a
number, rank against its choices; the others are stored as text."""

NO_VALUE_TYPES = frozenset({"note", "xml-external", "csv-external"})
"""Rows that hold no value in a submission (external instances only declare an attachment)."""

CONTAINER_TYPES = frozenset({"group", "repeat"})

_PYXFORM_TYPES = {
    "integer": "integer",
    "int": "integer",
    "decimal": "decimal",
    "text": "text",
    "string": "text",
    "select one": "select_one",
    "select all that apply": "select_multiple",
    "date": "date",
    "geopoint": "geopoint",
    "gps": "geopoint",
    "location": "geopoint",
    "calculate": "calculate",
    "note": "note",
    "group": "group",
    "repeat": "repeat",
    "start": "start",
    "end": "end",
    "today": "today",
    "deviceid": "deviceid",
    "device id": "deviceid",
    "username": "username",
    "phonenumber": "phonenumber",
    "phone number": "phonenumber",
    "subscriberid": "subscriberid",
    "subscriber id": "subscriberid",
    "simserial": "simserial",
    "sim id": "simserial",
    "datetime": "datetime",
    "dateTime": "datetime",
    "time": "time",
    "select one external": "select_one_external",
    "rank": "rank",
    "range": "range",
    "photo": "image",
    "image": "image",
    "audio": "audio",
    "video": "video",
    "file": "file",
    "background-audio": "background-audio",
    "geotrace": "geotrace",
    "geoshape": "geoshape",
    "barcode": "barcode",
    "acknowledge": "acknowledge",
    "trigger": "acknowledge",
    "email": "email",
    "hidden": "hidden",
    "start-geopoint": "geopoint",
    "background-geopoint": "geopoint",
    "audit": "audit",
    "xml-external": "xml-external",
    "csv-external": "csv-external",
    "osm": "osm",
    "loop": "group",
    "uri:deviceid": "deviceid",
    "uri:username": "username",
    "uri:email": "email",
    "uri:phonenumber": "phonenumber",
    "uri:subscriberid": "subscriberid",
    "uri:simserial": "simserial",
    "add text prompt": "text",
    "add integer prompt": "integer",
    "add decimal prompt": "decimal",
    "add date prompt": "date",
    "add time prompt": "time",
    "add datetime prompt": "datetime",
    "add dateTime prompt": "datetime",
    "add location prompt": "geopoint",
    "add image prompt": "image",
    "add audio prompt": "audio",
    "add video prompt": "video",
    "add barcode prompt": "barcode",
    "add note prompt": "note",
}

EXPRESSION_COLUMNS = ("constraint", "relevant", "required", "calculation", "choice_filter")

_LANGUAGE_CODE = re.compile(r"\(([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)\)\s*$")
_ROW_IN_MESSAGE = re.compile(r"\[row\s*:\s*(\d+)\]")


@dataclass(frozen=True)
class Choice:
    """One option of a choice list: its value, labels per language, and extra columns (for filters)."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    extras: dict[str, str] = field(default_factory=dict)

    def label(self, language: str | None = None) -> str:
        return pick_label(self.labels, language) or self.name


@dataclass
class Field:
    """One row of the survey sheet: a question, a calculate, a note, a group or a repeat.

    `path` is the slash path without the root (`household/members/age`); `repeat` is the path of the
    innermost enclosing repeat, or None at the top level. Expressions are the XLSForm source text.
    `required` is None (optional), "yes", or an expression that decides it.
    """

    name: str
    type: str
    path: str
    row: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)
    required: str | None = None
    required_message: dict[str, str] = field(default_factory=dict)
    constraint: str | None = None
    constraint_message: dict[str, str] = field(default_factory=dict)
    relevant: str | None = None
    calculation: str | None = None
    choice_filter: str | None = None
    list_name: str | None = None
    appearance: str | None = None
    read_only: bool = False
    default: str | None = None
    repeat: str | None = None
    repeat_count: str | None = None
    """A repeat's `repeat_count` (jr:count): how many instances it must have."""
    parameters: dict[str, str] = field(default_factory=dict)
    children: list[Field] = field(default_factory=list)

    @property
    def is_container(self) -> bool:
        return self.type in CONTAINER_TYPES

    @property
    def holds_value(self) -> bool:
        """Whether submissions carry a value for this field (not a group, repeat, note or external instance)."""
        return self.type not in CONTAINER_TYPES and self.type not in NO_VALUE_TYPES

    def label(self, language: str | None = None) -> str:
        return pick_label(self.labels, language) or self.name


@dataclass
class FormDefinition:
    """A parsed form version: settings, the field tree, choice lists, languages and compiled expressions."""

    form_id: str
    title: str
    version: str
    languages: list[str]
    default_language: str | None
    fields: list[Field]
    choices: dict[str, list[Choice]]
    sha256: str = ""
    warnings: list[str] = field(default_factory=list)
    unevaluated: list[dict[str, Any]] = field(default_factory=list)
    """Checks Passage does not evaluate: {sheet, row, column, field, expression, reason} per cell."""
    titles: dict[str, str] = field(default_factory=dict)
    """The form's title per language, from the settings sheet's `passage_title::<language>` columns (the XLSForm
    multi-language column convention; pyxform reads `form_title::<language>` as a translated title and refuses it, and
    ignores other settings columns); empty when the form has one title."""

    # --- lookups -------------------------------------------------------------------------------

    def walk(self) -> Iterator[Field]:
        """Every field, depth first in form order, containers before their children."""
        stack = list(reversed(self.fields))
        while stack:
            item = stack.pop()
            yield item
            stack.extend(reversed(item.children))

    @cached_property
    def by_name(self) -> dict[str, Field]:
        return {item.name: item for item in self.walk()}

    @cached_property
    def by_path(self) -> dict[str, Field]:
        return {item.path: item for item in self.walk()}

    @cached_property
    def repeats(self) -> list[Field]:
        return [item for item in self.walk() if item.type == "repeat"]

    def field(self, name: str) -> Field:
        return self.by_name[name]

    def choices_for(self, item: Field) -> list[Choice]:
        return self.choices.get(item.list_name or "", [])

    @cached_property
    def choice_names(self) -> dict[str, frozenset[str]]:
        return {list_name: frozenset(choice.name for choice in items) for list_name, items in self.choices.items()}

    @cached_property
    def expressions(self) -> dict[tuple[str, str], Expression]:
        """Compiled expressions keyed by (field name, column): constraint, relevant, required, calculation,
        choice_filter, repeat_count. One that cannot be evaluated is left out (it is in `unevaluated`)."""
        compiled: dict[tuple[str, str], Expression] = {}
        for item in self.walk():
            for column, source in expression_sources(item):
                try:
                    compiled[(item.name, column)] = compile_expression(source, choice_filter=column == "choice_filter")
                except (ExpressionError, RecursionError, ValueError, TypeError):
                    continue
        return compiled

    def warning_lines(self) -> list[str]:
        """The load warnings, each in the reader's language: pyxform's own (in English, as pyxform writes
        them), then one per check that is not evaluated (`unevaluated`)."""
        own = len(self.warnings) - len(self.unevaluated)
        return [*self.warnings[: max(own, 0)], *(not_evaluated_warning(entry).render() for entry in self.unevaluated)]

    @cached_property
    def not_evaluated(self) -> frozenset[tuple[str, str]]:
        """(field name, column) of every check that is not evaluated (see `unevaluated`)."""
        return frozenset((str(entry["field"]), str(entry["column"])) for entry in self.unevaluated)

    def choice_label(self, question: str, value: str, language: str | None = None) -> str:
        item = self.by_name.get(question)
        if item is None:
            return value
        for choice in self.choices_for(item):
            if choice.name == value:
                return choice.label(language or self.default_language)
        return value

    # --- storage -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `FormDefinition.from_dict` reads it back (stored with each form version)."""
        return {
            "form_id": self.form_id,
            "title": self.title,
            "titles": dict(self.titles),
            "version": self.version,
            "languages": list(self.languages),
            "default_language": self.default_language,
            "fields": [asdict(item) for item in self.fields],
            "choices": {name: [asdict(choice) for choice in items] for name, items in self.choices.items()},
            "sha256": self.sha256,
            "warnings": list(self.warnings),
            "unevaluated": [dict(entry) for entry in self.unevaluated],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FormDefinition:
        def build(raw: dict[str, Any]) -> Field:
            values = dict(raw)
            values["children"] = [build(child) for child in raw.get("children", [])]
            return Field(**values)

        return cls(
            form_id=data["form_id"],
            title=data["title"],
            titles=dict(data.get("titles") or {}),
            version=data["version"],
            languages=list(data["languages"]),
            default_language=data.get("default_language"),
            fields=[build(item) for item in data["fields"]],
            choices={name: [Choice(**choice) for choice in items] for name, items in data["choices"].items()},
            sha256=data.get("sha256", ""),
            warnings=list(data.get("warnings", [])),
            unevaluated=[dict(entry) for entry in data.get("unevaluated", [])],
        )


def expression_sources(item: Field) -> Iterator[tuple[str, str]]:
    """The (column, source) pairs of a field that hold XPath (a plain yes/no `required` is not one)."""
    if item.constraint:
        yield "constraint", item.constraint
    if item.relevant:
        yield "relevant", item.relevant
    if item.required and item.required not in ("yes", "no"):
        yield "required", item.required
    if item.calculation:
        yield "calculation", item.calculation
    if item.choice_filter:
        yield "choice_filter", item.choice_filter
    if item.repeat_count:
        yield "repeat_count", item.repeat_count


def language_code(language: str) -> str:
    """`English (en)` -> `en`, `Chinese (zh)` -> `zh`; a name without a code is returned as is."""
    match = _LANGUAGE_CODE.search(language)
    return match.group(1).replace("_", "-") if match else language


def title_in(definition: FormDefinition | dict[str, Any], language: str | None) -> str:
    """The form's title in `language` (its `form_title::<language>` column), else its one title."""
    titles = definition.titles if isinstance(definition, FormDefinition) else dict(definition.get("titles") or {})
    title = definition.title if isinstance(definition, FormDefinition) else str(definition.get("title") or "")
    if titles and language and any(language_code(k).split("-")[0] == language.split("_")[0].split("-")[0] for k in titles):
        return pick_label(titles, language) or title
    return title


def pick_label(labels: dict[str, str], language: str | None) -> str | None:
    """The label in `language` (code such as `zh`, or the full column name), else English, else any."""
    if not labels:
        return None
    if language:
        if language in labels:
            return labels[language]
        for key, text in labels.items():
            if language_code(key) == language or language_code(key).split("-")[0] == language.split("-")[0].split("_")[0]:
                return text
    for key, text in labels.items():
        if language_code(key) == "en":
            return text
    if "default" in labels:
        return labels["default"]
    return next(iter(labels.values()))


# ---------------------------------------------------------------------------------------------------
# loading


XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_ADJACENT_EMPTY_ROWS = 60
"""As pyxform's reader (`xls2json_backends.get_excel_rows`): after 60 empty rows the sheet has ended, so
a workbook that declares 1,048,576 formatted rows is not walked to the end."""
MAX_ADJACENT_EMPTY_COLUMNS = 20


def workbook_kind(content: bytes, filename: str) -> str:
    """`.xlsx`, `.xls` or `.csv` from the bytes (a renamed file is read as what it is), else InvalidInput."""
    if content.startswith(XLSX_MAGIC):
        return ".xlsx"
    if content.startswith(XLS_MAGIC):
        return ".xls"
    if Path(filename).suffix.lower() == ".csv":
        return ".csv"
    raise InvalidInput(
        f"{filename}: not a readable XLSForm workbook (neither .xlsx nor .xls); "
        "open it in Excel or LibreOffice and save it as an .xlsx workbook, then load it again"
    )


@dataclass
class _Sheet:
    title: str
    header: list[str]
    rows: list[tuple[int, list[Any]]]
    """(1-based row number, cells) for every row below the header, up to the last non-empty one."""


def _clean_rows(numbered: Iterator[tuple[int, Sequence[Any]]]) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    header: list[str] = []
    rows: list[tuple[int, list[Any]]] = []
    empty_run = 0
    first = True
    for number, cells in numbered:
        values = ["" if cell is None else cell for cell in cells]
        if first:
            first = False
            header_cells = [str(cell).strip() for cell in values]
            last = 0
            run = 0
            for index, name in enumerate(header_cells):
                if name:
                    last, run = index + 1, 0
                else:
                    run += 1
                    if run >= MAX_ADJACENT_EMPTY_COLUMNS:
                        break
            header = header_cells[:last]
            continue
        if not any(str(cell).strip() for cell in values[: len(header)]):
            empty_run += 1
            if empty_run >= MAX_ADJACENT_EMPTY_ROWS:
                break
            continue
        empty_run = 0
        rows.append((number, values[: len(header)]))
    return header, rows


def read_workbook(content: bytes, filename: str, *, only: frozenset[str] | None = None) -> dict[str, _Sheet]:
    """The sheets of an XLSForm workbook by lower-case title (those named in `only`, or all), reading
    only the rows that hold data.

    Raises InvalidInput naming the file, with a hint, when the bytes are not a readable workbook.
    """
    with warnings_module.catch_warnings():
        # openpyxl warns about workbook features it drops (extensions, headers); they do not matter here.
        warnings_module.simplefilter("ignore")
        return _read_workbook(content, filename, only)


def _read_workbook(content: bytes, filename: str, only: frozenset[str] | None) -> dict[str, _Sheet]:
    kind = workbook_kind(content, filename)
    sheets: dict[str, _Sheet] = {}
    hint = "open it in Excel or LibreOffice and save it as an .xlsx workbook, then load it again"
    if kind == ".xlsx":
        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged workbook
            raise InvalidInput(T_("{file}: not a readable .xlsx workbook ({error}); {hint}", file=filename, error=type(exc).__name__, hint=hint)) from None
        try:
            for sheet in workbook.worksheets:
                if only is not None and sheet.title.strip().lower() not in only:
                    continue
                header, rows = _clean_rows(enumerate(sheet.iter_rows(values_only=True), start=1))
                sheets[sheet.title.strip().lower()] = _Sheet(sheet.title, header, rows)
        except Exception as exc:  # noqa: BLE001
            raise InvalidInput(T_("{file}: not a readable .xlsx workbook ({error}); {hint}", file=filename, error=type(exc).__name__, hint=hint)) from None
        finally:
            workbook.close()
    elif kind == ".xls":
        import xlrd

        try:
            book = xlrd.open_workbook(file_contents=content, on_demand=True)
            for index in range(book.nsheets):
                sheet = book.sheet_by_index(index)
                if only is not None and sheet.name.strip().lower() not in only:
                    continue
                header, rows = _clean_rows((row + 1, sheet.row_values(row)) for row in range(sheet.nrows))
                sheets[sheet.name.strip().lower()] = _Sheet(sheet.name, header, rows)
                book.unload_sheet(index)
        except Exception as exc:  # noqa: BLE001 - xlrd raises many kinds for a damaged workbook
            raise InvalidInput(T_("{file}: not a readable .xls workbook ({error}); {hint}", file=filename, error=type(exc).__name__, hint=hint)) from None
    return sheets


class _SurveySheet:
    """Row and column positions in the survey sheet, so pyxform's errors and ours can name them."""

    def __init__(self, sheets: Mapping[str, _Sheet]) -> None:
        self.rows_by_name: dict[str, int] = {}
        self.rows_by_type: dict[str, int] = {}
        self.columns: dict[str, str] = {}
        self.sheet_name = "survey"
        self.settings: dict[str, str] = {}
        settings = sheets.get("settings")
        if settings is not None and settings.rows:
            first = settings.rows[0][1]
            self.settings = {name.lower(): str(value).strip() for name, value in zip(settings.header, first, strict=False) if name}
        sheet = sheets.get("survey")
        if sheet is None:
            return
        self.sheet_name = sheet.title
        header = sheet.header
        self.columns = {name: get_column_letter(index + 1) for index, name in enumerate(header) if name}
        lowered = [name.lower() for name in header]
        name_index = lowered.index("name") if "name" in lowered else None
        type_index = lowered.index("type") if "type" in lowered else None
        for row_number, cells in sheet.rows:
            name = str(cells[name_index]).strip() if name_index is not None and name_index < len(cells) else ""
            kind = str(cells[type_index]).strip() if type_index is not None and type_index < len(cells) else ""
            if name.endswith(".0") and isinstance(cells[name_index or 0], float):
                name = name[:-2]
            if name and name not in self.rows_by_name and not kind.lower().startswith("end"):
                self.rows_by_name[name] = row_number
            if kind:
                self.rows_by_type.setdefault(kind.split()[0], row_number)

    def column_letter(self, column: str) -> str | None:
        if column in self.columns:
            return self.columns[column]
        aliases = {"calculation": ("calculate",), "choice_filter": ("choice filter",), "repeat_count": ("repeat count", "jr:count")}
        for alias in aliases.get(column, ()):
            if alias in self.columns:
                return self.columns[alias]
        return None

    def where(self, *, row: int | None, column: str | None, sheet: str | None = None) -> Text:
        """"sheet survey, row 7, column relevant (F)" as a message, in the reader's language when rendered."""
        letter = self.column_letter(column) if column else None
        return _where(sheet or self.sheet_name, row, f"{column} ({letter})" if column and letter else column)


_SHEET_IN_MESSAGE = re.compile(r"(?:On|in) the '([A-Za-z_ ]+)' sheet|sheet: '([A-Za-z_ ]+)'|There should be an? ([a-z_]+) sheet|You must have a sheet named '([a-z_]+)'")
_HEADER_PROBLEM = re.compile(r"Duplicate column header|Invalid headers provided|column headers were not found")


def _pyxform_refusal(exc: Exception, sheet: _SurveySheet, filename: str) -> InvalidInput:
    """pyxform's message, with the sheet, row and column found from its context, its text or the sheet."""
    message = str(exc).strip() or type(exc).__name__
    context: dict[str, Any] = dict(getattr(exc, "context", {}) or {})
    row = context.get("row")
    sheet_name = context.get("sheet")
    named = _SHEET_IN_MESSAGE.search(message)
    if sheet_name is None and named is not None:
        sheet_name = next(group for group in named.groups() if group)
        if named.group(3) or named.group(4):
            sheet_name = f"{sheet_name} (missing)"
            row = row or 1
    if row is None:
        match = _ROW_IN_MESSAGE.search(message)
        if match:
            row = int(match.group(1))
    column = context.get("column")
    unknown_type = re.search(r"Unknown question type '([^']+)'", message)
    if unknown_type:
        column = "type"
        row = row or sheet.rows_by_type.get(unknown_type.group(1).split()[0])
    if row is None and _HEADER_PROBLEM.search(message):
        row = 1  # the header row
    if row is None and sheet_name and str(sheet_name).strip().lower() == "settings":
        row = 2  # the settings sheet has one row of values, under its header
    if row is None and sheet_name and re.search(r"\b(header|column)s?\b", message, re.IGNORECASE):
        row = 1
    if row is None and "has not been included" in message:
        row = sheet.rows_by_type.get("include")
    if row is None:
        # pyxform names the question in quotes: find its row in the survey sheet.
        for quoted in re.findall(r"'([A-Za-z_][\w.\-]*)'", message):
            if quoted in sheet.rows_by_name:
                row = sheet.rows_by_name[quoted]
                break
    where = sheet.where(row=int(row) if row is not None else None, column=column, sheet=sheet_name)
    return InvalidInput(
        T_("{file}: the XLSForm is invalid", file=filename),
        fields=[FieldError(path=where, message=message)],
        extra={"sheet": sheet_name or sheet.sheet_name, "row": row, "column": column},
    )


def default_form_id(filename: str) -> str:
    """pyxform's default form_id without a settings sheet: the file name without its extension."""
    stem = Path(filename).stem.strip() or "form"
    return re.sub(r"[^\w.\-]", "_", stem)


def load_xlsform(
    source: str | Path | bytes, *, filename: str | None = None, attachments: Mapping[str, bytes] | None = None
) -> FormDefinition:
    """Parse an XLSForm workbook (path or bytes, .xlsx or .xls) into a FormDefinition, or raise InvalidInput.

    pyxform decides validity: what it refuses is refused with its message and the sheet, row and
    column. What it accepts loads; what Passage cannot evaluate is listed in `unevaluated` and in the
    warnings. `attachments` are the form's media files by name (CSV, XML or GeoJSON lists for
    `select_*_from_file`, `pulldata()` and `instance()`).
    """
    from pyxform.errors import PyXFormError
    from pyxform.xls2xform import convert

    if isinstance(source, bytes):
        content = source
        name = filename or "form.xlsx"
    else:
        path = Path(source)
        if not path.exists():
            raise InvalidInput(T_("{file}: file not found", file=path.name))
        content = path.read_bytes()
        name = filename or path.name
    kind = workbook_kind(content, name)
    unreadable: InvalidInput | None = None
    try:
        sheets = read_workbook(content, name, only=frozenset({"survey", "settings", "external_choices"})) if kind != ".csv" else {}
    except InvalidInput as exc:
        # Our reader only finds row numbers: if pyxform can read the workbook, its verdict still stands.
        sheets, unreadable = {}, exc
    sheet = _SurveySheet(sheets)
    warnings: list[str] = []
    try:
        with warnings_module.catch_warnings():
            warnings_module.simplefilter("ignore")
            result = convert(xlsform=content, warnings=warnings, file_type=kind)
    except PyXFormError as exc:
        if unreadable is not None:
            raise unreadable from None
        raise _pyxform_refusal(exc, sheet, name) from None
    except Exception as exc:  # noqa: BLE001 - pyxform raises plain Python errors for some malformed sheets
        if unreadable is not None:
            raise unreadable from None
        raise InvalidInput(
            T_("{file}: the XLSForm could not be read by pyxform ({error}: {detail}); check the survey and choices sheets against https://xlsform.org",
               file=name, error=type(exc).__name__, detail=str(exc)[:200])
        ) from None
    data = result._pyxform or {}
    try:
        definition = _build_definition(data, sheet, name)
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - pyxform accepted it: say what we could not read, never a traceback
        raise InvalidInput(
            T_("{file}: pyxform accepts this form but Passage could not read its structure ({error}: {detail}); please report it with the form attached",
               file=name, error=type(exc).__name__, detail=str(exc)[:200])
        ) from None
    if not (sheet.settings.get("form_id") or sheet.settings.get("id_string")):
        definition.form_id = default_form_id(name)
        if not sheet.settings.get("form_title") and not sheet.settings.get("title"):
            definition.title = definition.form_id
    definition.titles = {key.split("::", 1)[1].strip(): str(value) for key, value in sheet.settings.items()
                         if key.lower().startswith("passage_title::") and value not in (None, "")}
    definition.sha256 = hashlib.sha256(content).hexdigest()
    definition.warnings = list(warnings)
    _external_choices(definition, sheets.get("external_choices"))
    _attach(definition, attachments or {}, sheet)
    _check_expressions(definition, sheet)
    return definition


def _external_choices(definition: FormDefinition, external: _Sheet | None) -> None:
    """`select_one_external` questions answered from the workbook's `external_choices` sheet.

    pyxform writes that sheet to the `itemsets.csv` attachment ODK Collect filters with the question's
    choice filter (XLSForm specification, "External selects"); the list is in the workbook, so Passage reads
    it there and checks answers against it like any select_one, choice filter included. A list that is not
    in the sheet (the CSV was made elsewhere) stays unchecked, with a warning (`_attach`)."""
    if external is None or not external.rows:
        return
    # Headers as pyxform reads them: any case, `list name` for `list_name`; other columns (the filter's) as written.
    header = [name.strip() for name in external.header]
    structural = {"list_name": "list_name", "list name": "list_name", "name": "name", "label": "label"}
    lists: dict[str, list[Choice]] = {}
    for _number, cells in external.rows:
        row = {name: str(cell).strip() for name, cell in zip(header, cells, strict=False) if name}
        known = {structural[key.lower()]: value for key, value in row.items() if key.lower() in structural}
        list_name, name = known.get("list_name", ""), known.get("name", "")
        if not list_name or not name:
            continue
        labels = {key.split("::", 1)[1].strip(): value for key, value in row.items() if value and key.lower().startswith("label::")}
        if known.get("label"):
            labels["default"] = known["label"]
        extras = {key: value for key, value in row.items() if key.lower() not in structural and not key.lower().startswith("label::")}
        lists.setdefault(list_name, []).append(Choice(name=name, labels=labels, extras=extras))
    for item in definition.walk():
        if item.type == "select_one_external" and item.list_name in lists:
            item.type = "select_one"
            original = key = item.list_name
            if key in definition.choices and definition.choices[key] is not lists[original]:
                key = f"{original} (external_choices)"  # the choices sheet has a list of the same name
                item.list_name = key
            definition.choices[key] = lists[original]


def _labels(raw: Any) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return {str(key): str(value) for key, value in raw.items() if value not in (None, "")}
    return {"default": str(raw)}


_TRUE = frozenset({"yes", "true", "true()", "1", "t", "y"})
_FALSE = frozenset({"", "no", "false", "false()", "0", "f", "n"})


def _required(raw: Any) -> str | None:
    """`required` as pyxform reads it: yes/true/T/1 (any case) is required, no/false/F/0 is not, else XPath."""
    if raw is None:
        return None
    text = str(raw).strip()
    lowered = text.lower()
    if lowered in _FALSE:
        return None
    if lowered in _TRUE:
        return "yes"
    return text


def _build_definition(data: dict[str, Any], sheet: _SurveySheet, filename: str) -> FormDefinition:
    languages: list[str] = []
    type_notes: list[dict[str, Any]] = []

    def note_languages(labels: dict[str, str]) -> None:
        for key in labels:
            if key != "default" and key not in languages:
                languages.append(key)

    def build(raw: dict[str, Any], parent_path: str, repeat: str | None) -> Field | None:
        name = str(raw.get("name", ""))
        raw_type = str(raw.get("type", ""))
        if parent_path == "" and name == "meta" and raw_type == "group":
            return None  # pyxform's generated meta/instanceID; exports carry it as _uuid
        kind = _PYXFORM_TYPES.get(raw_type)
        row = sheet.rows_by_name.get(name)
        if kind is None:
            kind = "group" if raw.get("children") else "text"
            reason = (T_("type '{type}' is stored as a group without checks", type=raw_type) if kind == "group"
                      else T_("type '{type}' is stored as text without checks", type=raw_type))
            type_notes.append({
                "sheet": sheet.sheet_name, "row": row, "column": "type", "field": name, "expression": raw_type,
                "reason": str(reason), "reason_text": reason.as_stored(),
            })
        bind = raw.get("bind") or {}
        control = raw.get("control") or {}
        path = f"{parent_path}/{name}" if parent_path else name
        labels = _labels(raw.get("label"))
        note_languages(labels)
        count = control.get("jr:count") if kind == "repeat" else None
        parameters = raw.get("parameters") or {}
        item = Field(
            name=name,
            type=kind,
            path=path,
            row=row,
            labels=labels,
            hints=_labels(raw.get("hint")),
            required=_required(bind.get("required")),
            required_message=_labels(bind.get("jr:requiredMsg")),
            constraint=(str(bind["constraint"]).strip() or None) if bind.get("constraint") else None,
            constraint_message=_labels(bind.get("jr:constraintMsg")),
            relevant=(str(bind["relevant"]).strip() or None) if bind.get("relevant") else None,
            calculation=(str(bind["calculate"]).strip() or None) if bind.get("calculate") else None,
            choice_filter=(str(raw["choice_filter"]).strip() or None) if raw.get("choice_filter") else None,
            list_name=raw.get("list_name") or raw.get("itemset"),
            appearance=control.get("appearance"),
            read_only=str(bind.get("readonly", "")).lower() in ("true()", "true", "yes"),
            default=str(raw["default"]) if raw.get("default") not in (None, "") else None,
            repeat=repeat,
            repeat_count=str(count).strip() or None if count not in (None, "") else None,
            parameters={str(key): str(value) for key, value in parameters.items()} if isinstance(parameters, dict) else {},
        )
        inner_repeat = path if kind == "repeat" else repeat
        for child in raw.get("children", []) or []:
            built = build(child, path, inner_repeat)
            if built is not None:
                item.children.append(built)
        return item

    fields = [built for child in data.get("children", []) if (built := build(child, "", None)) is not None]
    choices: dict[str, list[Choice]] = {}
    for list_name, options in (data.get("choices") or {}).items():
        built_options: list[Choice] = []
        for option in options:
            labels = _labels(option.get("label"))
            note_languages(labels)
            extras = {str(k): str(v) for k, v in option.items() if k not in ("name", "label", "media")}
            built_options.append(Choice(name=str(option.get("name", "")), labels=labels, extras=extras))
        choices[str(list_name)] = built_options
    default_language = data.get("default_language")
    if default_language in (None, "", "default"):
        default_language = next((lang for lang in languages if language_code(lang) == "en"), languages[0] if languages else None)
    settings_version = data.get("version")
    return FormDefinition(
        form_id=str(data.get("id_string") or data.get("name") or "form"),
        title=str(data.get("title") or data.get("id_string") or ""),
        version=str(settings_version) if settings_version not in (None, "") else "",
        languages=languages,
        default_language=default_language,
        fields=fields,
        choices=choices,
        unevaluated=type_notes,
    )


ATTACHMENT_SUFFIXES = (".csv", ".xml", ".geojson")


def attachment_rows(name: str, content: bytes) -> list[dict[str, str]]:
    """The rows of a form attachment as ODK reads them for select_*_from_file, pulldata() and instance().

    CSV: one row per line, columns by header (ODK Collect, "select_one_from_file"). XML: the children of
    each `item` element. GeoJSON: one row per feature, `id` (the feature's id or its `id` property) as
    the name, the properties as columns and the geometry as `geometry` (ODK XForms spec, "GeoJSON").
    """
    suffix = Path(name).suffix.lower()
    text = content.decode("utf-8-sig")
    if suffix == ".csv":
        import csv

        reader = csv.DictReader(io.StringIO(text))
        return [{str(k).strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    if suffix == ".xml":
        from defusedxml import (
            ElementTree,  # an uploaded attachment: no entity expansion, no external entities
        )

        root = ElementTree.fromstring(text)
        return [{child.tag: (child.text or "").strip() for child in item} for item in root.iter("item")]
    if suffix == ".geojson":
        import json

        document = json.loads(text)
        rows: list[dict[str, str]] = []
        for feature in document.get("features", []):
            properties = {str(k): "" if v is None else str(v) for k, v in (feature.get("properties") or {}).items()}
            identifier = feature.get("id", properties.get("id", ""))
            geometry = feature.get("geometry") or {}
            coordinates = geometry.get("coordinates")
            point = ""
            if geometry.get("type") == "Point" and isinstance(coordinates, list) and len(coordinates) >= 2:
                point = f"{coordinates[1]} {coordinates[0]}"
            rows.append({"name": str(identifier), "label": properties.get("title", str(identifier)), **properties, "geometry": point})
        return rows
    raise InvalidInput(T_("{name}: an attachment must be .csv, .xml or .geojson", name=name))


def _attach(definition: FormDefinition, attachments: Mapping[str, bytes], sheet: _SurveySheet) -> None:
    """Read the attached lists into `choices` (keyed by file name) and note lists that are missing."""
    for filename, content in attachments.items():
        try:
            rows = attachment_rows(filename, content)
        except (ValueError, KeyError, AttributeError) as exc:
            raise InvalidInput(T_("{file}: the attachment could not be read ({error}: {detail})", file=filename, error=type(exc).__name__, detail=str(exc)[:120])) from None
        options: list[Choice] = []
        for row in rows:
            options.append(Choice(name=str(row.get("name", "")), labels={"default": str(row.get("label", row.get("name", "")))},
                                  extras={k: v for k, v in row.items() if k not in ("name", "label")}))
        definition.choices[filename] = options
    for item in definition.walk():
        list_name = item.list_name or ""
        if item.type in ("select_one", "select_multiple", "rank") and list_name.lower().endswith(ATTACHMENT_SUFFIXES):
            value_column = item.parameters.get("value")
            if list_name in definition.choices and value_column:
                definition.choices[list_name] = [
                    Choice(name=choice.extras.get(value_column, choice.name), labels=choice.labels, extras=choice.extras)
                    for choice in definition.choices[list_name]
                ]
            if list_name not in definition.choices:
                reason = T_("the choices come from the attachment {file}, which was not loaded with the form; answers are not checked against it",
                            file=list_name)
                definition.unevaluated.append({
                    "sheet": sheet.sheet_name, "row": item.row, "column": "type", "field": item.name, "expression": list_name,
                    "reason": str(reason), "reason_text": reason.as_stored(),
                })
        if item.type == "select_one_external":
            reason = T_("select_one_external choices live in an external CSV; answers are not checked against them")
            definition.unevaluated.append({
                "sheet": sheet.sheet_name, "row": item.row, "column": "type", "field": item.name, "expression": list_name,
                "reason": str(reason), "reason_text": reason.as_stored(),
            })


def _check_expressions(definition: FormDefinition, sheet: _SurveySheet) -> None:
    """Compile every expression; what cannot be evaluated is recorded in `unevaluated`, never refused.

    A check that is not evaluated drops the checks that depend on it: a field whose relevance (or an
    enclosing group's) is not evaluated gets no required check and no "not relevant" check either, since
    either could be wrong.
    """
    names = definition.by_name
    repeat_names = {item.name for item in definition.repeats}
    entries = definition.unevaluated

    def note(item: Field, column: str, source: str, reason: str) -> None:
        entry: dict[str, Any] = {"sheet": sheet.sheet_name, "row": item.row, "column": column, "field": item.name, "expression": source,
                                 "reason": str(reason)}
        if isinstance(reason, Text):
            entry["reason_text"] = reason.as_stored()  # language-neutral: pages show it in the reader's language
        entries.append(entry)

    for item in definition.walk():
        for column, source in expression_sources(item):
            try:
                expression = compile_expression(source, choice_filter=column == "choice_filter")
            except ExpressionError as exc:
                note(item, column, source, exc.message)
                continue
            except (RecursionError, ValueError, TypeError) as exc:  # never a traceback for a form pyxform accepts
                note(item, column, source, T_("the expression could not be compiled ({error})", error=type(exc).__name__))
                continue
            unknown = sorted(ref for ref in expression.references if ref not in names)
            if unknown:
                note(item, column, source, P_("unknown question {names}; read as empty", "unknown questions {names}; read as empty",
                                              len(unknown), names=", ".join(unknown)))
            _count_targets(expression, repeat_names, names, lambda reason, item=item, column=column, source=source: note(item, column, source, reason))
    seen = {(entry["field"], entry["column"]) for entry in entries}
    for item in definition.walk():
        if (item.name, "relevant") in seen:
            for inner in _descendants(item):
                if inner.required and (inner.name, "required") not in seen:
                    note(inner, "required", inner.required, T_("not evaluated because the relevance it depends on is not evaluated"))
                    seen.add((inner.name, "required"))
                if (inner.name, "not_relevant") not in seen and inner.holds_value:
                    seen.add((inner.name, "not_relevant"))
    for entry in entries:
        definition.warnings.append(not_evaluated_warning(entry, sheet.where(row=entry["row"], column=str(entry["column"]), sheet=entry["sheet"])))


def not_evaluated_warning(entry: Mapping[str, Any], where: str | None = None) -> Text:
    """One `unevaluated` entry as a warning line ("sheet survey, row 7, column relevant: ... (not evaluated)"),
    rendered in the reader's language."""
    reason = Text.from_stored(entry["reason_text"]) if entry.get("reason_text") else Text(str(entry.get("reason", "")))
    if where is None:
        column = entry.get("column")
        where = _where(str(entry.get("sheet") or "survey"), entry.get("row"), str(column) if column else None)
    return T_("{where}: {reason} (not evaluated)", where=where, reason=reason)


def _verbatim(text: str) -> Published:
    """A sheet, column or question name as a message parameter: the author's identifier, never translated."""
    return Published(text, "name", {})


def _where(sheet: str, row: int | None, column: str | None) -> Text:
    """"sheet survey, row 7, column relevant (F)" as a message, in the reader's language when rendered."""
    if row is not None and column:
        return T_("sheet {sheet}, row {row}, column {column}", sheet=_verbatim(sheet), row=str(row), column=_verbatim(column))
    if row is not None:
        return T_("sheet {sheet}, row {row}", sheet=_verbatim(sheet), row=str(row))
    if column:
        return T_("sheet {sheet}, column {column}", sheet=_verbatim(sheet), column=_verbatim(column))
    return T_("sheet {sheet}", sheet=_verbatim(sheet))


def _descendants(item: Field) -> Iterator[Field]:
    yield item
    for child in item.children:
        yield from _descendants(child)


def _count_targets(expression: Expression, repeat_names: set[str], names: Mapping[str, Field], report: Any) -> None:
    stack = [expression.tree]
    while stack:
        node = stack.pop()
        if node.kind == "call" and node.value == "count" and node.args and node.args[0].kind == "ref":
            target = node.args[0].value
            if target not in repeat_names and (target not in names or names[target].repeat is None):
                report(T_("count() of {target}, which is neither a repeat nor inside one, is 0 or 1", target=target))
        stack.extend(node.args)
