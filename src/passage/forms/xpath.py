"""A small, safe evaluator for the ODK XPath subset used in XLSForm expressions.

XLSForm `constraint`, `relevant`, `required`, `calculation` and `choice_filter` cells hold XPath 1.0
expressions with ODK extensions (ODK XForms specification, "XPath Functions",
https://getodk.github.io/xforms-spec/#xpath-functions). This module tokenises and parses them with a
recursive-descent parser into a tree, then compiles the tree to Python closures. Nothing is ever
passed to `eval`; an unknown function or an unsupported construct is refused when the form is loaded.

Coercion follows XPath 1.0 (section 3.4): `=`/`!=` compare numbers when either side is a number,
booleans when either side is a boolean, strings otherwise; `<`, `<=`, `>`, `>=` compare numbers.
As in JavaRosa, a date compared with anything compares as days since 1970-01-01.

Supported: `.`, `${name}`, bare names inside a choice filter or a predicate (the choice's columns),
absolute and relative paths (`/data/group/q`, `../q`, `current()/../q`; a path names the field of its
last step, as field names are unique in an XLSForm), secondary-instance lookups
(`instance('list')/root/item[name = ${q}]/label`, predicates filtering the list's rows), string and
number literals, `and`, `or`, `=`, `!=`, `<`, `<=`, `>`, `>=`, `+`, `-`, `*`, `div`, `mod`, unary `-`,
the value functions in `FUNCTIONS` and the context functions in `SPECIAL_FUNCTIONS` (ODK XForms
specification, "XPath Functions": the whole list it gives, except `version()`-style device properties).
Node-sets (the values of a field across repeat instances, the rows of an instance lookup) are `NodeSet`
lists; used as a scalar a node-set is its first node (XPath 1.0 section 4.2, `string()`), and `=` is
true when any node matches (section 3.4).

What cannot be evaluated (an unknown function, a predicate on a form path) raises ExpressionError at
compile time; `passage.forms.definition` turns that into a load warning naming sheet, row and column,
and the check is then reported "not evaluated" instead of refusing the form.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import re
import secrets
import uuid as uuid_module
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from passage.core.i18n import T_

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
    repeat_values: Mapping[str, list[Any]] = field(default_factory=dict)
    """Field name -> its values across the instances of the repeat it sits in (for sum(), max()...)."""
    position: int | None = None
    """1-based index of the repeat instance this context is (for position(..))."""
    instances: Callable[[str], list[Mapping[str, Any]]] | None = None
    """Secondary instance name (a choice list or an attached file) -> its rows (columns by name)."""

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

    def nodeset(self, name: str) -> list[Any]:
        """The values `name` has: across repeat instances if it sits in a repeat, else its one value."""
        scope: EvalContext | None = self
        while scope is not None:
            if name in scope.values:
                value = scope.values[name]
                return NodeSet([] if value is None or value == "" else [value])
            if name in scope.repeat_values:
                return NodeSet(scope.repeat_values[name])
            scope = scope.parent
        return NodeSet()

    def resolve(self, name: str) -> Any:
        """The scalar value of a field reference: its value, or the first of its repeat values."""
        scope: EvalContext | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            if name in scope.repeat_values:
                nodes = scope.repeat_values[name]
                return nodes[0] if nodes else None
            scope = scope.parent
        return None

    def get_position(self) -> int | None:
        scope: EvalContext | None = self
        while scope is not None:
            if scope.position is not None:
                return scope.position
            scope = scope.parent
        return None

    def rows_of(self, instance: str) -> list[Mapping[str, Any]]:
        scope: EvalContext | None = self
        while scope is not None:
            if scope.instances is not None:
                return scope.instances(instance)
            scope = scope.parent
        return []

    def label_callback(self) -> Callable[[str, str], str] | None:
        scope: EvalContext | None = self
        while scope is not None:
            if scope.choice_label is not None:
                return scope.choice_label
            scope = scope.parent
        return None

    def get_today(self) -> dt.date:
        scope: EvalContext | None = self
        while scope is not None:
            if scope.today is not None:
                return scope.today
            scope = scope.parent
        return dt.date.today()


class NodeSet(list):  # type: ignore[type-arg]
    """An XPath node-set as the values of its nodes, in document order."""


# ---------------------------------------------------------------------------------------------------
# coercion (XPath 1.0 section 4: string(), number(), boolean())


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, NodeSet):
        return to_string(value[0]) if value else ""
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
    if isinstance(value, NodeSet):
        return to_date(value[0]) if value else None
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
    if isinstance(value, NodeSet):
        return to_number(value[0]) if value else math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dt.datetime):
        # ODK: a dateTime is decimal days since the epoch (decimal-date-time()).
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds() / 86400.0
    if isinstance(value, dt.date):
        return float((value - EPOCH).days)
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
    if isinstance(value, NodeSet):
        return len(value) > 0
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
    if isinstance(left, NodeSet):
        if isinstance(right, bool):
            return to_boolean(left) == right
        return any(_equals(node, right) for node in left)
    if isinstance(right, NodeSet):
        return _equals(right, left)
    if isinstance(left, bool) or isinstance(right, bool):
        return to_boolean(left) == to_boolean(right)
    if isinstance(left, dt.date) or isinstance(right, dt.date):
        ld, rd = to_date(left), to_date(right)
        return ld is not None and ld == rd
    if _is_number(left) or _is_number(right):
        return to_number(left) == to_number(right)
    return to_string(left) == to_string(right)


# ---------------------------------------------------------------------------------------------------
# tokeniser

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<ref>\$\{\s*(?P<refname>[A-Za-z_][\w.\-]*)\s*\})
  | (?P<number>\d+(?:\.\d*)?|\.\d+)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<op><=|>=|!=|=|<|>|\+|-|\*|\(|\)|,|\||\[|\])
  | (?P<dot>\.\.|\.)
  | (?P<name>[A-Za-z_][\w\-.]*(?::[A-Za-z_][\w\-.]*)?)
  | (?P<slash>//|/)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


_SPLIT_OPERATOR = re.compile(r"^(and|or|div|mod)(?=[.\-])")


def _after_operand(tokens: list[Token]) -> bool:
    """Whether the last token ends an operand, so that a following `and`/`or`/`div`/`mod` is an operator
    (XPath 1.0 section 3.7, lexical structure)."""
    if not tokens:
        return False
    last = tokens[-1]
    if last.kind in ("number", "string", "ref", "dot"):
        return True
    if last.kind == "op":
        return last.text in (")", "]")
    return last.kind == "name" and last.text not in _OPERATOR_WORDS


def tokenize(expression: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(expression):
        match = _TOKEN_RE.match(expression, position)
        if match is None:
            raise ExpressionError(T_("unexpected character {character} at offset {position}", character=expression[position], position=position), position)
        kind = match.lastgroup or ""
        if kind == "refname":  # pragma: no cover - the outer group always wins
            kind = "ref"
        if kind == "name" and _after_operand(tokens):
            # `. > 1 or.< 5`: names may contain dots and hyphens, so `or.` would read as one name.
            split = _SPLIT_OPERATOR.match(match.group("name"))
            if split is not None:
                tokens.append(Token("name", split.group(1), position))
                position += len(split.group(1))
                continue
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
            raise ExpressionError(T_("unexpected end of expression"), len(self.expression))
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
            raise ExpressionError(T_("empty expression"), 0)
        node = self.parse_or()
        token = self.peek()
        if token is not None:
            raise ExpressionError(T_("unexpected {text} at offset {position}", text=token.text, position=token.position), token.position)
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
        return self.parse_path()

    # --- paths (XPath 1.0 section 2, location paths; section 3.3, filter expressions) ---------------

    def _at(self, kind: str, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == kind and (not texts or token.text in texts)

    def _starts_step(self) -> bool:
        token = self.peek()
        if token is None:
            return False
        if token.kind == "dot" or (token.kind == "op" and token.text == "*"):
            return True
        return token.kind == "name" and not self._call_follows()

    def _call_follows(self) -> bool:
        following = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else None
        return following is not None and following.kind == "op" and following.text == "("

    def parse_step(self) -> Node:
        token = self.take()
        name = "*" if token.kind == "op" else token.text
        predicates = self.parse_predicates() if token.kind != "dot" else ()
        return Node("step", name, predicates, token.position)

    def parse_predicates(self) -> tuple[Node, ...]:
        predicates: list[Node] = []
        while self._at("op", "["):
            self.take()
            predicates.append(self.parse_or())
            closing = self.take()
            if closing.text != "]":
                raise ExpressionError(T_("expected ']' at offset {position}", position=closing.position), closing.position)
        return tuple(predicates)

    def parse_relative_steps(self) -> list[Node]:
        steps = [self.parse_step()]
        while self._at("slash"):
            slash = self.take()
            if slash.text == "//":
                raise ExpressionError(T_("'//' at offset {position} is not evaluated; name the field", position=slash.position), slash.position)
            if not self._starts_step():
                raise ExpressionError(T_("expected a path step after '/' at offset {position}", position=slash.position), slash.position)
            steps.append(self.parse_step())
        return steps

    def parse_path(self) -> Node:
        token = self.peek()
        if token is None:
            raise ExpressionError(T_("unexpected end of expression"), len(self.expression))
        if token.kind == "slash":
            self.take()
            if token.text == "//":
                raise ExpressionError(T_("'//' at offset {position} is not evaluated; name the field", position=token.position), token.position)
            steps = self.parse_relative_steps() if self._starts_step() else []
            return Node("path", "root", tuple(steps), token.position)
        if self._starts_step():
            steps = self.parse_relative_steps()
            if len(steps) == 1 and not steps[0].args:
                only = steps[0]
                if only.value == ".":
                    return Node("current", None, (), only.position)
                if only.value not in ("..", "*"):
                    return Node("name", only.value, (), only.position)
            return Node("path", "relative", tuple(steps), token.position)
        primary = self.parse_primary()
        predicates = self.parse_predicates()
        if predicates:
            primary = Node("filter", None, (primary, *predicates), primary.position)
        if self._at("slash"):
            slash = self.take()
            if slash.text == "//" or not self._starts_step():
                raise ExpressionError(T_("expected a path step after '/' at offset {position}", position=slash.position), slash.position)
            steps = self.parse_relative_steps()
            return Node("path", "base", (primary, *steps), primary.position)
        return primary

    def parse_primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Node("number", float(token.text), (), token.position)
        if token.kind == "string":
            return Node("literal", token.text, (), token.position)
        if token.kind == "ref":
            return Node("ref", token.text, (), token.position)
        if token.kind == "op" and token.text == "(":
            node = self.parse_or()
            closing = self.take()
            if closing.text != ")":
                raise ExpressionError(T_("expected ')' at offset {position}", position=closing.position), closing.position)
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
                            raise ExpressionError(T_("expected ',' or ')' at offset {position}", position=separator.position), separator.position)
                else:
                    self.take()
                return Node("call", token.text, tuple(args), token.position)
            return Node("name", token.text, (), token.position)
        raise ExpressionError(T_("unexpected {text} at offset {position}", text=token.text, position=token.position), token.position)


def parse(expression: str) -> Node:
    """Parse an expression into a syntax tree, or raise ExpressionError with the offset."""
    return _Parser(expression).parse()


# ---------------------------------------------------------------------------------------------------
# functions

Compiled = Callable[[EvalContext], Any]


_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def _pattern(text: str) -> re.Pattern[str] | None:
    """regex()'s pattern compiled (None when invalid: it matches nothing); kept, as a form has few."""
    compiled = _PATTERNS.get(text, False)
    if compiled is False:
        try:
            compiled = re.compile(text)
        except re.error:
            compiled = None
        if len(_PATTERNS) < 10_000:
            _PATTERNS[text] = compiled
    return compiled  # type: ignore[return-value]


