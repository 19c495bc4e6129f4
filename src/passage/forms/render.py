"""Turn a form version into a renderable tree for web entry (wave 2 draws it as an HTML page).

Pure: no I/O, no HTML. Widgets follow the XLSForm type (https://xlsform.org/en/#question-types);
relevance and choice filters are evaluated on the values entered so far with the same validator as
imports, so the page shows and hides exactly what the validation will accept.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from passage.forms.definition import Field, FormDefinition, pick_label, title_in
from passage.forms.messages import error_text
from passage.forms.validation import FormValidator, SubmissionError, validator_for
from passage.forms.xpath import EvalContext, to_number

WIDGETS: dict[str, str] = {
    "integer": "number",
    "decimal": "decimal",
    "text": "text",
    "select_one": "radio",
    "select_multiple": "checkboxes",
    "date": "date",
    "geopoint": "geopoint",
    "calculate": "hidden",
    "note": "note",
    "group": "group",
    "repeat": "repeat",
    "datetime": "datetime",
    "time": "time",
    "email": "text",
    "barcode": "text",
    "range": "decimal",
    "rank": "checkboxes",
    "geotrace": "text",
    "geoshape": "text",
    "select_one_external": "text",
}
"""Widget name per field type; device metadata (start, end, deviceid…), media captured by the device
(image, audio, video, file) and `hidden` questions get `hidden`."""


@dataclass
class RenderedOption:
    value: str
    label: str
    selected: bool


@dataclass
class RenderedItem:
    name: str
    path: str
    type: str
    widget: str
    label: str
    hint: str
    required: bool
    relevant: bool
    read_only: bool
    value: Any = None
    options: list[RenderedOption] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    children: list[RenderedItem] = field(default_factory=list)
    repeat_instances: list[list[RenderedItem]] = field(default_factory=list)
    """For a repeat: one list of items per instance (at least one, empty, for entry)."""


@dataclass
class RenderedForm:
    form_id: str
    title: str
    version: str
    language: str | None
    languages: list[str]
    items: list[RenderedItem]


def _value_text(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def render_form(
    form: FormDefinition,
    *,
    language: str | None = None,
    values: Mapping[str, Any] | None = None,
    errors: Sequence[SubmissionError] = (),
    today: dt.date | None = None,
) -> RenderedForm:
    """The form as a tree of items with labels in `language` (code like `zh` or a column name).

    `values` is submission data entered so far (docs/forms.md), `errors` the validator's errors to show
    beside their fields.
    """
    data = dict(values or {})
    validator = validator_for(form, language=language)
    context = validator.context_for(data, today=today)
    errors_by_path: dict[str, list[str]] = {}
    for error in errors:
        errors_by_path.setdefault(error.path, []).append(error_text(error, language=language))
    chosen = language or form.default_language
    items = [_item(form, validator, entry, data, context, errors_by_path, chosen, True, None, today) for entry in form.fields]
    return RenderedForm(
        form_id=form.form_id,
        title=title_in(form, chosen),
        version=form.version,
        language=chosen,
        languages=list(form.languages),
        items=items,
    )


def _item(
    form: FormDefinition,
    validator: FormValidator,
    entry: Field,
    data: Mapping[str, Any],
    context: EvalContext,
    errors_by_path: Mapping[str, list[str]],
    language: str | None,
    parent_relevant: bool,
    shown_prefix: tuple[str, str] | None,
    today: dt.date | None,
) -> RenderedItem:
    own_relevant = True
    expression = form.expressions.get((entry.name, "relevant"))
    if expression is not None:
        own_relevant = expression.truth(context)
    relevant = parent_relevant and own_relevant
    required = entry.required == "yes"
    required_expr = form.expressions.get((entry.name, "required"))
    if required_expr is not None:
        required = required_expr.truth(context)
    shown = entry.path if shown_prefix is None else shown_prefix[1] + entry.path[len(shown_prefix[0]) :]
    value = data.get(entry.path)
    if entry.type == "calculate":
        value = context.lookup(entry.name)
    rendered = RenderedItem(
        name=entry.name,
        path=shown,
        type=entry.type,
        widget=WIDGETS.get(entry.type, "hidden"),
        label=pick_label(entry.labels, language) or ("" if entry.type == "calculate" else entry.name),
        hint=pick_label(entry.hints, language) or "",
        required=required,
        relevant=relevant,
        read_only=entry.read_only or entry.type in ("calculate", "note"),
        value=_value_text(value),
        errors=list(errors_by_path.get(shown, [])),
    )
    if entry.type in ("select_one", "select_multiple", "rank"):
        picked = set(str(value).split()) if isinstance(value, str) else set(value or [])
        allowed = set(validator.allowed_choices(entry, data, today=today)) if shown_prefix is None else None
        for choice in form.choices_for(entry):
            if allowed is not None and choice.name not in allowed:
                continue
            rendered.options.append(RenderedOption(value=choice.name, label=choice.label(language), selected=choice.name in picked))
    if entry.type == "group":
        rendered.children = [
            _item(form, validator, child, data, context, errors_by_path, language, relevant, shown_prefix, today) for child in entry.children
        ]
    if entry.type == "repeat":
        instances = list(data.get(entry.path) or [{}])
        count_expression = form.expressions.get((entry.name, "repeat_count"))
        if count_expression is not None:
            # repeat_count (jr:count) fixes the number of instances: show exactly that many.
            wanted = to_number(count_expression.evaluate(context))
            if not math.isnan(wanted) and 0 <= wanted <= 200:
                instances = (instances + [{} for _ in range(int(wanted))])[: int(wanted)] or []
        for index, instance in enumerate(instances, start=1):
            inner_context = EvalContext(values={}, parent=context)
            for child in entry.children:
                if child.holds_value and child.path in instance:
                    inner_context.values[child.name] = instance[child.path]  # type: ignore[index]
            prefix = (entry.path, f"{shown}[{index}]")
            rendered.repeat_instances.append(
                [
                    _item(form, validator, child, instance, inner_context, errors_by_path, language, relevant, prefix, today)
                    for child in entry.children
                ]
            )
    return rendered
