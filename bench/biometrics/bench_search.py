"""Biometrics benchmark: real separation, extraction time, 1:1 speed, 1:N index vs Bozorth3 linear scan.

    .venv/bin/python -m bench.biometrics.bench_search [--gallery 10000] [--scan-sample 1000]

Real images: bench/data/biometrics/real/ (see docs/biometrics.md for where they come from).
Gallery impostors are synthetic (bench/biometrics/synthetic.py): they measure speed and whether the
real mate survives the prefilter, never accuracy. The 100,000 index is the 10,000 synthetic
templates' hash keys tiled 10x (same bucket statistics, identical search work); its recall figure is
therefore not independent of the 10,000 one. A full Bozorth3 scan is timed on a sample and
extrapolated, labelled as such.
"""

from __future__ import annotations

import argparse
import statistics
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from bench.biometrics.synthetic import points_to_record, synthetic_points

from passage.biometrics.extract import extract
from passage.biometrics.index import CylinderIndex, minutiae_array
from passage.biometrics.matching import bozorth3, bozorth_template
from passage.core.errors import PassageError

REAL = Path("bench/data/biometrics/real")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gallery", type=int, default=10000)
    parser.add_argument("--scan-sample", type=int, default=1000)
    parser.add_argument("--shortlist", type=int, default=100)
    args = parser.parse_args()

    records, times = {}, []
    for path in sorted(REAL.iterdir()):
        t = time.perf_counter()
        try:
            result = extract(path.read_bytes())
        except PassageError as exc:
            print(f"refused {path.name}: {exc.message}")
            continue
        times.append(time.perf_counter() - t)
        records[path.stem] = result.record
        print(f"{path.name}: {result.minutiae} minutiae, NFIQ 2 {result.nfiq2}, low_quality={result.low_quality}")
    print(f"extraction (MINDTCT + NFIQ 2) per image: median {statistics.median(times) * 1000:.0f} ms over {len(times)} images")

    finger = {name: name.rsplit("_", 1)[0] for name in records}
    loaded = {name: bozorth_template(r, r.views[0]) for name, r in records.items()}
    genuine, impostor = [], []
    for a, b in combinations(records, 2):
        (genuine if finger[a] == finger[b] else impostor).append(bozorth3(loaded[a], loaded[b]))
    print(f"separation: {len(genuine)} genuine pairs, scores {sorted(genuine)}; {len(impostor)} impostor pairs, max {max(impostor)}, "
          f"median {statistics.median(impostor)} (too few pairs for an error rate)")

    names = list(records)
    a, b = loaded[names[0]], loaded[names[-1]]
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < 2.0:
        bozorth3(a, b)
        n += 1
    per_match = (time.perf_counter() - t) / n
    print(f"1:1 Bozorth3: {1 / per_match:.0f} matches/s (single thread)")

    rng = np.random.default_rng(2024)
    t = time.perf_counter()
    synthetic = [synthetic_points(rng) for _ in range(args.gallery)]
    index = CylinderIndex()
    for name in names:
        index.add(minutiae_array(records[name]))
    for points in synthetic:
        index.add(points)
    index.freeze()
    print(f"index build: {args.gallery + len(names)} templates in {time.perf_counter() - t:.0f} s")
    scan_sample = [bozorth_template(points_to_record(p, rng), points_to_record(p, rng).views[0]) for p in synthetic[: args.scan_sample]]

    big = CylinderIndex()
    big._pending_keys = index._pending_keys * 10
    big._pending_entries = [e + k * len(index) for k in range(10) for e in index._pending_entries]
    big._counts = index._counts * 10
    big.freeze()

    for label, idx, size in (("10k", index, len(index)), ("100k (tiled)", big, len(big))):
        search_times, kept, found = [], 0, 0
        for q in names:
            t = time.perf_counter()
            shortlist = idx.search(minutiae_array(records[q]), top=args.shortlist)
            candidates = {hit.entry % len(index) for hit in shortlist}
            for entry in candidates:
                if entry < len(names):
                    bozorth3(loaded[q], loaded[names[entry]])
                else:
                    bozorth3(loaded[q], scan_sample[(entry - len(names)) % len(scan_sample)])
            search_times.append(time.perf_counter() - t)
            for m in names:
                if m != q and finger[m] == finger[q] and bozorth3(loaded[q], loaded[m]) >= 40:
                    found += 1
                    kept += names.index(m) in candidates
        t = time.perf_counter()
        for ref in scan_sample:
            bozorth3(loaded[names[0]], ref)
        scan = (time.perf_counter() - t) / len(scan_sample) * size
        print(f"1:N {label} ({size} templates): index+re-rank median {statistics.median(search_times) * 1000:.0f} ms/search, "
              f"Bozorth3 linear scan {scan:.1f} s/search (extrapolated from {len(scan_sample)}), ratio {scan / statistics.median(search_times):.0f}x; "
              f"real mates the scan finds (score >= 40) kept in the shortlist: {kept}/{found}")


if __name__ == "__main__":
    main()