def _search(pattern: re.Pattern[str] | None, text: str) -> bool:
    return pattern is not None and pattern.search(text) is not None


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


def _substring_before(text: Any, marker: Any) -> str:
    value, needle = to_string(text), to_string(marker)
    found = value.find(needle)
    return value[:found] if found >= 0 and needle else ""


def _substring_after(text: Any, marker: Any) -> str:
    value, needle = to_string(text), to_string(marker)
    found = value.find(needle)
    return value[found + len(needle) :] if found >= 0 else ""


def _translate(text: Any, source: Any, target: Any) -> str:
    """XPath 1.0 section 4.2 translate(): characters of `source` map to `target`'s, the extra ones are removed."""
    mapping: dict[int, int | None] = {}
    replacement = to_string(target)
    for index, char in enumerate(to_string(source)):
        if ord(char) not in mapping:
            mapping[ord(char)] = ord(replacement[index]) if index < len(replacement) else None
    return to_string(text).translate(mapping)


def _math(function: Callable[[float], float]) -> Callable[[Any], float]:
    def apply(value: Any) -> float:
        number = to_number(value)
        try:
            return function(number)
        except (ValueError, OverflowError):
            return math.nan

    return apply


def _pow(base: Any, exponent: Any) -> float:
    try:
        return float(math.pow(to_number(base), to_number(exponent)))
    except (ValueError, OverflowError):
        return math.nan


