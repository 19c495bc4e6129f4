"""Spark against the single-machine engine on the same registry and queries, in the same run.

Usage:
  python bench/identity/bench_spark.py DATA_DIR [--master local[2]] [--workers 2] [--top 10] [--no-train-m] [--repeat 1]
DATA_DIR from generate.py (registry.csv, queries.csv). Runs `passage identify batch` (the single-machine engine,
`--workers` processes) and `passage identify link --engine spark` as the user would, each in a fresh process
(Spark: a fresh JVM), and prints per engine the median wall time and the peak resident memory of the process
tree (sampled every 0.2 s: the Python driver, the JVM and its Python workers), the ratio Spark / single
machine, and the parity of the two results.csv: identical rows, then per query the same top candidate and
decision, and the largest difference in match probability.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

PASSAGE = [str(Path(sys.executable).with_name("passage"))]


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the process tree of `cmd`; fails loudly if the command fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], _tree_rss(watched))
            except psutil.Error:
                pass
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:5])} failed:\n{err[-3000:]}")
    return time.perf_counter() - start, peak[0] / 2**20


def _by_query(path: Path) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = defaultdict(list)
    with path.open(encoding="utf-8") as handle:
        for row in list(csv.reader(handle))[1:]:
            out[row[0]].append(row)
    return out


def parity(local: Path, spark: Path) -> dict[str, float]:
    same_bytes = local.read_bytes() == spark.read_bytes()
    a, b = _by_query(local), _by_query(spark)
    top = sum(1 for q in a if a[q][0][2] != b.get(q, [[""] * 5])[0][2])
    decision = sum(1 for q in a if a[q][0][4] != b.get(q, [[""] * 5])[0][4])
    rows_differ = sum(1 for q in a if a[q] != b.get(q))
    max_dp = max((abs(float(x[3]) - float(y[3])) for q in a for x, y in zip(a[q], b.get(q, []), strict=False) if x[2] == y[2]), default=0.0)
    return {"identical_file": float(same_bytes), "queries": len(a), "queries_with_any_difference": rows_differ,
            "top1_differs": top, "decision_differs": decision, "max_abs_probability_difference": max_dp}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--no-train-m", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    registry, queries = args.data / "registry.csv", args.data / "queries.csv"
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        env = {**os.environ, "PASSAGE_DATA_DIR": tmp}
        subprocess.run([*PASSAGE, "db", "upgrade"], env=env, check=True, capture_output=True)
        em = ["--no-train-m"] if args.no_train_m else []
        local_out, spark_out = Path(tmp) / "local.csv", Path(tmp) / "spark.csv"
        local_cmd = [*PASSAGE, "identify", "batch", "--registry", str(registry), "--queries", str(queries), "--out", str(local_out),
                     "--top", str(args.top), "--workers", str(args.workers), *em]
        spark_cmd = [*PASSAGE, "identify", "link", "--engine", "spark", "--master", args.master, "--registry", str(registry),
                     "--queries", str(queries), "--out", str(spark_out), "--top", str(args.top), "--work", str(Path(tmp) / "work"), *em]
        times: dict[str, list[float]] = {"single machine": [], "spark": []}
        peaks: dict[str, float] = {"single machine": 0.0, "spark": 0.0}
        for _ in range(args.repeat):
            for name, cmd in (("single machine", local_cmd), ("spark", spark_cmd)):
                seconds, peak = run(cmd, env)
                times[name].append(seconds)
                peaks[name] = max(peaks[name], peak)
        for name in times:
            print(f"{name:15s} median {statistics.median(times[name]):8.1f} s  peak RSS {peaks[name]:8.0f} MB  runs {times[name]}")
        ratio = statistics.median(times["spark"]) / statistics.median(times["single machine"])
        print(f"ratio spark / single machine (wall time): {ratio:.2f}")
        for key, value in parity(local_out, spark_out).items():
            print(f"parity {key}: {value}")


if __name__ == "__main__":
    main()
