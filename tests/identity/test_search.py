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

from passage.identity import compare, dates, scoring, segments
from passage.identity import search as search_module
from passage.identity.blocking import Narrowing, narrow_blocks
from passage.identity.index import (
    build_or_update,
    key_hashes,
    open_index,
    query_key_hashes,
    query_keys,
    record_from_row,
)
from passage.identity.romanisation import name_variants
from passage.identity.search import (
    Scored,
    candidate_count,
    gather,
    log2_bayes_factors,
    name_u_overrides,
    rank,
    search,
)

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


def test_candidate_pre_score_keeps_the_namesake_whose_date_agrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """All 301 share the same blocking keys; a cut by shared keys and row alone would drop the last row."""
    _namesake_registry(tmp_path / "registry.csv")
    build_or_update(tmp_path / "registry.csv", tmp_path / "idx", workers=1)
    index = open_index(tmp_path / "idx")
    query = compare.Query(family_name="ZHANG", given_name="WEI", sex="M", birth_date=dates.PartialDate(1980, 3))
    _, rows, shared = index.candidate_pool(query_key_hashes(query))
    assert len(set(shared.tolist())) == 1 and len(rows) == 301  # a tie in shared keys across the whole pool
    # The 300 others tie in the pre-score (same keys, year, sex): a cut through them would be arbitrary, so all are kept.
    assert gather(index, query).size == 301
    monkeypatch.setattr(search_module, "MAX_CANDIDATES_CAP", 200)  # a cap below the tie: the cut keeps the best first
    scored = gather(index, query)
    assert scored.size == 200
    result = rank(scored, index.model, registry_size=index.size, top=10, index=index)
    assert result.candidates[0].person_id == "TARGET" and result.candidates[0].levels.birth_date == "year_month"


