"""Column-wise validation for bulk import: prove most rows valid a whole column at a time.

The per-row plan (`passage.forms.plan`) stays the reference. This module only answers, for many rows of
one form version at once, "is this row certainly free of errors, and what is its canonical JSON?". A row
it cannot prove valid (a value that does not parse, a broken rule, an expression it cannot evaluate, an
exception) is answered `None` and the caller runs the per-row plan on it, which produces the exact errors,
row by row, as before. So quarantine reasons, fields and messages come only from the plan; this module
can make an import faster, never different.

Why a row is valid here exactly when the plan finds no error: the plan only changes its bound values
after reporting an error (`not_relevant` clears a value), so on a row without errors every rule sees the
values as parsed; evaluating all rules on the parsed columns therefore gives the plan's answers for the
rows where none fails.

How: each column is dictionary-encoded (distinct texts -> codes); a cell is parsed once per distinct
text with the plan's own branch order (its fast path, then the type's parser), so numbers, dates,
geopoints and select lists come out identical. Rules are evaluated with numpy where the plan's
generated code is plain float arithmetic and comparison (`<`, `<=`, `+`, `=` between numbers, `and`,
`or`, `not`: IEEE doubles in both, NaN for empty numbers), and otherwise by running the plan generator's
own Python for the expression once per distinct combination of the values it reads (regex, selected,
count-selected, today(), string comparisons, choice filters through the validator's memoised
`_filtered`). Canonical JSON (`json.dumps(values, ensure_ascii=False, sort_keys=True)`) is assembled from
per-distinct-value fragments written with the encoder's own formatting (`encode_basestring`,
`int.__repr__`, `float.__repr__`).

Forms with repeats or calculations, duplicate field names, and rules that read `.` outside a
constraint are not handled here (`ColumnCheck.supported` is False): the importer then checks every row
with the plan. `tests/forms/test_columns.py` compares both paths row by row.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

import numpy as np

from passage.forms.plan import (
    _current_kind,
    _geopoint,
    _is_constant,
    _iso_date,
    make_generator,
    plan_namespace,
)
from passage.forms.xpath import FUNCTIONS, OPERATORS, EvalContext, Node, Rule, is_classic

if TYPE_CHECKING:
    from passage.forms.validation import FormValidator, _Step

_FAILED = object()
"""A cell that does not parse, or an expression that raised: the row goes to the per-row plan."""

def _json_text(value: Any) -> str:
    """One value as `json.dumps(..., ensure_ascii=False)` writes it inside a document."""
    kind = value.__class__
    if kind is str:
        return str(encode_basestring(value))
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if kind is list:
        if all(item.__class__ is float and math.isfinite(item) for item in value):
            return "[" + ", ".join(map(float.__repr__, value)) + "]"
        if all(item.__class__ is str for item in value):
            return "[" + ", ".join(map(encode_basestring, value)) + "]"
        return "[" + ", ".join(_json_text(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False, default=str)


class _Column:
    """One field over the rows: per-distinct-text results and each row's code into them."""

    __slots__ = ("bound", "codes", "failed", "fragment", "number", "present")

    def __init__(self, codes: np.ndarray, bound: list[Any], fragment: np.ndarray, failed: np.ndarray) -> None:
        self.codes = codes
        self.bound = bound
        """The value rules see (`v[name]` in the plan) per distinct text; None when empty."""
        present_distinct = np.fromiter((value is not None for value in bound), dtype=bool, count=len(bound))
        self.present = present_distinct[codes]
        self.failed = failed[codes]
        self.fragment = fragment[codes]
        self.number: np.ndarray | None = None

    def numbers(self) -> np.ndarray:
        """The bound values as floats, NaN where empty (the plan's `NAN if x is None else float(x)`)."""
        if self.number is None:
            distinct = np.fromiter(
                (math.nan if value is None else float(value) for value in self.bound), dtype=float, count=len(self.bound)
            )
            self.number = distinct[self.codes]
        return self.number


