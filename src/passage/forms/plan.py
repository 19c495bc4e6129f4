"""Compile a form version once into a flat validation plan: one generated Python function per form.

`FormValidator` used to walk its step tree and interpret each XPath closure chain for every row. Bulk
import runs the same form on hundreds of thousands of rows, so the tree is flattened here, once per
form version, into the source of a single function `check(data, today) -> (values, errors)`:

- one straight-line block per field, in form order, with the type parser chosen per type (ASCII
  integers parsed inline, the rest through the same `parse_*` functions as before);
- every XPath expression translated to a Python expression over the bound values (`v[name]`), with
  constants folded and numeric comparisons emitted as plain float comparisons where both sides are
  statically numbers; everything else calls the same coercion helpers as `passage.forms.xpath`
  (XPath 1.0 section 3.4 / 4), so results are identical, including NaN and exceptions;
- relevance evaluated in form order, short-circuiting exactly as the tree walk did;
- calculations in the validator's dependency order (Kahn's algorithm);
- choice filters memoised on the values they read; repeats delegated to the validator's own repeat
  check (repeat instances are rare in bulk exports and keep their per-instance context).

Nothing from the form is ever passed to `eval`/`exec` as code: field names, messages and literals go
into the generated source only through `repr()` of Python constants or as names of a private
namespace (`K[n]`), and expressions are generated from the parsed tree, never from the source text.
`tests/forms/test_plan.py` checks the plan against the tree walk on many generated rows.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from passage.core.i18n import Text
from passage.forms import xpath
from passage.forms.xpath import EvalContext, Node

if TYPE_CHECKING:
    from passage.forms.validation import FormValidator, _Step

PlanFunction = Callable[[Mapping[str, Any], dt.date], tuple[dict[str, Any], list[Any]]]



class RepeatCounts(dict):  # type: ignore[type-arg]
    """`rc` in generated code: repeat name -> instance count, plus `nodes` (field name -> its values across
    the instances of its repeat) for the node-set functions evaluated through `passage.forms.xpath`."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, list[Any]] = {}


_NOT_FOLDED = object()
_DECIMAL_MATCH = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?").fullmatch


_is_constant = xpath.is_constant


