"""Synthetic cross-romanisation benchmark: a registry in characters, queries as foreign authorities write them.

The registry has realistic namesakes (surname frequencies after the 2019 Ministry of Public Security
surname ranking; a small pool of popular given names) and forced namesakes sharing a date of birth.
Queries are rendered in one romanisation each with the error patterns of issue #4; about 20% are people
who are not in the registry. Ground truth is written beside them.

Usage: python bench/identity/generate.py REGISTRY_SIZE QUERIES OUT_DIR [SEED]   (seed 7 by default; develop
on one seed and check on another, so that a change is not tuned to one sample).
"""

from __future__ import annotations

import array
import bisect
import csv
import datetime as dt
import itertools
import random
import sys
from pathlib import Path

from stdnum.cn import ric

from passage.identity.places import _PLACES
from passage.identity.romanisation import DIALECT_TABLES, name_variants

SURNAMES = [("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.4), ("陈", 5.0), ("杨", 3.2), ("黄", 2.4), ("赵", 2.3), ("吴", 2.0),
            ("周", 1.9), ("徐", 1.3), ("孙", 1.3), ("马", 1.2), ("朱", 1.2), ("胡", 1.1), ("郭", 1.1), ("何", 1.0), ("林", 1.4),
            ("罗", 0.8), ("高", 0.8), ("郑", 0.9), ("梁", 0.7), ("谢", 0.6), ("宋", 0.6), ("唐", 0.6), ("许", 0.6), ("邓", 0.5),
            ("曾", 0.5), ("吕", 0.4), ("蔡", 0.4), ("洪", 0.2), ("叶", 0.4), ("江", 0.3), ("欧阳", 0.05), ("区", 0.02), ("单", 0.05),
            ("解", 0.03), ("翁", 0.1), ("卓", 0.05), ("温", 0.2), ("邱", 0.3), ("薛", 0.2)]
GIVEN_CHARS = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志文斌辉玲红梅鹏飞宇浩然俊杰欣怡子轩晓东海峰燕萍春雷亮")
POPULAR_GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "强", "军", "杰", "涛", "明", "超", "华", "平", "勇"]
SYSTEMS = ["pinyin", "pinyin_spaced", "wade_giles", "cantonese_hk", "yale", "jyutping", "hokkien_teochew", "fuzhou", "hakka"]
COUNTIES = [p for p in _PLACES if len(p[0]) == 6]


def _id_number(region: str, birth: dt.date, sex: str, rng: random.Random) -> str:
    seq = rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
    first = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first + ric.calc_check_digit(first)


def person(rng: random.Random, index: int) -> dict[str, str]:
    surname = rng.choices([s for s, _ in SURNAMES], weights=[w for _, w in SURNAMES])[0]
    given = rng.choice(POPULAR_GIVEN) if rng.random() < 0.25 else "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice([1, 2, 2, 2])))
    sex = rng.choice("MF")
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 45))
    code, chars, _ = rng.choice(COUNTIES)
    return {"person_id": f"P{index:08d}", "family_name": surname, "given_name": given, "sex": sex, "birth_date": birth.isoformat(),
            "birth_place": chars, "id_number": _id_number(code, birth, sex, rng), "_region": code}


def typo(text: str, rng: random.Random) -> str:
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text))
    op = rng.random()
    letters = "abcdefghijklmnopqrstuvwxyz"
    if op < 0.4:
        return text[:i] + rng.choice(letters) + text[i + 1:]
    if op < 0.7 and i < len(text) - 1:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text[:i] + text[i + 1:]


