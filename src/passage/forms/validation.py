"""Validate one submission against its form version, as ODK Collect / Enketo would on the device.

Rules follow the ODK XForms specification (https://getodk.github.io/xforms-spec/): a field whose
`relevant` (or an enclosing group's) is false must be empty; a relevant `required` field must have a
value; a value must parse as its type (XML Schema lexical forms: xsd:int, xsd:decimal, xsd:date,
geopoint as "lat lon [altitude [accuracy]]"); a select value must be one of the list's choices and pass
the `choice_filter`; and the `constraint`, evaluated with `.` bound to the value, must be true.
Calculations are recomputed in dependency order. The same `FormValidator` serves bulk import, web
entry and quarantine fixes, so the three can never disagree.

The validator is compiled once per form version (closures over compiled expressions, memoised choice
filters) because bulk import runs it on hundreds of thousands of rows.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from passage.core.errors import FieldError
from passage.core.i18n import P_, T_, Text
from passage.forms.definition import Field, FormDefinition, pick_label
from passage.forms.xpath import EvalContext, Expression, to_boolean, to_number, to_string

REASONS: dict[str, str] = {
    "required": "a required field is empty",
    "type": "the value does not have the field's type",
    "choice": "the value is not one of the allowed choices",
    "constraint": "the value breaks the field's constraint",
    "not_relevant": "a value is given for a field that is not relevant",
    "unknown_field": "the data names a field the form does not have",
    "repeat_link": "a repeat row is not linked to any parent row",
    "missing_uuid": "the row has no submission uuid",
    "uuid_conflict": "the uuid is already used by a submission with different data",
    "repeat_count": "a repeat has a different number of instances than its repeat_count",
}
"""Quarantine and validation reason codes, with what each means."""

MESSAGES: dict[str, Text] = {
    "unknown_field": T_("the form has no such field"),
    "repeat_list": T_("a repeat must be a list of instances"),
    "required": T_("required"),
    "not_relevant": T_("a value is given but the question is not relevant"),
    "not_a_choice": T_("not one of the choices"),
    "filtered_out": T_("not allowed by the choice filter"),
}
"""Passage's messages for a submission's errors (message codes, rendered in the reader's language where shown); the
validator and the compiled plan (`plan.py`) give the same ones."""


@dataclass(frozen=True)
class SubmissionError(FieldError):
    """A FieldError with a reason code from REASONS; `path` is the field path (`members[2]/age` in repeats)."""

    reason: str = "type"
    labels: dict[str, str] | None = None
    """The form author's message per XLSForm language (`constraint_message::Chinese (zh)`, ...), when the form gives
    one; Passage's own messages are `Text` (message codes) instead."""

    def as_record(self) -> dict[str, Any]:
        """The stored form: `message` in English (or the form's default language) for tools that read it, and the
        language-neutral `text` (a message code) or the author's `labels` from which pages render the reader's language."""
        record: dict[str, Any] = {"field": self.path, "reason": self.reason, "message": str(self.message)}
        if isinstance(self.message, Text):
            record["text"] = self.message.as_stored()
        if self.labels:
            record["labels"] = dict(self.labels)
        return record


@dataclass
class CheckedSubmission:
    """The outcome of one check: typed values (see docs/forms.md) and the errors, empty when valid."""

    values: dict[str, Any]
    errors: list[SubmissionError]

    @property
    def ok(self) -> bool:
        return not self.errors


class _Invalid(Exception):
    """A value that does not parse as its type; the message names the expected form, never the value."""


_INTEGER = re.compile(r"[-+]?\d+")
_DECIMAL = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, dt.datetime):
        return raw.isoformat()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    if isinstance(raw, list | tuple):
        return " ".join(_text(part) for part in raw)
    return str(raw).strip()


def parse_integer(raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float):
        if raw.is_integer():
            return int(raw)
        raise _Invalid(T_("expected a whole number"))
    text = _text(raw)
    if text.isdigit() or _INTEGER.fullmatch(text):
        value = int(text)
        if -(2**31) <= value < 2**31:  # xsd:int, as ODK Collect stores it
            return value
        raise _Invalid(T_("whole number out of range"))
    if _DECIMAL.fullmatch(text):
        number = float(text)
        if number.is_integer():
            return int(number)
    raise _Invalid(T_("expected a whole number"))


