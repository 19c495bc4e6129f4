"""A small, safe evaluator for the ODK XPath subset used in XLSForm expressions.

XLSForm `constraint`, `relevant`, `required`, `calculation` and `choice_filter` cells hold XPath 1.0
expressions with ODK extensions (ODK XForms specification, "XPath Functions",
https://getodk.github.io/xforms-spec/#xpath-functions). This module tokenises and parses them with a
recursive-descent parser into a tree, then compiles the tree to Python closures. Nothing is ever
passed to `eval`; an unknown function or an unsupported construct is refused when the form is loaded.

Coercion follows XPath 1.0 (section 3.4): `=`/`!=` compare numbers when either side is a number,
booleans when either side is a boolean, strings otherwise; `<`, `<=`, `>`, `>=` compare numbers.
As in JavaRosa, a date compared with anything compares as days since 1970-01-01.

Supported: `.`, `${name}`, bare names inside a choice filter (the choice's columns), string and number
literals, `and`, `or`, `=`, `!=`, `<`, `<=`, `>`, `>=`, `+`, `-`, `*`, `div`, `mod`, unary `-`, and the
functions in `FUNCTIONS`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Value = str | float | bool | dt.date | None
"""A runtime value: str (node text), float (number), bool, date; None is the empty node."""

EPOCH = dt.date(1970, 1, 1)


class ExpressionError(ValueError):
    """An expression that cannot be parsed or uses an unsupported construct; `position` is a character offset."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass
class EvalContext:
    """What an expression sees: `.`, the values of other fields by name, a choice row, today."""

    current: Any = None
    values: Mapping[str, Any] = field(default_factory=dict)
    parent: EvalContext | None = None
    choice: Mapping[str, Any] | None = None
    today: dt.date | None = None
    choice_label: Callable[[str, str], str] | None = None
    repeat_counts: Mapping[str, int] = field(default_factory=dict)

    def lookup(self, name: str) -> Any:
        scope: EvalContext | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        return None

    def count_of(self, name: str) -> int:
        scope: EvalContext | None = self
        while scope is not None:
            if name in scope.repeat_counts:
                return scope.repeat_counts[name]
            scope = scope.parent
        return 0

    def get_today(self) -> dt.date:
        scope: EvalContext | None = self
        while scope is not None:
            if scope.today is not None:
                return scope.today
            scope = scope.parent
        return dt.date.today()


# ---------------------------------------------------------------------------------------------------
# coercion (XPath 1.0 section 4: string(), number(), boolean())


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def to_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if math.isnan(value):
            return None
        return EPOCH + dt.timedelta(days=int(value))
    match = _DATE_PREFIX.match(str(value).strip())
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def to_number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dt.date):
        day = value.date() if isinstance(value, dt.datetime) else value
        return float((day - EPOCH).days)
    if value is None:
        return math.nan
    text = str(value).strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, int):
        return value != 0
    if value is None:
        return False
    if isinstance(value, dt.date):
        return True
    return len(str(value)) > 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return to_boolean(left) == to_boolean(right)
    if isinstance(left, dt.date) or isinstance(right, dt.date):
        ld, rd = to_date(left), to_date(right)
        return ld is not None and ld == rd
    if _is_number(left) or _is_number(right):
        return to_number(left) == to_number(right)
    return to_string(left) == to_string(right)


def _relational(left: Any, right: Any) -> tuple[float, float]:
    return to_number(left), to_number(right)


# ---------------------------------------------------------------------------------------------------
# tokeniser

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<ref>\$\{\s*(?P<refname>[A-Za-z_][\w.\-]*)\s*\})
  | (?P<number>\d+(?:\.\d*)?|\.\d+)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<op><=|>=|!=|=|<|>|\+|-|\*|\(|\)|,|\|)
  | (?P<dot>\.\.|\.)
  | (?P<name>[A-Za-z_][\w\-.]*(?::[A-Za-z_][\w\-.]*)?)
  | (?P<slash>/)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


