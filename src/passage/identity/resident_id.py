"""The 18-digit PRC resident identity number (GB 11643-1999).

Layout: 6-digit region code (GB/T 2260) + YYYYMMDD + 3-digit sequence (odd = male, even = female) +
an ISO 7064 MOD 11-2 check character (0-9 or X). Validation uses `stdnum.cn.ric` (python-stdnum).
A number with one mistyped digit or two swapped adjacent digits still points strongly at one person
(Damerau 1964: single substitutions and transpositions are the bulk of keying errors).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
from stdnum.cn import ric

from passage.identity.edits import one_edit, one_edit_rows

_ID_RE = re.compile(r"^\d{17}[\dX]$")


def clean(text: str) -> str:
    """Upper-case and strip spaces and separators."""
    return re.sub(r"[\s\-]", "", text).upper()


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    return ric.calc_check_digit(first17)


@dataclass(frozen=True)
class ParsedId:
    """What a well-formed number says (whether or not its check digit is right)."""

    number: str
    valid: bool
    region: str
    birth_date: dt.date | None
    sex: str | None


def parse(text: str) -> ParsedId | None:
    """Parse a number of the right shape; None when it is not 18 characters of the right kind."""
    number = clean(text)
    if not _ID_RE.match(number):
        return None
    try:
        birth: dt.date | None = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        birth = None
    # stdnum's own validate() also looks the region up in its bundled table and fails on codes it lacks
    # (e.g. 350112 created in 2017), so check the structure and the check digit directly.
    valid = birth is not None and ric.calc_check_digit(number[:17]) == number[17]
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return ParsedId(number=number, valid=valid, region=number[:6], birth_date=birth, sex=sex)


ID_LEVELS = ("exact", "one_edit", "disagree")


def compare_ids(query: str, record: str) -> str | None:
    """`exact`, `one_edit`, `disagree`, or None when either side is missing or malformed."""
    q, r = clean(query), clean(record)
    if not q or not r or not _ID_RE.match(q) or not _ID_RE.match(r):
        return None
    if q == r:
        return "exact"
    if one_edit(q, r):
        return "one_edit"
    return "disagree"


def blocking_keys(number: str) -> tuple[str, ...]:
    """Keys such that a number with one wrong digit shares at least one with the true number."""
    n = clean(number)
    if not _ID_RE.match(n):
        return ()
    a, b, c = n[:6], n[6:12], n[12:]
    return (f"ia|{a}{b}", f"ib|{a}{c}", f"ic|{b}{c}")


def compare_id_codes(query: str, numbers: np.ndarray) -> np.ndarray:
    """`compare_ids` of one query number against many cleaned registry numbers: indices into `ID_LEVELS`, -1 if missing.

    `numbers` is the index's `idnum` column (`S18`, cleaned, empty when absent). A row that is not a
    well-formed 18-character number is missing, as in `compare_ids`.
    """
    out = np.full(len(numbers), -1, dtype=np.int8)
    q = clean(query)
    if not q or not _ID_RE.match(q) or not len(numbers):
        return out
    raw = np.ascontiguousarray(numbers, dtype="S18").view(np.uint8).reshape(-1, 18)
    digits = (raw >= ord("0")) & (raw <= ord("9"))
    well_formed = digits[:, :17].all(axis=1) & (digits[:, 17] | (raw[:, 17] == ord("X")))
    qb = np.frombuffer(q.encode("ascii"), dtype=np.uint8)
    n_diff = (raw != qb).sum(axis=1)
    levels = np.where(n_diff == 0, 0, 2)
    near = np.flatnonzero((n_diff > 0) & (n_diff <= 2))  # one substitution or one adjacent swap: at most two differ
    levels[near[one_edit_rows(raw[near], qb)]] = 1
    out[well_formed] = levels[well_formed]
    return out