def _boolean_from_string(value: Any) -> bool:
    return to_string(value).strip() in ("true", "1")


def _checklist(low: Any, high: Any, *answers: Any) -> bool:
    """ODK checklist(min, max, ...): the number of true answers is within [min, max]; -1 means unbounded."""
    count = sum(1 for answer in _flatten(answers) if to_boolean(answer))
    lower, upper = to_number(low), to_number(high)
    return (lower < 0 or count >= lower) and (upper < 0 or count <= upper)


def _weighted_checklist(low: Any, high: Any, *pairs: Any) -> bool:
    """ODK weighted-checklist(min, max, answer1, weight1, ...): the sum of weights of true answers in range."""
    flat = list(pairs)
    total = sum(to_number(flat[index + 1]) for index in range(0, len(flat) - 1, 2) if to_boolean(flat[index]))
    lower, upper = to_number(low), to_number(high)
    return (lower < 0 or total >= lower) and (upper < 0 or total <= upper)


_DIGESTS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _digest(data: Any, algorithm: Any, encoding: Any = "base64") -> str:
    """ODK digest(data, 'SHA-256', 'hex'|'base64')."""
    name = _DIGESTS.get(to_string(algorithm).upper())
    if name is None:
        raise ExpressionError(T_("digest(): unknown algorithm {algorithm}", algorithm=to_string(algorithm)))
    raw = hashlib.new(name, to_string(data).encode("utf-8")).digest()
    return raw.hex() if to_string(encoding).lower() == "hex" else base64.b64encode(raw).decode("ascii")


