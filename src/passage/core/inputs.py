"""Parsing typed-in values (form fields, query parameters) with one set of rules and one set of messages.

`whole_number` is the one parser of a whole number a person typed: the DTM API's round-number parameters, the DTM
round form and the readmission transfer's escorts use it, so the same text is accepted or refused everywhere, with
the same reason in the reader's language. Errors name the field (the `FieldError` path) and why, never the value.
"""

from __future__ import annotations

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_

MAX_DIGITS = 18
"""Longer digit strings are refused as too large before `int()` sees them (any caller's maximum is far smaller)."""


def whole_number(raw: str, *, field: str, minimum: int = 0, maximum: int) -> int:
    """The whole number typed in `raw` (surrounding spaces ignored), between `minimum` and `maximum`.

    Accepted: the ASCII digits 0-9 only: no sign, separators, decimal point, superscripts ('²'.isdigit() is true
    but int('²') raises: the 500 a fuzzer once found) or other scripts' digits (int() would read '٣' or the
    full-width '１２', but the number inputs of our forms never send them and the DTM API is read by machines).
    Raises `InvalidInput` with one `FieldError` on `field`: empty, not a whole number, negative, below the
    minimum, or too large.
    """
    text = raw.strip()
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    if not text:
        problem = T_("enter a whole number")
    elif not (digits.isascii() and digits.isdecimal()):
        problem = T_("not a whole number: use the digits 0-9 only, without sign, spaces or decimal point")
    elif negative and minimum >= 0:
        problem = T_("must not be negative")
    elif len(digits) > MAX_DIGITS or (value := int(digits) * (-1 if negative else 1)) > maximum:
        problem = T_("too large: at most {maximum}", maximum=maximum)
    elif value < minimum:
        problem = T_("must be at least {minimum}", minimum=minimum)
    else:
        return value
    raise InvalidInput(T_("the number entered is not valid"), fields=[FieldError(field, problem)])
