"""The Spark engine gives the same candidates, probabilities and decisions as the one-machine batch path."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from passage.core.errors import InvalidInput
from passage.identity import scoring
from passage.identity.cli import identify_app

REG = ["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"]
QRY = ["query_id", "family_name", "given_name", "full_name", "sex", "birth_date", "birth_place", "id_number", "nationality"]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _read(path: Path) -> list[tuple[str, ...]]:
    with path.open(encoding="utf-8") as fh:
        return [tuple(r) for r in csv.reader(fh)]


@pytest.mark.spark
@pytest.mark.slow
def _batch_and_spark(tmp_path: Path, registry: list[list[str]], queries: list[list[str]]) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """The rows of `passage identify batch` and of `identify link --engine spark` on the same files, one worker each."""
    reg, qry = tmp_path / "registry.csv", tmp_path / "queries.csv"
    _write(reg, REG, registry)
    _write(qry, QRY, queries)
    runner = CliRunner()
    batch = runner.invoke(identify_app, ["batch", "--registry", str(reg), "--queries", str(qry), "--out", str(tmp_path / "batch.csv"),
                                         "--no-train-m", "--workers", "1"])
    assert batch.exit_code == 0, batch.output
    spark = runner.invoke(identify_app, ["link", "--engine", "spark", "--master", "local[1]", "--registry", str(reg), "--queries", str(qry),
                                         "--out", str(tmp_path / "spark.csv"), "--no-train-m"])
    assert spark.exit_code == 0, spark.output
    return _read(tmp_path / "batch.csv"), _read(tmp_path / "spark.csv")


def test_spark_link_matches_batch(tmp_path: Path, store: object) -> None:
    registry = [
        ["P1", "张", "伟", "M", "1980-03-05", "福建省福州市长乐区", "350182198003051234"],
        ["P2", "张", "伟", "M", "1980-03-05", "浙江省温州市", ""],  # a namesake born the same day
        ["P3", "林", "芳", "F", "1975-11-20", "福清", ""],
        ["P4", "陈", "明华", "M", "1990-01-02", "青田", ""],
        ["P5", "欧阳", "娜", "F", "1988-07-07", "广东省", ""],
        ["L1", "Smith", "Jonathan", "M", "1970-05-17", "Canberra", ""],
        ["L2", "Smyth", "Jon", "M", "1971-05-17", "Sydney", ""],
    ] + [[f"X{i}", "王", f"{'小明丽强军'[i % 5]}{'一二三四'[i % 4]}", "F" if i % 2 else "M", f"19{60 + i % 30}-0{1 + i % 9}-1{i % 9}", "", ""]
         for i in range(60)]
    queries = [
        ["q1", "Cheung", "Wai", "", "M", "1980-03-05", "", "", "CHN"],  # two namesakes, nothing tells them apart: no match
        ["q2", "Zhang", "Wei", "", "", "", "", "350182198003051234", "CHN"],  # the ID decides
        ["q3", "Lim", "Fong", "", "F", "1975", "Fuqing", "", "CHN"],
        ["q4", "", "", "CHEN MINGHUA", "", "1990-02-01", "", "", "CHN"],  # day and month swapped
        ["q5", "Ouyang", "Na", "", "F", "1988-07", "Guangdong", "", "CHN"],
        ["q6", "Smitj", "Jonathon", "", "M", "1970-05-17", "Canberra", "", "AUS"],
        ["q7", "Nobody", "Atall", "", "", "2001-01-01", "", "", "XXX"],
        ["q8", "", "", "", "", "", "", "", ""],
    ]
    ours, theirs = _batch_and_spark(tmp_path, registry, queries)
    assert theirs == ours  # every column, Splink's match_weight, gamma_* and bf_* included
    assert ours[0][5:7] == ("match_weight", "log2_bayes_factor")
    decisions = {r[0]: r[4] for r in ours[1:] if r[1] in ("0", "1")}
    assert decisions["q2"] == "match" and decisions["q1"] != "match" and decisions["q8"] == "no_match"
    assert any(r[0] == "q6" and r[1] == "1" and r[2] == "L1" for r in ours)


def test_spark_comparison_pre_scores_a_large_pool_like_the_local_search(tmp_path: Path) -> None:
    """The Spark comparison stage (a pandas function; no Spark needed) gives a 301-row pool the candidates, order and
    level codes that `search.gather` gives it, and keeps the namesake whose date agrees."""
    from passage.identity import spark_link
    from passage.identity.index import build_or_update, open_index
    from passage.identity.queries import make_query
    from passage.identity.registry import _place_key
    from passage.identity.search import gather

    rows = [[f"N{i:04d}", "张", "伟", "M", f"1980-{4 + i % 9:02d}-{1 + i % 28:02d}", "福州" if i % 3 else "", ""] for i in range(300)]
    rows.append(["TARGET", "张", "伟", "M", "1980-03-05", "", ""])
    _write(tmp_path / "registry.csv", REG, rows)
    build_or_update(tmp_path / "registry.csv", tmp_path / "idx", workers=1)
    index = open_index(tmp_path / "idx")
    fields = {"query_id": "Q1", "family_name": "ZHANG", "given_name": "WEI", "full_name": "", "sex": "M", "birth_date": "1980-03",
              "birth_place": "", "id_number": "", "nationality": "CHN"}
    expected = gather(index, make_query(**fields))
    pool = pd.DataFrame([{"qpos": 0, "row": i, "shared": 3, "person_id": r[0], "family_name": r[1], "given_name": r[2], "sex": 1,
                          "birth": int(r[4].replace("-", "")), "idnum": "", "place": _place_key(dict(zip(REG, r, strict=True))),
                          "f_full": 1.0, "f_surname": 1.0, "f_given": 1.0} for i, r in enumerate(rows)])
    query_rows = pd.DataFrame({"qpos": [0], "payload": [spark_link.SEP.join(fields.values())]})
    out = spark_link._compare_group(index.model.to_json(), pool.sample(frac=1.0, random_state=1), query_rows)
    assert len(out) == expected.size == 301 and out["ord"].tolist() == list(range(301))  # the pre-score tie is not cut
    assert out["person_id"].tolist() == index.person_ids(expected.segments, expected.rows)
    assert np.array_equal(out[[f"c{j}" for j in range(5)]].to_numpy(), expected.codes.astype(np.int32))
    assert "TARGET" in out["person_id"].tolist()


def test_spark_narrowing_of_oversized_blocks_keeps_the_rows_the_index_keeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`_narrow_group` (Spark's per-query narrowing; a pandas function, no Spark needed) keeps, for a query whose every key
    is over a lowered MAX_BLOCK, the (key, row) postings that `RegistryIndex.candidate_pool` keeps."""
    from passage.identity import segments, spark_link
    from passage.identity.blocking import Narrowing
    from passage.identity.compare import effective_query
    from passage.identity.index import build_or_update, open_index, query_key_hashes
    from passage.identity.queries import make_query
    from passage.identity.registry import _place_key

    counties = ["福清", "台山", "青田", "长乐", "恩平", "乐清"]
    rows = [[f"N{i:04d}", "张", "伟", "MF"[i % 2], f"{1970 + i // 12}-{1 + i % 12:02d}-{1 + i % 27:02d}" if i % 17 else "", counties[i % 6], ""]
            for i in range(240)]
    rows.append(["TARGET", "张", "伟", "M", "1980-06-15", "瑞安", ""])
    _write(tmp_path / "registry.csv", REG, rows)
    build_or_update(tmp_path / "registry.csv", tmp_path / "idx", workers=1)
    index = open_index(tmp_path / "idx")
    monkeypatch.setattr(segments, "MAX_BLOCK", 8)
    fields = {"query_id": "Q1", "family_name": "Cheung", "given_name": "Wai", "full_name": "", "sex": "M", "birth_date": "1980",
              "birth_place": "瑞安", "id_number": "", "nationality": "CHN"}
    effective = effective_query(make_query(**fields))[0]
    hashes = query_key_hashes(effective)
    _, expected_rows, expected_shared = index.candidate_pool(hashes, narrowing=Narrowing.of(effective))
    seg = index.segments[0]
    postings = []
    for h in hashes.tolist():
        lo, hi = np.searchsorted(seg.keys, h, "left"), np.searchsorted(seg.keys, h, "right")
        if hi - lo > 8:
            postings += [(int(np.uint64(h).view(np.int64)), int(r)) for r in seg.rows[lo:hi].tolist()]
    assert postings and not len(index.candidate_pool(hashes)[1])  # every key is oversized
    frame = pd.DataFrame([{"qpos": 0, "key": k, "row": r, "birth": int(rows[r][4].replace("-", "") or 0), "sex": " MF".index(rows[r][3]),
                           "place": _place_key(dict(zip(REG, rows[r], strict=True)))} for k, r in postings]).sample(frac=1.0, random_state=3)
    query_rows = pd.DataFrame({"qpos": [0], "payload": [spark_link.SEP.join(fields.values())]})
    out = spark_link._narrow_group(8, frame, query_rows)
    counts = out.groupby("row").size()
    assert dict(zip(counts.index.tolist(), counts.tolist(), strict=True)) == dict(zip(expected_rows.tolist(), expected_shared.tolist(), strict=True))
    assert rows.index(["TARGET", "张", "伟", "M", "1980-06-15", "瑞安", ""]) in set(out["row"].tolist())