class ColumnCheck:
    """Column-wise validity proof for one `FormValidator` (see the module docstring)."""

    def __init__(self, validator: FormValidator) -> None:
        self.validator = validator
        self.generator, self.unique_names = make_generator(validator)
        self.namespace = plan_namespace(validator, self.generator)
        self._compiled: dict[str, Callable[..., Any]] = {}
        self.leaves: list[_Step] = []
        self.groups: list[_Step] = []
        self.supported = self._collect(validator._steps) and not validator._calculations  # noqa: SLF001
        names = [step.item.name for step in self.leaves]
        paths = {step.item.path for step in self.leaves}
        if len(set(names)) != len(names) or any(step.item.name != step.item.path and step.item.name in paths for step in self.leaves):
            self.supported = False  # the plan reads `v[name]` and falls back from a path to a bare name
        self.order = sorted(self.leaves, key=lambda step: step.item.path)
        from passage.forms import validation as v

        if any(step.parse is v.parse_geopoint for step in self.leaves):
            import pyarrow.compute  # noqa: F401 - imported once here, before import workers fork, not in each of them
        self.referenced: set[str] = set()
        """Field names whose bound values some rule reads (the others need only "present or not")."""
        for step in self.leaves + self.groups:
            for expression in (step.relevant, step.required_expr, step.choice_filter, step.constraint):
                if expression is not None:
                    self.referenced |= _references(expression.tree)
            if step.constraint is not None and _uses_current(step.constraint.tree):
                self.referenced.add(step.item.name)
            self.referenced |= set(step.filter_refs)
        self.keys = {step.item.path: ", " + str(encode_basestring(step.item.path)) + ": " for step in self.leaves}

    def _collect(self, steps: list[_Step]) -> bool:
        for step in steps:
            item = step.item
            for expression in (step.relevant, step.required_expr, step.choice_filter):
                if expression is not None and _uses_current(expression.tree):
                    return False  # `.` there is whatever the previous constraint bound: leave it to the plan
            for expression in (step.relevant, step.required_expr, step.choice_filter, step.constraint):
                if expression is not None and not is_classic(expression.tree):
                    return False  # paths, node-sets, lookups, the clock: the plan evaluates them through xpath
            if item.type == "repeat":
                return False
            if item.type == "group":
                self.groups.append(step)
                if not self._collect(step.children):
                    return False
                continue
            if step.parse is None:
                continue
            if item.type == "calculate":
                return False
            self.leaves.append(step)
        return True

    # --- parsing ---------------------------------------------------------------------------------

    def _parser(self, step: _Step) -> Callable[[str], tuple[Any, Any]]:
        """text -> (JSON of the stored value, bound value), following the plan's branches for a non-empty
        text cell; (_FAILED, _FAILED) where the plan reports a type error."""
        from passage.forms import validation as v

        parse = step.parse
        to_context = step.to_context
        if parse is v._text:
            return lambda text: (encode_basestring(text), text)
        if parse is v._split_multiple:

            def split(text: str) -> tuple[Any, Any]:
                picked = text.split()
                return "[" + ", ".join(map(encode_basestring, picked)) + "]", " ".join(picked)

            return split
        assert parse is not None

        def general(text: str) -> tuple[Any, Any]:
            try:
                parsed = parse(text)
            except v._Invalid:
                return _FAILED, _FAILED
            return _json_text(parsed.isoformat() if parse is v.parse_date else parsed), to_context(parsed)

        if parse is v.parse_integer:

            def integer(text: str) -> tuple[Any, Any]:
                if text.isascii() and text.isdigit() and len(text) < 10:
                    number = int(text)
                    return int.__repr__(number), number
                return general(text)

            return integer
        if parse is v.parse_decimal:

            def decimal(text: str) -> tuple[Any, Any]:
                if v._DECIMAL.fullmatch(text) and -math.inf < (number := float(text)) < math.inf:
                    return float.__repr__(number), number
                return general(text)

            return decimal
        if parse is v.parse_geopoint:
            decimal_match = v._DECIMAL.fullmatch

            def geopoint(text: str) -> tuple[Any, Any]:
                # `plan._geopoint` inlined for the usual "lat lon" cell (same tests, same shown text).
                parts = text.replace(",", " ").split()
                if len(parts) == 2 and decimal_match(parts[0]) and decimal_match(parts[1]):
                    latitude, longitude = float(parts[0]), float(parts[1])
                    if -90 <= latitude <= 90 and -180 <= longitude <= 180:
                        shown = (str(int(latitude)) if latitude.is_integer() else repr(latitude)) + " " + (
                            str(int(longitude)) if longitude.is_integer() else repr(longitude)
                        )
                        return "[" + float.__repr__(latitude) + ", " + float.__repr__(longitude) + "]", shown
                found = _geopoint(text)
                if found is not None:
                    return _json_text(found[0]), found[1]
                return general(text)

            return geopoint
        if parse is v.parse_date:

            def date(text: str) -> tuple[Any, Any]:
                if len(text) == 10 and text[4] == "-" and text[7] == "-" and (day := _iso_date(text)) is not None:
                    return encode_basestring(day.isoformat()), day
                return general(text)

            return date
        return general

    def _column(self, step: _Step, cells: Sequence[str] | None, count: int) -> _Column:
        if cells is None:
            return _Column(np.zeros(count, dtype=np.intp), [None], np.array([""], dtype=object), np.zeros(1, dtype=bool))
        from passage.forms import validation as v

        if step.parse is v.parse_geopoint and count >= _VECTOR_MIN:
            vectorised = self._geopoints(step, cells)
            if vectorised is not None:
                return vectorised
        codes, distinct = _encode(cells)
        bound, fragments, failed = self._distinct(step, distinct)
        return _Column(codes, bound, np.array(fragments, dtype=object), np.array(failed, dtype=bool))

    def _distinct(self, step: _Step, distinct: Sequence[str]) -> tuple[list[Any], list[str], list[bool]]:
        """Bound value, JSON fragment and "does not parse" for each distinct cell text."""
        parser = self._parser(step)
        key = self.keys[step.item.path]
        bound: list[Any] = []
        fragments: list[str] = []
        failed: list[bool] = []
        for cell in distinct:
            text = cell.strip()
            if not text:
                bound.append(None)
                fragments.append("")
                failed.append(False)
                continue
            stored, value = parser(text)
            if value is _FAILED:
                bound.append(None)
                fragments.append("")
                failed.append(True)
                continue
            bound.append(value)
            fragments.append(key + stored)
            failed.append(False)
        return bound, fragments, failed

    def _geopoints(self, step: _Step, cells: Sequence[str]) -> _Column | None:
        """A geopoint column with every plain "lat lon" cell parsed at once; other cells as usual.

        A cell of the strict ASCII form `-?d{1,3}.d{1,15} -?d{1,3}.d{1,15}` needs no strip, splits into
        two parts the plan's decimal pattern accepts, and parses (correctly rounded, as float() does) to
        finite numbers; only the range test remains. Each such cell is its own distinct value.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            text = pa.array(cells, type=pa.string())
        except (pa.ArrowException, TypeError, ValueError, UnicodeError):
            return None
        plain = pc.match_substring_regex(text, _PLAIN_GEOPOINT).to_numpy(zero_copy_only=False)
        if not plain.any():
            return None
        numbers = pc.cast(pc.list_flatten(pc.split_pattern(text.filter(plain), " ")), pa.float64()).to_numpy().reshape(-1, 2)
        latitude, longitude = numbers[:, 0], numbers[:, 1]
        in_range = (latitude >= -90) & (latitude <= 90) & (longitude >= -180) & (longitude <= 180)
        fast_rows = np.flatnonzero(plain)[in_range]
        latitudes, longitudes = latitude[in_range].tolist(), longitude[in_range].tolist()
        key = self.keys[step.item.path] + "["
        fast_fragments = [key + float.__repr__(lat) + ", " + float.__repr__(lon) + "]" for lat, lon in zip(latitudes, longitudes, strict=True)]
        if step.item.name in self.referenced:
            fast_bound: list[Any] = [_shown(lat) + " " + _shown(lon) for lat, lon in zip(latitudes, longitudes, strict=True)]
        else:
            fast_bound = [True] * len(fast_rows)  # present; no rule reads the value itself
        rest = np.ones(len(cells), dtype=bool)
        rest[fast_rows] = False
        rest_rows = np.flatnonzero(rest)
        codes = np.empty(len(cells), dtype=np.intp)
        rest_codes, distinct = _encode([cells[i] for i in rest_rows.tolist()])
        bound, fragments, failed = self._distinct(step, distinct)
        codes[rest_rows] = rest_codes
        codes[fast_rows] = np.arange(len(bound), len(bound) + len(fast_rows))
        return _Column(
            codes,
            bound + fast_bound,
            np.array(fragments + fast_fragments, dtype=object),
            np.concatenate([np.array(failed, dtype=bool), np.zeros(len(fast_rows), dtype=bool)]),
        )

    # --- checking --------------------------------------------------------------------------------

    def check(self, columns: Mapping[str, Sequence[str]], count: int, today: dt.date) -> list[str | None]:
        """For each of `count` rows: its canonical JSON when it is certainly valid, else None.

        `columns` maps field paths to the rows' cell texts as read (stripped here, once per distinct
        text; "" or whitespace when empty); a field without a column is empty in every row.
        """
        if not self.supported or count == 0:
            return [None] * count
        state = _State(self, {step.item.name: self._column(step, columns.get(step.item.path), count) for step in self.leaves}, count, today)
        with np.errstate(all="ignore"):
            self._check_level(self.validator._steps, np.ones(count, dtype=bool), state)  # noqa: SLF001
        good = ~state.bad
        for column in state.columns.values():
            good &= ~column.failed
        if not good.any():
            return [None] * count
        document = np.full(count, "", dtype=object)
        for step in self.order:
            document = document + state.columns[step.item.name].fragment
        return ["{" + text[2:] + "}" if ok else None for text, ok in zip(document.tolist(), good.tolist(), strict=True)]

    def _check_level(self, steps: list[_Step], parent: np.ndarray, state: _State) -> None:
        for step in steps:
            item = step.item
            relevant = parent if step.relevant is None else parent & state.within(parent).boolean(step.relevant.tree, "any", None)
            if item.type == "group":
                self._check_level(step.children, relevant, state)
                continue
            if step.parse is None:
                continue
            column = state.columns[item.name]
            present = column.present
            if not item.read_only:
                if step.required:
                    state.bad |= ~present & relevant
                elif step.required_expr is not None:
                    asked = ~present & relevant
                    state.bad |= asked & state.within(asked).boolean(step.required_expr.tree, "any", None)
            state.bad |= present & ~relevant
            checked = present & relevant
            if step.choices is not None and checked.any():
                state.bad |= checked & ~self._choices_allowed(step, column, state.within(checked))
            if step.constraint is not None and checked.any():
                truth = state.within(checked).boolean(step.constraint.tree, _current_kind(step, self.unique_names), column)
                state.bad |= checked & ~truth

    def _choices_allowed(self, step: _Step, column: _Column, state: _State) -> np.ndarray:
        """Per row: every picked option is among the (filtered) choices; memoised per distinct inputs."""
        choices = step.choices
        assert choices is not None
        if step.choice_filter is None:
            allowed = np.fromiter(
                (value is None or all(option in choices for option in value.split()) if step.item.type == "select_multiple" else value is None or value in choices
                 for value in column.bound),
                dtype=bool,
                count=len(column.bound),
            )
            return np.asarray(allowed[column.codes])
        refs = list(step.filter_refs)
        names = [name for name in refs if name in state.columns]
        inverse, combinations = state.combine(names, column)
        results = np.ones(len(combinations), dtype=bool)
        needed = np.zeros(len(combinations), dtype=bool)
        needed[inverse[state.mask]] = True
        validator = self.validator
        multiple = step.item.type == "select_multiple"
        for position, (values, current) in enumerate(combinations):
            if current is None or not needed[position]:
                continue
            bound = {name: None for name in refs}
            bound.update(values)
            context = EvalContext(values=bound, today=state.today, choice_label=validator._choice_label, repeat_counts={})  # noqa: SLF001
            try:
                permitted = validator._filtered(step, context)  # noqa: SLF001
            except Exception:  # noqa: BLE001 - the plan would meet the same failure: leave the row to it
                state.bad |= (inverse == position) & state.mask
                continue
            options = current.split() if multiple else [current]
            results[position] = all(option in permitted for option in options)
        return np.asarray(results[inverse])

    def compiled(self, source: str) -> Callable[..., Any]:
        function = self._compiled.get(source)
        if function is None:
            code = compile(f"lambda v, cur, today, rc: {source}", "<form column rule>", "eval")
            function = eval(code, self.namespace)  # noqa: S307 - generated by the plan's generator from the parsed tree
            self._compiled[source] = function
        return function


class _State:
    """Columns and the running "some rule failed or could not be decided" mask for one check."""

    def __init__(self, check: ColumnCheck, columns: dict[str, _Column], count: int, today: dt.date) -> None:
        self.check = check
        self.columns = columns
        self.count = count
        self.today = today
        self.bad = np.zeros(count, dtype=bool)
        self.mask = np.ones(count, dtype=bool)
        """The rows where the expression being evaluated matters (the plan evaluates it only there)."""
        self.generator = check.generator

    def within(self, mask: np.ndarray) -> _State:
        """This state with evaluation limited to `mask` (shares the columns and the bad-row mask)."""
        narrowed = _State.__new__(_State)
        narrowed.__dict__.update(self.__dict__)
        narrowed.mask = mask
        return narrowed

    def combine(self, names: list[str], current: _Column | None) -> tuple[np.ndarray, list[tuple[dict[str, Any], Any]]]:
        """Distinct combinations of the named fields' values (and `.`): row -> combination, and each one."""
        parts = [self.columns[name] for name in names] + ([current] if current is not None else [])
        if not parts:
            return np.zeros(self.count, dtype=np.intp), [({}, None)]
        key = np.zeros(self.count, dtype=np.int64)
        stride = 1
        for part in parts:
            stride *= len(part.bound)
        if stride < 2**62:
            for part in parts:
                key = key * len(part.bound) + part.codes
            unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        else:
            stacked = np.stack([part.codes for part in parts], axis=1)
            unique, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
        combinations: list[tuple[dict[str, Any], Any]] = []
        for row in first.tolist():
            values = {name: self.columns[name].bound[self.columns[name].codes[row]] for name in names}
            combinations.append((values, current.bound[current.codes[row]] if current is not None else None))
        return np.asarray(inverse).reshape(-1), combinations

    def scalar(self, source: str, node: Node, current: _Column | None) -> tuple[np.ndarray, list[Any]]:
        """The generated Python for `node` run once per distinct combination of what it reads.

        Returns (row -> combination, result per combination); a combination whose evaluation raised is
        marked bad (its rows go to the plan) and gives None.
        """
        function = self.check.compiled(source)
        names = sorted(name for name in _references(node) if name in self.columns)
        inverse, combinations = self.combine(names, current if _uses_current(node) else None)
        needed = np.zeros(len(combinations), dtype=bool)
        needed[inverse[self.mask]] = True
        results: list[Any] = []
        failed = np.zeros(len(combinations), dtype=bool)
        for position, (values, value) in enumerate(combinations):
            if not needed[position]:
                results.append(None)
                continue
            try:
                results.append(function(values, value, self.today, {}))
            except Exception:  # noqa: BLE001 - the plan would raise the same way: leave the row to it
                failed[position] = True
                results.append(None)
        if failed.any():
            self.bad |= failed[inverse] & self.mask
        return inverse, results

    def boolean(self, node: Node, current_kind: str, current: _Column | None) -> np.ndarray:
        """`generator.boolean(node)` for every row, as a bool array.

        Operators and functions come from the semantics table (`xpath.OPERATORS`, `xpath.FUNCTIONS`): a
        rule with a `vector` spelling is applied to whole columns of its coerced operands, `and`/`or`
        evaluate their second operand only where the first did not decide (`Rule.short_circuit`), and
        `=`/`!=` between operands of one static kind use the rule's `same_kind` spelling; anything else
        runs the plan generator's source once per distinct combination of the values it reads."""
        if node.kind not in ("literal", "number") and _is_constant(node):
            return np.full(self.count, self._constant(self.generator.boolean(node, current_kind)) is True, dtype=bool)
        rule = _rule(node)
        if rule is not None and rule.short_circuit is not None and rule.vector is not None:
            left = self.boolean(node.args[0], current_kind, current)
            undecided = self.mask & (left if rule.short_circuit == "and" else ~left)
            right = self.within(undecided).boolean(node.args[1], current_kind, current)
            return np.asarray(_vector(rule.vector)(left, right))
        if rule is not None and rule.vector is not None and rule.result == "bool":
            operands = [self.coerced(coercion, arg, current_kind, current) for coercion, arg in zip(rule.operands, node.args, strict=True)]
            if all(operand is not None for operand in operands):
                return np.asarray(_vector(rule.vector)(*operands)) & np.ones(self.count, dtype=bool)
        if rule is not None and rule.same_kind is not None:
            shared = self.generator.shared_kind(node.args, current_kind)
            if shared in ("number", "boolean"):
                operands = [self.coerced(shared, arg, current_kind, current) for arg in node.args]
                return np.asarray(_vector(rule.same_kind)(*operands)) & np.ones(self.count, dtype=bool)
        return self._scalar_bool(self.generator.boolean(node, current_kind), node, current)

    def coerced(self, coercion: str, node: Node, current_kind: str, current: _Column | None) -> Any:
        """A rule's operand for every row as the rule coerces it (numbers or booleans); None otherwise."""
        if coercion == "number":
            return self.number(node, current_kind, current)
        if coercion == "boolean":
            return self.boolean(node, current_kind, current)
        return None

    def _scalar_bool(self, source: str, node: Node, current: _Column | None) -> np.ndarray:
        inverse, results = self.scalar(source, node, current)
        truth = np.fromiter((value is True for value in results), dtype=bool, count=len(results))
        return np.asarray(truth[inverse])

    def number(self, node: Node, current_kind: str, current: _Column | None) -> np.ndarray | float:
        """`generator.number(node)` for every row, as a float array (or one float when constant)."""
        if node.kind not in ("literal", "number") and _is_constant(node):
            value = self._constant(self.generator.number(node, current_kind))
            if value.__class__ is not float:
                self.bad |= self.mask
                return math.nan
            return float(value)
        if node.kind == "number":
            return float(node.value)
        if node.kind == "ref" and self.generator.ref_kinds.get(str(node.value)) in ("intref", "decref") and node.value in self.columns:
            return self.columns[str(node.value)].numbers()
        if node.kind == "current" and current is not None and current_kind in ("int", "num"):
            return current.numbers()
        rule = _rule(node)
        if rule is not None and rule.vector is not None and rule.result == "num" and all(coercion == "number" for coercion in rule.operands):
            return _vector(rule.vector)(*(self.number(arg, current_kind, current) for arg in node.args))  # type: ignore[no-any-return]
        return self._scalar_number(self.generator.number(node, current_kind), node, current)

    def _scalar_number(self, source: str, node: Node, current: _Column | None) -> np.ndarray:
        inverse, results = self.scalar(source, node, current)
        numbers = np.full(len(results), math.nan)
        odd = np.zeros(len(results), dtype=bool)
        for position, value in enumerate(results):
            if value.__class__ is float:
                numbers[position] = value
            else:
                odd[position] = True  # not a float: leave such rows to the plan's own arithmetic
        if odd.any():
            self.bad |= odd[inverse] & self.mask
        return np.asarray(numbers[inverse])

    def _constant(self, source: str) -> Any:
        try:
            return self.check.compiled(source)({}, None, self.today, {})
        except Exception:  # noqa: BLE001 - raises for every row in the plan too: leave them all to it
            self.bad |= self.mask
            return None


