"""Biometrics benchmark: real separation, extraction time, 1:1 speed, 1:N index vs Bozorth3 linear scan.

    .venv/bin/python -m bench.biometrics.bench_search [--sizes 10000,100000] [--scan-sample 1000]

Real images: bench/data/biometrics/real/ (see docs/biometrics.md for where they come from).
Gallery impostors are synthetic (bench/biometrics/synthetic.py): they measure speed and whether the
real mate survives the prefilter, never accuracy. Every gallery size uses distinct synthetic
minutiae sets (the 10,000 are the first 10,000 of the 100,000; nothing is repeated). A full
Bozorth3 scan is timed on a sample and extrapolated, labelled as such.
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
from passage.biometrics.gallery import default_shortlist, default_stage_one
from passage.biometrics.index import CylinderIndex, minutiae_array
from passage.biometrics.matching import bozorth3, bozorth_template
from passage.core.errors import PassageError

REAL = Path("bench/data/biometrics/real")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000", help="gallery sizes, each an independent synthetic set (nested)")
    parser.add_argument("--scan-sample", type=int, default=1000)
    parser.add_argument("--shortlist", type=int, default=0, help="Bozorth3 shortlist (default: the gallery's policy)")
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
    sizes = sorted({int(x) for x in args.sizes.split(",")})
    t = time.perf_counter()
    synthetic = [synthetic_points(rng) for _ in range(max(sizes))]
    print(f"generated {len(synthetic)} independent synthetic minutiae sets in {time.perf_counter() - t:.0f} s (labelled synthetic: impostors only)")
    index = CylinderIndex()
    for name in names:
        index.add(minutiae_array(records[name]))
    built, t = 0, time.perf_counter()
    templates: dict[int, object] = {}

    def reference(entry: int) -> object:
        if entry < len(names):
            return loaded[names[entry]]
        if entry not in templates:
            record = points_to_record(synthetic[entry - len(names)], np.random.default_rng(entry))
            templates[entry] = bozorth_template(record, record.views[0])
        return templates[entry]

    scan_sample = [reference(len(names) + i) for i in range(args.scan_sample)]
    scan_found = {q: [m for m in names if m != q and finger[m] == finger[q] and bozorth3(loaded[q], loaded[m]) >= 40] for q in names}
    for size in sizes:
        for points in synthetic[built:size]:
            index.add(points)
        built = size
        index.freeze()
        print(f"index build: {size + len(names)} templates, {time.perf_counter() - t:.0f} s cumulative")
        stage_one, shortlist = default_stage_one(size), args.shortlist or default_shortlist(size)
        search_times, kept, found, old_kept = [], 0, 0, 0
        for q in names:
            t0 = time.perf_counter()
            hits = index.search(minutiae_array(records[q]), top=shortlist, stage_one=stage_one)
            candidates = {hit.entry for hit in hits}
            for entry in candidates:
                bozorth3(loaded[q], reference(entry))
            search_times.append(time.perf_counter() - t0)
            one_stage = {hit.entry for hit in index.search(minutiae_array(records[q]), top=shortlist, stage_one=0)}
            for m in scan_found[q]:
                found += 1
                kept += names.index(m) in candidates
                old_kept += names.index(m) in one_stage
        t1 = time.perf_counter()
        for ref in scan_sample:
            bozorth3(loaded[names[0]], ref)
        scan = (time.perf_counter() - t1) / len(scan_sample) * (size + len(names))
        median = statistics.median(search_times)
        print(f"1:N {size // 1000}k independent ({size + len(names)} templates; stage one {stage_one}, Bozorth3 shortlist {shortlist}): "
              f"median {median * 1000:.0f} ms/search, max {max(search_times) * 1000:.0f} ms; Bozorth3 linear scan {scan:.1f} s/search "
              f"(extrapolated from {len(scan_sample)}), ratio {scan / median:.0f}x; real mates the scan finds (score >= 40) kept: "
              f"{kept}/{found} (hashed stage alone, same shortlist: {old_kept}/{found})")
        t = time.perf_counter()


if __name__ == "__main__":
    main()