def _base64_decode(value: Any) -> str:
    try:
        return base64.b64decode(to_string(value), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return ""


def to_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, NodeSet):
        return to_datetime(value[0]) if value else None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if math.isnan(value) or math.isinf(value):
            return None
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=float(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        day = to_date(text)
        return dt.datetime(day.year, day.month, day.day) if day else None


def _date_time(value: Any) -> Any:
    moment = to_datetime(value)
    return moment if moment is not None else ""


def _decimal_date_time(value: Any) -> float:
    moment = to_datetime(value)
    return to_number(moment) if moment is not None else math.nan


def _decimal_time(value: Any) -> float:
    text = to_string(value).strip()
    try:
        moment = dt.time.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return math.nan
    offset = moment.utcoffset() or dt.timedelta(0)
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6 - offset.total_seconds()
    return (seconds % 86400) / 86400.0


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _format_date(value: Any, pattern: Any) -> str:
    """ODK format-date()/format-date-time(): %Y %y %m %n %b %d %e %a %H %h %M %S %3 (ODK XForms spec)."""
    moment = to_datetime(value)
    if moment is None:
        return ""
    codes = {
        "Y": f"{moment.year:04d}", "y": f"{moment.year % 100:02d}", "m": f"{moment.month:02d}", "n": str(moment.month),
        "b": _MONTHS[moment.month - 1], "d": f"{moment.day:02d}", "e": str(moment.day), "a": _DAYS[moment.weekday()],
        "H": f"{moment.hour:02d}", "h": str(moment.hour), "M": f"{moment.minute:02d}", "S": f"{moment.second:02d}",
        "3": f"{moment.microsecond // 1000:03d}",
    }  # fmt: skip
    text = to_string(pattern)
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "%" and index + 1 < len(text):
            out.append(codes.get(text[index + 1], text[index + 1]))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


EARTH_RADIUS_METERS = 6378100.0
"""JavaRosa `GeoUtils.EARTH_EQUATORIAL_RADIUS_METERS`, used by ODK's area() and distance()."""


def _points(value: Any) -> list[tuple[float, float]]:
    """A geotrace/geoshape string ("lat lon [alt acc]; ...") or node-set of geopoints as (lat, lon) pairs."""
    parts: list[str] = []
    for chunk in (value if isinstance(value, list) else [value]):
        parts.extend(piece for piece in to_string(chunk).split(";") if piece.strip())
    points: list[tuple[float, float]] = []
    for piece in parts:
        numbers = piece.split()
        if len(numbers) < 2:
            raise ValueError("not a point")
        points.append((float(numbers[0]), float(numbers[1])))
    return points


def _distance(*values: Any) -> float:
    """ODK distance(): the length in metres of the line through the points, great-circle (haversine) per leg."""
    try:
        points = _points(list(_flatten(values)))
    except ValueError:
        return math.nan
    total = 0.0
    for (lat1, lon1), (lat2, lon2) in zip(points, points[1:], strict=False):
        phi1, phi2 = math.radians(lat1), math.radians(lat2)
        dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
        h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
        total += 2 * EARTH_RADIUS_METERS * math.asin(min(1.0, math.sqrt(h)))
    return total


def _area(value: Any) -> float:
    """ODK area(): the area in square metres of the closed shape, as a spherical polygon.

    Spherical excess summed per edge (the method of Google's SphericalUtil.computeSignedArea, which
    JavaRosa's GeoUtils follows), on a sphere of radius EARTH_RADIUS_METERS.
    """
    try:
        points = _points(value)
    except ValueError:
        return math.nan
    if len(points) < 3:
        return 0.0
    total = 0.0
    previous_lat, previous_lon = points[-1]
    previous_tan = math.tan((math.pi / 2 - math.radians(previous_lat)) / 2)
    previous_lng = math.radians(previous_lon)
    for lat, lon in points:
        tan_lat = math.tan((math.pi / 2 - math.radians(lat)) / 2)
        lng = math.radians(lon)
        delta = lng - previous_lng
        t = tan_lat * previous_tan
        total += 2 * math.atan2(t * math.sin(delta), 1 + t * math.cos(delta))
        previous_tan, previous_lng = tan_lat, lng
    return abs(total * EARTH_RADIUS_METERS**2)


def _flatten(values: Any) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list):
            yield from value
        else:
            yield value


def _numbers(values: Any) -> list[float]:
    return [to_number(value) for value in _flatten(values)]


def _sum(nodes: Any) -> float:
    return float(math.fsum(_numbers([nodes])))


def _extreme(pick: Callable[[list[float]], float]) -> Callable[..., float]:
    def apply(*values: Any) -> float:
        numbers = _numbers(values)
        if not numbers or any(math.isnan(number) for number in numbers):
            return math.nan
        return pick(numbers)

    return apply


def _count_non_empty(nodes: Any) -> float:
    return float(sum(1 for node in _flatten([nodes]) if to_string(node) != ""))


def _join(separator: Any, *values: Any) -> str:
    return to_string(separator).join(to_string(value) for value in _flatten(values))


def _uuid(length: Any = None) -> str:
    if length is None:
        return str(uuid_module.uuid4())
    size = max(0, int(to_number(length)))
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(size))


# ---------------------------------------------------------------------------------------------------
# the semantics table: one definition of every operator and value function


@dataclass(frozen=True)
class Rule:
    """What one operator or value function means; the only place where that is written.

    The interpreter below (`_compile`), the generated validation plan (`passage.forms.plan`) and the
    column-wise check (`passage.forms.columns`) all build their code from these entries, so a rule changed
    here changes all three:

    - `operands`: how each operand is coerced before the rule applies (XPath 1.0 section 4: `number`
      is `to_number`, `string` is `to_string`, `boolean` is `to_boolean`, `value` leaves it as it is);
    - `python`: the rule as a Python expression over the coerced operands `{0}`, `{1}`, ... and `{today}`
      (the evaluation date), using only the names in `RUNTIME`; Python's own `and`, `or` and `x if c else y`
      keep XPath's short-circuit evaluation;
    - or `implementation`: a function applied to the operands' values as they are (it coerces them
      itself), for the functions too long to write as one expression;
    - `result`: what it returns (`num` a float, `bool`, `str`, or `any`), which lets the generator skip a
      coercion it would otherwise emit;
    - `vector`: the same rule written for numpy arrays of the coerced operands (element by element, IEEE
      doubles and NaN as in Python), when the column check may apply it a whole column at a time;
      `same_kind` (for `=` and `!=`): the rule when both operands are statically of one kind (numbers,
      strings or booleans), where XPath 1.0 section 3.4 compares them as that kind;
    - `short_circuit`: `and`/`or`, when the last operand is evaluated only where the first is true/false;
    - `constant`: False when the value depends on the evaluation context (the clock), so it is never folded.
    """

    operands: tuple[str, ...] = ()
    result: str = "any"
    python: str = ""
    implementation: Callable[..., Any] | None = None
    minimum: int | None = None
    maximum: int | None = None
    """Argument counts of an `implementation` (None: unbounded); a `python` rule takes len(operands)."""
    vector: str | None = None
    same_kind: str | None = None
    short_circuit: str | None = None
    constant: bool = True

    @property
    def arity(self) -> tuple[int, int | None]:
        if self.implementation is not None:
            return (self.minimum or 0, self.maximum)
        return (len(self.operands), len(self.operands))