def render(p: dict[str, str], system: str, rng: random.Random) -> tuple[str, str]:
    base = "pinyin" if system == "pinyin_spaced" else system
    s_forms = name_variants(p["family_name"], surname=True)
    family = rng.choice(s_forms.get(base, s_forms["pinyin"]))
    g_system = "pinyin" if base in DIALECT_TABLES else base
    if base == "pinyin" or base in DIALECT_TABLES:
        family = s_forms["pinyin"][0] if base == "pinyin" else family
    chars = list(p["given_name"])
    parts = []
    for ch in chars:
        forms = name_variants(ch, surname=False)
        parts.append((forms.get(g_system) or forms["pinyin"])[0])
    if system in ("pinyin_spaced", "cantonese_hk", "yale", "jyutping"):
        given = " ".join(x.capitalize() for x in parts)
    elif system == "wade_giles":
        given = "-".join(parts).capitalize()
    else:
        given = "".join(parts)
    return family.upper() if rng.random() < 0.5 else family.capitalize(), given.upper() if rng.random() < 0.3 else given.capitalize()


def make_query(p: dict[str, str], qid: str, rng: random.Random) -> tuple[dict[str, str], str]:
    system = rng.choice(SYSTEMS)
    family, given = render(p, system, rng)
    full = ""
    roll = rng.random()
    if roll < 0.08:
        family, given = given, family
    elif roll < 0.16:
        full, family, given = f"{given} {family}" if rng.random() < 0.5 else f"{family} {given}", "", ""
    if rng.random() < 0.08:
        if given:
            given = typo(given, rng)
        elif full:
            full = typo(full, rng)
    birth = dt.date.fromisoformat(p["birth_date"])
    r = rng.random()
    if r < 0.06:
        bd = ""
    elif r < 0.11:
        bd = str(birth.year)
    elif r < 0.15:
        bd = f"{birth.year}-{birth.month:02d}"
    elif r < 0.20 and birth.day <= 12 and birth.day != birth.month:
        bd = f"{birth.year}-{birth.day:02d}-{birth.month:02d}"
    elif r < 0.25:
        from lunar_python import Solar
        lunar = Solar.fromYmd(birth.year, birth.month, birth.day).getLunar()
        try:
            bd = dt.date(lunar.getYear(), abs(lunar.getMonth()), lunar.getDay()).isoformat()
        except ValueError:  # lunar day 30 of a short solar month: nobody can write it as solar
            bd = birth.isoformat()
    elif r < 0.29:
        bd = (birth.replace(year=birth.year + rng.choice([-1, 1])) if not (birth.month == 2 and birth.day == 29) else birth).isoformat()
    elif r < 0.33:
        bd = (birth + dt.timedelta(days=rng.choice([-3, -2, -1, 1, 2, 5]))).isoformat()
    else:
        bd = birth.isoformat()
    place = ""
    code = p["_region"]
    entry = [e for e in _PLACES if e[0] == code][0]
    pr = rng.random()
    if pr < 0.4:
        place = rng.choice(entry[2]).capitalize()
    elif pr < 0.6:
        prov = [e for e in _PLACES if e[0] == code[:2]][0]
        place = rng.choice(prov[2]).capitalize()
    elif pr < 0.7:
        prov = [e for e in _PLACES if e[0] == code[:2]][0]
        place = f"{rng.choice(entry[2]).capitalize()}, {rng.choice(prov[2]).capitalize()}"
    idn = ""
    if rng.random() < 0.25:
        idn = p["id_number"]
        if rng.random() < 0.25:
            i = rng.randrange(0, 17)
            idn = idn[:i] + str((int(idn[i]) + rng.randrange(1, 10)) % 10) + idn[i + 1:]
    sex = p["sex"] if rng.random() < 0.9 else ""
    return ({"query_id": qid, "family_name": family, "given_name": given, "full_name": full, "sex": sex, "birth_date": bd,
             "birth_place": place, "id_number": idn, "nationality": "CHN"}, system)


_SURNAME_NAMES = [s for s, _ in SURNAMES]
_SURNAME_CUM = list(itertools.accumulate(w for _, w in SURNAMES))
_COUNTY_NUMBERS = range(len(COUNTIES))
_EPOCH = dt.date(1960, 1, 1)