class _Generator:
    """Generates Python source for the expressions and fields of one form."""

    def __init__(
        self,
        ref_kinds: Mapping[str, str],
        instances: Callable[[str], list[Mapping[str, Any]]] | None = None,
        choice_label: Callable[[str, str], str] | None = None,
    ) -> None:
        self.constants: list[Any] = []
        self.ref_kinds = ref_kinds
        self.instances = instances
        self.choice_label = choice_label
        """Top-level field name -> kind of its bound value: strref (str or None), intref (int or None), decref (float or None)."""

    def constant(self, value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return repr(value)
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        if isinstance(value, str) and not isinstance(value, Text):  # a message (Text) keeps its code: a constant
            return repr(value)
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    # --- expressions: each returns (source, kind) with kind in num (a float), bool, str, any ---------

    def fallback(self, node: Node) -> str:
        """Source calling `passage.forms.xpath`'s own closure for `node`: paths, node-sets, lookups and the
        context functions are evaluated by the one definition there, not translated a second time."""
        function = xpath._compile(node, allow_names=False)
        instances, choice_label = self.instances, self.choice_label

        def run(v: Mapping[str, Any], cur: Any, today: dt.date, rc: Mapping[str, int]) -> Any:
            context = EvalContext(
                current=cur, values=v, today=today, repeat_counts=rc, repeat_values=getattr(rc, "nodes", {}),
                instances=instances, choice_label=choice_label,
            )
            return function(context)

        return f"{self.constant(run)}(v, cur, today, rc)"

    def expression(self, node: Node, current_kind: str) -> tuple[str, str]:
        if not xpath.is_classic(node):
            return self.fallback(node), "any"
        if node.kind not in ("literal", "number") and _is_constant(node):
            try:
                value = xpath._compile(node, allow_names=False)(EvalContext())
            except (ValueError, ArithmeticError, TypeError):
                value = _NOT_FOLDED  # raises when evaluated: leave it to run time, exactly as before
            if value is not _NOT_FOLDED:
                kind = "bool" if isinstance(value, bool) else "num" if isinstance(value, float) else "str" if isinstance(value, str) else "any"
                return self.constant(value), kind
        kind = node.kind
        if kind == "literal":
            return repr(node.value), "str"
        if kind == "number":
            return self.constant(float(node.value)), "num"
        if kind == "current":
            return "cur", current_kind
        if kind == "ref":
            return f"v.get({node.value!r})", self.ref_kinds.get(node.value, "any")
        if kind == "neg":
            return self.rule(xpath.OPERATORS["neg"], node.args, current_kind)
        if kind == "binary":
            rule = xpath.OPERATORS[node.value]
            if rule.same_kind is not None:
                shared = self.shared_kind(node.args, current_kind)
                if shared is not None:
                    operands = [self.coerced(shared, arg, current_kind) for arg in node.args]
                    return rule.same_kind.format(*operands), rule.result
            return self.rule(rule, node.args, current_kind)
        if kind == "call":
            return self.rule(xpath.FUNCTIONS[node.value], node.args, current_kind)
        raise xpath.ExpressionError(f"unsupported construct at offset {node.position}", node.position)

    def coerced(self, coercion: str, node: Node, current_kind: str) -> str:
        """`node`'s source coerced as a `Rule` operand (`xpath.COERCIONS`), skipping what its kind makes needless;
        a literal operand is coerced here, once, by the table's own coercion (a trimmed token, a compiled pattern)."""
        if node.kind in ("literal", "number"):
            constant = node.value if node.kind == "literal" else float(node.value)
            value = eval(xpath.coerce_source(coercion, "x"), dict(xpath.RUNTIME), {"x": constant})  # noqa: S307 - the table's own text
            return self.constant(value)
        if coercion in xpath.STRING_BASED:
            return xpath.COERCIONS[coercion].format(self.string(node, current_kind))
        if coercion == "number":
            return self.number(node, current_kind)
        if coercion == "string":
            return self.string(node, current_kind)
        if coercion == "boolean":
            return self.boolean(node, current_kind)
        return self.expression(node, current_kind)[0]

    def rule(self, rule: xpath.Rule, args: tuple[Node, ...], current_kind: str) -> tuple[str, str]:
        """Source for `rule` applied to `args`: the table's Python over the coerced operands, or a call of
        its implementation (the same function object the interpreter calls)."""
        if rule.implementation is not None:
            rendered = ", ".join(self.expression(arg, current_kind)[0] for arg in args)
            return f"{self.constant(rule.implementation)}({rendered})", rule.result
        operands = [self.coerced(coercion, arg, current_kind) for coercion, arg in zip(rule.operands, args, strict=True)]
        return rule.python.format(*operands, today="today"), rule.result

    def shared_kind(self, args: tuple[Node, ...], current_kind: str) -> str | None:
        """The coercion both operands of `=`/`!=` surely share (XPath 1.0 section 3.4: two numbers compare
        as numbers, two strings as strings, two booleans as booleans), or None when only run time knows."""
        left_kind = self.expression(args[0], current_kind)[1]
        right_kind = self.expression(args[1], current_kind)[1]
        numeric = ("num", "int", "intref", "decref")
        if left_kind == right_kind and left_kind in ("num", "str", "bool"):
            return {"num": "number", "str": "string", "bool": "boolean"}[left_kind]
        if (left_kind in ("num", "int") and right_kind in numeric) or (right_kind in ("num", "int") and left_kind in numeric):
            return "number"  # one side is surely a number, the other a number or empty
        if (left_kind == "str" and right_kind in ("str", "strref")) or (right_kind == "str" and left_kind in ("str", "strref")):
            return "string"  # one side is surely a string, the other a string or empty ('')
        return None

    def number(self, node: Node, current_kind: str) -> str:
        source, kind = self.expression(node, current_kind)
        if kind == "int":  # an int field's non-empty value: to_number() is float()
            return f"float({source})"
        if kind == "intref":
            return f"(NAN if {source} is None else float({source}))"
        if kind == "decref":
            return f"(NAN if {source} is None else {source})"
        return source if kind == "num" else f"to_number({source})"

    def boolean(self, node: Node, current_kind: str) -> str:
        source, kind = self.expression(node, current_kind)
        return source if kind == "bool" else f"to_boolean({source})"

    def string(self, node: Node, current_kind: str) -> str:
        source, kind = self.expression(node, current_kind)
        if kind == "strref":  # to_string(None) is ''
            return f"({source} or '')"
        return source if kind == "str" else f"to_string({source})"


def _geopoint(text: str) -> tuple[list[float], str] | None:
    """`parse_geopoint` and `_geo_text` for plain numeric text, or None to let the parser explain."""
    parts = text.replace(",", " ").split()
    if not 2 <= len(parts) <= 4:
        return None
    numbers: list[float] = []
    shown: list[str] = []
    for part in parts:
        if not _DECIMAL_MATCH(part):
            return None
        number = float(part)
        if not -math.inf < number < math.inf:
            return None
        numbers.append(number)
        shown.append(str(int(number)) if number.is_integer() else repr(number))
    if not (-90 <= numbers[0] <= 90 and -180 <= numbers[1] <= 180) or (len(numbers) == 4 and numbers[3] < 0):
        return None
    return numbers, " ".join(shown)


def _iso_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _current_kind(step: _Step, unique_names: set[str]) -> str:
    """The static kind of `.` in a constraint: the bound value of a non-empty field of this type."""
    kind = step.item.type
    if step.item.name not in unique_names:
        return "any"
    if kind in ("text", "select_one", "select_multiple", "geopoint", "datetime", "time"):
        return "str"
    if kind == "decimal":
        return "num"  # parse_decimal always returns a float
    if kind == "integer":
        return "int"
    return "any"  # integer stays int (not a float), date stays a date, calculate/metadata vary


def make_generator(validator: FormValidator) -> tuple[_Generator, set[str]]:
    """The expression generator for `validator`'s form and the field names that occur once in it."""
    name_counts: dict[str, int] = {}
    for walked in validator.form.walk():
        name_counts[walked.name] = name_counts.get(walked.name, 0) + 1
    unique_names = {name for name, count in name_counts.items() if count == 1}
    ref_kinds: dict[str, str] = {}
    for walked in validator.form.walk():
        if walked.repeat is None and name_counts[walked.name] == 1:
            if walked.type in ("text", "select_one", "select_multiple", "geopoint", "datetime", "time"):
                ref_kinds[walked.name] = "strref"
            elif walked.type == "integer":
                ref_kinds[walked.name] = "intref"
            elif walked.type == "decimal":
                ref_kinds[walked.name] = "decref"
    return _Generator(ref_kinds, validator.instance_rows, validator._choice_label), unique_names  # noqa: SLF001


def plan_namespace(validator: FormValidator, generator: _Generator) -> dict[str, Any]:
    """The names generated code may use: the generator's constants and the validator's helpers."""
    from passage.forms import validation as v_module

    return {
        "K": generator.constants,
        "SE": v_module.SubmissionError,
        "M": v_module.MESSAGES,
        "Invalid": v_module._Invalid,
        "ACCEPTED": frozenset(validator._accepted_keys),  # noqa: SLF001
        "EMPTY": frozenset(),
        "EvalContext": EvalContext,
        "RC": RepeatCounts,
        "NodeSet": xpath.NodeSet,
        "INSTANCES": validator.instance_rows,
        "repeat_nodes": validator._repeat_nodes,  # noqa: SLF001
        "validator": validator,
        "check_repeat": validator._check_repeat,  # noqa: SLF001
        "choice_label": validator._choice_label,  # noqa: SLF001
        "_json_value": v_module._json_value,
        "_joined": v_module._joined,
        "_geo_text": v_module._geo_text,
        **xpath.RUNTIME,
        "isinstance": isinstance,
        "NAN": math.nan,
        "DECIMAL": v_module._DECIMAL.fullmatch,
        "_iso_date": _iso_date,
        "_geopoint": _geopoint,
        "inf": math.inf,
        "parse_integer": v_module.parse_integer,
        "parse_decimal": v_module.parse_decimal,
        "parse_date": v_module.parse_date,
        "parse_datetime": v_module.parse_datetime,
        "parse_time": v_module.parse_time,
        "parse_geopoint": v_module.parse_geopoint,
        "parse_geotrace": v_module.parse_geotrace,
        "_text": v_module._text,
        "_split_multiple": v_module._split_multiple,
    }


def build_plan(validator: FormValidator) -> PlanFunction:
    """Generate and compile the flat `check(data, today)` function for `validator`'s form."""
    from passage.forms import validation as v_module

    generator, unique_names = make_generator(validator)
    lines: list[str] = []
    emit = lines.append
    steps = validator._steps  # noqa: SLF001 - the plan is the validator's compiled form
    has_repeats = False
    parse_names: dict[Any, str] = {
        v_module.parse_integer: "parse_integer", v_module.parse_decimal: "parse_decimal", v_module.parse_date: "parse_date",
        v_module.parse_datetime: "parse_datetime", v_module.parse_time: "parse_time", v_module.parse_geopoint: "parse_geopoint",
        v_module._text: "_text", v_module._split_multiple: "_split_multiple", v_module.parse_geotrace: "parse_geotrace",
    }
    context_names: dict[Any, str | None] = {v_module._identity: None, v_module._joined: "_joined", v_module._geo_text: "_geo_text"}

    emit("def check(data, today):")
    emit("    errors = []")
    emit("    values = {}")
    emit("    v = {}")
    emit("    rc = RC()")
    emit("    cur = None")
    emit("    extra = data.keys() - ACCEPTED")
    emit("    if extra:")
    emit("        for key in sorted(extra):")
    emit("            if not key.startswith('_'):")
    emit("                errors.append(SE(key, M['unknown_field'], 'unknown_field'))")

    # --- parse phase, form order (groups flattened, repeats counted) ------------------------------
    def parse_level(level: list[_Step]) -> None:
        nonlocal has_repeats
        for step in level:
            item = step.item
            if item.type == "group":
                parse_level(step.children)
                continue
            if item.type == "repeat":
                has_repeats = True
                emit(f"    inst = data.get({item.path!r}) or []")
                emit("    if not isinstance(inst, list):")
                emit(f"        errors.append(SE({item.path!r}, M['repeat_list'], 'type'))")
                emit("        inst = []")
                emit(f"    rc[{item.name!r}] = len(inst)")
                emit(f"    rc.nodes.update(repeat_nodes({generator.constant(step)}, inst))")
                continue
            if step.parse is None:
                continue
            name, path = item.name, item.path
            emit(f"    raw = data.get({path!r})")
            if name != path:
                emit("    if raw is None:")
                emit(f"        raw = data.get({name!r})")
            parser = parse_names[step.parse]
            to_context = context_names[step.to_context]
            stored = "parsed.isoformat()" if parser == "parse_date" else "parsed"
            bound = f"{to_context}(parsed)" if to_context else "parsed"

            def parse_with(
                pad: str, *, may_be_empty: bool, parser: str = parser, path: str = path, name: str = name, stored: str = stored, bound: str = bound
            ) -> None:
                emit(f"{pad}try:")
                emit(f"{pad}    parsed = {parser}(raw)")
                emit(f"{pad}except Invalid as exc:")
                emit(f"{pad}    errors.append(SE({path!r}, exc.args[0], 'type'))")
                emit(f"{pad}    v[{name!r}] = None")
                emit(f"{pad}else:")
                if may_be_empty:
                    emit(f"{pad}    if parsed == '' or parsed == []:")
                    emit(f"{pad}        v[{name!r}] = None")
                    emit(f"{pad}    else:")
                    emit(f"{pad}        values[{path!r}] = {stored}")
                    emit(f"{pad}        v[{name!r}] = {bound}")
                else:
                    emit(f"{pad}    values[{path!r}] = {stored}")
                    emit(f"{pad}    v[{name!r}] = {bound}")

            # Text cells (every CSV value) take a fast path with the parser's exact result; anything
            # the fast path does not accept goes through the parser itself, for its exact message.
            emit("    if raw.__class__ is str:")
            emit("        t = raw.strip()")
            emit("        if not t:")
            emit(f"            v[{name!r}] = None")
            if parser == "_text":
                emit("        else:")
                emit(f"            values[{path!r}] = v[{name!r}] = t")
            elif parser == "_split_multiple":
                emit("        else:")
                emit(f"            values[{path!r}] = picked = t.split()")
                emit(f"            v[{name!r}] = ' '.join(picked)")
            else:
                if parser == "parse_integer":
                    emit("        elif t.isascii() and t.isdigit() and len(t) < 10:")
                    emit(f"            values[{path!r}] = v[{name!r}] = int(t)")
                elif parser == "parse_decimal":
                    emit("        elif DECIMAL(t) and -inf < (f := float(t)) < inf:")
                    emit(f"            values[{path!r}] = v[{name!r}] = f")
                elif parser == "parse_geopoint":
                    emit("        elif (g := _geopoint(t)) is not None:")
                    emit(f"            values[{path!r}] = g[0]")
                    emit(f"            v[{name!r}] = g[1]")
                elif parser == "parse_date":
                    emit("        elif len(t) == 10 and t[4] == '-' and t[7] == '-' and (d := _iso_date(t)) is not None:")
                    emit(f"            values[{path!r}] = d.isoformat()")
                    emit(f"            v[{name!r}] = d")
                emit("        else:")
                parse_with("            ", may_be_empty=False)
            emit("    elif raw is None:")
            emit(f"        v[{name!r}] = None")
            emit("    else:")
            parse_with("        ", may_be_empty=parser in ("_text", "_split_multiple", "parse_datetime", "parse_time", "parse_geotrace"))

    parse_level(steps)
    emit("    unk = {e.path.rsplit('/', 1)[-1] for e in errors if e.reason == 'type'} if errors else EMPTY")

    # --- calculations in dependency order ----------------------------------------------------------
    for item, expression in validator._calculations:  # noqa: SLF001
        source, _ = generator.expression(expression.tree, "any")
        emit(f"    r = {source}")
        emit("    if r.__class__ is NodeSet:")
        emit("        r = r[0] if r else None")
        emit("    if isinstance(r, float) and r != r:")
        emit("        r = None")
        emit(f"    v[{item.name!r}] = r")
        emit("    if r is not None and r != '':")
        emit(f"        values[{item.path!r}] = _json_value(r)")
    if has_repeats:
        emit("    context = EvalContext(values=v, today=today, choice_label=choice_label, repeat_counts=rc, repeat_values=rc.nodes, instances=INSTANCES)")
        emit("    validator._unknown = unk")

    # --- check phase, form order --------------------------------------------------------------------
    counter = [0]

    def check_level(level: list[_Step], parent: str, depth: int) -> None:
        pad = "    " * depth
        for step in level:
            item = step.item
            counter[0] += 1
            index = counter[0]
            rel = f"rel{index}"
            if step.relevant is None:
                emit(f"{pad}{rel} = {parent}")
            else:
                truth = generator.boolean(step.relevant.tree, "any")
                refs = generator.constant(frozenset(step.relevant.references))
                evaluated = truth if parent == "True" else f"({parent} and {truth})"
                emit(f"{pad}if unk and {refs} & unk:")
                emit(f"{pad}    {rel} = {parent}")
                emit(f"{pad}else:")
                emit(f"{pad}    {rel} = {evaluated}")
            if item.type == "group":
                check_level(step.children, rel, depth)
                continue
            if item.type == "repeat":
                emit(f"{pad}check_repeat({generator.constant(step)}, data, context, values, errors, {rel}, None)")
                continue
            if step.parse is None or item.type == "calculate":
                continue
            name, path = item.name, item.path
            emit(f"{pad}value = v.get({name!r})")
            emit(f"{pad}if unk and {name!r} in unk:")
            emit(f"{pad}    pass")
            emit(f"{pad}elif value is None:")
            required: str | None = None
            if not item.read_only:
                if step.required:
                    required = "True"
                elif step.required_expr is not None:
                    required = generator.boolean(step.required_expr.tree, "any")
            if required is not None:
                emit(f"{pad}    if {rel} and {required}:")
                emit(f"{pad}        errors.append(SE({path!r}, M['required'], 'required', {generator.constant(step.required_labels)}))")
            else:
                emit(f"{pad}    pass")
            emit(f"{pad}elif not {rel}:")
            emit(f"{pad}    errors.append(SE({path!r}, M['not_relevant'], 'not_relevant'))")
            emit(f"{pad}    values.pop({path!r}, None)")
            emit(f"{pad}    v[{name!r}] = None")
            emit(f"{pad}else:")
            body = False
            if step.choices is not None:
                body = True
                choices = generator.constant(step.choices)
                if step.choice_filter is None:
                    emit(f"{pad}    allowed = {choices}")
                else:
                    key = "".join(f"{generator.string(Node('ref', ref), 'any')}," for ref in step.filter_refs)
                    cache = generator.constant({})
                    emit(f"{pad}    fkey = ({key})")
                    emit(f"{pad}    allowed = {cache}.get(fkey)")
                    emit(f"{pad}    if allowed is None:")
                    emit(f"{pad}        allowed = filtered({generator.constant(step)}, v, rc, today)")
                    emit(f"{pad}        if len({cache}) < 100000:")
                    emit(f"{pad}            {cache}[fkey] = allowed")
                emit(f"{pad}    picked = values.get({path!r})")
                emit(f"{pad}    for option in (picked if isinstance(picked, list) else [picked]):")
                emit(f"{pad}        if option not in allowed:")
                emit(f"{pad}            errors.append(SE({path!r}, M['not_a_choice'] if option not in {choices} else M['filtered_out'], 'choice'))")
                emit(f"{pad}            break")
            if step.constraint is not None:
                body = True
                truth = generator.boolean(step.constraint.tree, _current_kind(step, unique_names))
                refs = generator.constant(frozenset(step.constraint.references))
                message = generator.constant(step.constraint_message)
                emit(f"{pad}    if not (unk and {refs} & unk):")
                emit(f"{pad}        cur = value")
                emit(f"{pad}        if not {truth}:")
                emit(f"{pad}            errors.append(SE({path!r}, {message}, 'constraint', {generator.constant(step.constraint_labels)}))")
            if not body:
                emit(f"{pad}    pass")

    check_level(steps, "True", 1)
    emit("    return values, errors")

    def filtered(step: _Step, bound: dict[str, Any], counts: dict[str, int], today: dt.date) -> frozenset[str]:
        context = EvalContext(
            values=bound, today=today, choice_label=validator._choice_label, repeat_counts=counts,  # noqa: SLF001
            repeat_values=getattr(counts, "nodes", {}), instances=validator.instance_rows,
        )
        return validator._filtered(step, context)  # noqa: SLF001

    namespace = plan_namespace(validator, generator)
    namespace["filtered"] = filtered
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<form plan {validator.form.form_id}>", "exec")
    exec(code, namespace)  # noqa: S102 - generated from the parsed form tree; see the module docstring
    function: PlanFunction = namespace["check"]
    function.__source__ = source  # type: ignore[attr-defined]
    return function
