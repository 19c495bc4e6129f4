"""Flows above normal: Passage pipeline vs one hand-written DuckDB query vs plain pandas (vs Spark).

Run:  .venv/bin/python bench/mobility/bench_flows_above_normal.py --subscribers 100000 --days 60 [--spark]
Generates data with `passage.mobility.synth` into bench/data/ (git-ignored), ingests it, then times
each implementation of the same method (Wilson et al. 2016) on the same ingested Parquet, checks they
agree, and prints times, ratios and peak RSS sampled during each run.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from passage.mobility.engines import DuckDBEngine, SparkEngine, duckdb_connection, spark_session
from passage.mobility.metrics import FlowsAboveNormal
from passage.mobility.pseudonymise import PseudonymKey
from passage.mobility.service import compute_metric, ingest_dataset
from passage.mobility.synth import SynthConfig, generate
from passage.mobility.units import cell_units, parse_unit
from passage.mobility.windows import parse_window

HAND_SQL = """
WITH ev AS (
  SELECT e.subscriber, e.date, u.pcode, e.ts FROM read_parquet($glob, hive_partitioning = true) e
  JOIN cell_units u USING (cell_idx)
  WHERE e.date BETWEEN $b0 AND $b1 OR e.date BETWEEN $c0 AND $c1 OR e.date BETWEEN $f0 AND $f1),
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


class PeakRss:
    """Samples this process's RSS every 50 ms (DuckDB and pandas run in-process; Spark's JVM is added)."""

    def __init__(self, extra_pid: Callable[[], list[int]] | None = None) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._extra = extra_pid or (lambda: [])

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = me.memory_info().rss
            for pid in self._extra():
                try:
                    total += psutil.Process(pid).memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn: Callable[[], Any], repeat: int, extra: Callable[[], list[int]] | None = None) -> tuple[float, int, Any]:
    times = []
    result = None
    with PeakRss(extra) as rss:
        for _ in range(repeat):
            t = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t)
    return statistics.median(times), rss.peak, result