class _People:
    """All generated people in compact columns (10M people as dicts would need over 10 GB).

    Draws from `rng` exactly as `person` does, in the same order, so the output of a seed is unchanged.
    """

    def __init__(self) -> None:
        self.surname = array.array("b")
        self.given = array.array("i")
        self.given_names: list[str] = []
        self.given_ids: dict[str, int] = {}
        self.male = array.array("b")
        self.birth = array.array("i")  # days after 1960-01-01
        self.county = array.array("h")
        self.seq = array.array("h")  # the draw of `_id_number`: sequence number // 2

    def add(self, rng: random.Random) -> None:
        # rng.choices(..., weights=...) with its cumulative weights computed once (same draws, same result).
        self.surname.append(bisect.bisect(_SURNAME_CUM, rng.random() * (_SURNAME_CUM[-1] + 0.0), 0, len(_SURNAME_CUM) - 1))
        given = rng.choice(POPULAR_GIVEN) if rng.random() < 0.25 else "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice([1, 2, 2, 2])))
        gid = self.given_ids.get(given)
        if gid is None:
            gid = self.given_ids[given] = len(self.given_names)
            self.given_names.append(given)
        self.given.append(gid)
        self.male.append(rng.choice("MF") == "M")
        self.birth.append(rng.randrange(0, 365 * 45))
        self.county.append(rng.choice(_COUNTY_NUMBERS))  # rng.choice(COUNTIES), as its index
        self.seq.append(rng.randrange(0, 500))

    def birth_date(self, i: int) -> dt.date:
        return _EPOCH + dt.timedelta(days=self.birth[i])

    def id_number(self, i: int) -> str:
        first = f"{COUNTIES[self.county[i]][0]}{self.birth_date(i):%Y%m%d}{self.seq[i] * 2 + self.male[i]:03d}"
        return first + ric.calc_check_digit(first)

    def row(self, i: int) -> dict[str, str]:
        """`person(...)` of person i (after the namesake step)."""
        code, chars, _ = COUNTIES[self.county[i]]
        return {"person_id": f"P{i:08d}", "family_name": _SURNAME_NAMES[self.surname[i]], "given_name": self.given_names[self.given[i]],
                "sex": "M" if self.male[i] else "F", "birth_date": self.birth_date(i).isoformat(), "birth_place": chars,
                "id_number": self.id_number(i), "_region": code}


def generate(out_dir: Path, *, registry_size: int, queries: int, seed: int = 7) -> None:
    """Write registry.csv, queries.csv and truth.csv; streams, holding only compact columns of the people."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    people = _People()
    for _ in range(registry_size + queries):
        people.add(rng)
    # Namesakes sharing a birth date, as at national scale (about 16 张伟 per birthday).
    for i in range(0, registry_size, 20):
        j = rng.randrange(0, registry_size)
        people.surname[i], people.given[i], people.birth[i] = people.surname[j], people.given[j], people.birth[j]
        people.seq[i] = rng.randrange(0, 500)  # `_id_number` again, with the new birth date
    cols = ["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"]
    with (out_dir / "registry.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        batch = []
        for i in range(registry_size):
            p = people.row(i)
            batch.append([p[c] for c in cols])
            if len(batch) == 100_000:
                w.writerows(batch)
                batch = []
        w.writerows(batch)
    qcols = ["query_id", "family_name", "given_name", "full_name", "sex", "birth_date", "birth_place", "id_number", "nationality"]
    registry = range(registry_size)
    with (out_dir / "queries.csv").open("w", encoding="utf-8", newline="") as fq, (out_dir / "truth.csv").open("w", encoding="utf-8", newline="") as ft:
        wq, wt = csv.writer(fq), csv.writer(ft)
        wq.writerow(qcols)
        wt.writerow(["query_id", "person_id", "system"])
        for k in range(queries):
            inside = rng.random() < 0.8
            p = people.row(rng.choice(registry) if inside else registry_size + k)
            q, system = make_query(p, f"Q{k:07d}", rng)
            wq.writerow([q[c] for c in qcols])
            wt.writerow([q["query_id"], p["person_id"] if inside else "", system])


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 7  # another seed gives held-out data for checking a change
    generate(Path(sys.argv[3]) if len(sys.argv) > 3 else Path("bench/data/identity"), registry_size=n, queries=m, seed=seed)
