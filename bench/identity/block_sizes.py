"""Block sizes behind candidate selection at a registry's size, and what they become at a larger one.

For `docs/deploy.md` ("Identity at national scale on Spark") and the recall at 10M: from a single-machine index,
- postings per record, keys over `segments.MAX_BLOCK` rows (skipped at query time) and the share they hold;
- per query: its key hashes, the joined (query, key, row) before the shared-key count (the Spark engine's largest
  shuffle) and the rows sharing a kept key (the pool before the `CANDIDATE_POOL` cut);
- the same joined count with every block scaled by each `--scale` (a registry that many times larger from the same
  population: blocks grow in proportion) and those over `MAX_BLOCK` dropped;
- of the in-registry queries, how many share with their true record only keys over `MAX_BLOCK` (lost at "keys"),
  at each scale.

No peer runs here: this measures our own blocking, for the extrapolation; recall against Splink is in
bench_accuracy.py. Usage: python bench/identity/block_sizes.py DATA_DIR --index DIR [--scale 1 3 10]
"""

from __future__ import annotations

import argparse
import collections
import csv
from pathlib import Path

import numpy as np

from passage.identity import blocking, compare
from passage.identity.index import build_or_update, open_index, query_key_hashes
from passage.identity.queries import read_queries
from passage.identity.registry import record_from_row
from passage.identity.segments import MAX_BLOCK


def _stats(name: str, values: list[int]) -> None:
    a = np.array(values)
    print(f"{name}: mean {a.mean():,.0f}, median {np.median(a):,.0f}, p95 {np.percentile(a, 95):,.0f}, max {a.max():,}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--index", type=Path, required=True, help="built here if missing (reused when the registry is unchanged)")
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 3, 10])
    args = parser.parse_args()
    build_or_update(args.data / "registry.csv", args.index)
    index = open_index(args.index)
    if len(index.segments) != 1:
        raise SystemExit("block_sizes.py reads a freshly built index of one segment")
    seg = index.segments[0]

    def sizes_of(hashes: np.ndarray) -> np.ndarray:
        return np.searchsorted(seg.keys, hashes, side="right") - np.searchsorted(seg.keys, hashes, side="left")

    starts = np.flatnonzero(np.r_[True, seg.keys[1:] != seg.keys[:-1]])
    blocks = np.diff(np.r_[starts, len(seg.keys)])
    big = blocks > MAX_BLOCK
    print(f"records {index.size:,}; postings {len(seg.keys):,} ({len(seg.keys) / index.size:.2f} per record); distinct keys "
          f"{len(starts):,}; keys over {MAX_BLOCK:,} rows: {int(big.sum()):,}, holding {int(blocks[big].sum()):,} postings "
          f"({blocks[big].sum() / len(seg.keys):.1%}); largest block {int(blocks.max()):,}")

    truth = {r["query_id"]: r["person_id"] for r in csv.DictReader((args.data / "truth.csv").open(encoding="utf-8"))}
    queries = read_queries(args.data / "queries.csv")
    wanted = {truth[q.query_id] for q in queries if truth[q.query_id]}
    records = {}
    with (args.data / "registry.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["person_id"] in wanted:
                records[row["person_id"]] = record_from_row(row)

    n_keys, pools = [], []
    joined: dict[int, list[int]] = {s: [] for s in args.scale}
    lost: dict[int, collections.Counter[str]] = {s: collections.Counter() for s in args.scale}
    for q in queries:
        effective, _ = compare.effective_query(q)
        hashes = query_key_hashes(effective)
        sizes = sizes_of(hashes)
        n_keys.append(len(hashes))
        pools.append(len(index.candidate_pool(hashes, limit=1 << 40)[1]))
        for s in args.scale:
            scaled = sizes * s
            joined[s].append(int(scaled[scaled <= MAX_BLOCK].sum()))
        if not truth[q.query_id]:
            continue
        wanted_hashes = set(hashes.tolist())
        record_hashes = blocking.key_hashes(blocking.record_keys(records[truth[q.query_id]]))
        shared = np.array([h for h in record_hashes.tolist() if h in wanted_hashes], dtype=np.uint64)
        shared_sizes = sizes_of(shared)
        for s in args.scale:
            if not len(shared):
                lost[s]["no shared key"] += 1
            elif not (shared_sizes * s <= MAX_BLOCK).any():
                lost[s][f"only keys over {MAX_BLOCK:,} rows"] += 1
    _stats("query keys", n_keys)
    _stats("rows sharing a kept key (pool before the cut)", pools)
    print(f"queries whose pool before the cut exceeds 20,000 rows: {sum(p > 20_000 for p in pools)} of {len(pools)}")
    inside = len([q for q in queries if truth[q.query_id]])
    for s in args.scale:
        _stats(f"joined (query, key, row) per query, blocks x{s}, those over {MAX_BLOCK:,} dropped", joined[s])
        print(f"  in-registry queries lost at keys, blocks x{s}: {sum(lost[s].values())} of {inside} "
              f"({sum(lost[s].values()) / inside:.1%}): {dict(lost[s])}")


if __name__ == "__main__":
    main()