def parse_decimal(raw: Any) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    else:
        text = _text(raw)
        if not _DECIMAL.fullmatch(text):
            raise _Invalid(T_("expected a decimal number"))
        value = float(text)
    if math.isnan(value) or math.isinf(value):
        raise _Invalid(T_("expected a finite decimal number"))
    return value


def parse_date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = _text(raw)
    # Kobo exports dates as YYYY-MM-DD; a datetime-looking value keeps only its date only if time is midnight.
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        head, tail = text[:10], text[10:]
        if tail and tail.replace("T", " ").strip() not in ("00:00:00", "00:00", "00:00:00.000"):
            raise _Invalid(T_("expected a date (YYYY-MM-DD)"))
        try:
            return dt.date.fromisoformat(head)
        except ValueError:
            raise _Invalid(T_("expected a valid calendar date (YYYY-MM-DD)")) from None
    raise _Invalid(T_("expected a date (YYYY-MM-DD)"))


def parse_datetime(raw: Any) -> str:
    if isinstance(raw, dt.datetime):
        return raw.isoformat()
    text = _text(raw)
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise _Invalid(T_("expected a date and time (ISO 8601)")) from None


def parse_time(raw: Any) -> str:
    if isinstance(raw, dt.time):
        return raw.isoformat()
    text = _text(raw)
    try:
        return dt.time.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise _Invalid(T_("expected a time (HH:MM[:SS])")) from None


def parse_geotrace(raw: Any) -> str:
    """A geotrace/geoshape: points "lat lon [alt [acc]]" separated by semicolons (ODK XForms spec)."""
    text = _text(raw)
    points = [piece.strip() for piece in text.split(";") if piece.strip()]
    if not points:
        raise _Invalid(T_("expected points separated by ';'"))
    for point in points:
        parse_geopoint(point)
    return "; ".join(points)


def parse_geopoint(raw: Any) -> list[float]:
    parts = _text(raw).replace(",", " ").split()
    if not 2 <= len(parts) <= 4:
        raise _Invalid(T_("expected a geopoint: latitude longitude [altitude [accuracy]]"))
    try:
        numbers = [parse_decimal(part) for part in parts]
    except _Invalid:
        raise _Invalid(T_("expected a geopoint: latitude longitude [altitude [accuracy]]")) from None
    if not -90 <= numbers[0] <= 90:
        raise _Invalid(T_("latitude must be between -90 and 90"))
    if not -180 <= numbers[1] <= 180:
        raise _Invalid(T_("longitude must be between -180 and 180"))
    if len(numbers) == 4 and numbers[3] < 0:
        raise _Invalid(T_("accuracy must not be negative"))
    return numbers


# ---------------------------------------------------------------------------------------------------


@dataclass
class _Step:
    """The compiled plan for one field."""

    item: Field
    parse: Callable[[Any], Any] | None
    to_context: Callable[[Any], Any]
    required: bool
    required_expr: Expression | None
    relevant: Expression | None
    constraint: Expression | None
    constraint_message: str
    constraint_labels: dict[str, str] | None
    required_labels: dict[str, str] | None
    choices: frozenset[str] | None
    choice_filter: Expression | None
    filter_refs: tuple[str, ...]
    repeat_count: Expression | None = None
    children: list[_Step] = field(default_factory=list)


def _required_message(step: _Step) -> Text:
    """Passage's message for an empty required field; the form's own `required_message` per language travels with the
    error as its `labels` (shown instead where the form has one in the reader's language)."""
    return T_("required")


def _identity(value: Any) -> Any:
    return value


def _joined(value: Any) -> Any:
    return " ".join(value)


def _geo_text(value: Any) -> Any:
    return " ".join(to_string(float(part)) for part in value)


