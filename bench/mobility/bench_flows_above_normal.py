"""Flows above normal end to end: the Passage CLI from raw events, the CLI on the ingested dataset, and one
hand-written DuckDB query from the same raw Parquet - in one run, each a child process, with its peak RSS.

Run (the issue's ratio, 15M events):
    nice -n 10 .venv/bin/python bench/mobility/bench_flows_above_normal.py --subscribers 40000 --events-per-day 6.25 --repeat 3
Memory check (50M events under a 1 GB DuckDB memory limit, one run):
    nice -n 10 .venv/bin/python bench/mobility/bench_flows_above_normal.py --subscribers 500000 --events-per-day 1.67 --repeat 1 --memory-limit 1GB
Spark parity (ingest and metric on Spark local[*] vs DuckDB, same raw events; e.g. 10M events):
    nice -n 10 .venv/bin/python bench/mobility/bench_flows_above_normal.py --subscribers 100000 --events-per-day 1.67 --spark-only

The planted-displacement data (`passage.mobility.synth`) is generated once and cached under
var/mobility-bench/ (git-ignored). Timed, as a user runs them (`/usr/bin/time -v` on each child):
  (a) `passage mobility flows-above-normal --events raw/events --cells ... --areas ... --save-dataset DS`
      (ingest: HMAC pseudonyms, spatial join of the cells, partitioned Parquet; then the metric, redaction,
      run record and audit entries, CSV);
  (b) `passage mobility flows-above-normal --dataset DS` (the same analysis on the dataset (a) kept);
  (c) the peer: one hand-written DuckDB query (`HAND_SQL`) from the same raw Parquet, its own point-in-polygon
      join of the cells, writing the unredacted flows to CSV.
Medians over `--repeat` runs, interleaved (a, b, c, a, b, c, ...) so that machine load hits all three alike.
Checks: Passage's published counts equal the peer's, and the planted flows are recovered (vs truth.json).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from passage.mobility.synth import SynthConfig, generate

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

HAND_SQL = """
WITH areas AS (SELECT pcode, geom FROM ST_Read($areas) WHERE level = 2),
cell_area AS (SELECT c.cell_id, a.pcode FROM read_csv($cells) c JOIN areas a ON ST_Contains(a.geom, ST_Point(c.lon, c.lat))),
ev AS (SELECT e.subscriber, CAST(e."timestamp" AS DATE) AS date, e."timestamp" AS ts, ca.pcode
       FROM read_parquet($events) e JOIN cell_area ca USING (cell_id)
       WHERE CAST(e."timestamp" AS DATE) BETWEEN $b0 AND $b1 OR CAST(e."timestamp" AS DATE) BETWEEN $c0 AND $c1
          OR CAST(e."timestamp" AS DATE) BETWEEN $f0 AND $f1),
daily AS (SELECT subscriber, date, arg_max(pcode, {'t': ts, 'p': pcode}) AS pcode FROM ev GROUP BY ALL),
w AS (SELECT *, CASE WHEN date BETWEEN $b0 AND $b1 THEN 'b' WHEN date BETWEEN $c0 AND $c1 THEN 'c' ELSE 'f' END AS win FROM daily),
cnt AS (SELECT subscriber, win, pcode, count(*) AS n, max(date) AS d FROM w GROUP BY ALL),
home AS (SELECT subscriber, win, arg_max(pcode, {'n': n, 'd': d, 'p': pcode}) AS pcode FROM cnt GROUP BY ALL),
wide AS (SELECT subscriber, any_value(pcode) FILTER (win = 'b') AS b, any_value(pcode) FILTER (win = 'c') AS c,
                any_value(pcode) FILTER (win = 'f') AS f FROM home GROUP BY subscriber)
SELECT o, d, sum(nc)::BIGINT AS nc, sum(nf)::BIGINT AS nf FROM (
  SELECT b AS o, c AS d, 1 AS nc, 0 AS nf FROM wide WHERE b IS NOT NULL AND c IS NOT NULL
  UNION ALL SELECT b, f, 0, 1 FROM wide WHERE b IS NOT NULL AND f IS NOT NULL) GROUP BY ALL
