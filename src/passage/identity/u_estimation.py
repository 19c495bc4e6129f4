"""u probabilities of the scoring model from random pairs of registry records (Splink's random sampling),
re-estimated after every build or update of the identity index."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

import numpy as np

from passage.identity import compare, dates, scoring
from passage.identity.romanisation import is_han, pinyin_keys
from passage.identity.segments import RegistryIndex


def _pseudo_query(record: compare.Record, roll: float) -> compare.Query:
    """A registry record written as a foreign authority would (pinyin, mixed date precision), for u sampling;
    `roll` (uniform in [0, 1)) picks the date's precision."""
    family = (pinyin_keys(record.family_name, surname=True) or ("",))[0] if is_han(record.family_name) else record.family_name
    given = (pinyin_keys(record.given_name, surname=False) or ("",))[0] if is_han(record.given_name) else record.given_name
    birth = None
    if record.birth_date is not None:
        b = record.birth_date
        birth = dates.PartialDate(b.year, b.month, b.day) if roll < 0.8 else (dates.PartialDate(b.year, b.month) if roll < 0.9 else dates.PartialDate(b.year))
    return compare.Query(family_name=family, given_name=given, sex=record.sex, birth_date=birth, birth_place=record.birth_place,
                         id_number=record.id_number)


def sample_plan(total_live: int, *, pairs: int = 20_000, seed: int = 0) -> list[tuple[int, int, float]]:
    """The random pairs of u sampling: (position a, position b, precision roll) over the live records in
    registry order. Data-independent, so the Spark engine samples exactly the pairs the index does."""
    rng = random.Random(seed)
    plan = []
    for _ in range(pairs):
        a, b = rng.sample(range(total_live), 2)
        plan.append((a, b, rng.random()))
    return plan


def pair_levels(record_a: compare.Record, record_b: compare.Record, roll: float) -> compare.Levels:
    """The comparison levels of one sampled pair: b written as a query, against a."""
    return compare.compare(_pseudo_query(record_b, roll), record_a)


def u_model(counts: dict[str, Counter[str]], *, registry_size: int) -> scoring.Model:
    """The model with u from level counts over random pairs (fields with fewer than 100 pairs keep the default)."""
    model = scoring.Model(registry_size=registry_size)
    for f in scoring.FIELDS:
        total = sum(counts[f].values())
        if total < 100:
            continue
        k = len(scoring.FIELD_LEVELS[f])
        # Half a pseudo-count per level, then never below the default floor for rare levels.
        model.u[f] = {lv: max((counts[f][lv] + 0.5) / (total + 0.5 * k), scoring.DEFAULT_U[f][lv] * 0.1) for lv in scoring.FIELD_LEVELS[f]}
    return model


def count_levels(levels: Iterable[compare.Levels]) -> dict[str, Counter[str]]:
    """Per field, how often each level occurs (missing levels not counted)."""
    counts: dict[str, Counter[str]] = {f: Counter() for f in scoring.FIELDS}
    for item in levels:
        for f, level in zip(scoring.FIELDS, item.as_tuple(), strict=True):
            if level is not None:
                counts[f][level] += 1
    return counts


def estimate_u(index: RegistryIndex, *, pairs: int = 20_000, seed: int = 0) -> scoring.Model:
    """u probabilities by comparing random pairs of distinct registry records (Splink's random sampling)."""
    live = [np.flatnonzero(~seg.deleted) for seg in index.segments]
    offsets = np.cumsum([0, *(len(x) for x in live)])
    total_live = int(offsets[-1])
    if total_live < 50:
        return scoring.Model(registry_size=index.size)

    def locate(k: int) -> tuple[int, int]:
        s = int(np.searchsorted(offsets, k, side="right") - 1)
        return s, int(live[s][k - offsets[s]])

    plan = sample_plan(total_live, pairs=pairs, seed=seed)
    counts = count_levels(pair_levels(index.record(*locate(a)), index.record(*locate(b)), roll) for a, b, roll in plan)
    return u_model(counts, registry_size=index.size)