def test_candidate_pre_score_keeps_the_namesake_born_in_the_query_county(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
    monkeypatch.setattr(search_module, "MAX_CANDIDATES_CAP", 200)
    scored = gather(index, query)
    assert scored.size == 200
    assert "TARGET" in scored.resolve_person_ids(np.arange(scored.size), index)
    result = rank(scored, index.model, registry_size=index.size, top=10, index=index)
    assert result.candidates[0].person_id == "TARGET" and result.candidates[0].levels.birth_place == "county"


def test_pre_score_keep_count_is_a_share_of_the_pool_between_its_bounds() -> None:
    assert candidate_count(150) == 200 and candidate_count(4_000) == 200
    assert candidate_count(7_600) == 380 and candidate_count(20_000) == 1_000 and candidate_count(10**6) == 1_000


def _county_registry(path: Path) -> None:
    """240 namesakes 张伟 born 1970-1989 (12 a year), M and F, in six counties of three provinces; then the person sought."""
    counties = ["福清", "台山", "青田", "长乐", "恩平", "乐清"]  # Fujian, Guangdong, Zhejiang, Fujian, Guangdong, Zhejiang
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"])
        for i in range(240):
            writer.writerow([f"N{i:04d}", "张", "伟", "MF"[i % 2], f"{1970 + i // 12}-{1 + i % 12:02d}-{1 + i % 27:02d}", counties[i % 6], ""])
        writer.writerow(["TARGET", "张", "伟", "M", "1980-06-15", "瑞安", ""])


def test_a_query_whose_every_key_is_oversized_finds_its_person_by_narrowing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key of the query (name; surname and given name with each year) holds more than MAX_BLOCK rows. Skipped,
    they found nobody; narrowed by year, sex and province they keep exactly the namesakes that agree, the target among them."""
    _county_registry(tmp_path / "registry.csv")
    build_or_update(tmp_path / "registry.csv", tmp_path / "idx", workers=1)
    index = open_index(tmp_path / "idx")
    monkeypatch.setattr(segments, "MAX_BLOCK", 8)
    query = compare.Query(family_name="Cheung", given_name="Wai", sex="M", birth_date=dates.PartialDate(1980), birth_place="瑞安")
    effective = compare.effective_query(query)[0]
    hashes = query_key_hashes(effective)
    assert not len(index.candidate_pool(hashes)[1])  # without narrowing every key is skipped
    segs, rows, shared = index.candidate_pool(hashes, narrowing=Narrowing.of(effective))
    records = [index.record(int(s), int(r)) for s, r in zip(segs.tolist(), rows.tolist(), strict=True)]
    # The name block (241 rows) needs every step up to the province; each surname + year and given name + year block
    # (12 or 13 rows) stops at the sex step. So the men born 1979-1981 are kept, those of Zhejiang by one key more.
    expected = {f"N{i:04d}" for i in range(240) if 1979 <= 1970 + i // 12 <= 1981 and i % 2 == 0} | {"TARGET"}
    assert {r.person_id for r in records} == expected
    for record, count in zip(records, shared.tolist(), strict=True):
        assert count == (3 if record.birth_place in ("青田", "乐清", "瑞安") else 2)
    assert "TARGET" in {c.person_id for c in search(index, query).candidates}


class _Columns:
    def __init__(self, birth: list[int], sex: list[int], place: list[str]) -> None:
        self.b, self.s, self.p = np.array(birth), np.array(sex), np.array(place)

    def year(self, positions: np.ndarray) -> np.ndarray:
        return self.b[positions] // 10000

    def sex(self, positions: np.ndarray) -> np.ndarray:
        return self.s[positions]

    def places(self, positions: np.ndarray) -> tuple[list[str], np.ndarray]:
        keys, of = np.unique(self.p[positions], return_inverse=True)
        return keys.tolist(), of


def test_each_oversized_block_stops_at_the_first_step_that_brings_it_under_the_limit() -> None:
    """Block 0 is small enough after the year step (its other-sex row stays); block 1 needs the sex step; block 2 no
    step brings under the limit (dropped). A missing year or sex never excludes a row."""
    birth = [19800101, 19810101, 19500101, 0, 19790101, 19800101, 19810101, 19790101, 19800101, 19800101, 19800101, 19800101]
    sex = [1, 2, 1, 1, 1, 2, 2, 0, 1, 1, 1, 1]
    block_of = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    kept = narrow_blocks(Narrowing(years=(1979, 1981), sex=1), block_of, 3, _Columns(birth, sex, [""] * 12), limit=3)
    assert np.flatnonzero(kept).tolist() == [0, 1, 3, 4, 7]
    assert not narrow_blocks(Narrowing(), block_of, 3, _Columns(birth, sex, [""] * 12), limit=3).any()


def test_the_result_counts_the_candidates_tied_beyond_the_list(tmp_path: Path) -> None:
    """15 namesakes with the same sex, date and place: a list of 10 is cut through the tie, and says by how many."""
    with (tmp_path / "registry.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"])
        for i in range(15):
            writer.writerow([f"T{i:02d}", "李", "明", "M", "1985-02-03" if i else "1985-02-04", "福清", ""])
        writer.writerow(["OTHER", "王", "芳", "F", "1990-01-01", "长乐", ""])
    build_or_update(tmp_path / "registry.csv", tmp_path / "idx", workers=1)
    index = open_index(tmp_path / "idx")
    tied = search(index, compare.Query(family_name="LI", given_name="MING", sex="M", birth_place="福清"))
    assert len(tied.candidates) == 10 and tied.tied_beyond == 5
    assert len({round(c.log2_bf, 9) for c in tied.candidates}) == 1
    # A date separates T00 (born the 4th) from the 14 others; the 10th place is still a tie among those 14.
    dated = search(index, compare.Query(family_name="LI", given_name="MING", sex="M", birth_place="福清",
                                        birth_date=dates.PartialDate(1985, 2, 4)))
    assert dated.candidates[0].person_id == "T00" and dated.tied_beyond == 5
    assert search(index, compare.Query(family_name="LI", given_name="MING"), top=20).tied_beyond == 0