def tokenize(expression: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(expression):
        match = _TOKEN_RE.match(expression, position)
        if match is None:
            raise ExpressionError(f"unexpected character {expression[position]!r} at offset {position}", position)
        kind = match.lastgroup or ""
        if kind == "refname":  # pragma: no cover - the outer group always wins
            kind = "ref"
        if kind == "ref":
            tokens.append(Token("ref", match["refname"], position))
        elif kind != "ws":
            text = match.group(kind)
            if kind == "string":
                text = text[1:-1]
            tokens.append(Token(kind, text, position))
        position = match.end()
    return tokens


# ---------------------------------------------------------------------------------------------------
# syntax tree


@dataclass(frozen=True)
class Node:
    kind: str  # literal, number, current, ref, name, binary, neg, call
    value: Any = None
    args: tuple[Node, ...] = ()
    position: int = 0


_OPERATOR_WORDS = {"and", "or", "div", "mod"}


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise ExpressionError("unexpected end of expression", len(self.expression))
        self.index += 1
        return token

    def at_operator(self, *words: str) -> bool:
        token = self.peek()
        if token is None:
            return False
        if token.kind == "op" and token.text in words:
            return True
        return token.kind == "name" and token.text in words and token.text in _OPERATOR_WORDS

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("empty expression", 0)
        node = self.parse_or()
        token = self.peek()
        if token is not None:
            raise ExpressionError(f"unexpected {token.text!r} at offset {token.position}", token.position)
        return node

    def _binary(self, operand: Callable[[], Node], words: tuple[str, ...]) -> Node:
        node = operand()
        while self.at_operator(*words):
            token = self.take()
            right = operand()
            node = Node("binary", token.text, (node, right), token.position)
        return node

    def parse_or(self) -> Node:
        return self._binary(self.parse_and, ("or",))

    def parse_and(self) -> Node:
        return self._binary(self.parse_equality, ("and",))

    def parse_equality(self) -> Node:
        return self._binary(self.parse_relational, ("=", "!="))

    def parse_relational(self) -> Node:
        return self._binary(self.parse_additive, ("<", "<=", ">", ">="))

    def parse_additive(self) -> Node:
        return self._binary(self.parse_multiplicative, ("+", "-"))

    def parse_multiplicative(self) -> Node:
        return self._binary(self.parse_unary, ("*", "div", "mod"))

    def parse_unary(self) -> Node:
        if self.at_operator("-"):
            token = self.take()
            return Node("neg", None, (self.parse_unary(),), token.position)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Node("number", float(token.text), (), token.position)
        if token.kind == "string":
            return Node("literal", token.text, (), token.position)
        if token.kind == "ref":
            return Node("ref", token.text, (), token.position)
        if token.kind == "dot":
            if token.text == "..":
                raise ExpressionError(f"relative path '..' at offset {token.position} is not supported; use ${{name}}", token.position)
            return Node("current", None, (), token.position)
        if token.kind == "op" and token.text == "(":
            node = self.parse_or()
            closing = self.take()
            if closing.text != ")":
                raise ExpressionError(f"expected ')' at offset {closing.position}", closing.position)
            return node
        if token.kind == "name":
            following = self.peek()
            if following is not None and following.kind == "op" and following.text == "(":
                self.take()
                args: list[Node] = []
                if not (self.peek() is not None and self.peek().text == ")"):  # type: ignore[union-attr]
                    while True:
                        args.append(self.parse_or())
                        separator = self.take()
                        if separator.text == ")":
                            break
                        if separator.text != ",":
                            raise ExpressionError(f"expected ',' or ')' at offset {separator.position}", separator.position)
                else:
                    self.take()
                return Node("call", token.text, tuple(args), token.position)
            if following is not None and following.kind == "slash":
                raise ExpressionError(f"paths such as '{token.text}/…' at offset {token.position} are not supported; use ${{name}}", token.position)
            return Node("name", token.text, (), token.position)
        if token.kind == "slash":
            raise ExpressionError(f"absolute paths at offset {token.position} are not supported; use ${{name}}", token.position)
        raise ExpressionError(f"unexpected {token.text!r} at offset {token.position}", token.position)


def parse(expression: str) -> Node:
    """Parse an expression into a syntax tree, or raise ExpressionError with the offset."""
    return _Parser(expression).parse()


# ---------------------------------------------------------------------------------------------------
# functions

Compiled = Callable[[EvalContext], Any]


def _regex_match(value: Any, pattern: Any) -> bool:
    try:
        return re.search(to_string(pattern), to_string(value)) is not None
    except re.error:
        return False


def _selected(value: Any, choice: Any) -> bool:
    return to_string(choice).strip() in to_string(value).split()


def _count_selected(value: Any) -> float:
    return float(len(to_string(value).split()))


def _int(value: Any) -> float:
    number = to_number(value)
    if math.isnan(number) or math.isinf(number):
        return number
    return float(math.trunc(number))


def _round(value: Any, digits: Any = 0.0) -> float:
    number = to_number(value)
    places = int(to_number(digits)) if not math.isnan(to_number(digits)) else 0
    if math.isnan(number):
        return number
    factor = 10.0**places
    return math.floor(number * factor + 0.5) / factor


def _date(value: Any) -> Any:
    day = to_date(value)
    return day if day is not None else ""


def _substr(value: Any, start: Any, end: Any = None) -> str:
    text = to_string(value)
    begin = int(to_number(start))
    if end is None:
        return text[begin:]
    return text[begin : int(to_number(end))]


def _coalesce(first: Any, second: Any) -> Any:
    return first if to_string(first) != "" else second


# name -> (minimum arguments, maximum arguments or None for unbounded, implementation on evaluated args)
FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Any]]] = {
    "selected": (2, 2, _selected),
    "count-selected": (1, 1, _count_selected),
    "string-length": (1, 1, lambda value: float(len(to_string(value)))),
    "regex": (2, 2, _regex_match),
    "date": (1, 1, _date),
    "coalesce": (2, 2, _coalesce),
    "int": (1, 1, _int),
    "number": (1, 1, to_number),
    "string": (1, 1, to_string),
    "boolean": (1, 1, to_boolean),
    "concat": (1, None, lambda *parts: "".join(to_string(part) for part in parts)),
    "not": (1, 1, lambda value: not to_boolean(value)),
    "true": (0, 0, lambda: True),
    "false": (0, 0, lambda: False),
    "round": (1, 2, _round),
    "abs": (1, 1, lambda value: abs(to_number(value))),
    "contains": (2, 2, lambda haystack, needle: to_string(needle) in to_string(haystack)),
    "starts-with": (2, 2, lambda text, prefix: to_string(text).startswith(to_string(prefix))),
    "ends-with": (2, 2, lambda text, suffix: to_string(text).endswith(to_string(suffix))),
    "substr": (2, 3, _substr),
    "selected-at": (2, 2, lambda value, index: (to_string(value).split() + [""] * (int(to_number(index)) + 1))[int(to_number(index))] if to_number(index) >= 0 else ""),
    "normalize-space": (1, 1, lambda value: " ".join(to_string(value).split())),
}
"""Functions evaluated on their arguments' values; `if`, `today`, `count` and `jr:choice-name` are special forms."""

