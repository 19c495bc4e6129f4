"""Import and validate N site-assessment-like submissions: Passage's forms engine vs plain pandas.

Run: .venv/bin/python bench/forms/bench_import.py [--rows 200000]
Both sides apply the same rules to the same CSV: types, required, relevant, constraints, choices
and the admin1 -> admin2 choice filter. Passage also stores every row (SQLite, one transaction).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "forms"))
from xlsform_factory import write_xlsform  # noqa: E402

from passage.core.db import make_engine, unit_of_work  # noqa: E402
from passage.forms import service  # noqa: E402
from passage.security.actors import system_actor  # noqa: E402

BENCH_ACTOR = system_actor("forms.bench")

H = ["type", "name", "label::English (en)", "label::Chinese (zh)", "required", "constraint", "relevant", "choice_filter"]
SURVEY = [H,
    ["text", "site_id", "Site id", "站点", "yes", "regex(., '^S[0-9]{6}$')", "", ""],
    ["select_one admin1", "admin1", "Admin 1", "一级", "yes", "", "", ""],
    ["select_one admin2", "admin2", "Admin 2", "二级", "yes", "", "", "admin1=${admin1}"],
    ["select_one site_type", "site_type", "Type", "类型", "yes", "", "", ""],
    ["date", "assessed", "Date", "日期", "yes", ". <= today()", "", ""],
    ["geopoint", "gps", "GPS", "位置", "", "", "", ""],
    ["begin_group", "pop", "Population", "人口", "", "", "", ""],
    ["integer", "hh", "Households", "户", "yes", ". >= 0", "", ""],
    ["integer", "ind", "Individuals", "人", "yes", ". >= ${hh}", "", ""],
    ["integer", "male", "Male", "男", "yes", ". >= 0", "", ""],
    ["integer", "female", "Female", "女", "yes", ". >= 0 and . + ${male} = ${ind}", "", ""],
    ["end_group", "", "", "", "", "", "", ""],
    ["select_multiple needs", "needs", "Needs", "需求", "yes", "not(selected(., 'none') and count-selected(.) > 1)", "", ""],
    ["text", "needs_other", "Other", "其他", "yes", "", "selected(${needs}, 'other')", ""],
    ["decimal", "water_lpd", "Water l/p/d", "水", "", ". >= 0 and . < 200", "${hh} > 0", ""],
]
CHOICES = [["list_name", "name", "label::English (en)", "label::Chinese (zh)", "admin1"]]
CHOICES += [["admin1", f"A{i}", f"A{i}", f"A{i}", ""] for i in range(10)]
CHOICES += [["admin2", f"A{i}B{j}", f"B{j}", f"B{j}", f"A{i}"] for i in range(10) for j in range(10)]
CHOICES += [["site_type", t, t, t, ""] for t in ("camp", "collective", "host", "spontaneous")]
CHOICES += [["needs", n, n, n, ""] for n in ("food", "water", "shelter", "health", "protection", "other", "none")]
SETTINGS = [["form_title", "form_id", "version"], ["Site assessment (bench)", "bench_site", "1"]]
COLUMNS = ["_uuid", "_submission_time", "site_id", "admin1", "admin2", "site_type", "assessed", "gps",
           "pop/hh", "pop/ind", "pop/male", "pop/female", "needs", "needs_other", "water_lpd"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(rows):
            a1 = rng.randrange(10)
            a2 = f"A{a1}B{rng.randrange(10)}" if rng.random() > 0.01 else f"A{(a1 + 1) % 10}B0"
            hh = rng.randrange(0, 400)
            ind = hh * rng.randrange(1, 7)
            male = rng.randrange(0, ind + 1)
            female = ind - male if rng.random() > 0.02 else ind - male + 1
            needs = " ".join(rng.sample(["food", "water", "shelter", "health", "protection", "other"], rng.randrange(1, 4)))
            writer.writerow([f"uuid-{n:08d}", "2024-05-01T10:00:00", f"S{n % 1000000:06d}", f"A{a1}", a2,
                             rng.choice(["camp", "collective", "host", "spontaneous"]), f"2024-0{rng.randrange(1, 5)}-1{rng.randrange(0, 9)}",
                             f"{rng.uniform(-10, 10):.5f} {rng.uniform(20, 40):.5f}", hh, ind if rng.random() > 0.01 else "x", male, female,
                             needs, "tents" if "other" in needs else "", f"{rng.uniform(5, 60):.1f}" if hh > 0 else ""])


def pandas_validation(path: Path, today: dt.date) -> int:
    """The same rules written directly in pandas; returns the number of invalid rows."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    bad = pd.Series(False, index=df.index)
    bad |= ~df["site_id"].str.fullmatch(r"S[0-9]{6}")
    admin2_parent = {f"A{i}B{j}": f"A{i}" for i in range(10) for j in range(10)}
    bad |= ~df["admin1"].isin([f"A{i}" for i in range(10)])
    bad |= df["admin2"].map(admin2_parent) != df["admin1"]
    bad |= ~df["site_type"].isin(["camp", "collective", "host", "spontaneous"])
    dates = pd.to_datetime(df["assessed"], format="%Y-%m-%d", errors="coerce")
    bad |= dates.isna() | (dates.dt.date > today)
    gps = df["gps"].str.split(" ", expand=True)
    lat, lon = pd.to_numeric(gps[0], errors="coerce"), pd.to_numeric(gps[1], errors="coerce")
    has_gps = df["gps"] != ""
    bad |= has_gps & (lat.isna() | lon.isna() | (lat.abs() > 90) | (lon.abs() > 180))
    ints = {c: pd.to_numeric(df[c], errors="coerce") for c in ("pop/hh", "pop/ind", "pop/male", "pop/female")}
    for s in ints.values():
        bad |= s.isna() | (s % 1 != 0)
    bad |= ints["pop/hh"] < 0
    bad |= ints["pop/ind"] < ints["pop/hh"]
    bad |= ints["pop/male"] < 0
    bad |= (ints["pop/female"] < 0) | (ints["pop/female"] + ints["pop/male"] != ints["pop/ind"])
    needs = df["needs"].str.split()
    allowed = {"food", "water", "shelter", "health", "protection", "other", "none"}
    bad |= needs.map(lambda items: not items or any(i not in allowed for i in items) or ("none" in items and len(items) > 1))
    other = needs.map(lambda items: "other" in items)
    bad |= other & (df["needs_other"] == "")
    bad |= ~other & (df["needs_other"] != "")
    water = pd.to_numeric(df["water_lpd"], errors="coerce")
    bad |= (df["water_lpd"] != "") & (water.isna() | (water < 0) | (water >= 200) | ~(ints["pop/hh"] > 0))
    return int(bad.sum())