_VECTOR_MIN = 64
"""Columns shorter than this are parsed cell by cell (setting up the vector path costs more)."""
_PLAIN_GEOPOINT = r"^-?[0-9]{1,3}\.[0-9]{1,15} -?[0-9]{1,3}\.[0-9]{1,15}$"


def _shown(number: float) -> str:
    """A geopoint part as the plan binds it for rules (`plan._geopoint`)."""
    return str(int(number)) if number.is_integer() else repr(number)


def _encode(cells: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Dictionary-encode cell texts: each row's code and the distinct texts in order of appearance."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(text, len(index)) for text in cells), dtype=np.intp, count=len(cells))
    return codes, list(index)


def _rule(node: Node) -> Rule | None:
    """The semantics-table entry `node` applies, if any."""
    if node.kind == "binary":
        return OPERATORS.get(node.value)
    if node.kind == "neg":
        return OPERATORS["neg"]
    if node.kind == "call":
        return FUNCTIONS.get(node.value)
    return None


_VECTORS: dict[str, Callable[..., Any]] = {}


def _vector(template: str) -> Callable[..., Any]:
    """A `Rule`'s numpy spelling as a function of its operand arrays (compiled once per spelling)."""
    function = _VECTORS.get(template)
    if function is None:
        names = [f"a{index}" for index in range(template.count("{"))]
        function = eval(f"lambda {', '.join(names)}: {template.format(*names)}", {"abs": abs})  # noqa: S307 - the table's own text
        _VECTORS[template] = function
    return function


def _references(node: Node) -> set[str]:
    found: set[str] = set()
    if node.kind == "ref":
        found.add(str(node.value))
    for arg in node.args:
        found |= _references(arg)
    return found


def _uses_current(node: Node) -> bool:
    return node.kind == "current" or any(_uses_current(arg) for arg in node.args)


_CHECKS: dict[int, tuple[Any, ColumnCheck]] = {}


def column_check_for(validator: FormValidator) -> ColumnCheck:
    """The cached ColumnCheck of a validator (validators are cached per form version)."""
    cached = _CHECKS.get(id(validator))
    if cached is None or cached[0] is not validator:
        if len(_CHECKS) > 64:
            _CHECKS.clear()
        cached = (validator, ColumnCheck(validator))
        _CHECKS[id(validator)] = cached
    return cached[1]


__all__ = ["ColumnCheck", "column_check_for"]