SPECIAL_FUNCTIONS: dict[str, tuple[int, int]] = {"if": (3, 3), "today": (0, 0), "count": (1, 1), "jr:choice-name": (2, 2)}

SUPPORTED_FUNCTIONS: frozenset[str] = frozenset(FUNCTIONS) | frozenset(SPECIAL_FUNCTIONS)


# ---------------------------------------------------------------------------------------------------
# compiler


def _compile(node: Node, *, allow_names: bool) -> Compiled:
    kind = node.kind
    if kind in ("literal", "number"):
        constant = node.value
        return lambda _ctx: constant
    if kind == "current":
        return lambda ctx: ctx.current
    if kind == "ref":
        name = node.value
        return lambda ctx: ctx.lookup(name)
    if kind == "name":
        if not allow_names:
            raise ExpressionError(
                f"bare name {node.value!r} at offset {node.position}: refer to a question as ${{{node.value}}}", node.position
            )
        column = node.value
        return lambda ctx: (ctx.choice or {}).get(column)
    if kind == "neg":
        operand = _compile(node.args[0], allow_names=allow_names)
        return lambda ctx: -to_number(operand(ctx))
    if kind == "binary":
        left = _compile(node.args[0], allow_names=allow_names)
        right = _compile(node.args[1], allow_names=allow_names)
        return _binary(node.value, left, right)
    if kind == "call":
        return _compile_call(node, allow_names=allow_names)
    raise ExpressionError(f"unsupported construct at offset {node.position}", node.position)  # pragma: no cover


def _binary(operator: str, left: Compiled, right: Compiled) -> Compiled:
    if operator == "or":
        return lambda ctx: to_boolean(left(ctx)) or to_boolean(right(ctx))
    if operator == "and":
        return lambda ctx: to_boolean(left(ctx)) and to_boolean(right(ctx))
    if operator == "=":
        return lambda ctx: _equals(left(ctx), right(ctx))
    if operator == "!=":
        return lambda ctx: not _equals(left(ctx), right(ctx))
    if operator == "<":
        return lambda ctx: _lt(*_relational(left(ctx), right(ctx)))
    if operator == "<=":
        return lambda ctx: _le(*_relational(left(ctx), right(ctx)))
    if operator == ">":
        return lambda ctx: _lt(*reversed(_relational(left(ctx), right(ctx))))
    if operator == ">=":
        return lambda ctx: _le(*reversed(_relational(left(ctx), right(ctx))))
    if operator == "+":
        return lambda ctx: to_number(left(ctx)) + to_number(right(ctx))
    if operator == "-":
        return lambda ctx: to_number(left(ctx)) - to_number(right(ctx))
    if operator == "*":
        return lambda ctx: to_number(left(ctx)) * to_number(right(ctx))
    if operator == "div":
        return lambda ctx: _divide(to_number(left(ctx)), to_number(right(ctx)))
    if operator == "mod":
        return lambda ctx: _modulo(to_number(left(ctx)), to_number(right(ctx)))
    raise ExpressionError(f"unsupported operator {operator!r}")  # pragma: no cover