def _numeric(python: str, result: str = "num") -> Rule:
    """A rule on numbers whose Python spelling is also valid on numpy float arrays."""
    return Rule(("number",) * python.count("{"), result, python, vector=python)


def _apply(result: str, low: int, high: int | None, implementation: Callable[..., Any]) -> Rule:
    return Rule(result=result, implementation=implementation, minimum=low, maximum=high)


OPERATORS: dict[str, Rule] = {
    "or": Rule(("boolean", "boolean"), "bool", "({0} or {1})", vector="({0} | {1})", short_circuit="or"),
    "and": Rule(("boolean", "boolean"), "bool", "({0} and {1})", vector="({0} & {1})", short_circuit="and"),
    "=": Rule(("value", "value"), "bool", "_equals({0}, {1})", same_kind="({0} == {1})"),
    "!=": Rule(("value", "value"), "bool", "(not _equals({0}, {1}))", same_kind="({0} != {1})"),
    "<": _numeric("({0} < {1})", "bool"),  # NaN compares false, as XPath 1.0 requires
    "<=": _numeric("({0} <= {1})", "bool"),
    ">": _numeric("({0} > {1})", "bool"),
    ">=": _numeric("({0} >= {1})", "bool"),
    "+": _numeric("({0} + {1})"),
    "-": _numeric("({0} - {1})"),
    "*": _numeric("({0} * {1})"),
    "div": Rule(("number", "number"), "num", "_divide({0}, {1})"),
    "mod": Rule(("number", "number"), "num", "_modulo({0}, {1})"),
    "neg": _numeric("(-{0})"),
}
"""XPath 1.0 sections 3.4 and 3.5 (`neg` is unary minus); `=` compares by the operands' types."""

FUNCTIONS: dict[str, Rule] = {
    "if": Rule(("boolean", "value", "value"), "any", "({1} if {0} else {2})"),
    "today": Rule((), "any", "{today}", constant=False),
    "selected": Rule(("string", "token"), "bool", "({1} in {0}.split())"),
    "count-selected": Rule(("string",), "num", "float(len({0}.split()))"),
    "string-length": Rule(("string",), "num", "float(len({0}))"),
    "number": _numeric("{0}"),
    "string": Rule(("string",), "str", "{0}"),
    "boolean": Rule(("boolean",), "bool", "{0}"),
    "not": Rule(("boolean",), "bool", "(not {0})", vector="(~{0})"),
    "true": Rule((), "bool", "True"),
    "false": Rule((), "bool", "False"),
    "abs": _numeric("abs({0})"),
    "contains": Rule(("string", "string"), "bool", "({1} in {0})"),
    "starts-with": Rule(("string", "string"), "bool", "{0}.startswith({1})"),
    "ends-with": Rule(("string", "string"), "bool", "{0}.endswith({1})"),
    "normalize-space": Rule(("string",), "str", "' '.join({0}.split())"),
    "regex": Rule(("string", "pattern"), "bool", "_search({1}, {0})"),
    "date": _apply("any", 1, 1, _date),
    "coalesce": _apply("any", 2, 2, _coalesce),
    "int": _apply("num", 1, 1, _int),
    "concat": _apply("str", 1, None, lambda *parts: "".join(to_string(part) for part in _flatten(parts))),
    "round": _apply("num", 1, 2, _round),
    "substr": _apply("str", 2, 3, _substr),
    "substring": _apply("str", 2, 3, _substr),
    "selected-at": _apply("str", 2, 2, lambda value, index: (to_string(value).split() + [""] * (int(to_number(index)) + 1))[int(to_number(index))] if to_number(index) >= 0 else ""),
    "substring-before": _apply("str", 2, 2, _substring_before),
    "substring-after": _apply("str", 2, 2, _substring_after),
    "translate": _apply("str", 3, 3, _translate),
    "floor": _apply("num", 1, 1, _math(lambda number: float(math.floor(number)) if math.isfinite(number) else number)),
    "ceiling": _apply("num", 1, 1, _math(lambda number: float(math.ceil(number)) if math.isfinite(number) else number)),
    "pow": _apply("num", 2, 2, _pow),
    "log": _apply("num", 1, 1, _math(math.log)),
    "log10": _apply("num", 1, 1, _math(math.log10)),
    "exp": _apply("num", 1, 1, _math(math.exp)),
    "exp10": _apply("num", 1, 1, _math(lambda number: 10.0**number)),
    "sqrt": _apply("num", 1, 1, _math(math.sqrt)),
    "sin": _apply("num", 1, 1, _math(math.sin)),
    "cos": _apply("num", 1, 1, _math(math.cos)),
    "tan": _apply("num", 1, 1, _math(math.tan)),
    "asin": _apply("num", 1, 1, _math(math.asin)),
    "acos": _apply("num", 1, 1, _math(math.acos)),
    "atan": _apply("num", 1, 1, _math(math.atan)),
    "atan2": _apply("num", 2, 2, lambda y, x: math.atan2(to_number(y), to_number(x))),
    "pi": _apply("num", 0, 0, lambda: math.pi),
    "boolean-from-string": _apply("bool", 1, 1, _boolean_from_string),
    "checklist": _apply("bool", 2, None, _checklist),
    "weighted-checklist": _apply("bool", 2, None, _weighted_checklist),
    "digest": _apply("str", 2, 3, _digest),
    "base64-decode": _apply("str", 1, 1, _base64_decode),
    "date-time": _apply("any", 1, 1, _date_time),
    "decimal-date-time": _apply("num", 1, 1, _decimal_date_time),
    "decimal-time": _apply("num", 1, 1, _decimal_time),
    "format-date": _apply("str", 2, 2, _format_date),
    "format-date-time": _apply("str", 2, 2, _format_date),
    "once": _apply("any", 1, 1, lambda value: value),
    "area": _apply("num", 1, 1, _area),
    "distance": _apply("num", 1, None, _distance),
}
"""The value functions (ODK XForms specification, "XPath Functions"; XPath 1.0 section 4): each a `Rule`."""

