"""Resident ID numbers: the vectorised comparison equals `compare_ids` on mistyped and malformed numbers."""

from __future__ import annotations

import random

import numpy as np

from passage.identity import resident_id


def test_compare_id_codes_equals_compare_ids() -> None:
    rng = random.Random(5)
    true = "35018119800305123" + resident_id.check_digit("35018119800305123")
    variants = [true, true[:-1] + ("X" if true[-1] != "X" else "1"), true[:17], true + "1", "", "3501811980030512A4", "ABCDEFGHIJKLMNOPQR"]
    for _ in range(300):
        chars = list(true)
        kind = rng.random()
        i = rng.randrange(0, 17)
        if kind < 0.4:
            chars[i] = str((int(chars[i]) + rng.randrange(1, 10)) % 10)
        elif kind < 0.7:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            for j in rng.sample(range(17), 2):
                chars[j] = str((int(chars[j]) + 1) % 10)
        variants.append("".join(chars))
    column = np.array([resident_id.clean(v).encode("ascii")[:18] for v in variants], dtype="S18")
    for query in (true, variants[9], "350181 19800305 123" + true[-1], "not a number"):
        codes = resident_id.compare_id_codes(query, column)
        got = [resident_id.ID_LEVELS[c] if c >= 0 else None for c in codes.tolist()]
        expected = [resident_id.compare_ids(query, v.decode("ascii")) for v in column.tolist()]
        assert got == expected, query
    assert {"exact", "one_edit", "disagree"} <= set(resident_id.ID_LEVELS[c] for c in resident_id.compare_id_codes(true, column) if c >= 0)