"""
"""The peer: the same method (Wilson et al. 2016; last event of the day, modal home per window) as one query."""

HAND_SCRIPT = """
import csv, sys, json, duckdb, duckdb_extension_spatial
from pathlib import Path
args = json.loads(sys.argv[1])
config = {"preserve_insertion_order": False, "temp_directory": args["temp"]}
if args["memory_limit"]:
    config["memory_limit"] = args["memory_limit"]
con = duckdb.connect(config=config)
con.execute("SET TimeZone = 'UTC'")
ext = Path(duckdb_extension_spatial.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
con.execute(f"LOAD '{ext.as_posix()}'")
rows = con.execute(args["sql"], args["params"]).fetchall()
with open(args["out"], "w", newline="") as handle:
    csv.writer(handle).writerows(rows)
"""


def timed_child(command: list[str], env: dict[str, str], *, may_fail: bool = False) -> tuple[float, int, bool, float]:
    """(wall seconds, peak RSS bytes, succeeded, CPU seconds user+system) of one child process, by /usr/bin/time -v."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        if not may_fail:
            sys.exit(f"failed ({done.returncode}): {' '.join(command[:4])} ...\n{done.stderr[-3000:]}")
        errors = [line for line in done.stderr.splitlines() if "Error" in line or "Exception" in line]
        print(f"peer failed ({done.returncode}): {(errors[-1] if errors else done.stderr.strip()[:300])[:300]}", flush=True)
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr))
    return seconds, int(match.group(1)) * 1024 if match else 0, done.returncode == 0, cpu


