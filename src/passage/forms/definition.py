"""Load an XLSForm (.xlsx) through pyxform into a `FormDefinition`, Passage's parsed form.

XLSForm is specified at https://xlsform.org; pyxform is its reference implementation. We let pyxform
check the workbook (types, names, references, groups), then walk its JSON output into plain dataclasses
and compile every expression with `passage.forms.xpath`, so a form that loads can always be evaluated.
A broken form is refused with pyxform's message plus the sheet, row and column.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from passage.core.errors import FieldError, InvalidInput
from passage.forms.xpath import Expression, ExpressionError, compile_expression

CORE_TYPES = frozenset(
    {"integer", "decimal", "text", "select_one", "select_multiple", "date", "geopoint", "calculate", "note"}
)
"""The question types the issue calls the core; all are validated on import and in web entry."""

METADATA_TYPES = frozenset({"start", "end", "today", "deviceid", "username", "phonenumber", "subscriberid", "simserial", "datetime", "time"})
"""Accepted and stored as given; `datetime`/`time` are checked for shape, the device metadata is not."""

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
    children: list[Field] = field(default_factory=list)

    @property
    def is_container(self) -> bool:
        return self.type in CONTAINER_TYPES

    @property
    def holds_value(self) -> bool:
        """Whether submissions carry a value for this field (not a group, repeat or note)."""
        return self.type not in CONTAINER_TYPES and self.type != "note"

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
        """Compiled expressions keyed by (field name, column): constraint, relevant, required, calculation, choice_filter."""
        compiled: dict[tuple[str, str], Expression] = {}
        for item in self.walk():
            for column, source in expression_sources(item):
                compiled[(item.name, column)] = compile_expression(source, choice_filter=column == "choice_filter")
        return compiled

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
            "version": self.version,
            "languages": list(self.languages),
            "default_language": self.default_language,
            "fields": [asdict(item) for item in self.fields],
            "choices": {name: [asdict(choice) for choice in items] for name, items in self.choices.items()},
            "sha256": self.sha256,
            "warnings": list(self.warnings),
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
            version=data["version"],
            languages=list(data["languages"]),
            default_language=data.get("default_language"),
            fields=[build(item) for item in data["fields"]],
            choices={name: [Choice(**choice) for choice in items] for name, items in data["choices"].items()},
            sha256=data.get("sha256", ""),
            warnings=list(data.get("warnings", [])),
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


def language_code(language: str) -> str:
    """`English (en)` -> `en`, `Chinese (zh)` -> `zh`; a name without a code is returned as is."""
    match = _LANGUAGE_CODE.search(language)
    return match.group(1).replace("_", "-") if match else language


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


class _SurveySheet:
    """Row and column positions in the survey sheet, so pyxform's errors and ours can name them."""

    def __init__(self, content: bytes) -> None:
        self.rows_by_name: dict[str, int] = {}
        self.rows_by_type: dict[str, int] = {}
        self.columns: dict[str, str] = {}
        self.sheet_name = "survey"
        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a non-workbook
            raise InvalidInput(f"not a readable .xlsx workbook ({type(exc).__name__})") from None
        try:
            sheet = next((ws for ws in workbook.worksheets if ws.title.strip().lower() == "survey"), None)
            if sheet is None:
                return
            self.sheet_name = sheet.title
            header: list[str] = []
            for row_number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                if row_number == 1:
                    header = [str(cell).strip() if cell is not None else "" for cell in row]
                    self.columns = {name: get_column_letter(index + 1) for index, name in enumerate(header) if name}
                    continue
                cells = dict(zip(header, row, strict=False))
                name = str(cells.get("name") or "").strip()
                kind = str(cells.get("type") or "").strip()
                if name and name not in self.rows_by_name and not kind.startswith("end"):
                    self.rows_by_name[name] = row_number
                if kind:
                    self.rows_by_type.setdefault(kind.split()[0], row_number)
        finally:
            workbook.close()

    def column_letter(self, column: str) -> str | None:
        if column in self.columns:
            return self.columns[column]
        aliases = {"calculation": ("calculate",), "choice_filter": ("choice filter",)}
        for alias in aliases.get(column, ()):
            if alias in self.columns:
                return self.columns[alias]
        return None

    def where(self, *, row: int | None, column: str | None, sheet: str | None = None) -> str:
        parts = [f"sheet {sheet or self.sheet_name}"]
        if row is not None:
            parts.append(f"row {row}")
        if column:
            letter = self.column_letter(column)
            parts.append(f"column {column}" + (f" ({letter})" if letter else ""))
        return ", ".join(parts)