def _load() -> str:
    """The 1/5/15-minute load averages: the machine is shared, so every figure is read beside them."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2, help="validation/encryption worker processes (1 = in process)")
    args = parser.parse_args()
    data_dir = ROOT / "bench" / "data" / "forms"
    data_dir.mkdir(parents=True, exist_ok=True)
    form_path = write_xlsform(data_dir / "bench_site.xlsx", SURVEY, CHOICES, SETTINGS)
    csv_path = data_dir / f"site_{args.rows}.csv"
    if not csv_path.exists():
        generate(csv_path, args.rows)
    db = data_dir / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    # The real migrated schema with field encryption (submission and quarantine data are AES-GCM encrypted).
    os.environ.update({"PASSAGE_DATA_DIR": str(data_dir), "PASSAGE_DATABASE_URL": f"sqlite:///{db}",
                       "PASSAGE_KEY_FILE": str(data_dir / "keys.json"), "PASSAGE_ENVIRONMENT": "development"})
    from passage.core.schema import upgrade_database

    upgrade_database(url=f"sqlite:///{db}")
    engine = make_engine(f"sqlite:///{db}")
    with unit_of_work(engine) as session:
        service.load_form(session, actor=BENCH_ACTOR, content=form_path.read_bytes(), filename=form_path.name)
    today = dt.date(2024, 6, 1)
    load_before = _load()

    start = time.perf_counter()
    with unit_of_work(engine) as session:
        report = service.import_export(session, actor=BENCH_ACTOR, form_ref="bench_site", path=csv_path, today=today, workers=args.workers)
    passage_seconds = time.perf_counter() - start

    start = time.perf_counter()
    with unit_of_work(engine) as session:
        again = service.import_export(session, actor=BENCH_ACTOR, form_ref="bench_site", path=csv_path, today=today, workers=args.workers)
    reimport_seconds = time.perf_counter() - start

    start = time.perf_counter()
    pandas_bad = pandas_validation(csv_path, today)
    pandas_seconds = time.perf_counter() - start

    rows = args.rows
    print(f"rows: {rows}, workers: {args.workers}, load average before/after: {load_before} / {_load()}")
    print(f"passage import+validate+store: {passage_seconds:.2f} s = {rows / passage_seconds:,.0f} rows/s "
          f"(accepted {report.accepted}, quarantined {report.quarantined} {report.quarantined_by_reason})")
    print(f"passage re-import (all duplicates): {reimport_seconds:.2f} s = {rows / reimport_seconds:,.0f} rows/s (duplicates {again.duplicates})")
    print(f"pandas validate only: {pandas_seconds:.2f} s = {rows / pandas_seconds:,.0f} rows/s (invalid {pandas_bad})")
    print(f"agreement on invalid rows: passage {report.quarantined} vs pandas {pandas_bad}")
    print(f"ratio passage/pandas time: {passage_seconds / pandas_seconds:.2f}")


if __name__ == "__main__":
    main()
