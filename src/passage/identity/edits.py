"""Single keying errors: one substituted character or two adjacent characters swapped.

Damerau (1964), "A technique for computer detection and correction of spelling errors", CACM 7(3):
single substitutions and adjacent transpositions are the bulk of keying errors in numbers. Used for
resident ID numbers and for dates of birth written as YYYYMMDD.
"""

from __future__ import annotations

import numpy as np


def one_edit(a: str, b: str) -> bool:
    """True when equal-length strings differ by one substitution or one adjacent transposition."""
    if len(a) != len(b) or a == b:
        return False
    diffs = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diffs) == 1:
        return True
    return len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]


def one_edit_rows(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """`one_edit` of every row of a (rows x positions) matrix of symbols against one query vector."""
    if not len(rows):
        return np.zeros(0, dtype=bool)
    differ = rows != query
    n_diff = differ.sum(axis=1)
    first = np.argmax(differ, axis=1)
    second = np.minimum(first + 1, rows.shape[1] - 1)
    at = np.arange(len(rows))
    transposed = (n_diff == 2) & differ[at, second] & (rows[at, first] == query[second]) & (rows[at, second] == query[first])
    return (n_diff == 1) | transposed
