"""In-process timing of `service.list_cases` (the inbox) at N seeded cases, per filter, for MPS central (~90 % of
the cases in scope), the NL officer and the Fujian officer; no HTTP, no server, SQLite or PostgreSQL.

    .venv/bin/python -m bench.readmission.bench_inbox --cases 10000 --repeat 15

Same data as `bench_api` (its `seed`). Each listing is page 1 (offset 0) and page 21 (offset 500) of 25 rows,
with the audit entry written, in its own transaction; prints the median and the slowest in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.readmission.bench_api import seed  # noqa: E402
from bench.security.bench_api import BIN  # noqa: E402

FILTERS: list[tuple[str, dict[str, object]]] = [
    ("default (-updated)", {}), ("sort=due", {"sort": "due"}), ("due=flagged", {"due": "flagged"}), ("due=overdue", {"due": "overdue"}),
    ("state=acknowledged", {"state": "acknowledged"}), ("requesting_state=NL", {"requesting_state": "NL"}), ("q=BENCH-00", {"q": "BENCH-00"}),
    ("needs_action", {"needs_action": True}),
]


def measure(repeat: int) -> None:
    from sqlalchemy import select

    from passage.core.db import dispose_engines, unit_of_work
    from passage.readmission import service
    from passage.security.models import User

    dispose_engines()
    for username in ("mps.central", "nl.officer", "fj.officer"):
        for label, params in FILTERS:
            for offset in (0, 500):
                times = []
                total = 0
                for _ in range(repeat):
                    started = time.perf_counter()
                    with unit_of_work() as s:
                        actor = s.scalars(select(User).where(User.username == username)).one()
                        _, total, _ = service.list_cases(s, actor=actor, filters=service.CaseFilter(**params, offset=offset, limit=25))  # type: ignore[arg-type]
                    times.append((time.perf_counter() - started) * 1000)
                print(f"{username:12} {label:22} offset={offset:<4} total={total:<5} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="passage-bench-inbox-"))
    cluster = None
    if args.store == "postgresql":
        from tests.conftest import PostgresCluster

        cluster = PostgresCluster()
        cluster.start()
        url = cluster.url("postgres")
    else:
        url = f"sqlite:///{work / 'passage.db'}"
    env = dict(os.environ, PASSAGE_DATA_DIR=str(work), PASSAGE_DATABASE_URL=url, PASSAGE_KEY_FILE=str(work / "keys.json"), PASSAGE_ENVIRONMENT="development")
    os.environ.update({k: env[k] for k in ("PASSAGE_DATA_DIR", "PASSAGE_DATABASE_URL", "PASSAGE_KEY_FILE", "PASSAGE_ENVIRONMENT")})
    try:
        subprocess.run([str(BIN / "passage"), "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([str(BIN / "passage"), "demo", "load"], env=env, check=True, capture_output=True)
        seed(args.cases)
        print(f"store={args.store} cases={args.cases}+30 demo repeat={args.repeat} page=25 date={time.strftime('%Y-%m-%d')}")
        measure(args.repeat)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