def read_flows(path: Path) -> dict[tuple[str, str], tuple[str, str, str]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows[1:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=40_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--events-per-day", type=float, default=6.25)
    parser.add_argument("--areas", type=int, default=75)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit for Passage and the peer, e.g. 1GB (default: Passage's 3GB, DuckDB's 80%% of RAM)")
    parser.add_argument("--spark", action="store_true", help="also run ingest and the metric on Spark local[*] and compare with DuckDB")
    parser.add_argument("--spark-only", action="store_true", help="only the Spark vs DuckDB parity run (no CLI timings)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (datasets, outputs)")
    args = parser.parse_args()

    data = ROOT / "var" / "mobility-bench" / f"s{args.subscribers}-d{args.days}-e{args.events_per_day}"
    raw = data / "raw"
    crisis = max(2 * 14, args.days - 20)
    config = SynthConfig(subscribers=args.subscribers, days=args.days, areas=args.areas, regions=7, crisis_day=crisis,
                         destinations={"D02": 0.5, "D05": 0.3, "D09": 0.2}, events_per_day=args.events_per_day)
    if not (raw / "truth.json").exists():
        started = time.perf_counter()
        generate(config, raw)
        print(f"synth: {time.perf_counter() - started:.1f}s -> {raw}")
    truth = json.loads((raw / "truth.json").read_text())
    windows = truth["windows"]
    raw_bytes = sum(f.stat().st_size for f in (raw / "events").glob("*.parquet"))
    if args.spark_only:
        scratch = Path(tempfile.mkdtemp(prefix="parity-", dir=data))
        print(f"{truth['events']:,} events ({raw_bytes / 2**20:,.0f} MB Parquet), {args.subscribers:,} subscribers; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
        try:
            run_spark_parity(raw, windows, scratch)
        finally:
            if not args.keep:
                shutil.rmtree(scratch)
        return

    env = dict(os.environ)
    env["PASSAGE_DATA_DIR"] = str(data / "passage")  # the CLI records its runs in this database
    env.pop("PASSAGE_DATABASE_URL", None)
    scratch = Path(tempfile.mkdtemp(prefix="bench-", dir=data))
    spill = scratch / "spill"
    spill.mkdir()
    env["PASSAGE_MOBILITY_TEMP_DIR"] = str(spill)
    if args.memory_limit:
        env["PASSAGE_MOBILITY_MEMORY_LIMIT"] = args.memory_limit
    # An installed Passage has bytecode (pip compiles it); where PYTHONDONTWRITEBYTECODE=1 is set and the venv
    # was made without it, every CLI start would compile ~1,100 modules from source. Compile once, as pip would.
    started = time.perf_counter()
    site = Path(sys.executable).parents[1] / "lib"
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(site), str(ROOT / "src")], check=False, capture_output=True)
    print(f"bytecode checked/compiled in {time.perf_counter() - started:.1f}s")
    subprocess.run([str(VENV_BIN / "passage"), "db", "upgrade"], env=env, check=True, capture_output=True)

    passage = [str(VENV_BIN / "passage"), "mobility", "flows-above-normal", "--level", "2",
               "--benchmark", windows["benchmark"], "--comparison", windows["comparison"], "--focal", windows["focal"]]
    raw_args = ["--events", str(raw / "events"), "--cells", str(raw / "cells.csv"), "--areas", str(raw / "areas.geojson")]
    params = {"areas": str(raw / "areas.geojson"), "cells": str(raw / "cells.csv"), "events": str(raw / "events" / "*.parquet")}
    for key, name in (("b", "benchmark"), ("c", "comparison"), ("f", "focal")):
        params[key + "0"], params[key + "1"] = windows[name].split("..")

    # Warm the page cache for the raw files once, so that whichever runs first does not alone pay the disk.
    for f in sorted((raw / "events").glob("*.parquet")):
        f.read_bytes()

    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    cpus: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    peaks: dict[str, int] = {"a": 0, "b": 0, "c": 0}
    peer_ok = True
    for i in range(args.repeat):
        dataset = scratch / f"ds{i}"
        for label, command in (
            ("a", [*passage, *raw_args, "--save-dataset", str(dataset), "--out", str(scratch / f"a{i}.csv")]),
            ("b", [*passage, "--dataset", str(dataset), "--out", str(scratch / f"b{i}.csv")]),
            ("c", [sys.executable, "-c", HAND_SCRIPT, json.dumps({"sql": HAND_SQL, "params": params, "out": str(scratch / f"c{i}.csv"),
                                                                  "memory_limit": args.memory_limit, "temp": str(spill)})]),
        ):
            seconds, rss, ok, cpu = timed_child(command, env, may_fail=label == "c")
            peer_ok = peer_ok and ok
            times[label].append(seconds)
            cpus[label].append(cpu)
            peaks[label] = max(peaks[label], rss)
            print(f"run {i + 1} ({label}): {seconds:.2f}s, CPU {cpu:.1f}s, peak RSS {rss / 2**20:.0f} MB{'' if ok else ' (FAILED)'}", flush=True)
        if i < args.repeat - 1:
            shutil.rmtree(scratch / f"ds{i}")

    # Checks: Passage's published values equal the peer's; the planted flows are recovered.
    last = args.repeat - 1
    ours_a, ours_b = read_flows(scratch / f"a{last}.csv"), read_flows(scratch / f"b{last}.csv")
    assert ours_a == ours_b, "the run from raw events and the run on the ingested dataset disagree"
    peer: dict[tuple[str, str], tuple[int, int]] = {}
    if peer_ok:
        with (scratch / f"c{last}.csv").open(newline="") as handle:
            peer = {(o, d): (int(nc), int(nf)) for o, d, nc, nf in csv.reader(handle)}
    for pair, (nc, nf, above) in ours_a.items() if peer_ok else ():
        pnc, pnf = peer.get(pair, (0, 0))
        assert nc in ("", str(pnc)) and nf in ("", str(pnf)), f"published counts differ from the peer's for {pair}"
        assert above in ("", str(pnf - pnc)), f"above_normal differs from the peer's for {pair}"
    planted = [f for f in truth["flows_above_normal"] if f["origin_pcode"] == config.affected_area and f["destination_pcode"] in config.destinations]
    recovered = []
    for flow in planted:
        estimate = ours_a.get((flow["origin_pcode"], flow["destination_pcode"]), ("", "", ""))[2]
        recovered.append((flow["destination_pcode"], flow["above_normal"], int(estimate) if estimate else None))
    true_total = sum(t for _, t, _ in recovered)
    est_total = sum(e or 0 for _, _, e in recovered)

    med = {k: statistics.median(v) for k, v in times.items()}
    events = truth["events"]
    print(f"\nflows above normal, {events:,} events ({raw_bytes / 2**20:,.0f} MB Parquet), {args.subscribers:,} subscribers, {args.days} days, "
          f"level 2 ({args.areas} districts); {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; memory_limit {args.memory_limit or 'default'}; "
          f"median of {args.repeat}")
    print(f"{'':58} {'median s':>9} {'runs s':>22} {'CPU s (median)':>15} {'peak RSS MB':>12}")
    names = {"a": "(a) passage CLI from raw events (ingest + metric)", "b": "(b) passage CLI on the ingested dataset", "c": "(c) hand-written DuckDB query from raw"}
    for key, name in names.items():
        runs = ", ".join(f"{t:.1f}" for t in times[key])
        print(f"{name:58} {med[key]:9.2f} {runs:>22} {statistics.median(cpus[key]):15.1f} {peaks[key] / 2**20:12.0f}")
    if peer_ok:
        cpu_c = statistics.median(cpus["c"])
        print(f"\n(a) / (c) = {med['a'] / med['c']:.2f}  (target <= 1.3); CPU time {statistics.median(cpus['a']) / cpu_c:.2f}")
        print(f"(b) / (c) = {med['b'] / med['c']:.2f}  (target <= 1.0); CPU time {statistics.median(cpus['b']) / cpu_c:.2f}")
        print("checked: every count Passage publishes equals the peer's; (a) and (b) wrote identical files")
    else:
        print("\nthe peer failed (see above): no ratio; (a) and (b) wrote identical files")
    print("planted flows D01 -> destination (true above normal, Passage's):", ", ".join(f"{d}: {t} / {e}" for d, t, e in recovered),
          f"; total {est_total} vs {true_total} ({(est_total - true_total) / true_total:+.1%})")

    if args.spark:
        run_spark_parity(raw, windows, scratch)
    if not args.keep:
        shutil.rmtree(scratch)


def run_spark_parity(raw: Path, windows: dict[str, str], scratch: Path) -> None:
    """Ingest and flows above normal on Spark local[*] and on DuckDB from the same raw events; unredacted rows must be equal."""
    from passage.mobility.engines import DuckDBEngine, SparkEngine, spark_session
    from passage.mobility.metrics import FlowsAboveNormal
    from passage.mobility.pseudonymise import PseudonymKey
    from passage.mobility.service import compute_metric, ingest_dataset
    from passage.mobility.units import parse_unit
    from passage.mobility.windows import parse_window

    key = PseudonymKey(b"bench-parity-key-0123456789abcdef")
    metric = FlowsAboveNormal(parse_window(windows["benchmark"]), parse_window(windows["comparison"]), parse_window(windows["focal"]))
    sources: dict[str, Any] = {"events": raw / "events", "cells": raw / "cells.csv", "areas": raw / "areas.geojson", "key": key}
    results: dict[str, Any] = {}
    spark = spark_session("local[*]")
    for name in ("duckdb", "spark"):
        dataset = scratch / f"parity-{name}"
        started = time.perf_counter()
        ingest_dataset(out_dir=dataset, engine=name, spark=spark if name == "spark" else None, **sources)
        ingested = time.perf_counter() - started
        engine = SparkEngine(spark) if name == "spark" else DuckDBEngine()
        try:
            started = time.perf_counter()
            results[name] = compute_metric(dataset=dataset, metric=metric, unit=parse_unit(2), engine=engine)[1]
            print(f"{name}: ingest {ingested:.1f}s, metric {time.perf_counter() - started:.1f}s, {len(results[name])} rows", flush=True)
        finally:
            engine.close()
        if name == "duckdb":
            pseudonyms_duckdb = sorted(json.dumps(v) for v in _pseudonyms(dataset))
        else:
            assert sorted(json.dumps(v) for v in _pseudonyms(dataset)) == pseudonyms_duckdb, "Spark and DuckDB pseudonymise differently"
    assert results["spark"] == results["duckdb"], "Spark and DuckDB disagree"
    print("spark parity: ingest (pseudonyms, ids) and flows above normal identical on both engines")


def _pseudonyms(dataset: Path) -> list[Any]:
    from passage.mobility.ingest import read_dataset_table

    table = read_dataset_table(dataset, "subscribers").to_pydict()
    return list(zip(table["subscriber"], table["pseudonym"], strict=True))


if __name__ == "__main__":
    main()
