"""A synthetic national registry in Chinese characters, for the demo and the benchmarks (entirely invented people).

The population follows the benchmark generator (`bench/identity/generate.py`): surnames drawn with the
frequencies of the 2019 Ministry of Public Security surname ranking, a small pool of popular given names
(so namesakes are as common as at national scale), births 1960-2004, a county of birth from the GB/T 2260
table of `places`, and a valid 18-digit resident ID number (GB 11643-1999: region, date, sequence with the
sex in its parity, ISO 7064 MOD 11-2 check digit). One person in 20 is made a namesake of another, sharing
the date of birth too. `planted` people (the demo cases' persons) are written with their own ids first.

Streaming: rows go to the CSV as they are drawn, so a million rows need no more memory than a hundred.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from itertools import accumulate
from pathlib import Path

from stdnum.cn import ric

from passage.core.files import atomic_output, csv_writer
from passage.identity.index import REGISTRY_COLUMNS
from passage.identity.places import _PLACES

GENERATOR_VERSION = 1
SURNAMES = [("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.4), ("陈", 5.0), ("杨", 3.2), ("黄", 2.4), ("赵", 2.3), ("吴", 2.0),
            ("周", 1.9), ("徐", 1.3), ("孙", 1.3), ("马", 1.2), ("朱", 1.2), ("胡", 1.1), ("郭", 1.1), ("何", 1.0), ("林", 1.4),
            ("罗", 0.8), ("高", 0.8), ("郑", 0.9), ("梁", 0.7), ("谢", 0.6), ("宋", 0.6), ("唐", 0.6), ("许", 0.6), ("邓", 0.5),
            ("曾", 0.5), ("吕", 0.4), ("蔡", 0.4), ("洪", 0.2), ("叶", 0.4), ("江", 0.3), ("欧阳", 0.05), ("区", 0.02), ("单", 0.05),
            ("解", 0.03), ("翁", 0.1), ("卓", 0.05), ("温", 0.2), ("邱", 0.3), ("薛", 0.2), ("潘", 0.3), ("胡", 0.2)]
GIVEN_CHARS = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志文斌辉玲红梅鹏飞宇浩然俊杰欣怡子轩晓东海峰燕萍春雷亮")
POPULAR_GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "强", "军", "杰", "涛", "明", "超", "华", "平", "勇"]
COUNTIES = [p for p in _PLACES if len(p[0]) == 6]
_EPOCH = dt.date(1960, 1, 1)
_CUMULATIVE = list(accumulate(w for _, w in SURNAMES))


def id_number(region: str, birth: dt.date, sex: str, sequence: int) -> str:
    """A valid resident ID number: region + YYYYMMDD + sequence (odd for men) + check digit (GB 11643-1999)."""
    first = f"{region}{birth:%Y%m%d}{sequence * 2 + (1 if sex == 'M' else 0):03d}"
    return first + ric.calc_check_digit(first)


def _person(rng: random.Random) -> tuple[str, str, str, dt.date, int, int]:
    surname = SURNAMES[bisect.bisect(_CUMULATIVE, rng.random() * _CUMULATIVE[-1], 0, len(_CUMULATIVE) - 1)][0]
    given = rng.choice(POPULAR_GIVEN) if rng.random() < 0.25 else "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice([1, 2, 2, 2])))
    sex = rng.choice("MF")
    birth = _EPOCH + dt.timedelta(days=rng.randrange(0, 365 * 45))
    return surname, given, sex, birth, rng.randrange(len(COUNTIES)), rng.randrange(0, 500)


def planted_row(person: Mapping[str, str]) -> list[str]:
    """A registry row for a given person: person_id, family_name, given_name, sex, birth_date (ISO), birth_place
    (characters), id_number (computed from `region` when not given)."""
    number = person.get("id_number") or id_number(person["region"], dt.date.fromisoformat(person["birth_date"]), person["sex"], int(person.get("sequence", "7")))
    return [person["person_id"], person["family_name"], person["given_name"], person["sex"], person["birth_date"], person["birth_place"], number]


def fingerprint(*, size: int, seed: int, planted: Sequence[Mapping[str, str]]) -> str:
    """What a registry file is a function of, so an unchanged one is never rewritten."""
    document = json.dumps({"version": GENERATOR_VERSION, "size": size, "seed": seed, "planted": [dict(p) for p in planted]}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(document.encode()).hexdigest()


def write_registry(path: Path, *, size: int, seed: int = 2026, planted: Sequence[Mapping[str, str]] = ()) -> int:
    """Write `registry.csv` with `planted` people then synthetic ones up to `size` rows; returns the row count."""
    rng = random.Random(seed)
    rows_left = max(0, size - len(planted))
    recent: list[tuple[str, str, dt.date]] = []
    with atomic_output(path) as handle:
        writer = csv_writer(handle)
        writer.writerow(REGISTRY_COLUMNS)
        for person in planted:
            writer.writerow(planted_row(person))
        batch: list[list[str]] = []
        for number in range(rows_left):
            surname, given, sex, birth, county, sequence = _person(rng)
            if number % 20 == 19 and recent:
                surname, given, birth = recent[rng.randrange(len(recent))]
            if len(recent) < 5000:
                recent.append((surname, given, birth))
            code, chars, _ = COUNTIES[county]
            batch.append([f"P{number:08d}", surname, given, sex, birth.isoformat(), chars, id_number(code, birth, sex, sequence)])
            if len(batch) == 50_000:
                writer.writerows(batch)
                batch = []
        writer.writerows(batch)
    return len(planted) + rows_left