SPECIAL_FUNCTIONS: dict[str, tuple[int, int]] = {
    "now": (0, 0), "count": (1, 1), "jr:choice-name": (2, 2), "sum": (1, 1),
    "max": (1, 1 << 30), "min": (1, 1 << 30), "count-non-empty": (1, 1), "join": (2, 1 << 30), "position": (0, 1),
    "indexed-repeat": (3, 7), "current": (0, 0), "instance": (1, 1), "pulldata": (4, 4), "uuid": (0, 1), "random": (0, 0),
}  # fmt: skip
"""Functions that read the context (node-sets, repeat position, secondary instances, the clock) or are
not deterministic (uuid, random, now); compiled below one by one, never folded into constants. The plan
and the column check call the closures compiled here for them."""

COERCIONS: dict[str, str] = {
    "number": "to_number({})", "string": "to_string({})", "boolean": "to_boolean({})", "value": "{}",
    "token": "{}.strip()", "pattern": "_pattern({})",
}  # fmt: skip
"""A `Rule` operand coercion as Python source around the operand's source; `token` (trimmed) and `pattern`
(a compiled regular expression) apply to the operand's `string` coercion (see `coerce_source`)."""

STRING_BASED = frozenset({"token", "pattern"})


def coerce_source(coercion: str, source: str) -> str:
    """Python source coercing `source` for a `Rule` operand (the interpreter's; the generator passes sources
    it has already coerced to a string for the string-based coercions)."""
    if coercion in STRING_BASED:
        return COERCIONS[coercion].format(COERCIONS["string"].format(source))
    return COERCIONS[coercion].format(source)

SUPPORTED_FUNCTIONS: frozenset[str] = frozenset(FUNCTIONS) | frozenset(SPECIAL_FUNCTIONS)


# ---------------------------------------------------------------------------------------------------
# compiler


def _last_name(steps: tuple[Node, ...]) -> str | None:
    names = [step.value for step in steps if step.value not in (".", "..", "*")]
    return names[-1] if names else None


def _form_path(node: Node, *, steps: tuple[Node, ...]) -> str:
    """The field a form path (absolute, relative or from current()) names; predicates are not evaluated."""
    if any(step.args for step in steps):
        raise ExpressionError(T_("a predicate on a form path at offset {position} is not evaluated", position=node.position), node.position)
    name = _last_name(steps)
    if name is None:
        raise ExpressionError(T_("the path at offset {position} names no field", position=node.position), node.position)
    return name