def pandas_flows(ds: Path, units: pd.DataFrame, windows: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int]]:
    """Plain pandas: read the window days, daily last location, modal home per window, two OD tables."""
    frames = []
    for w in windows.values():
        days = pd.date_range(w.start, w.end).date
        for day in days:
            part = ds / "events" / f"date={day.isoformat()}"
            if part.exists():
                f = pd.read_parquet(part, columns=["subscriber", "ts", "cell_idx"])
                f["date"] = day
                frames.append(f)
    ev = pd.concat(frames, ignore_index=True).merge(units, on="cell_idx")
    ev = ev.sort_values(["subscriber", "date", "ts", "pcode"])
    daily = ev.groupby(["subscriber", "date"], sort=False).tail(1)[["subscriber", "date", "pcode"]]
    homes = {}
    for name, w in windows.items():
        part = daily[(daily["date"] >= w.start) & (daily["date"] <= w.end)]
        cnt = part.groupby(["subscriber", "pcode"]).agg(n=("date", "size"), d=("date", "max")).reset_index()
        cnt = cnt.sort_values(["subscriber", "n", "d", "pcode"])
        homes[name] = cnt.groupby("subscriber").tail(1).set_index("subscriber")["pcode"]
    out: dict[tuple[str, str], list[int]] = {}
    for idx, other in ((0, "comparison"), (1, "focal")):
        joined = pd.concat([homes["benchmark"].rename("o"), homes[other].rename("d")], axis=1, join="inner")
        for (o, d), n in joined.groupby(["o", "d"]).size().items():
            out.setdefault((o, d), [0, 0])[idx] = int(n)
    return {k: (v[0], v[1]) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--events-per-day", type=float, default=1.67)
    parser.add_argument("--areas", type=int, default=75)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spark", action="store_true")
    parser.add_argument("--no-pandas", action="store_true")
    parser.add_argument("--cold", action="store_true", help="skip reading the Parquet once before timing (the first implementation then pays the cold page cache)")
    args = parser.parse_args()
    root = Path("bench/data") / f"mobility-{args.subscribers}-{args.days}-{args.events_per_day}"
    crisis = max(2 * 14, args.days - 20)
    config = SynthConfig(subscribers=args.subscribers, days=args.days, areas=args.areas, regions=7, crisis_day=crisis, destinations={"D02": 0.5, "D05": 0.3, "D09": 0.2}, events_per_day=args.events_per_day)
    if not (root / "raw" / "truth.json").exists():
        t = time.perf_counter()
        truth = generate(config, root / "raw")
        print(f"synth: {truth['events']:,} events in {time.perf_counter() - t:.1f}s")
    ds = root / "ds"
    if not (ds / "manifest.json").exists():
        t = time.perf_counter()
        report = ingest_dataset(events=root / "raw" / "events", cells=root / "raw" / "cells.csv", areas=root / "raw" / "areas.geojson", out_dir=ds, key=PseudonymKey(b"b" * 32), overwrite=True)
        print(f"ingest: {report.rows_kept:,} rows in {time.perf_counter() - t:.1f}s")
    wins = {k: parse_window(v) for k, v in config.windows().items()}
    metric = FlowsAboveNormal(wins["benchmark"], wins["comparison"], wins["focal"])
    unit = parse_unit(2)
    units_table = cell_units(ds, unit)

    def pipeline() -> list[tuple[Any, ...]]:
        return compute_metric(dataset=ds, metric=metric, unit=unit, engine=DuckDBEngine())[1]

    def hand() -> list[tuple[Any, ...]]:
        con = duckdb_connection()
        con.register("cell_units", units_table)
        p = {"glob": (ds / "events" / "**" / "*.parquet").as_posix()}
        for key, w in (("b", wins["benchmark"]), ("c", wins["comparison"]), ("f", wins["focal"])):
            p[key + "0"], p[key + "1"] = w.start, w.end
        rows = con.execute(HAND_SQL, p).fetchall()
        con.close()
        return rows

    if not args.cold:
        # Otherwise whichever implementation runs first (the pipeline) also pays for reading the Parquet
        # from disk when it is not in the page cache (838 MB at 50M events), and the other does not.
        t = time.perf_counter()
        size = sum(len(f.read_bytes()) for f in sorted((ds / "events").rglob("*.parquet")))
        print(f"warm-up: read {size / 2**20:,.0f} MB of Parquet in {time.perf_counter() - t:.1f}s")
    results: dict[str, tuple[float, int]] = {}
    t_pipe, m_pipe, r_pipe = timed(pipeline, args.repeat)
    results["passage pipeline (duckdb)"] = (t_pipe, m_pipe)
    t_hand, m_hand, r_hand = timed(hand, args.repeat)
    results["hand-written duckdb sql"] = (t_hand, m_hand)
    assert {(o, d): (c, f) for o, d, c, f in r_pipe} == {(o, d): (c, f) for o, d, c, f in r_hand}, "pipeline and hand SQL disagree"
    if not args.no_pandas:
        units_pd = units_table.to_pandas()
        t_pd, m_pd, r_pd = timed(lambda: pandas_flows(ds, units_pd, wins), 1)
        results["plain pandas"] = (t_pd, m_pd)
        assert {(o, d): (c, f) for o, d, c, f in r_pipe} == r_pd, "pipeline and pandas disagree"
    if args.spark:
        spark = spark_session("local[*]")
        jvm = psutil.Process().children(recursive=True)

        def on_spark() -> list[tuple[Any, ...]]:
            engine = SparkEngine(spark)
            try:
                return compute_metric(dataset=ds, metric=metric, unit=unit, engine=engine)[1]
            finally:
                engine.close()

        t_sp, m_sp, r_sp = timed(on_spark, 1, extra=lambda: [p.pid for p in jvm])
        results["spark local[*]"] = (t_sp, m_sp)
        assert r_sp == r_pipe, "spark and duckdb disagree"
    events = DuckDBEngine().con.execute("SELECT count(*) FROM read_parquet($g, hive_partitioning = true)", {"g": (ds / "events" / "**" / "*.parquet").as_posix()}).fetchone()[0]  # type: ignore[index]
    print(f"\nflows above normal on {events:,} events, {args.subscribers:,} subscribers, {args.days} days, level 2 ({args.areas} districts)")
    print(f"{'implementation':32} {'median s':>9} {'peak RSS MB':>12} {'vs pipeline':>12}")
    for name, (secs, rss) in results.items():
        print(f"{name:32} {secs:9.2f} {rss / 2**20:12.0f} {secs / t_pipe:11.2f}x")
    print(f"\npipeline / hand-written duckdb = {t_pipe / t_hand:.2f} (target <= 1.3)")
    if "plain pandas" in results:
        print(f"pandas / pipeline = {results['plain pandas'][0] / t_pipe:.1f} (target >= 10)")


if __name__ == "__main__":
    main()
