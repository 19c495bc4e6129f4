"""Candidate recall by stage: where the true person of an in-registry query is lost, and search latency.

Stages of `search.gather` + `search.rank` (see docs/identity.md, "Candidate selection"):
1. keys: the true record shares no usable blocking key with the query (or only keys shared by more than
   `MAX_BLOCK` rows whose narrowing by the query's year, sex and place, `blocking.narrow_blocks`, leaves it out);
2. pool cut: it shares keys, but not enough to be among the `CANDIDATE_POOL` rows sharing most;
3. pre-score cut: it is in the pool but not among the `search.candidate_count(pool)` kept by `search.preselect`;
4. ranking: it is compared in full but ranked below 10.
"tied" marks a loss where the true record scores exactly as the last one kept (its pre-score equals the
last kept, or its total the 10th): namesakes with the same evidence, which no ordering of the
evidence can separate (they are kept in (segment, row) or person-id order).
Pair completeness of blocking (Christen 2012, "Data Matching", ch. 4) is one minus the first three shares.

No peer runs here: Splink's recall@10 on the same data is in bench_accuracy.py (`cross`). Splink has no
candidate pool; its blocking rules either produce a pair or not.

Usage: python bench/identity/bench_recall.py DATA_DIR [--index DIR]   (DATA_DIR from generate.py)
"""

from __future__ import annotations

import argparse
import collections
import csv
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from passage.identity import compare
from passage.identity.blocking import Narrowing
from passage.identity.index import (
    CANDIDATE_POOL,
    MAX_CANDIDATES,
    build_or_update,
    open_index,
    query_key_hashes,
)
from passage.identity.queries import read_queries
from passage.identity.search import candidate_count, gather, log2_bayes_factors, pool_levels, prescore, rank
from passage.identity.segments import CANDIDATE_SHARE, MAX_CANDIDATES_CAP

STAGES = ("keys", "pool cut", "pre-score cut", "pre-score cut, tied", "ranking", "ranking, tied")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--index", type=Path, default=None, help="keep the index here (reused when the registry is unchanged)")
    args = parser.parse_args()
    truth = {r["query_id"]: (r["person_id"], r["system"]) for r in csv.DictReader((args.data / "truth.csv").open(encoding="utf-8"))}
    queries = read_queries(args.data / "queries.csv")
    with tempfile.TemporaryDirectory() as tmp:
        index_path = args.index or Path(tmp) / "index"
        build_or_update(args.data / "registry.csv", index_path)
        index = open_index(index_path)
        where: dict[str, tuple[int, int]] = {}
        for s, seg in enumerate(index.segments):
            for row, pid in enumerate(seg.column("person_id")):
                if not seg.deleted[row]:
                    where[pid] = (s, row)
        for q in queries[:20]:  # warm-up (syllable tables, caches), outside the timings
            rank(gather(index, q), index.model, registry_size=index.size, index=index)
        lost: collections.Counter[str] = collections.Counter()
        by_system: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        latencies = []
        inside = 0
        compared = []
        for q in queries:
            t0 = time.perf_counter()
            scored = gather(index, q)
            result = rank(scored, index.model, registry_size=index.size, top=10, index=index)
            latencies.append(1000 * (time.perf_counter() - t0))
            compared.append(scored.size)
            pid, system = truth[q.query_id]
            if not pid:
                continue
            inside += 1
            by_system[system]["n"] += 1
            if any(c.person_id == pid for c in result.candidates):
                continue
            seg, row = where[pid]
            if scored.size and scored.segments is not None and scored.rows is not None and np.any((scored.segments == seg) & (scored.rows == row)):
                # Tied: its total equals the 10th best, so the evidence cannot put it above the others.
                totals = log2_bayes_factors(scored, index.model, registry_size=index.size)
                mine = float(totals[np.flatnonzero((scored.segments == seg) & (scored.rows == row))[0]])
                stage = "ranking, tied" if mine >= float(np.sort(totals)[::-1][9]) else "ranking"
            else:
                effective, _ = compare.effective_query(q)
                segs, rows, _ = index.candidate_pool(query_key_hashes(effective), limit=1 << 40, narrowing=Narrowing.of(effective))
                at = np.flatnonzero((segs == seg) & (rows == row))
                if not len(at):
                    stage = "keys"
                elif int(at[0]) >= CANDIDATE_POOL:
                    stage = "pool cut"
                else:
                    segs, rows, shared, codes = pool_levels(index, effective)
                    score = prescore(codes, shared, index.model)
                    mine = float(score[np.flatnonzero((segs == seg) & (rows == row))[0]])
                    stage = "pre-score cut, tied" if mine >= float(np.sort(score)[::-1][candidate_count(len(score)) - 1]) else "pre-score cut"
            lost[stage] += 1
            by_system[system][stage] += 1
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"registry {index.size:,}; queries {len(queries):,}, in registry {inside:,}; pool {CANDIDATE_POOL}, "
          f"pre-score keeps {CANDIDATE_SHARE:.0%} of the pool, {MAX_CANDIDATES}-{MAX_CANDIDATES_CAP} (+ ties up to the cap)")
    print(f"search (1 process, all queries): p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms; "
          f"rows compared in full per query: mean {statistics.mean(compared):.0f}, max {max(compared)}")
    print("| stage | true persons lost | share of in-registry |")
    print("|---|---|---|")
    for stage in STAGES:
        print(f"| {stage} | {lost[stage]} | {lost[stage] / max(inside, 1):.4f} |")
    found = inside - sum(lost.values())
    print(f"| recall@10 | {found} | {found / max(inside, 1):.4f} |")
    tied = lost["pre-score cut, tied"] + lost["ranking, tied"]
    print(f"| recall@10 where the evidence can tell (not counting the {tied} tied) | {found} | {found / max(inside - tied, 1):.4f} |")
    print("lost by romanisation: " + ", ".join(f"{k} {sum(v[s] for s in STAGES)}/{v['n']}"
                                              for k, v in sorted(by_system.items())))


if __name__ == "__main__":
    main()