class FormValidator:
    """Compiled validator for one `FormDefinition`; `check(data)` returns a CheckedSubmission."""

    def __init__(self, form: FormDefinition, *, language: str | None = None) -> None:
        self.form = form
        self.language = language or form.default_language
        expressions = form.expressions
        self._filter_cache: dict[tuple[str, tuple[Any, ...]], frozenset[str]] = {}
        self._accepted_keys: set[str] = set()
        self._steps = [self._compile(item, expressions) for item in form.fields]
        self._unknown: set[str] = set()
        self._calculations = self._order_calculations()
        self._choice_rows: dict[str, list[dict[str, Any]]] = {
            list_name: [{"name": c.name, **c.extras, "label": pick_label(c.labels, self.language) or c.name} for c in choices]
            for list_name, choices in form.choices.items()
        }
        from passage.forms.plan import build_plan

        self._plan = build_plan(self)

    # --- compilation ---------------------------------------------------------------------------

    def _compile(self, item: Field, expressions: Mapping[tuple[str, str], Expression]) -> _Step:
        self._accepted_keys.add(item.path)
        self._accepted_keys.add(item.name)
        parse: Callable[[Any], Any] | None
        to_context: Callable[[Any], Any] = _identity
        kind = item.type
        choices: frozenset[str] | None = None
        if kind == "integer":
            parse = parse_integer
        elif kind == "decimal":
            parse = parse_decimal
        elif kind == "date":
            parse = parse_date
        elif kind == "datetime":
            parse = parse_datetime
        elif kind == "time":
            parse = parse_time
        elif kind == "geopoint":
            parse, to_context = parse_geopoint, _geo_text
        elif kind == "select_one":
            parse = _text
            # None (not checked) when the list is an attachment that was not loaded: see `unevaluated`.
            choices = self.form.choice_names.get(item.list_name or "")
        elif kind in ("select_multiple", "rank"):
            parse, to_context = _split_multiple, _joined
            choices = self.form.choice_names.get(item.list_name or "")
        elif kind == "range":
            parse = parse_decimal
        elif kind in ("geotrace", "geoshape"):
            parse = parse_geotrace
        elif kind in ("group", "repeat", "note", "xml-external", "csv-external"):
            parse = None
        else:  # text, calculate and device metadata are stored as text
            parse = _text
        choice_filter = expressions.get((item.name, "choice_filter"))
        message = pick_label(item.constraint_message, self.language) if item.constraint_message else None
        skipped = self.form.not_evaluated
        step = _Step(
            item=item,
            parse=parse,
            to_context=to_context,
            required=item.required == "yes" and (item.name, "required") not in skipped,
            required_expr=expressions.get((item.name, "required")) if (item.name, "required") not in skipped else None,
            relevant=expressions.get((item.name, "relevant")),
            constraint=expressions.get((item.name, "constraint")),
            constraint_message=message or T_("the value breaks the rule: {rule}", rule=item.constraint),
            constraint_labels=dict(item.constraint_message) or None,
            required_labels=dict(item.required_message) or None,
            choices=choices,
            choice_filter=choice_filter,
            filter_refs=tuple(sorted(choice_filter.references)) if choice_filter else (),
            repeat_count=expressions.get((item.name, "repeat_count")),
        )
        step.children = [self._compile(child, expressions) for child in item.children]
        return step

    def _order_calculations(self) -> list[tuple[Field, Expression]]:
        """Calculations in dependency order (Kahn's algorithm); a cycle keeps form order for the rest."""
        pending = {
            item.name: (item, self.form.expressions[(item.name, "calculation")])
            for item in self.form.walk()
            if item.calculation and item.repeat is None and (item.name, "calculation") in self.form.expressions
        }
        ordered: list[tuple[Field, Expression]] = []
        done: set[str] = set()
        while pending:
            ready = [name for name, (_, expr) in pending.items() if not (expr.references & (set(pending) - {name}))]
            if not ready:
                ready = list(pending)
            for name in ready:
                ordered.append(pending.pop(name))
                done.add(name)
        return ordered

    # --- checking ------------------------------------------------------------------------------

    def check(self, data: Mapping[str, Any], *, today: dt.date | None = None) -> CheckedSubmission:
        """Validate one submission with the compiled plan (`passage.forms.plan`)."""
        values, errors = self._plan(data, today or dt.date.today())
        return CheckedSubmission(values=values, errors=errors)

    def check_many(self, rows: Iterable[Mapping[str, Any]], *, today: dt.date | None = None) -> list[tuple[dict[str, Any], list[SubmissionError]]]:
        """Validate many submissions: (typed values, errors) per row, in order."""
        plan = self._plan
        day = today or dt.date.today()
        return [plan(data, day) for data in rows]

    def check_interpreted(self, data: Mapping[str, Any], *, today: dt.date | None = None) -> CheckedSubmission:
        """The reference tree walk the plan was generated from; kept to test the plan against it."""
        errors: list[SubmissionError] = []
        unknown = data.keys() - self._accepted_keys
        for key in sorted(unknown):
            if not key.startswith("_"):
                errors.append(SubmissionError(key, T_("the form has no such field"), "unknown_field"))
        context = EvalContext(values={}, today=today or dt.date.today(), choice_label=self._choice_label, instances=self.instance_rows)
        values: dict[str, Any] = {}
        self._parse_level(self._steps, data, context, values, errors, prefix=None)
        # A value that failed its type is unknown, not empty: rules reading it are skipped rather than
        # reported as cascading required/relevant/constraint errors.
        self._unknown = {error.path.rsplit("/", 1)[-1] for error in errors if error.reason == "type"}
        for item, expression in self._calculations:
            result = expression.evaluate(context)
            if isinstance(result, float) and math.isnan(result):
                result = None
            context.values[item.name] = result  # type: ignore[index]
            if result is not None and result != "":
                values[item.path] = _json_value(result)
        self._check_level(self._steps, data, context, values, errors, parent_relevant=True, prefix=None)
        return CheckedSubmission(values=values, errors=errors)

    def instance_rows(self, name: str) -> list[Mapping[str, Any]]:
        """The rows of a secondary instance: a choice list, or an attached file (`villages` finds villages.csv)."""
        rows = self._choice_rows.get(name)
        if rows is None:
            for suffix in (".csv", ".xml", ".geojson"):
                rows = self._choice_rows.get(name + suffix)
                if rows is not None:
                    break
        return list(rows or [])

    def _repeat_nodes(self, step: _Step, instances: Any) -> dict[str, list[Any]]:
        """Field name -> its parsed values across the repeat's instances (nested repeats flattened), for
        the node-set functions (sum, max, count, join, indexed-repeat)."""
        nodes: dict[str, list[Any]] = {}
        if not isinstance(instances, list):
            return nodes
        for instance in instances:
            if not isinstance(instance, Mapping):
                continue
            self._collect_nodes(step.children, instance, nodes)
        return nodes

    def _collect_nodes(self, steps: Iterable[_Step], instance: Mapping[str, Any], nodes: dict[str, list[Any]]) -> None:
        for child in steps:
            if child.item.type == "group":
                self._collect_nodes(child.children, instance, nodes)
                continue
            if child.item.type == "repeat":
                inner = instance.get(child.item.path)
                for nested in inner if isinstance(inner, list) else []:
                    if isinstance(nested, Mapping):
                        self._collect_nodes(child.children, nested, nodes)
                continue
            if child.parse is None:
                continue
            raw = self._raw(instance, child.item)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            try:
                parsed = child.parse(raw)
            except _Invalid:
                continue
            if parsed == "" or parsed == []:
                continue
            nodes.setdefault(child.item.name, []).append(child.to_context(parsed))

    def _choice_label(self, question: str, value: str) -> str:
        return self.form.choice_label(question, value, self.language)

    def _raw(self, data: Mapping[str, Any], item: Field) -> Any:
        raw = data.get(item.path)
        if raw is None and item.name != item.path:
            raw = data.get(item.name)
        return raw

    def _parse_level(
        self,
        steps: Iterable[_Step],
        data: Mapping[str, Any],
        context: EvalContext,
        values: dict[str, Any],
        errors: list[SubmissionError],
        prefix: tuple[str, str] | None,
    ) -> None:
        """Parse every value at this level into `values` and the evaluation context; record type errors."""
        bound = context.values
        for step in steps:
            item = step.item
            if item.type == "group":
                self._parse_level(step.children, data, context, values, errors, prefix)
                continue
            if item.type == "repeat":
                instances = data.get(item.path) or []
                if not isinstance(instances, list):
                    errors.append(SubmissionError(_shown(item.path, prefix), T_("a repeat must be a list of instances"), "type"))
                    instances = []
                context.repeat_counts[item.name] = len(instances)  # type: ignore[index]
                context.repeat_values.update(self._repeat_nodes(step, instances))  # type: ignore[attr-defined]
                continue
            if step.parse is None:
                continue
            raw = self._raw(data, item)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                bound[item.name] = None  # type: ignore[index]
                continue
            try:
                parsed = step.parse(raw)
            except _Invalid as exc:
                errors.append(SubmissionError(_shown(item.path, prefix), exc.args[0], "type"))
                bound[item.name] = None  # type: ignore[index]
                continue
            if parsed == "" or parsed == []:
                bound[item.name] = None  # type: ignore[index]
                continue
            values[item.path] = parsed.isoformat() if isinstance(parsed, dt.date) else parsed
            bound[item.name] = step.to_context(parsed)  # type: ignore[index]

    def _check_level(
        self,
        steps: Iterable[_Step],
        data: Mapping[str, Any],
        context: EvalContext,
        values: dict[str, Any],
        errors: list[SubmissionError],
        parent_relevant: bool,
        prefix: tuple[str, str] | None,
    ) -> None:
        bound = context.values
        unknown = self._unknown
        for step in steps:
            item = step.item
            if unknown and step.relevant is not None and step.relevant.references & unknown:
                relevant = parent_relevant
            else:
                relevant = parent_relevant and (step.relevant is None or step.relevant.truth(context))
            if item.type == "group":
                self._check_level(step.children, data, context, values, errors, relevant, prefix)
                continue
            if item.type == "repeat":
                self._check_repeat(step, data, context, values, errors, relevant, prefix)
                continue
            if step.parse is None or item.type == "calculate":
                continue
            value = bound.get(item.name)
            shown = _shown(item.path, prefix)
            if unknown and item.name in unknown:
                continue
            if value is None:
                if relevant and not item.read_only and (step.required or (step.required_expr is not None and step.required_expr.truth(context))):
                    errors.append(SubmissionError(shown, _required_message(step), "required", step.required_labels))
                continue
            if not relevant:
                errors.append(SubmissionError(shown, T_("a value is given but the question is not relevant"), "not_relevant"))
                values.pop(item.path, None)
                bound[item.name] = None  # type: ignore[index]
                continue
            if step.choices is not None:
                allowed = step.choices if step.choice_filter is None else self._filtered(step, context)
                picked = values.get(item.path)
                for option in picked if isinstance(picked, list) else [picked]:
                    if option not in allowed:
                        reason = T_("not one of the choices") if option not in step.choices else T_("not allowed by the choice filter")
                        errors.append(SubmissionError(shown, reason, "choice"))
                        break
            if step.constraint is not None and not (unknown and step.constraint.references & unknown):
                context.current = value
                if not to_boolean(step.constraint.evaluate(context)):
                    errors.append(SubmissionError(shown, step.constraint_message, "constraint", step.constraint_labels))

    def _check_repeat(
        self,
        step: _Step,
        data: Mapping[str, Any],
        context: EvalContext,
        values: dict[str, Any],
        errors: list[SubmissionError],
        relevant: bool,
        prefix: tuple[str, str] | None,
    ) -> None:
        item = step.item
        instances = data.get(item.path) or []
        if not isinstance(instances, list):
            return
        if step.repeat_count is not None and relevant:
            expected = to_number(step.repeat_count.evaluate(context))
            if not math.isnan(expected) and expected >= 0 and int(expected) != len(instances) and (instances or expected > 0):
                errors.append(SubmissionError(
                    _shown(item.path, prefix), P_("{n} instance given, the repeat_count asks for {expected}", "{n} instances given, the repeat_count asks for {expected}", len(instances), expected=int(expected)), "repeat_count"
                ))
        if not instances:
            return
        if not relevant:
            errors.append(SubmissionError(_shown(item.path, prefix), T_("repeat instances are given but the repeat is not relevant"), "not_relevant"))
            return
        checked_instances: list[dict[str, Any]] = []
        for index, instance in enumerate(instances, start=1):
            if not isinstance(instance, Mapping):
                errors.append(SubmissionError(f"{_shown(item.path, prefix)}[{index}]", T_("a repeat instance must be a mapping"), "type"))
                continue
            inner_prefix = (item.path, f"{_shown(item.path, prefix)}[{index}]")
            inner = EvalContext(values={}, parent=context, repeat_counts={}, position=index)
            instance_values: dict[str, Any] = {}
            self._parse_level(step.children, instance, inner, instance_values, errors, inner_prefix)
            for child in _walk_steps(step.children):
                child_calc = self.form.expressions.get((child.item.name, "calculation"))
                if child_calc is not None and child.item.repeat == item.path:
                    try:
                        result = child_calc.evaluate(inner)
                    except (ValueError, ArithmeticError, TypeError):
                        result = None
                    if isinstance(result, float) and math.isnan(result):
                        result = None
                    inner.values[child.item.name] = result  # type: ignore[index]
                    if result is not None and result != "":
                        instance_values[child.item.path] = _json_value(result)
            self._check_level(step.children, instance, inner, instance_values, errors, True, inner_prefix)
            checked_instances.append(instance_values)
        values[item.path] = checked_instances

    def _filtered(self, step: _Step, context: EvalContext) -> frozenset[str]:
        """Choices allowed by the choice filter, memoised on the values the filter reads."""
        assert step.choice_filter is not None
        key = (step.item.name, tuple(to_string(context.lookup(ref)) for ref in step.filter_refs))
        cached = self._filter_cache.get(key)
        if cached is not None:
            return cached
        allowed: set[str] = set()
        saved = context.choice
        for row in self._choice_rows.get(step.item.list_name or "", []):
            context.choice = row
            if step.choice_filter.truth(context):
                allowed.add(row["name"])
        context.choice = saved
        result = frozenset(allowed)
        if len(self._filter_cache) < 100_000:
            self._filter_cache[key] = result
        return result

    def allowed_choices(self, item: Field, values: Mapping[str, Any], *, today: dt.date | None = None) -> list[str]:
        """Choice names a select may take given the other answers (for the web renderer's option lists)."""
        step = next(s for s in _walk_steps(self._steps) if s.item.path == item.path)
        names = [choice.name for choice in self.form.choices_for(item)]
        if step.choice_filter is None:
            return names
        context = self.context_for(values, today=today)
        allowed = self._filtered(step, context)
        return [name for name in names if name in allowed]

    def context_for(self, data: Mapping[str, Any], *, today: dt.date | None = None) -> EvalContext:
        """The evaluation context (parsed values and calculations) for partial data, ignoring errors."""
        context = EvalContext(values={}, today=today or dt.date.today(), choice_label=self._choice_label, instances=self.instance_rows)
        self._parse_level(self._steps, data, context, {}, [], prefix=None)
        for item, expression in self._calculations:
            try:
                context.values[item.name] = expression.evaluate(context)  # type: ignore[index]
            except (ValueError, ArithmeticError, TypeError):
                context.values[item.name] = None  # type: ignore[index]
        return context


