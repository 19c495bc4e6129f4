"""The columnar search path gives exactly what the pair-by-pair definitions give.

`search.gather` computes levels column-wise (numpy, rapidfuzz.cdist, per distinct value) and
`index.query_key_hashes` builds blocking keys by broadcasting; both must agree with the readable
per-pair definitions (`compare.compare`, `index.query_keys`) on every candidate, or a fast path would
silently change who is identified.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

import numpy as np
import pytest

from passage.identity import compare, dates, scoring
from passage.identity.index import (
    build_or_update,
    key_hashes,
    open_index,
    query_key_hashes,
    query_keys,
    record_from_row,
)
from passage.identity.romanisation import name_variants
from passage.identity.search import Scored, gather, log2_bayes_factors, name_u_overrides, rank, search

SURNAMES = ["王", "李", "张", "陈", "林", "黄", "曾", "欧阳", "区", "吕", "郑"]
GIVEN = ["伟", "芳", "明", "伟明", "秀英", "建国", "志强", "丽", "海峰"]
LATIN = [("Smith", "John"), ("Smyth", "Jon"), ("Martin", "Anne"), ("Martins", "Ann"), ("Dubois", "Marie")]
PLACES = ["福清", "长乐", "青田", "福建", "温州", "", "Lyon"]


def _registry(path: Path, rng: random.Random, size: int = 400) -> list[dict[str, str]]:
    rows = []
    for i in range(size):
        if i % 7 == 0:
            family, given = rng.choice(LATIN)
        else:
            family, given = rng.choice(SURNAMES), rng.choice(GIVEN)
        birth = dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(0, 3000)) if i % 11 else None
        sex = rng.choice(["M", "F", ""])
        number = ""
        if birth is not None and i % 3 == 0:
            number = f"350181{birth:%Y%m%d}{rng.randrange(100, 999)}{rng.choice('0123456789X')}"
        rows.append({"person_id": f"P{i:04d}", "family_name": family, "given_name": given, "sex": sex,
                     "birth_date": birth.isoformat() if birth else "", "birth_place": rng.choice(PLACES), "id_number": number})
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _queries(rows: list[dict[str, str]], rng: random.Random) -> list[compare.Query]:
    out = []
    for row in rng.sample(rows, 60):
        birth = dates.parse_partial(row["birth_date"], where="x") if row["birth_date"] else None
        if birth is not None and rng.random() < 0.3:
            birth = dates.PartialDate(birth.year, birth.month) if rng.random() < 0.5 else dates.PartialDate(birth.year + 1)
        family, given = row["family_name"], row["given_name"]
        system = rng.choice(["pinyin", "wade_giles", "cantonese_hk", "hokkien_teochew"])
        if any("\u4e00" <= ch <= "\u9fff" for ch in family):
            family = name_variants(family, surname=True).get(system, ("",))[0].upper() or family
            given = name_variants(given, surname=False).get(system, name_variants(given, surname=False)["pinyin"])[0].capitalize()
        number = row["id_number"]
        if number and rng.random() < 0.5:
            number = number[:5] + ("1" if number[5] != "1" else "2") + number[6:]  # one mistyped digit
        full = ""
        if rng.random() < 0.2:
            full, family, given = f"{family}{given}", "", ""  # written without a space
        elif rng.random() < 0.2:
            family, given = given, family  # fields swapped
        out.append(compare.Query(query_id=row["person_id"], family_name=family, given_name=given, full_name=full,
                                 sex=row["sex"], birth_date=birth, birth_place=rng.choice(PLACES), id_number=number))
    out.append(compare.Query(query_id="none", family_name="Nobody", given_name="Atall", birth_date=dates.PartialDate(1901, 1, 1)))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, list[dict[str, str]], list[compare.Query]]:
    tmp = tmp_path_factory.mktemp("search")
    rng = random.Random(7)
    rows = _registry(tmp / "registry.csv", rng)
    build_or_update(tmp / "registry.csv", tmp / "idx", workers=1)
    return open_index(tmp / "idx"), rows, _queries(rows, rng)


def test_query_key_hashes_are_the_hashes_of_query_keys(built: tuple) -> None:
    _, _, queries = built
    for query in queries:
        effective, _ = compare.effective_query(query)
        assert np.array_equal(query_key_hashes(effective), np.unique(key_hashes(query_keys(effective))))


def test_gather_levels_equal_pairwise_comparison(built: tuple) -> None:
    index, rows, queries = built
    by_id = {r["person_id"]: record_from_row(r) for r in rows}
    compared = 0
    for query in queries:
        scored = gather(index, query)
        ids = scored.resolve_person_ids(np.arange(scored.size), index)
        for i, pid in enumerate(ids):
            expected = compare.compare(scored.query, by_id[pid])
            assert scored.levels_at(i).as_tuple() == expected.as_tuple(), (query.query_id, pid)
            compared += 1
    assert compared > 500  # the comparison covered many candidates, not a handful


def test_vectorised_totals_equal_the_sum_of_the_explanation(built: tuple) -> None:
    index, _, queries = built
    for query in queries[:20]:
        scored = gather(index, query)
        if not scored.size:
            continue
        totals = log2_bayes_factors(scored, index.model, registry_size=index.size)
        overrides = name_u_overrides(scored, index.model, registry_size=index.size)
        exact_share = float((scored.codes[:, 0] == 0).sum()) / index.size
        for i in range(scored.size):
            f_full, f_s, f_g = scored.frequencies[i].tolist()
            evidence = scoring.evidence_for(index.model, scored.levels_at(i), name_frequency=max(f_full, exact_share),
                                            surname_frequency=f_s or None, given_frequency=f_g or None)
            assert totals[i] == pytest.approx(scoring.total_log2_bf(evidence), abs=1e-9)
            level = scored.levels_at(i).name
            assert np.isnan(overrides[i]) == (level not in ("exact", "surname_only", "given_only") or
                                              (level == "surname_only" and not f_s) or (level == "given_only" and not f_g))


def test_rank_from_index_equals_rank_from_named_candidates(built: tuple) -> None:
    """Naming only the contenders for the top places gives the same ranking as naming every candidate."""
    index, _, queries = built
    for query in queries:
        scored = gather(index, query)
        if not scored.size:
            continue
        named = Scored(scored.query, scored.notes, scored.codes, scored.frequencies,
                       person_ids=scored.resolve_person_ids(np.arange(scored.size), index))
        for top in (1, 3, 10):
            lazy = rank(scored, index.model, registry_size=index.size, top=top, index=index)
            eager = rank(named, index.model, registry_size=index.size, top=top)
            assert [(c.person_id, c.decision, round(c.match_probability, 12)) for c in lazy.candidates] == \
                   [(c.person_id, c.decision, round(c.match_probability, 12)) for c in eager.candidates]
            ranked = [(-c.log2_bf, c.person_id) for c in lazy.candidates]
            assert ranked == sorted(ranked)


def test_search_finds_the_person_and_outsider_gets_no_match(built: tuple) -> None:
    index, _, queries = built
    outsider = search(index, queries[-1])
    assert outsider.decision == "no_match"
    found = sum(1 for q in queries[:-1] if (r := search(index, q)).candidates and q.query_id in {c.person_id for c in r.candidates})
    assert found >= 0.9 * (len(queries) - 1)


def test_candidate_limit_keeps_most_shared_keys_then_lowest_rows(built: tuple) -> None:
    index, _, queries = built
    hashes = query_key_hashes(compare.effective_query(queries[0])[0])
    all_segs, all_rows = index.candidate_arrays(hashes, limit=10_000)
    segs, rows = index.candidate_arrays(hashes, limit=5)
    seg = index.segments[0]
    shared = {}
    for h in hashes.tolist():
        lo, hi = np.searchsorted(seg.keys, h, "left"), np.searchsorted(seg.keys, h, "right")
        for r in seg.rows[lo:hi].tolist():
            shared[r] = shared.get(r, 0) + 1
    expected = sorted(shared, key=lambda r: (-shared[r], r))[:5]
    assert rows.tolist() == expected and not segs.any()
    assert sorted(all_rows.tolist()) == sorted(shared)


def _namesake_registry(path: Path) -> None:
    """300 people called 张伟 born in 1980 outside March, then (last row) the person sought, born 1980-03-05."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"])
        for i in range(300):
            month = 4 + i % 9
            writer.writerow([f"N{i:04d}", "张", "伟", "M", f"1980-{month:02d}-{1 + i % 28:02d}", "", ""])
        writer.writerow(["TARGET", "张", "伟", "M", "1980-03-05", "", ""])


