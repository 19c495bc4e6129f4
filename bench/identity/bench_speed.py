"""Speed: index build time and peak memory, batch throughput and 1:N search latency (p50/p95), one core.

Usage: python bench/identity/bench_speed.py DATA_DIR   (DATA_DIR from generate.py)
Splink's time on the same data is printed by bench_accuracy.py (train + predict for the whole batch).
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from passage.identity.cli import read_queries
from passage.identity.index import build_or_update, open_index
from passage.identity.search import gather, rank


def main(data: Path) -> None:
    queries = read_queries(data / "queries.csv")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = build_or_update(data / "registry.csv", Path(tmp) / "index")
        t_index = time.perf_counter() - t0
        rss_index = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        index = open_index(Path(tmp) / "index")
        t_open = time.perf_counter() - t0
        latencies = []
        t0 = time.perf_counter()
        for q in queries:
            s = time.perf_counter()
            rank(gather(index, q), index.model, registry_size=index.size, top=10)
            latencies.append(1000 * (time.perf_counter() - s))
        t_batch = time.perf_counter() - t0
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"registry {report.total:,} records; queries {len(queries):,}")
    print(f"index build {t_index:.1f} s ({report.total / t_index:,.0f} records/s), peak RSS {rss_index:,.0f} MB; open {t_open:.2f} s")
    print(f"batch {len(queries) / t_batch:.1f} queries/s (one core); search p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
