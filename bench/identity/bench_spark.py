"""Spark against the single-machine engine on the same registry and queries, in the same run.

Usage:
  python bench/identity/bench_spark.py DATA_DIR [--master local[2]] [--workers 2] [--top 10] [--no-train-m] [--repeat 1]
DATA_DIR from generate.py (registry.csv, queries.csv). Runs `passage identify batch` (the single-machine engine,
`--workers` processes) and `passage identify link --engine spark` as the user would, each in a fresh process
(Spark: a fresh JVM), and prints per engine the median wall time and the peak resident memory of the process
tree (sampled every 0.2 s: the Python driver, the JVM and its Python workers), the ratio Spark / single
machine, and the parity of the two results.csv: identical rows, then per query the same top candidate and
decision, and the largest difference in match probability.

Memory per executor: the sampled peak is also split by role (`_role_rss`: the Python driver, the JVM, the JVM's
Python workers), and the Spark run writes an event log (`EVENT_LOG_CONF`, added to PYSPARK_SUBMIT_ARGS) whose
per-stage executor peaks (`JVMHeapMemory`, `OnHeapExecutionMemory`, `ProcessTreeJVMRSSMemory`,
`ProcessTreePythonRSSMemory`, ...: what the REST API calls `peakMemoryMetrics`, here offline, the UI being off)
are printed per executor id. In local mode the one JVM is the driver and the only executor ("driver").
"""

from __future__ import annotations

import argparse
import csv
import json
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


ROLES = ("driver", "jvm", "python workers")


def _role_rss(proc: psutil.Process) -> dict[str, tuple[int, int]]:
    """RSS (bytes) and process count of each role in the tree of `proc`: the Python driver (the `passage` process
    and any Python outside a JVM), the JVM (in local mode the driver and the one executor at once, Spark's
    launcher scripts included) and the Python workers (every process below a JVM other than a JVM: pyspark.daemon
    and its forked workers). The single-machine engine has only "driver"."""
    out = {role: (0, 0) for role in ROLES}

    def add(role: str, p: psutil.Process) -> None:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            return
        out[role] = (out[role][0] + rss, out[role][1] + 1)

    def walk(p: psutil.Process, under_jvm: bool) -> None:
        try:
            is_jvm = p.name() == "java"
            children = p.children()
            if under_jvm and not is_jvm and _jvm_mid_spawn(p):
                return
        except psutil.Error:
            return
        add("jvm" if is_jvm else "python workers" if under_jvm else "driver", p)
        for child in children:
            walk(child, under_jvm or is_jvm)

    walk(proc, False)
    return out


def _jvm_mid_spawn(p: psutil.Process) -> bool:
    """A child the JVM is starting (a Python worker) before its exec: named after the JVM thread that forks it
    ("Thread-3"), with the JVM's command line and its pages (measured: 1.9-3.1 GB for under a second). Counting it
    would add the JVM's memory to the Python workers' a second time; it is skipped."""
    cmdline = p.cmdline()
    return bool(cmdline) and Path(cmdline[0]).name == "java"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Wall seconds and peak RSS (MB) of the process tree of `cmd`, in total and per role (`_role_rss`: the peak of
    each role on its own, and the most Python workers alive at once); fails loudly if the command fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    peak: dict[str, float] = {"total": 0, **{role: 0 for role in ROLES}, "python worker processes": 0, "largest python worker": 0}
    done = threading.Event()
    largest = [""]

    def sample() -> None:
        while not done.is_set():
            try:
                roles = _role_rss(watched)
                peak["total"] = max(peak["total"], sum(rss for rss, _ in roles.values()))
                for role, (rss, _count) in roles.items():
                    peak[role] = max(peak[role], rss)
                peak["python worker processes"] = max(peak["python worker processes"], roles["python workers"][1])
                for p in watched.children(recursive=True):
                    try:
                        if p.name() != "java" and any(a.name() == "java" for a in p.parents()) and not _jvm_mid_spawn(p):
                            rss = p.memory_info().rss
                            if rss > peak["largest python worker"]:
                                peak["largest python worker"] = rss
                                largest[0] = (f"pid {p.pid} {p.name()} {' '.join(p.cmdline()[:4])} at {time.perf_counter() - start:.0f} s, "
                                              f"{len(p.children())} children")
                    except psutil.Error:
                        pass
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
    if largest[0]:
        print(f"largest process below the JVM: {largest[0]}")
    return time.perf_counter() - start, {k: v if k == "python worker processes" else v / 2**20 for k, v in peak.items()}


