"""CPU cost per request of the readmission API, Passage against the bare peer, request by request.

    .venv/bin/python -m bench.readmission.bench_request_cost --store postgresql   # throwaway cluster, 10,000 cases
    .venv/bin/python -m bench.readmission.bench_request_cost --store sqlite --requests 200
    .venv/bin/python -m bench.readmission.bench_request_cost --passage-src /tmp/before/src   # after `git archive REV src | tar -x -C /tmp/before`

Set-up as in `bench_load_locust.py` (migrations, the demo, N seeded cases, `ANALYZE`). Passage (`passage serve
--workers 1`) and the peer (`peer_app.py`, one worker) serve the same database; both and PostgreSQL run on core 0,
the client on core 1. For each kind of request the client sends `--requests` of them one after another (after 20
uncounted), first to Passage, then to the peer, after 10 s for the server's start-up work to end, and reads the CPU time (user + system, `/proc/<pid>/stat`) that
the server's process tree and every `postgres` process used meanwhile. Sequential requests measure cost, not
queueing: this is the per-request work that sets the highest rate a core can sustain. Prints CPU per request,
wall p50 and the ratio Passage / peer of the total CPU.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.readmission.bench_load_locust import SETTLE_SECONDS, prepare, seeded_store, start_pair  # noqa: E402
from bench.security.bench_api import stop  # noqa: E402

CLIENT_CORE = "1"
WARM_UP = 20
"""Uncounted requests of each kind before the counted ones (caches, prepared statements, the pool)."""
EVIDENCE = b"%PDF-1.4\n% bench evidence\n" + b"0" * 40_000 + b"\n%%EOF\n"
"""The 40 KB PDF of the Locust mix's uploads (`locust_mix.PDF`; that file cannot be imported outside Locust)."""


def cpu_ms(pids: list[int]) -> float:
    """User + system CPU time of these processes, in ms (those gone meanwhile count as 0)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    tree = [root]
    for pid in tree:
        tree += [child for child, parent in parents.items() if parent == pid]
    return tree


def postgres_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def measure(server: subprocess.Popen[bytes], send: Callable[[], httpx.Response], requests: int) -> dict[str, float]:
    for _ in range(WARM_UP):
        send().raise_for_status()
    server_pids, database_pids = process_tree(server.pid), postgres_pids()
    server_before, database_before = cpu_ms(server_pids), cpu_ms(database_pids)
    walls = []
    for _ in range(requests):
        started = time.perf_counter()
        send().raise_for_status()
        walls.append((time.perf_counter() - started) * 1000)
    return {"server": (cpu_ms(server_pids) - server_before) / requests, "database": (cpu_ms(database_pids) - database_before) / requests,
            "p50": statistics.median(walls)}


def kinds(work: dict[str, Any], passage: httpx.Client, peer: httpx.Client) -> dict[str, tuple[Callable[[], httpx.Response], Callable[[], httpx.Response]]]:
    """Each kind as (Passage request, peer request): the same case or the same page for both."""
    rng = random.Random(7)
    auth = {"Authorization": f"Bearer {work['tokens']['mps.central']}"}
    scope = work["scopes"]["mps.central"]

    def case_id() -> str:
        return str(rng.choice(work["readable"]))

    def inbox(extra: dict[str, str]) -> tuple[Callable[[], httpx.Response], Callable[[], httpx.Response]]:
        return (lambda: passage.get("/api/v1/readmission/cases", params={**extra, "offset": 25, "limit": 25}, headers=auth),
                lambda: peer.get("/peer/cases", params={**extra, "org": scope["org"], "country": scope["country"], "offset": 25, "limit": 25}))

    pools = {target: list(work["work"][target]) for target in ("passage", "peer")}
    drafts = {target: list(work["drafts"][target]) for target in ("passage", "peer")}

    def transition(target: str) -> httpx.Response:
        user, case, action, payload, version = pools[target].pop()
        if target == "peer":
            return peer.post(f"/peer/cases/{case}/transitions", json={"action": action, "version": version})
        return passage.post(f"/api/v1/readmission/cases/{case}/transitions", json={"action": action, "version": version, "payload": payload},
                            headers={"Authorization": f"Bearer {work['tokens'][user]}"})

    def upload(target: str) -> httpx.Response:
        case, version = drafts[target].pop()
        files = {"file": ("e.pdf", EVIDENCE, "application/pdf")}
        if target == "peer":
            return peer.post(f"/peer/cases/{case}/evidence", data={"version": str(version)}, files=files)
        return passage.post(f"/api/v1/readmission/cases/{case}/evidence", data={"evidence_type": "passport", "version": str(version)}, files=files,
                            headers={"Authorization": f"Bearer {work['tokens']['nl.officer']}"})

    return {
        "case read": (lambda: passage.get(f"/api/v1/readmission/cases/{case_id()}", headers=auth), lambda: peer.get(f"/peer/cases/{case_id()}")),
        "inbox page": inbox({}),
        "inbox, state filter": inbox({"state": "acknowledged"}),
        "broad search q=BENCH-00": inbox({"q": "BENCH-00"}),
        "transition": (lambda: transition("passage"), lambda: transition("peer")),
        "evidence upload (40 KB)": (lambda: upload("passage"), lambda: upload("peer")),
    }


def run(store: str, cases: int, requests: int, passage_src: str | None, only: str | None = None) -> None:
    with seeded_store(store, cases=cases, purpose="cost") as (work_dir, env):
        server_env = dict(env, PYTHONPATH=passage_src) if passage_src else env
        server, port, peer, peer_port = start_pair(work_dir, env, workers=1, passage_env=server_env)
        try:
            os.sched_setaffinity(0, {int(CLIENT_CORE)})
            work = prepare(f"http://127.0.0.1:{port}")
            time.sleep(SETTLE_SECONDS)  # the worker's start-up warm-up thread (romanisation tables, seconds of CPU) is not a request's cost
            print(f"store={store} cases={cases}+30 demo requests={requests} per kind, sequential; date {time.strftime('%Y-%m-%d %H:%M')} UTC; "
                  f"load average {os.getloadavg()[0]:.1f}")
            print(f"{'request':26} {'Passage CPU ms (server + db)':>30} {'peer CPU ms (server + db)':>28} {'ratio':>6} {'p50 ms Passage / peer':>22}")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as passage, httpx.Client(base_url=f"http://127.0.0.1:{peer_port}", timeout=60) as bare:
                for name, (ours, theirs) in kinds(work, passage, bare).items():
                    if only and only not in name:
                        continue
                    a, b = measure(server, ours, requests), measure(peer, theirs, requests)
                    ratio = (a["server"] + a["database"]) / max(b["server"] + b["database"], 1e-9)
                    print(f"{name:26} {a['server']:14.1f} + {a['database']:5.1f}          {b['server']:12.1f} + {b['database']:5.1f}          {ratio:5.1f}x "
                          f"{a['p50']:10.1f} / {b['p50']:.1f}", flush=True)
        finally:
            stop(server)
            stop(peer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="postgresql")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--only", help="measure only the kinds whose name contains this text")
    parser.add_argument("--requests", type=int, default=100, help="per kind; transitions and uploads use up the seeded pools (at least requests + 20 of each)")
    parser.add_argument("--passage-src", help="serve Passage from this `src` folder (e.g. a `git archive` of an earlier commit) for a before/after comparison; "
                                              "the database is set up by this checkout")
    args = parser.parse_args()
    for store in (["sqlite", "postgresql"] if args.store == "both" else [args.store]):
        run(store, args.cases, args.requests, args.passage_src, args.only)


if __name__ == "__main__":
    main()