def _pyxform_refusal(exc: Exception, sheet: _SurveySheet, filename: str) -> InvalidInput:
    message = str(exc)
    context: dict[str, Any] = dict(getattr(exc, "context", {}) or {})
    row = context.get("row")
    if row is None:
        match = _ROW_IN_MESSAGE.search(message)
        if match:
            row = int(match.group(1))
    column = context.get("column")
    unknown_type = re.search(r"Unknown question type '([^']+)'", message)
    if unknown_type:
        column = "type"
        row = row or sheet.rows_by_type.get(unknown_type.group(1).split()[0])
    where = sheet.where(row=int(row) if row is not None else None, column=column, sheet=context.get("sheet"))
    return InvalidInput(
        f"{filename}: the XLSForm is invalid",
        fields=[FieldError(path=where, message=message)],
        extra={"sheet": context.get("sheet") or sheet.sheet_name, "row": row, "column": column},
    )


def load_xlsform(source: str | Path | bytes, *, filename: str | None = None) -> FormDefinition:
    """Parse an XLSForm workbook (path or bytes) into a FormDefinition, or raise InvalidInput.

    The message names the sheet, row and column: pyxform's own message for what pyxform refuses, and
    ours for what Passage refuses on top (an unsupported type, an expression our evaluator cannot run).
    """
    from pyxform.errors import PyXFormError
    from pyxform.xls2xform import convert

    if isinstance(source, bytes):
        content = source
        name = filename or "form.xlsx"
    else:
        path = Path(source)
        if not path.exists():
            raise InvalidInput(f"{path.name}: file not found")
        if path.suffix.lower() != ".xlsx":
            raise InvalidInput(f"{path.name}: an XLSForm must be an .xlsx workbook")
        content = path.read_bytes()
        name = filename or path.name
    sheet = _SurveySheet(content)
    warnings: list[str] = []
    try:
        result = convert(xlsform=content, warnings=warnings, file_type=".xlsx")
    except PyXFormError as exc:
        raise _pyxform_refusal(exc, sheet, name) from None
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        # pyxform raises plain Python errors for some malformed sheets; report its text, not a traceback.
        raise InvalidInput(f"{name}: the XLSForm could not be read by pyxform ({type(exc).__name__}: {exc})") from None
    data = result._pyxform or {}
    definition = _build_definition(data, sheet, name)
    definition.sha256 = hashlib.sha256(content).hexdigest()
    definition.warnings = list(warnings)
    _check_expressions(definition, sheet, name)
    return definition


def _labels(raw: Any) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return {str(key): str(value) for key, value in raw.items() if value not in (None, "")}
    return {"default": str(raw)}


def _required(raw: Any) -> str | None:
    if raw is None:
        return None
    text = str(raw).strip()
    lowered = text.lower()
    if lowered in ("", "no", "false", "false()", "0"):
        return None
    if lowered in ("yes", "true", "true()", "1"):
        return "yes"
    return text


def _build_definition(data: dict[str, Any], sheet: _SurveySheet, filename: str) -> FormDefinition:
    languages: list[str] = []

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
            where = sheet.where(row=row, column="type")
            raise InvalidInput(
                f"{filename}: type {raw_type!r} is not supported by Passage forms ({where}); "
                f"supported: {', '.join(sorted(CORE_TYPES | METADATA_TYPES | CONTAINER_TYPES))}",
                fields=[FieldError(path=where, message=f"unsupported type {raw_type!r}")],
            )
        bind = raw.get("bind") or {}
        path = f"{parent_path}/{name}" if parent_path else name
        labels = _labels(raw.get("label"))
        note_languages(labels)
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
            appearance=(raw.get("control") or {}).get("appearance"),
            read_only=str(bind.get("readonly", "")).lower() in ("true()", "true", "yes"),
            default=str(raw["default"]) if raw.get("default") not in (None, "") else None,
            repeat=repeat,
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
    )


def _check_expressions(definition: FormDefinition, sheet: _SurveySheet, filename: str) -> None:
    problems: list[FieldError] = []
    names = definition.by_name
    repeat_names = {item.name for item in definition.repeats}
    for item in definition.walk():
        for column, source in expression_sources(item):
            try:
                expression = compile_expression(source, choice_filter=column == "choice_filter")
            except ExpressionError as exc:
                problems.append(FieldError(path=sheet.where(row=item.row, column=column), message=exc.message))
                continue
            unknown = sorted(ref for ref in expression.references if ref not in names)
            if unknown:
                problems.append(
                    FieldError(path=sheet.where(row=item.row, column=column), message=f"unknown question(s) {', '.join(unknown)}")
                )
            _check_count_targets(expression, repeat_names, problems, sheet.where(row=item.row, column=column))
    if problems:
        raise InvalidInput(
            f"{filename}: the XLSForm has {len(problems)} expression(s) Passage cannot evaluate",
            fields=problems,
        )


def _check_count_targets(expression: Expression, repeat_names: set[str], problems: list[FieldError], where: str) -> None:
    stack = [expression.tree]
    while stack:
        node = stack.pop()
        if node.kind == "call" and node.value == "count" and node.args and node.args[0].value not in repeat_names:
            problems.append(FieldError(path=where, message=f"count() needs a repeat, {node.args[0].value} is not one"))
        stack.extend(node.args)