@pytest.mark.spark
@pytest.mark.slow
def test_spark_link_matches_batch_when_blocks_are_narrowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With MAX_BLOCK lowered so that the common names' blocks are oversized, Spark narrows them as the single machine
    does: the same results.csv, and the person found through narrowed blocks only."""
    from passage.identity import segments

    monkeypatch.setattr(segments, "MAX_BLOCK", 8)
    counties = ["福清", "台山", "青田", "长乐", "恩平", "乐清"]
    registry = [[f"N{i:04d}", "张", "伟", "MF"[i % 2], f"{1970 + i // 12}-{1 + i % 12:02d}-{1 + i % 27:02d}", counties[i % 6], ""]
                for i in range(240)]
    registry += [["TARGET", "张", "伟", "M", "1980-06-15", "瑞安", ""], ["P3", "林", "芳", "F", "1975-11-20", "福清", ""]]
    queries = [["q1", "Cheung", "Wai", "", "M", "1980", "Ruian", "", "CHN"], ["q2", "Zhang", "Wei", "", "F", "1975", "", "", "CHN"],
               ["q3", "Lim", "Fong", "", "F", "1975", "Fuqing", "", "CHN"], ["q4", "", "", "ZHANG WEI", "", "", "", "", ""]]
    ours, theirs = _batch_and_spark(tmp_path, registry, queries)
    assert theirs == ours
    assert any(r[0] == "q1" and r[2] == "TARGET" for r in ours)
    assert {r[0] for r in ours[1:] if r[2].startswith("N")} >= {"q1", "q2"}  # namesakes reached through narrowed blocks


def test_spark_em_step_summed_over_partitions_is_the_one_machine_step() -> None:
    """The E-step run per partition (whole queries each) and summed is `OneToOneExpectation` over the whole batch."""
    from passage.identity import spark_link

    rng = np.random.default_rng(3)
    model = scoring.Model(registry_size=1000)
    frames = []
    for q in range(40):
        k = int(rng.integers(1, 6))
        codes = np.stack([rng.integers(-1, len(scoring.FIELD_LEVELS[f]), size=k) for f in scoring.FIELDS], axis=1)
        frame = pd.DataFrame({"qpos": q, "ord": np.arange(k), "person_id": [f"P{q}-{i}" for i in range(k)],
                              **{f"c{j}": codes[:, j] for j in range(5)}, "f_full": rng.random(k) / 50, "f_surname": rng.random(k) / 5,
                              "f_given": rng.random(k) / 20})
        frames.append(frame.iloc[::-1])  # rows out of order: the stage sorts by `ord`
    m_arr = [np.array([model.m[f][lv] for lv in scoring.FIELD_LEVELS[f]]) * (1 + 0.1 * j) for j, f in enumerate(scoring.FIELDS)]
    m_lists = [m.tolist() for m in m_arr]

    def parts(chunks: list[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        yield from chunks

    summed: dict[tuple[int, int], float] = {}
    for part in (frames[:17], frames[17:]):
        for out in spark_link._expect_partition(m_lists, 0.4, model.to_json(), parts(part)):
            for field, level, weight in out.itertuples(index=False):
                summed[(field, level)] = summed.get((field, level), 0.0) + weight
    sets = [scoring.encode_candidates(model, spark_link._scored(f, scoring_query()).codes, spark_link._name_u(spark_link._scored(f, scoring_query()), model))
            for f in frames]
    counts, expected_in = scoring.OneToOneExpectation(sets, registry_size=1000, unretrieved_bf=model.unretrieved_bf)(m_arr, 0.4)
    assert summed[(-1, 0)] == pytest.approx(expected_in, rel=1e-12) and 0 < expected_in < 40
    for j, c in enumerate(counts):
        for i, w in enumerate(c.tolist()):
            assert summed[(j, i)] == pytest.approx(w, rel=1e-12, abs=1e-15)


def scoring_query() -> Any:
    from passage.identity.compare import Query

    return Query()


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from passage.core.spark import spark_session

    yield spark_session("local[1]", app_name="passage-identity-tests", config={"spark.sql.shuffle.partitions": "2"})


@pytest.mark.spark
@pytest.mark.slow
def test_spark_link_refuses_bad_files_by_line_and_leaves_the_session_running(tmp_path: Path, spark: Any) -> None:
    from pyspark import SparkContext

    from passage.identity.spark_link import link

    good_q = [["q1", "Zhang", "Wei", "", "M", "1980-03-05", "", "", "CHN"]]
    _write(tmp_path / "q.csv", QRY, good_q)
    _write(tmp_path / "bad.csv", REG, [["P1", "张", "伟", "M", "1980-03-05", "", ""], ["P2", "李", "娜", "F", "1980-13-45", "", ""]])
    with pytest.raises(InvalidInput) as bad_date:
        link(tmp_path / "bad.csv", tmp_path / "q.csv", tmp_path / "out.csv", spark=spark)
    assert "line 3" in str(bad_date.value) and "birth_date" in str(bad_date.value) and "1980-13-45" not in str(bad_date.value)
    _write(tmp_path / "dup.csv", REG, [["P1", "张", "伟", "M", "1980-03-05", "", ""], ["P1", "李", "娜", "F", "1981-01-01", "", ""]])
    with pytest.raises(InvalidInput, match="line 3, column person_id: duplicate"):
        link(tmp_path / "dup.csv", tmp_path / "q.csv", tmp_path / "out.csv", spark=spark)
    _write(tmp_path / "q2.csv", QRY, [*good_q, ["q2", "Li", "Na", "", "Q", "", "", "", ""]])
    with pytest.raises(InvalidInput, match="line 3, column sex"):
        link(tmp_path / "dup.csv", tmp_path / "q2.csv", tmp_path / "out.csv", spark=spark)
    assert not (tmp_path / "out.csv").exists()
    assert SparkContext._active_spark_context is not None  # the caller's session is still alive
    assert spark.range(3).count() == 3


@pytest.mark.spark
@pytest.mark.slow
def test_spark_link_writes_parquet_partitioned_by_decision(tmp_path: Path, spark: Any) -> None:
    import pyarrow.dataset as ds

    from passage.identity.spark_link import link

    _write(tmp_path / "r.csv", REG, [["P1", "张", "伟", "M", "1980-03-05", "", "350182198003051234"], ["P2", "林", "芳", "F", "1975-11-20", "福清", ""]])
    _write(tmp_path / "q.csv", QRY, [["q1", "Zhang", "Wei", "", "", "", "", "350182198003051234", "CHN"],
                                     ["q2", "", "", "", "", "", "", "", ""], ["q3", "Lim", "Fong", "", "F", "1975", "Fuqing", "", "CHN"]])
    report = link(tmp_path / "r.csv", tmp_path / "q.csv", tmp_path / "res", spark=spark, train_m=False)
    table = ds.dataset(tmp_path / "res", partitioning="hive").to_table().to_pandas().sort_values(["query_index", "rank"])
    assert {p.name for p in (tmp_path / "res").glob("decision=*")} <= {"decision=match", "decision=possible", "decision=no_match"}
    first = table.groupby("query_id").first()
    assert first.loc["q1", "person_id"] == "P1" and first.loc["q1", "decision"] == "match" and first.loc["q1", "gamma_id_number"] == 2
    assert first.loc["q2", "rank"] == 0 and first.loc["q2", "decision"] == "no_match"  # nothing usable
    assert first.loc["q3", "person_id"] == "P2" and report.queries == 3 and report.result_rows == len(table)
    assert set(table["query_index"]) == {0, 1, 2} and table.groupby("query_index")["rank"].apply(list).map(lambda r: r == list(range(r[0], r[0] + len(r)))).all()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".res.")]  # the staging directory was renamed into place