def test_candidate_pre_score_keeps_the_namesake_whose_date_agrees(tmp_path: Path) -> None:
    """All 301 share the same blocking keys; a cut by shared keys and row alone would drop the last row."""
    _namesake_registry(tmp_path / "registry.csv")
    build_or_update(tmp_path / "registry.csv", tmp_path / "idx", workers=1)
    index = open_index(tmp_path / "idx")
    query = compare.Query(family_name="ZHANG", given_name="WEI", sex="M", birth_date=dates.PartialDate(1980, 3))
    _, rows, shared = index.candidate_pool(query_key_hashes(query))
    assert len(set(shared.tolist())) == 1 and len(rows) == 301  # a tie in shared keys across the whole pool
    scored = gather(index, query)
    assert scored.size == 200
    result = rank(scored, index.model, registry_size=index.size, top=10, index=index)
    assert result.candidates[0].person_id == "TARGET" and result.candidates[0].levels.birth_date == "year_month"


def test_candidate_pre_score_keeps_the_namesake_born_in_the_query_county(tmp_path: Path) -> None:
    """Query without a date: among 301 namesakes (one tie in shared keys, date and sex) the county decides who is kept."""
    with (tmp_path / "registry.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"])
        others = ["乐清", "青田", "石狮", "马尾", "连江", "南安", "鹿城", "龙湾", "恩平", "开平", "新会", "平潭"]
        for i in range(300):
            writer.writerow([f"N{i:04d}", "张", "伟", "M", f"1980-{1 + i % 12:02d}-{1 + i % 28:02d}", others[i % len(others)], ""])
        writer.writerow(["TARGET", "张", "伟", "M", "1975-03-05", "瑞安", ""])
    build_or_update(tmp_path / "registry.csv", tmp_path / "idx", workers=1)
    index = open_index(tmp_path / "idx")
    query = compare.Query(family_name="ZHANG", given_name="WEI", sex="M", birth_place="瑞安")
    scored = gather(index, query)
    assert scored.size == 200
    assert "TARGET" in scored.resolve_person_ids(np.arange(scored.size), index)
    result = rank(scored, index.model, registry_size=index.size, top=10, index=index)
    assert result.candidates[0].person_id == "TARGET" and result.candidates[0].levels.birth_place == "county"
