"""`passage identify dedupe`: a registry linked against itself finds planted duplicates across scripts and
keeps namesakes born the same day apart."""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from pypinyin import Style, lazy_pinyin
from typer.testing import CliRunner

from passage.identity.cli import identify_app

SURNAMES = ["王", "李", "张", "陈", "林", "黄", "郑", "叶", "吴", "刘"]
GIVEN = ["伟", "芳", "明明", "秀英", "建国", "志强", "丽", "海峰", "晓东", "春燕", "国华", "文"]
PLACES = {"福清": "350181", "长乐": "350182", "青田": "331121", "鹿城": "330302", "连江": "350122"}


def _id(region: str, birth: dt.date, rng: random.Random) -> str:
    return f"{region}{birth:%Y%m%d}{rng.randrange(100, 999)}{rng.choice('0123456789')}"


def _registry(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rng = random.Random(7)
    rows = []
    for i in range(400):
        place = rng.choice(list(PLACES))
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 15000))
        rows.append([f"P{i:04d}", rng.choice(SURNAMES), rng.choice(GIVEN), rng.choice("MF"), birth.isoformat(), place,
                     _id(PLACES[place], birth, rng)])
    planted: list[tuple[str, str]] = []
    for j, source in enumerate(rows[:12]):
        family = "".join(lazy_pinyin(source[1], style=Style.NORMAL)).upper()
        given = " ".join(lazy_pinyin(source[2], style=Style.NORMAL)).title()
        rows.append([f"D{j:03d}", family, given, source[3], source[4], "", ""])  # the same person, written abroad
        planted.append((source[0], f"D{j:03d}"))
    namesakes: list[tuple[str, str]] = []
    for k, source in enumerate(rows[20:26]):
        other = "连江" if source[5] != "连江" else "福清"
        sex = "F" if source[3] == "M" else "M"
        rows.append([f"N{k:03d}", source[1], source[2], sex, source[4], other,
                     _id(PLACES[other], dt.date.fromisoformat(source[4]), rng)])
        namesakes.append((source[0], f"N{k:03d}"))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"])
        writer.writerows(rows)
    return planted, namesakes


def test_dedupe_clusters_planted_duplicates_and_not_namesakes(tmp_path: Path, store: object) -> None:
    planted, namesakes = _registry(tmp_path / "registry.csv")
    out, pairs = tmp_path / "clusters.csv", tmp_path / "pairs.csv"
    result = CliRunner().invoke(identify_app, ["dedupe", "--registry", str(tmp_path / "registry.csv"), "--out", str(out),
                                               "--pairs", str(pairs), "--workers", "1", "--threshold", "0.95"])
    assert result.exit_code == 0, result.output
    cluster_of = {r["person_id"]: r["cluster_id"] for r in csv.DictReader(out.open(encoding="utf-8"))}
    found = sum(1 for a, b in planted if a in cluster_of and cluster_of[a] == cluster_of.get(b))
    # Pinyin written abroad with no place and no ID number: name, date and sex decide. The names here are
    # common (10 surnames x 12 given names over 400 people), so the pairwise probabilities are ~0.98.
    assert found == len(planted), found
    assert not any(a in cluster_of and cluster_of[a] == cluster_of.get(b) for a, b in namesakes)
    header = next(csv.reader(pairs.open(encoding="utf-8")))
    assert header == ["left_person_id", "right_person_id", "match_probability", "match_weight"]
    assert '"records": 418' in result.output
    from sqlalchemy import select

    from passage.core.db import unit_of_work
    from passage.security.models import AuditEntry

    with unit_of_work() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "dedupe")).one()
    assert entry.details["records"] == 418 and entry.details["system_job"] == "identity.cli"  # counts only, no names


def test_dedupe_refuses_a_bad_registry_with_line_and_column(tmp_path: Path, store: object) -> None:
    registry = tmp_path / "registry.csv"
    registry.write_text("person_id,family_name,given_name,sex,birth_date,birth_place,id_number\nP1,王,伟,M,1990-02-31,福清,\n",
                        encoding="utf-8")
    out = tmp_path / "clusters.csv"
    result = CliRunner().invoke(identify_app, ["dedupe", "--registry", str(registry), "--out", str(out)])
    assert result.exit_code != 0
    assert "line 2" in str(result.exception) + result.output and "birth_date" in str(result.exception) + result.output
    assert not out.exists()  # no partial output
