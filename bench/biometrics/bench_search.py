"""Biometrics benchmark: real separation, extraction time, 1:1 speed, 1:N search vs Bozorth3 linear scan.

    .venv/bin/python -m bench.biometrics.bench_search [--sizes 10000,100000] [--scan-sample 2000]

Real images: bench/data/biometrics/real/ (see docs/biometrics.md for where they come from).
Gallery impostors are synthetic (bench/biometrics/synthetic.py): they measure speed and whether the
real mate survives the prefilter, never accuracy. Every gallery size uses distinct synthetic
minutiae sets (the 10,000 are the first 10,000 of the 100,000; nothing is repeated); the real
impressions are enrolled as well, so each real probe's other impressions are its mates.

The 1:N path timed is the one the service uses: `gallery.SearchIndex.search` (hashed MCC stage,
popcount LSS stage, Bozorth3 re-rank with cached templates, fusion per person), with the probe's own
record excluded. Synthetic probes (labelled: a gallery template jittered, rotated and with 20% of its
minutiae dropped) add timing samples and a pipeline check. The Bozorth3 linear scan (templates
pre-loaded) is timed on a sample of the gallery in the same run and extrapolated to the full size.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from itertools import combinations
from pathlib import Path

import numpy as np

from bench.biometrics.synthetic import points_to_record, synthetic_points
from passage.biometrics.codec import MinutiaeRecord
from passage.biometrics.extract import extract
from passage.biometrics.gallery import SearchIndex, default_shortlist, default_stage_one
from passage.biometrics.index import cylinders, minutiae_array
from passage.biometrics.matching import PreparedRecord, bozorth3, bozorth_template
from passage.core.errors import PassageError

REAL = Path("bench/data/biometrics/real")


def distorted(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A synthetic 'second impression': rotation, translation, 3 px jitter, 20% of minutiae dropped (labelled synthetic)."""
    keep = points[rng.random(len(points)) > 0.2]
    angle = rng.uniform(-0.3, 0.3)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = keep[:, :2].mean(axis=0)
    moved = keep.copy()
    moved[:, :2] = (keep[:, :2] - centre) @ rotation.T + centre + rng.normal(0, 3, (len(keep), 2)) + rng.uniform(-20, 20, 2)
    moved[:, 0] = np.clip(moved[:, 0], 0, 399)
    moved[:, 1] = np.clip(moved[:, 1], 0, 499)
    moved[:, 2] = (keep[:, 2] + angle + rng.normal(0, 0.05, len(keep))) % (2 * np.pi)
    return moved


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000", help="gallery sizes, each an independent synthetic set (nested)")
    parser.add_argument("--scan-sample", type=int, default=2000)
    parser.add_argument("--synthetic-probes", type=int, default=20)
    parser.add_argument("--shortlist", type=int, default=0, help="Bozorth3 shortlist (default: the gallery's policy)")
    args = parser.parse_args()

    records: dict[str, MinutiaeRecord] = {}
    times = []
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
    genuine: list[int] = []
    impostor: list[int] = []
    for a, b in combinations(records, 2):
        (genuine if finger[a] == finger[b] else impostor).append(bozorth3(loaded[a], loaded[b]))
    print(f"separation: {len(genuine)} genuine pairs, scores {sorted(genuine)}; {len(impostor)} impostor pairs, max {max(impostor)}, "
          f"median {statistics.median(impostor)} (too few pairs for an error rate)")

    names = list(records)
    a, b = loaded[names[0]], loaded[names[-1]]
    rates = []
    for _ in range(5):
        t, n = time.perf_counter(), 0
        while time.perf_counter() - t < 0.5:
            bozorth3(a, b)
            n += 1
        rates.append(n / (time.perf_counter() - t))
    print(f"1:1 Bozorth3: median {statistics.median(rates):.0f} matches/s over 5 x 0.5 s (single thread; {names[0]} vs {names[-1]})")

    rng = np.random.default_rng(2024)
    sizes = sorted({int(x) for x in args.sizes.split(",")})
    t = time.perf_counter()
    synthetic = [synthetic_points(rng) for _ in range(max(sizes))]
    synthetic_records = [points_to_record(p, np.random.default_rng(i)) for i, p in enumerate(synthetic)]
    print(f"generated {len(synthetic)} independent synthetic minutiae sets in {time.perf_counter() - t:.0f} s (labelled synthetic: impostors only)")

    index = SearchIndex()
    index.add_many((name, finger[name], records[name]) for name in names)
    scan_found = {q: [m for m in names if m != q and finger[m] == finger[q] and bozorth3(loaded[q], loaded[m]) >= 40] for q in names}
    probe_rng = np.random.default_rng(7)
    built, build_seconds = 0, 0.0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for size in sizes:
        t = time.perf_counter()
        for start in range(built, size, 5000):
            end = min(size, start + 5000)
            index.add_many((f"s{i}", f"s{i}", synthetic_records[i]) for i in range(start, end))
        index.freeze()
        build_seconds += time.perf_counter() - t
        built = size
        gallery = size + len(names)
        print(f"index build: {gallery} templates, {build_seconds:.0f} s cumulative ({build_seconds / gallery * 1000:.2f} ms/template); "
              f"index arrays + encoded templates {index.memory_bytes() / 2**20:.0f} MiB; process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB "
              f"(was {rss_before / 2**10:.0f} MiB before the index)")
        t = time.perf_counter()
        snapshot = index.to_bytes()
        t_save = time.perf_counter() - t
        t = time.perf_counter()
        restored = SearchIndex.from_bytes(snapshot)
        t_load = time.perf_counter() - t
        assert len(restored) == len(index)
        del restored
        print(f"snapshot: {len(snapshot) / 2**20:.0f} MiB, serialise {t_save:.1f} s, load and re-hash {t_load:.1f} s (before AES-GCM encryption)")
        del snapshot

        stage_one, shortlist = default_stage_one(gallery), args.shortlist or default_shortlist(gallery)
        search_times: list[float] = []
        kept = found = 0
        worst_hash_rank = 0
        for q in names:
            reranked: set[str] = set()
            t0 = time.perf_counter()
            index.search(records[q], top=10, shortlist=args.shortlist or None, exclude={q}, on_candidate=reranked.add)
            search_times.append(time.perf_counter() - t0)
            hashed = index._index.stage_one(cylinders(minutiae_array(records[q])))
            order = {int(e): r for r, e in enumerate(np.argsort(-hashed, kind="stable"))}
            for m in scan_found[q]:
                found += 1
                kept += m in reranked
                worst_hash_rank = max(worst_hash_rank, order[names.index(m)] + 1)
        real_times = list(search_times)
        synth_kept = synth_found = 0
        for i in probe_rng.choice(size, size=args.synthetic_probes, replace=False):
            probe = points_to_record(distorted(synthetic[i], probe_rng), np.random.default_rng(int(i)))
            reranked = set()
            t0 = time.perf_counter()
            index.search(probe, top=10, shortlist=args.shortlist or None, on_candidate=reranked.add)
            search_times.append(time.perf_counter() - t0)
            if bozorth3(bozorth_template(probe, probe.views[0]), bozorth_template(synthetic_records[i], synthetic_records[i].views[0])) >= 40:
                synth_found += 1
                synth_kept += f"s{i}" in reranked
        sample = [PreparedRecord(synthetic_records[i]).template(0) for i in range(min(args.scan_sample, size))]
        probe_template = loaded[names[0]]
        t1 = time.perf_counter()
        for ref in sample:
            bozorth3(probe_template, ref)
        scan = (time.perf_counter() - t1) / len(sample) * gallery
        median = statistics.median(search_times)
        print(f"1:N {size // 1000}k independent ({gallery} templates; stage one {stage_one}, Bozorth3 shortlist {shortlist}): "
              f"median {median * 1000:.0f} ms/search, p95 {percentile(search_times, 95) * 1000:.0f} ms, max {max(search_times) * 1000:.0f} ms "
              f"over {len(search_times)} searches ({len(real_times)} real probes: median {statistics.median(real_times) * 1000:.0f} ms); "
              f"Bozorth3 linear scan {scan:.1f} s/search (extrapolated from {len(sample)} comparisons, same run), ratio {scan / median:.0f}x")
        print(f"  recall vs the linear scan: real mates the scan finds (score >= 40) re-ranked by Bozorth3: {kept}/{found} "
              f"(worst mate rank in the hashed stage alone: {worst_hash_rank} of {gallery}); synthetic distorted probes whose mate the scan "
              f"finds, mate re-ranked: {synth_kept}/{synth_found} (labelled synthetic, pipeline check)")


if __name__ == "__main__":
    main()