def _lt(a: float, b: float) -> bool:
    return a < b  # NaN compares false, as XPath 1.0 requires


def _le(a: float, b: float) -> bool:
    return a <= b


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * (1 if math.copysign(1, b) > 0 else -1)
    return a / b


def _modulo(a: float, b: float) -> float:
    if b == 0 or math.isnan(a) or math.isnan(b):
        return math.nan
    return math.fmod(a, b)


def _compile_call(node: Node, *, allow_names: bool) -> Compiled:
    name = node.value
    arity = len(node.args)
    if name in SPECIAL_FUNCTIONS:
        low, high = SPECIAL_FUNCTIONS[name]
    elif name in FUNCTIONS:
        low, high_or_none, _ = FUNCTIONS[name]
        high = high_or_none if high_or_none is not None else 1 << 30
    else:
        raise ExpressionError(f"unknown function {name}() at offset {node.position}", node.position)
    if not low <= arity <= high:
        expected = str(low) if low == high else f"{low} to {high}" if high < 1 << 30 else f"at least {low}"
        raise ExpressionError(f"{name}() takes {expected} argument(s), got {arity} (offset {node.position})", node.position)
    if name == "today":
        return lambda ctx: ctx.get_today()
    if name == "if":
        condition, then, otherwise = (_compile(arg, allow_names=allow_names) for arg in node.args)
        return lambda ctx: then(ctx) if to_boolean(condition(ctx)) else otherwise(ctx)
    if name == "count":
        target = node.args[0]
        if target.kind != "ref":
            raise ExpressionError(f"count() at offset {node.position} takes a repeat reference such as ${{members}}", node.position)
        repeat_name = target.value
        return lambda ctx: float(ctx.count_of(repeat_name))
    if name == "jr:choice-name":
        value_of = _compile(node.args[0], allow_names=allow_names)
        question = node.args[1]
        if question.kind != "literal" or not question.value.startswith("${"):
            raise ExpressionError(f"jr:choice-name() at offset {node.position} takes '${{question}}' as its second argument", node.position)
        question_name = question.value[2:-1].strip()

        def choice_name(ctx: EvalContext) -> str:
            value = to_string(value_of(ctx))
            if ctx.choice_label is None:
                return value
            return ctx.choice_label(question_name, value)

        return choice_name
    implementation = FUNCTIONS[name][2]
    compiled_args = [_compile(arg, allow_names=allow_names) for arg in node.args]
    if arity == 1:
        only = compiled_args[0]
        return lambda ctx: implementation(only(ctx))
    if arity == 2:
        first, second = compiled_args
        return lambda ctx: implementation(first(ctx), second(ctx))
    return lambda ctx: implementation(*(arg(ctx) for arg in compiled_args))


@dataclass(frozen=True)
class Expression:
    """A parsed and compiled expression; `references` are the `${names}` it reads."""

    source: str
    tree: Node
    references: frozenset[str]
    function: Compiled

    def evaluate(self, ctx: EvalContext) -> Any:
        return self.function(ctx)

    def truth(self, ctx: EvalContext) -> bool:
        return to_boolean(self.function(ctx))


def _references(node: Node) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.kind == "ref":
            found.add(current.value)
        if current.kind == "call" and current.value == "jr:choice-name" and len(current.args) == 2:
            literal = current.args[1]
            if literal.kind == "literal" and str(literal.value).startswith("${"):
                found.add(str(literal.value)[2:-1].strip())
        stack.extend(current.args)
    return found


def compile_expression(source: str, *, choice_filter: bool = False) -> Expression:
    """Parse and compile `source`; bare names (choice columns) are allowed only in a choice filter."""
    tree = parse(source)
    function = _compile(tree, allow_names=choice_filter)
    return Expression(source=source, tree=tree, references=frozenset(_references(tree)), function=function)


def evaluate(source: str, *, current: Any = None, values: Mapping[str, Any] | None = None, today: dt.date | None = None) -> Any:
    """Convenience for tests and one-off use: compile and evaluate once."""
    return compile_expression(source).evaluate(EvalContext(current=current, values=values or {}, today=today))
