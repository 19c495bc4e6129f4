"""Speed: index build time and peak memory, batch throughput (2 processes) and 1:N search latency (p50/p95).

Usage:
  python bench/identity/bench_speed.py DATA_DIR [--splink] [--index-only] [--workers 2] [--index DIR] [--repeat 3]
DATA_DIR from generate.py. `--splink` also times Splink 5 (DuckDB) train + predict on the same registry and
queries (the careful set-up of bench_accuracy.py), beside ours, and prints the ratio. `--index-only` stops
after the build (for the 10M build).

Memory of the build: `ru_maxrss` of this process (its exact peak) and of the children (the peak of the
largest single worker, not a sum), the conservative bound main + workers x largest worker, and the peak of
the sum of the RSS of this process and its live children sampled every 0.1 s (pages shared after fork are
counted once per process, so this too errs high).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

from passage.identity.index import build_or_update, open_index
from passage.identity.queries import read_queries
from passage.identity.search import fit_model, gather, gather_many, rank


def _rss_mb() -> tuple[float, float]:
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


class _RssSampler:
    """Peak of (RSS of this process + RSS of all its live descendants), sampled on a thread."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # the worker ended between listing and reading
                    pass
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--splink", action="store_true")
    parser.add_argument("--index-only", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--index", type=Path, default=None,
                        help="keep the index in this directory (built if missing; reused as is when the registry is unchanged)")
    parser.add_argument("--repeat", type=int, default=3, help="batch runs; the median is reported")
    args = parser.parse_args()
    data: Path = args.data
    queries = read_queries(data / "queries.csv")
    with tempfile.TemporaryDirectory(dir=args.index_dir) as tmp:
        index_path = args.index or Path(tmp) / "index"
        t0 = time.perf_counter()
        with _RssSampler() as sampler:
            report = build_or_update(data / "registry.csv", index_path, workers=args.workers)
        t_index = time.perf_counter() - t0
        rss_self, rss_children = _rss_mb()
        size_mb = sum(f.stat().st_size for f in index_path.iterdir()) / 2**20
        if report.unchanged == report.total:
            print(f"index reused from {index_path} (registry unchanged; check {t_index:.1f} s)")
        print(f"registry {report.total:,} records; queries {len(queries):,}")
        print(f"index build {t_index:.1f} s ({report.total / t_index:,.0f} records/s, {args.workers} processes); on disk {size_mb:,.0f} MB")
        print(f"peak RSS: main {rss_self:,.0f} MB, largest worker {rss_children:,.0f} MB (ru_maxrss); "
              f"bound main + {args.workers} x worker {rss_self + args.workers * rss_children:,.0f} MB; "
              f"sampled peak of main + workers together {sampler.peak_total / 2**20:,.0f} MB")
        if args.index_only:
            return
        t0 = time.perf_counter()
        index = open_index(index_path)
        t_open = time.perf_counter() - t0
        print(f"open {t_open:.2f} s")
        # Warm-up (syllable tables, caches) outside the timings, as a long-running service would be.
        for q in queries[:20]:
            rank(gather(index, q), index.model, registry_size=index.size, index=index)
        latencies = []
        for q in queries:
            s = time.perf_counter()
            rank(gather(index, q), index.model, registry_size=index.size, top=10, index=index)
            latencies.append(1000 * (time.perf_counter() - s))
        latencies.sort()
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(f"search (1 process): p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, "
              f"{len(queries) / (sum(latencies) / 1000):.0f} q/s")
        runs = []
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            gathered = gather_many(index, queries, workers=args.workers)
            t_gather = time.perf_counter() - t0
            model, _ = fit_model(gathered, index.model, registry_size=index.size)
            t_fit = time.perf_counter() - t0 - t_gather
            for g in gathered:
                rank(g, model, registry_size=index.size, top=10, index=index)
            t_batch = time.perf_counter() - t0
            runs.append(t_batch)
            print(f"batch ({args.workers} processes, with one-to-one EM): {len(queries) / t_batch:.0f} queries/s "
                  f"(gather {t_gather:.1f} s, EM {t_fit:.1f} s, rank {t_batch - t_gather - t_fit:.1f} s)")
        t_batch = statistics.median(runs)
        print(f"batch median of {len(runs)}: {len(queries) / t_batch:.0f} queries/s")
    if args.splink:
        import bench_accuracy  # type: ignore[import-not-found]

        t0 = time.perf_counter()
        left, right = bench_accuracy.splink_frames(data / "registry.csv", queries)
        t_prep = time.perf_counter() - t0
        _, t_splink = bench_accuracy.run_splink(left, right, with_id=True, em_rules=[["surname", "given"], ["dob"]],
                                                predict_rules=[["surname", "given"], ["surname", "dob"], ["given", "dob"], ["id_number"], ["dob", "sex"]])
        print(f"splink (DuckDB): pinyin preparation {t_prep:.1f} s, train + predict {t_splink:.1f} s; "
              f"{len(queries) / t_splink:.1f} queries/s end to end without preparation; "
              + (f"ratio Passage batch (index reused) vs Splink train + predict: {t_batch / t_splink:.3f}"
                 if report.unchanged == report.total else
                 f"ratio Passage index + batch vs Splink train + predict: {(t_index + t_batch) / t_splink:.2f}"))


if __name__ == "__main__":
    main()
