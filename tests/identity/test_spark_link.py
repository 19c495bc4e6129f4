"""The Spark linkage job gives the same candidates, probabilities and decisions as the one-machine batch path."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

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
    reg, qry = tmp_path / "registry.csv", tmp_path / "queries.csv"
    _write(reg, REG, registry)
    _write(qry, QRY, queries)
    runner = CliRunner()
    batch = runner.invoke(identify_app, ["batch", "--registry", str(reg), "--queries", str(qry), "--out", str(tmp_path / "batch.csv"),
                                         "--index", str(tmp_path / "idx"), "--no-train-m", "--workers", "1",
                                         "--no-comparison-columns"])
    assert batch.exit_code == 0, batch.output
    spark = runner.invoke(identify_app, ["link", "--engine", "spark", "--master", "local[1]", "--registry", str(reg), "--queries", str(qry),
                                         "--out", str(tmp_path / "spark.csv"), "--index", str(tmp_path / "idx")])
    assert spark.exit_code == 0, spark.output
    ours, theirs = _read(tmp_path / "batch.csv"), _read(tmp_path / "spark.csv")
    assert theirs == ours
    decisions = {r[0]: r[4] for r in ours[1:] if r[1] in ("0", "1")}
    assert decisions["q2"] == "match" and decisions["q1"] != "match" and decisions["q8"] == "no_match"
    assert any(r[0] == "q6" and r[1] == "1" and r[2] == "L1" for r in ours)


def test_spark_scorer_pre_scores_a_large_pool_like_the_local_search(tmp_path: Path) -> None:
    """The Spark scorer (a pandas function; no Spark needed) keeps the namesake whose date agrees, as `gather` does."""
    import pandas as pd

    from passage.identity import spark_link
    from passage.identity.index import build_or_update, open_index

    rows = [[f"N{i:04d}", "张", "伟", "M", f"1980-{4 + i % 9:02d}-{1 + i % 28:02d}", "", ""] for i in range(300)]
    rows.append(["TARGET", "张", "伟", "M", "1980-03-05", "", ""])
    _write(tmp_path / "registry.csv", REG, rows)
    build_or_update(tmp_path / "registry.csv", tmp_path / "idx", workers=1)
    index = open_index(tmp_path / "idx")
    query = {"query_id": "Q1", "family_name": "ZHANG", "given_name": "WEI", "full_name": "", "sex": "M", "birth_date": "1980-03",
             "birth_place": "", "id_number": "", "nationality": "CHN"}
    frame = pd.DataFrame([{**dict(zip(REG, r, strict=True)), "query_id": "Q1", "shared": 3, **{f"q_{k}": v for k, v in query.items()}}
                          for r in rows])
    score = spark_link._scorer(index.model.to_json(), index.size, index.frequency_tables(), 10)
    out = score(frame)
    assert out["person_id"].iloc[0] == "TARGET" and out["rank"].iloc[0] == 1 and len(out) == 10