EVENT_LOG_CONF = ("--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{dir} "
                  "--conf spark.eventLog.compress=false --conf spark.eventLog.logStageExecutorMetrics=true "
                  "--conf spark.executor.processTreeMetrics.enabled=true --conf spark.executor.metrics.pollingInterval=1s")
JVM_METRICS = ("JVMHeapMemory", "JVMOffHeapMemory", "OnHeapExecutionMemory", "OnHeapStorageMemory", "OffHeapExecutionMemory",
               "ProcessTreeJVMRSSMemory", "ProcessTreePythonRSSMemory", "ProcessTreeOtherRSSMemory")


def executor_metrics(event_dir: Path) -> dict[str, dict[str, float]]:
    """Peak executor metrics (MB) per executor id from Spark's event log: the offline form of the REST API's
    `peakMemoryMetrics` (per-stage peaks, `spark.eventLog.logStageExecutorMetrics`, and each task's end)."""
    peaks: dict[str, dict[str, float]] = defaultdict(dict)
    for log in sorted(event_dir.rglob("events_*")):  # Spark 4 writes a folder of rolled files
        with log.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:  # the last line of a log still being written
                    continue
                kind = event.get("Event")
                if kind == "SparkListenerStageExecutorMetrics":
                    executor, metrics = str(event.get("Executor ID")), event.get("Executor Metrics") or {}
                elif kind == "SparkListenerTaskEnd":
                    executor = str((event.get("Task Info") or {}).get("Executor ID"))
                    metrics = event.get("Task Executor Metrics") or {}
                else:
                    continue
                for name in JVM_METRICS:
                    if name in metrics:
                        peaks[executor][name] = max(peaks[executor].get(name, 0.0), metrics[name] / 2**20)
    return dict(peaks)


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
        events = Path(tmp) / "spark-events"
        events.mkdir()
        submit = os.environ.get("PYSPARK_SUBMIT_ARGS", "pyspark-shell").removesuffix("pyspark-shell").strip()
        spark_env = {**env, "PYSPARK_SUBMIT_ARGS": f"{submit} {EVENT_LOG_CONF.format(dir=events)} pyspark-shell".strip()}
        times: dict[str, list[float]] = {"single machine": [], "spark": []}
        peaks: dict[str, dict[str, float]] = {"single machine": {}, "spark": {}}
        for _ in range(args.repeat):
            for name, cmd in (("single machine", local_cmd), ("spark", spark_cmd)):
                seconds, peak = run(cmd, spark_env if name == "spark" else env)
                times[name].append(seconds)
                peaks[name] = {k: max(v, peaks[name].get(k, 0.0)) for k, v in peak.items()}
        for name in times:
            print(f"{name:15s} median {statistics.median(times[name]):8.1f} s  peak RSS {peaks[name]['total']:8.0f} MB  runs {times[name]}")
            print(f"{'':15s} peak RSS by role (each role's own peak): "
                  + ", ".join(f"{role} {peaks[name][role]:,.0f} MB" for role in ROLES)
                  + f"; at most {peaks[name]['python worker processes']:.0f} Python worker processes at once, "
                  f"the largest {peaks[name]['largest python worker']:,.0f} MB")
        print("memory per executor (local mode: one JVM is driver and executor; executor = JVM + its Python workers): "
              f"peak JVM {peaks['spark']['jvm']:,.0f} MB + peak Python workers {peaks['spark']['python workers']:,.0f} MB")
        for executor, metrics in sorted(executor_metrics(events).items()):
            print(f"spark executor {executor} peak metrics (event log, MB): " + ", ".join(f"{k} {v:,.0f}" for k, v in metrics.items()))
        ratio = statistics.median(times["spark"]) / statistics.median(times["single machine"])
        print(f"ratio spark / single machine (wall time): {ratio:.2f}")
        for key, value in parity(local_out, spark_out).items():
            print(f"parity {key}: {value}")


if __name__ == "__main__":
    main()
