"""bench_recall.py with the query-time limits of candidate selection changed: what recall and search time they buy.

`segments.MAX_BLOCK` (keys of more rows are narrowed by the query's year, sex and place, `blocking.narrow_blocks`)
and `MAX_CANDIDATES` (the least number of pool rows compared in full; `search.candidate_count` keeps 5% of the pool
up to `MAX_CANDIDATES_CAP`) are read at query time, so the same index serves every setting. The shipped values are
5,000 and 200.
Usage: python bench/identity/recall_limits.py MAX_BLOCK MAX_CANDIDATES DATA_DIR [--index DIR]
(the rest of the arguments are bench_recall.py's). No peer: see bench_recall.py.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import passage.identity.index as index_module
import passage.identity.search as search_module
import passage.identity.segments as segments_module


def main() -> None:
    if len(sys.argv) < 4:
        raise SystemExit("usage: recall_limits.py MAX_BLOCK MAX_CANDIDATES DATA_DIR [--index DIR]")
    max_block, max_candidates = int(sys.argv[1]), int(sys.argv[2])
    segments_module.MAX_BLOCK = max_block
    segments_module.MAX_CANDIDATES = index_module.MAX_CANDIDATES = search_module.MAX_CANDIDATES = max_candidates
    print(f"MAX_BLOCK = {max_block:,}, MAX_CANDIDATES = {max_candidates:,}")
    here = Path(__file__).resolve().parent
    sys.argv = [str(here / "bench_recall.py"), *sys.argv[3:]]
    runpy.run_path(str(here / "bench_recall.py"), run_name="__main__")


if __name__ == "__main__":
    main()