def _walk_steps(steps: Iterable[_Step]) -> Iterable[_Step]:
    for step in steps:
        yield step
        if step.item.type != "repeat":
            yield from _walk_steps(step.children)


def _split_multiple(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [_text(part) for part in raw if _text(part)]
    return _text(raw).split()


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _shown(path: str, prefix: tuple[str, str] | None) -> str:
    """The path as users see it: the repeat part replaced by `repeat[index]`."""
    if prefix is None:
        return path
    repeat_path, shown = prefix
    return shown + path[len(repeat_path) :]


_VALIDATORS: dict[tuple[int, str | None], FormValidator] = {}


def validator_for(form: FormDefinition, *, language: str | None = None) -> FormValidator:
    """A cached FormValidator for this definition object."""
    key = (id(form), language)
    cached = _VALIDATORS.get(key)
    if cached is None or cached.form is not form:
        if len(_VALIDATORS) > 64:
            _VALIDATORS.clear()
        cached = FormValidator(form, language=language)
        _VALIDATORS[key] = cached
    return cached


def check_submission(form: FormDefinition, data: Mapping[str, Any], *, today: dt.date | None = None) -> CheckedSubmission:
    """Validate `data` (see docs/forms.md for its shape) and return typed values and errors."""
    return validator_for(form).check(data, today=today)


def validate_submission(form: FormDefinition, data: Mapping[str, Any], *, today: dt.date | None = None) -> list[SubmissionError]:
    """The errors of `data` against `form`; an empty list means the submission is valid."""
    return validator_for(form).check(data, today=today).errors