def _row_filter(predicates: tuple[Node, ...]) -> Callable[[EvalContext, list[Mapping[str, Any]]], list[Mapping[str, Any]]]:
    compiled = [_compile(predicate, allow_names=True) for predicate in predicates]

    def keep(ctx: EvalContext, rows: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        for predicate in compiled:
            kept: list[Mapping[str, Any]] = []
            inner = EvalContext(current=ctx.current, parent=ctx)
            for position, row in enumerate(rows, start=1):
                inner.choice = row
                result = predicate(inner)
                if isinstance(result, float) and not isinstance(result, bool):
                    if result == position:
                        kept.append(row)
                elif to_boolean(result):
                    kept.append(row)
            rows = kept
        return rows

    return keep


def _compile_path(node: Node, *, allow_names: bool) -> Compiled:
    start = node.value
    if start in ("root", "relative"):
        name = _form_path(node, steps=node.args)
        if start == "relative" and node.args[0].value == "." and len(node.args) == 1:  # pragma: no cover - parsed as current
            return lambda ctx: ctx.current
        return lambda ctx: ctx.resolve(name)
    base, steps = node.args[0], node.args[1:]
    if base.kind == "call" and base.value == "current" and not base.args:
        name = _form_path(node, steps=steps)
        return lambda ctx: ctx.resolve(name)
    if base.kind == "call" and base.value == "instance" and len(base.args) == 1 and base.args[0].kind == "literal":
        instance = str(base.args[0].value)
        # instance('x')/root/item[...]/column: the rows of the list or attachment, filtered, then a column.
        names = [step.value for step in steps]
        if len(names) < 2 or names[0] != "root" or names[1] != "item" or any(step.args for step in steps[2:]) or steps[0].args:
            raise ExpressionError(
                T_("instance('{instance}') at offset {position}: only /root/item[...]/column lookups are evaluated", instance=instance, position=node.position),
                node.position,
            )
        keep = _row_filter(steps[1].args)
        column = names[2] if len(names) > 2 else None
        if len(names) > 3:
            raise ExpressionError(T_("instance('{instance}') at offset {position}: nested columns are not evaluated", instance=instance, position=node.position), node.position)

        def lookup(ctx: EvalContext) -> NodeSet:
            rows = keep(ctx, ctx.rows_of(instance))
            if column is None:
                return NodeSet(row.get("name") for row in rows)
            return NodeSet(row.get(column) for row in rows if row.get(column) is not None)

        return lookup
    raise ExpressionError(T_("the path at offset {position} is not evaluated", position=node.position), node.position)


def _compile_nodeset(node: Node, *, allow_names: bool) -> Compiled:
    """A node-set argument (sum(), count(), join()...): a field's values across repeats, or rows of a lookup."""
    if node.kind == "ref":
        name = node.value
        return lambda ctx: ctx.nodeset(name)
    if node.kind == "path" and node.value in ("root", "relative"):
        name = _form_path(node, steps=node.args)
        return lambda ctx: ctx.nodeset(name)
    if node.kind == "path" and node.args and node.args[0].kind == "call" and node.args[0].value == "current":
        name = _form_path(node, steps=node.args[1:])
        return lambda ctx: ctx.nodeset(name)
    single = _compile(node, allow_names=allow_names)

    def wrapped(ctx: EvalContext) -> Any:
        value = single(ctx)
        return value if isinstance(value, NodeSet) else NodeSet([] if value is None else [value])

    return wrapped


def _compile(node: Node, *, allow_names: bool) -> Compiled:
    kind = node.kind
    if kind in ("literal", "number"):
        constant = node.value
        return lambda _ctx: constant
    if kind == "current":
        return lambda ctx: ctx.current
    if kind == "ref":
        name = node.value
        return lambda ctx: ctx.resolve(name)
    if kind == "name":
        if not allow_names:
            raise ExpressionError(
                T_("bare name '{name}' at offset {position}: refer to a question as ${{{name}}}", name=node.value, position=node.position),
                node.position,
            )
        column = node.value
        return lambda ctx: (ctx.choice or {}).get(column)
    if kind == "neg":
        return _factory(OPERATORS["neg"])(_compile(node.args[0], allow_names=allow_names))
    if kind == "binary":
        rule = OPERATORS.get(node.value)
        if rule is None:  # pragma: no cover - the parser produces only the operators in the table
            raise ExpressionError(T_("unsupported operator {operator}", operator=node.value))
        return _factory(rule)(*(_compile(arg, allow_names=allow_names) for arg in node.args))
    if kind == "call":
        return _compile_call(node, allow_names=allow_names)
    if kind == "path":
        return _compile_path(node, allow_names=allow_names)
    raise ExpressionError(T_("the construct at offset {position} is not evaluated", position=node.position), node.position)


_FACTORIES: dict[Rule, Callable[..., Compiled]] = {}


def _factory(rule: Rule) -> Callable[..., Compiled]:
    """The interpreter's closure maker for `rule`: operands' closures -> the expression's closure.

    Built once per rule, from the rule's own Python (`Rule.python`, operands coerced by `COERCIONS`) or
    around its `implementation`; the source compiled here is the table's text, never a form's."""
    made = _FACTORIES.get(rule)
    if made is not None:
        return made
    if rule.implementation is not None:
        implementation = rule.implementation

        def apply(*operands: Compiled) -> Compiled:
            if not operands:
                return lambda _ctx: implementation()
            if len(operands) == 1:
                only = operands[0]
                return lambda ctx: implementation(only(ctx))
            if len(operands) == 2:
                first, second = operands
                return lambda ctx: implementation(first(ctx), second(ctx))
            return lambda ctx: implementation(*(operand(ctx) for operand in operands))

        made = apply
    else:
        names = [f"a{index}" for index in range(len(rule.operands))]
        coerced = [coerce_source(coercion, f"{name}(ctx)") for coercion, name in zip(rule.operands, names, strict=True)]
        body = rule.python.format(*coerced, today="ctx.get_today()")
        made = eval(f"lambda {', '.join(names)}: lambda ctx: {body}", dict(RUNTIME))  # noqa: S307 - the table's own text
    _FACTORIES[rule] = made
    return made


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
        low, high_or_none = FUNCTIONS[name].arity
        high = high_or_none if high_or_none is not None else 1 << 30
    else:
        raise ExpressionError(T_("unknown function {name}() at offset {position}", name=name, position=node.position), node.position)
    if not low <= arity <= high:
        expected = str(low) if low == high else f"{low} to {high}" if high < 1 << 30 else f"at least {low}"
        raise ExpressionError(T_("{name}() takes {expected} argument(s), got {arity} (offset {position})", name=name, expected=expected, arity=arity, position=node.position), node.position)
    if name == "now":
        return lambda _ctx: dt.datetime.now(dt.UTC)
    if name == "count":
        target = node.args[0]
        if target.kind == "ref":
            repeat_name = target.value
            nodes_of = _compile_nodeset(target, allow_names=allow_names)

            def count_ref(ctx: EvalContext) -> float:
                scope: EvalContext | None = ctx
                while scope is not None:
                    if repeat_name in scope.repeat_counts:
                        return float(scope.repeat_counts[repeat_name])
                    scope = scope.parent
                return float(len(nodes_of(ctx)))

            return count_ref
        nodes = _compile_nodeset(target, allow_names=allow_names)
        return lambda ctx: float(len(nodes(ctx)))
    if name in ("sum", "count-non-empty"):
        nodes = _compile_nodeset(node.args[0], allow_names=allow_names)
        implementation = _sum if name == "sum" else _count_non_empty
        return lambda ctx: implementation(nodes(ctx))
    if name in ("max", "min", "join"):
        pick = _extreme(max) if name == "max" else _extreme(min) if name == "min" else _join
        parts = [
            _compile_nodeset(arg, allow_names=allow_names) if arg.kind in ("ref", "path") else _compile(arg, allow_names=allow_names)
            for arg in node.args
        ]
        return lambda ctx: pick(*(part(ctx) for part in parts))
    if name == "indexed-repeat":
        nodes = _compile_nodeset(node.args[0], allow_names=allow_names)
        index_of = _compile(node.args[2], allow_names=allow_names)

        def indexed(ctx: EvalContext) -> Any:
            found, index = nodes(ctx), to_number(index_of(ctx))
            return found[int(index) - 1] if not math.isnan(index) and 1 <= index <= len(found) else ""

        return indexed
    if name == "position":
        return lambda ctx: float(ctx.get_position() or 1)
    if name == "current":
        return lambda ctx: ctx.current
    if name == "instance":
        raise ExpressionError(T_("instance() at offset {position} is evaluated only as instance('x')/root/item[...]", position=node.position), node.position)
    if name == "uuid":
        length = _compile(node.args[0], allow_names=allow_names) if node.args else None
        return lambda ctx: _uuid(length(ctx) if length is not None else None)
    if name == "random":
        return lambda _ctx: secrets.randbelow(1 << 53) / float(1 << 53)
    if name == "pulldata":
        source, wanted, key_column, key = (_compile(arg, allow_names=allow_names) for arg in node.args)

        def pulldata(ctx: EvalContext) -> Any:
            column, match_column, match = to_string(wanted(ctx)), to_string(key_column(ctx)), to_string(key(ctx))
            for row in ctx.rows_of(to_string(source(ctx))):
                if to_string(row.get(match_column)) == match:
                    return row.get(column, "")
            return ""

        return pulldata
    if name == "jr:choice-name":
        value_of = _compile(node.args[0], allow_names=allow_names)
        question = node.args[1]
        if question.kind != "literal" or not str(question.value).strip().startswith("${"):
            raise ExpressionError(T_("jr:choice-name() at offset {position} takes '${{question}}' as its second argument", position=node.position), node.position)
        question_name = str(question.value).strip()[2:-1].strip()

        def choice_name(ctx: EvalContext) -> str:
            value = to_string(value_of(ctx))
            label = ctx.label_callback()
            return value if label is None else label(question_name, value)

        return choice_name
    return _factory(FUNCTIONS[name])(*(_compile(arg, allow_names=allow_names) for arg in node.args))


@dataclass(frozen=True)
class Expression:
    """A parsed and compiled expression; `references` are the fields it reads (`${name}` or a path)."""

    source: str
    tree: Node
    references: frozenset[str]
    function: Compiled

    def evaluate(self, ctx: EvalContext) -> Any:
        """The expression's value; a node-set is given as its first node's value (XPath 1.0 `string()`)."""
        return scalar(self.function(ctx))

    def truth(self, ctx: EvalContext) -> bool:
        return to_boolean(self.function(ctx))


def scalar(value: Any) -> Any:
    """A value to store or bind: a node-set becomes its first node (or None when empty)."""
    if isinstance(value, NodeSet):
        return value[0] if value else None
    return value


def _path_field(node: Node) -> str | None:
    """The field a form path reads, if `node` is one (absolute, relative, or from current())."""
    if node.kind != "path":
        return None
    steps = node.args
    if node.value == "base":
        base = node.args[0]
        if not (base.kind == "call" and base.value == "current"):
            return None
        steps = node.args[1:]
    return _last_name(steps)


def _references(node: Node) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.kind == "ref":
            found.add(current.value)
        path_field = _path_field(current)
        if path_field is not None:
            found.add(path_field)
        if current.kind == "call" and current.value == "jr:choice-name" and len(current.args) == 2:
            literal = current.args[1]
            if literal.kind == "literal" and str(literal.value).strip().startswith("${"):
                found.add(str(literal.value).strip()[2:-1].strip())
        stack.extend(current.args)
    return found


CLASSIC_KINDS = frozenset({"literal", "number", "current", "ref", "name", "binary", "neg", "call"})


def is_classic(node: Node) -> bool:
    """Whether `node` uses only scalar field references, the operators and the value functions of the
    semantics table (`OPERATORS`, `FUNCTIONS`): what the generated plan and the column check write from
    the table themselves. Anything else (paths, node-sets, lookups, the context functions) they evaluate
    through this module's closures."""
    if node.kind not in CLASSIC_KINDS:
        return False
    if node.kind == "call" and node.value not in FUNCTIONS:
        return False
    return all(is_classic(arg) for arg in node.args)


def is_constant(node: Node) -> bool:
    """Whether `node`'s value is the same in every context (no field, `.`, path, clock or context function)."""
    if node.kind in ("ref", "current", "name", "path", "filter", "step"):
        return False
    if node.kind == "call":
        rule = FUNCTIONS.get(node.value)
        if rule is None or not rule.constant:
            return False
    return all(is_constant(arg) for arg in node.args)


RUNTIME: dict[str, Any] = {
    "to_number": to_number, "to_string": to_string, "to_boolean": to_boolean,
    "_equals": _equals, "_divide": _divide, "_search": _search, "_pattern": _pattern, "_modulo": _modulo, "abs": abs, "float": float, "len": len,
}  # fmt: skip
"""The names a `Rule`'s Python may use (the generated plan's namespace includes them)."""


def compile_expression(source: str, *, choice_filter: bool = False) -> Expression:
    """Parse and compile `source`; bare names (choice columns) are allowed only in a choice filter."""
    tree = parse(source)
    function = _compile(tree, allow_names=choice_filter)
    return Expression(source=source, tree=tree, references=frozenset(_references(tree)), function=function)


def evaluate(source: str, *, current: Any = None, values: Mapping[str, Any] | None = None, today: dt.date | None = None) -> Any:
    """Convenience for tests and one-off use: compile and evaluate once."""
    return compile_expression(source).evaluate(EvalContext(current=current, values=values or {}, today=today))
