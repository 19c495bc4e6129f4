"""Readmission mix under stepped load from Locust, Passage and the bare peer in the same run, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.readmission.bench_load_locust --store both            # 10,000 cases, rates 10..160/s, 20 s a step
    .venv/bin/python -m bench.readmission.bench_load_locust --store sqlite --quick  # 1,000 cases, two short steps

The server side is pinned to core 0 with `taskset` (`passage serve` and the peer, each with `--workers`, and on
PostgreSQL the throwaway cluster's postmaster and every backend it forks); the load generator, Locust 2.x with
`FastHttpUser` (one gevent process), is pinned to core 1. So the generator does not take CPU from the server it
measures, and it is never the bottleneck: one Locust core sends far more than the rates below.

Set-up as in `bench_api.py`: migrations, the demo (`passage demo load`), N extra cases seeded with the ORM
(encrypted personal columns, deadlines from the rules), then `ANALYZE`. Passage (`passage serve`) and the peer
(`bench/readmission/peer_app.py`: the same four kinds of request with hand-written SQL, no sign-in, permission,
scope, audit or encryption) serve the same database; at each offered rate Passage runs first, then the peer,
each for `--seconds` (the mix is in `locust_mix.py`). Each Locust user sends at the moments of its own Poisson
process (`locust_mix.MixUser`), so the offered load is that of independent users; before 2026-12-07 22:00 the
users paced with `constant_pacing` and, through an interplay with their random start-up delay, all sent in the
same few milliseconds of every second: figures recorded before then measured bursts, not the rate. A rate is sustained when at least 95 % of the offered
requests are answered in the step (a 429 is not an answer: it counts neither there nor in the percentiles) and the
p99 of the answers is under 500 ms; stepping stops for a side after it has collapsed
(under half answered) at two rates, so the curve past the p99 limit is recorded too. Statuses are counted per rate; 409 (stale version) and 429 are allowed, anything else is an error.
Afterwards `passage audit verify` checks the chain.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.readmission.bench_api import seed  # noqa: E402
from bench.security.bench_api import BIN, PASSWORD, free_port, pct, stop, totp  # noqa: E402

SERVER_CORE, LOAD_CORE = "0", "1"
ALLOWED = {"200", "201", "409", "429"}
SETTLE_SECONDS = 10
"""Wait after start-up before the first step: each worker warms its caches (romanisation tables) in a thread for
seconds of CPU, which the first step measured (2026-12-08: p50 572 ms at 64/s as first step, 125 ms at 80/s after)."""
REFUSED = "refused (429)"
"""The name under which `locust_mix` records the latencies of 429 answers."""


def start_server(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start a server and wait for /healthz (up to 10 minutes: two workers importing every module on one busy core
    took 75 s here), or stop with the end of its log."""
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code in (200, 404):
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"server did not start: {' '.join(log.read_text(errors='replace').splitlines()[-3:])}")


def pin_cluster(data: Path) -> None:
    """The postmaster and its current children on the server's core; backends forked later inherit it."""
    postmaster = (data / "postmaster.pid").read_text().split()[0]
    children = subprocess.run(["pgrep", "-P", postmaster], capture_output=True, text=True).stdout.split()
    for pid in [postmaster, *children]:
        subprocess.run(["taskset", "-a", "-p", "-c", SERVER_CORE, pid], check=True, capture_output=True)


@contextlib.contextmanager
def seeded_store(store: str, *, cases: int, purpose: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """A throwaway database with `cases` seeded cases (+30 demo), the peer's table and fresh statistics: a
    PostgreSQL cluster pinned to the server core, or a SQLite file. Yields (work folder, environment of the
    servers); this process's environment points at the database too. Everything is removed afterwards."""
    work_dir = Path(tempfile.mkdtemp(prefix=f"passage-bench-{purpose}-{store}-"))
    cluster = None
    try:
        if store == "postgresql":
            from tests.conftest import PostgresCluster

            cluster = PostgresCluster()
            cluster.start()
            pin_cluster(cluster.data)
            url = cluster.url("postgres")
        else:
            url = f"sqlite:///{work_dir / 'passage.db'}"
        env = dict(os.environ, PASSAGE_DATA_DIR=str(work_dir), PASSAGE_DATABASE_URL=url, PASSAGE_KEY_FILE=str(work_dir / "keys.json"),
                   PASSAGE_ENVIRONMENT="development", PASSAGE_DEMO_REGISTRY_SIZE="0")
        os.environ.update({k: env[k] for k in ("PASSAGE_DATA_DIR", "PASSAGE_DATABASE_URL", "PASSAGE_KEY_FILE", "PASSAGE_ENVIRONMENT", "PASSAGE_DEMO_REGISTRY_SIZE")})
        for command in (["db", "upgrade"], ["demo", "load"]):
            done = subprocess.run([str(BIN / "passage"), *command], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"passage {' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:]}")
        seed(cases)
        from sqlalchemy import text

        from passage.core.db import dispose_engines, get_engine

        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            create_peer_tables(connection, store=store)
            connection.execute(text("ANALYZE"))
        dispose_engines()
        yield work_dir, env
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


def start_pair(work_dir: Path, env: dict[str, str], *, workers: int, passage_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int, subprocess.Popen[bytes], int]:
    """Passage (`passage serve`) and the peer (`peer_app.py`) on the server core, on the same database, each with
    `workers` processes; returns (Passage, its port, peer, its port). Logs: `server.log`, `peer.log`."""
    port, peer_port = free_port(), free_port()
    server = start_server(["taskset", "-c", SERVER_CORE, str(BIN / "passage"), "serve", "--port", str(port), "--workers", str(workers)],
                          passage_env or env, port, work_dir / "server.log")
    peer = start_server(["taskset", "-c", SERVER_CORE, str(BIN / "uvicorn"), "bench.readmission.peer_app:app", "--port", str(peer_port), "--workers", str(workers),
                         "--log-level", "warning"], dict(env, PEER_DATABASE_URL=env["PASSAGE_DATABASE_URL"], PYTHONPATH=str(ROOT)), peer_port, work_dir / "peer.log")
    return server, port, peer, peer_port


def create_peer_tables(connection: Any, *, store: str) -> None:
    """The table the peer's uploads write to (`peer_app.upload`); Passage's own tables come from its migrations."""
    blob = "BLOB" if store == "sqlite" else "BYTEA"
    connection.exec_driver_sql(f"CREATE TABLE peer_evidence (id VARCHAR(32) PRIMARY KEY, case_id VARCHAR(32), sha256 CHAR(64), size INTEGER, content {blob})")


def prepare(base: str) -> dict[str, Any]:
    """Tokens, the organisations of the three users (for the peer's scope) and the pools of work, split in two."""
    with httpx.Client(base_url=base, timeout=120) as client:
        tokens = {}
        for username in ("nl.officer", "mps.central", "fj.officer"):
            body = {"username": username, "password": PASSWORD, "totp_code": totp(username)}
            tokens[username] = client.post("/api/v1/auth/token", json=body).json()["access_token"]

        def pool(user: str, **params: Any) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            for offset in range(0, 2000, 200):
                page = client.get("/api/v1/readmission/cases", params={**params, "limit": 200, "offset": offset, "sort": "reference"}, headers={"Authorization": f"Bearer {tokens[user]}"}).json()
                items += page["items"]
                if len(page["items"]) < 200:
                    break
            return items

        auth = {"Authorization": f"Bearer {tokens['mps.central']}"}
        organisations = client.get("/api/v1/organisations", headers=auth).json()
        fujian = next(o["id"] for o in organisations if o.get("province") == "CN-FJ")
        me = {u: client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens[u]}"}).json() for u in tokens}
        work = ([["mps.central", c["id"], "acknowledge", {}, c["version"]] for c in pool("mps.central", state="submitted")]
                + [["mps.central", c["id"], "route", {"province_org_id": fujian}, c["version"]] for c in pool("mps.central", state="acknowledged")]
                + [["fj.officer", c["id"], "verify_identity", {"method": "interview"}, c["version"]] for c in pool("fj.officer", state="routed")])
        drafts = [[c["id"], c["version"]] for c in pool("nl.officer", state="draft")]
        readable = [c["id"] for c in pool("mps.central")]
    import random

    random.Random(5).shuffle(work)
    scopes = {u: {"org": me[u]["organisation_id"], "country": "CN" if u == "mps.central" else "--"} for u in tokens}
    return {"tokens": tokens, "scopes": scopes, "readable": readable,
            "work": {"passage": work[0::2], "peer": work[1::2]}, "drafts": {"passage": drafts[0::2], "peer": drafts[1::2]}}


def step(target: str, base: str, rate: float, seconds: float, work_file: Path, work: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One Locust run at `rate` offered requests per second; returns the figures and updates the pools."""
    users = max(1, round(rate))
    out = tmp / f"{target}-{rate:g}.json"
    work_file.write_text(json.dumps(work))
    env = dict(os.environ, BENCH_WORK=str(work_file), BENCH_OUT=str(out), BENCH_TARGET=target, BENCH_PACING=str(users / rate))
    command = ["taskset", "-c", LOAD_CORE, str(BIN / "locust"), "-f", str(ROOT / "bench/readmission/locust_mix.py"), "--headless",
               "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s", "--stop-timeout", "30", "--host", base,
               "--only-summary", "--loglevel", "ERROR", "PassageUser" if target == "passage" else "PeerUser"]
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=ROOT, check=False, capture_output=True)
    elapsed = time.perf_counter() - started
    recorded = json.loads(out.read_text())
    work["work"][target], work["drafts"][target] = recorded["left"]["work"], recorded["left"]["drafts"]
    values = [v for kind, lat in recorded["latencies"].items() if kind != REFUSED for v in lat]
    statuses = recorded["statuses"]
    offered = rate * seconds
    result = {
        "rate": rate, "answered": len(values), "offered": offered, "p50": pct(values, 50) / 1000 if values else float("nan"),
        "p99": pct(values, 99) / 1000 if values else float("nan"), "statuses": dict(sorted(statuses.items())),
        "errors": sum(n for s, n in statuses.items() if s not in ALLOWED), "elapsed": elapsed,
        "kinds": {k: (len(v), pct(v, 50) / 1000, pct(v, 99) / 1000) for k, v in sorted(recorded["latencies"].items())},
    }
    result["sustained"] = len(values) >= 0.95 * offered and result["p99"] < 500
    return result


def run_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {"passage": [], "peer": []}
    started = time.perf_counter()
    with seeded_store(store, cases=args.cases, purpose="locust") as (work_dir, env):
        print(f"\n== {store}: migrated, demo loaded and {args.cases} cases (+30 demo) seeded in {time.perf_counter() - started:.0f}s; date {time.strftime('%Y-%m-%d %H:%M')} UTC", flush=True)
        server, port, peer, peer_port = start_pair(work_dir, env, workers=args.workers)
        try:
            work = prepare(f"http://127.0.0.1:{port}")
            time.sleep(SETTLE_SECONDS)
            print(f"pools: {len(work['work']['passage'])}+{len(work['work']['peer'])} transitions, {len(work['drafts']['passage'])}+{len(work['drafts']['peer'])} drafts, "
                  f"{len(work['readable'])} readable; server core {SERVER_CORE}, Locust core {LOAD_CORE}, workers {args.workers}, {args.seconds:g}s a step", flush=True)
            failures = {"passage": 0, "peer": 0}
            for rate in args.rates:
                for target, base in (("passage", f"http://127.0.0.1:{port}"), ("peer", f"http://127.0.0.1:{peer_port}")):
                    if failures[target] >= 2:
                        continue
                    r = step(target, base, rate, args.seconds, work_dir / "work.json", work, work_dir)
                    results[target].append(r)
                    # a side stops stepping once it has collapsed (under half the offered requests answered) twice
                    failures[target] += 0 if r["answered"] >= 0.5 * r["offered"] else 1
                    kinds = "  ".join(f"{k} n={n} p50 {a:.0f} p99 {b:.0f}" for k, (n, a, b) in r["kinds"].items())
                    print(f"{target:8} {rate:6g}/s  answered {r['answered']:5d}/{r['offered']:.0f}  p50 {r['p50']:8.1f} ms  p99 {r['p99']:8.1f} ms  "
                          f"statuses {r['statuses']}  {'sustained' if r['sustained'] else 'NOT sustained'}\n          {kinds}", flush=True)
                if failures["passage"] >= 2 and failures["peer"] >= 2:
                    break
        finally:
            stop(server)
            stop(peer)
        unexpected = [line for line in (work_dir / "server.log").read_text(errors="replace").splitlines() if "unexpected error" in line or "Traceback" in line]
        print(f"server errors logged: {len(unexpected)}", *unexpected[:3], sep="\n    ")
        verify = subprocess.run([str(BIN / "passage"), "audit", "verify"], env=env, capture_output=True, text=True)
        print(f"audit verify (exit {verify.returncode}): {(verify.stdout or verify.stderr).strip()}")
        summary = summarise(store, results)
        summary["audit"] = verify.returncode == 0
        return summary


def summarise(store: str, results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    best = {t: max((r["rate"] for r in rs if r["sustained"]), default=0.0) for t, rs in results.items()}
    print(f"-- {store}: highest rate with p99 < 500 ms and >= 95 % answered: Passage {best['passage']:g}/s, peer {best['peer']:g}/s"
          + (f"; Passage/peer = {best['passage'] / best['peer']:.0%}" if best["peer"] else ""))
    at_peer = next((r for r in results["passage"] if r["rate"] == best["peer"]), None)
    peer_row = next((r for r in results["peer"] if r["rate"] == best["peer"]), None)
    if at_peer and peer_row:
        print(f"-- {store}: at the peer's highest rate ({best['peer']:g}/s): Passage p99 {at_peer['p99']:.1f} ms vs peer {peer_row['p99']:.1f} ms = {at_peer['p99'] / peer_row['p99']:.2f}x")
    errors = {t: sum(r["errors"] for r in rs) for t, rs in results.items()}
    print(f"-- {store}: errors other than 409/429: Passage {errors['passage']}, peer {errors['peer']}")
    return {"best": best, "errors": errors, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[10, 20, 40, 60, 80, 120, 160])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1, help="server processes, each side; the server side has one core, and one worker per core is the "
                                                                "deployment rule (docs/deploy.md): two on one core answered less (2026-12-08, 80/s: 65/s vs 78/s)")
    parser.add_argument("--quick", action="store_true", help="1,000 cases, rates 10 and 30, 6 s a step: checks the machinery, measures nothing")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.rates, args.seconds = 1000, [10.0, 30.0], 6.0
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs two cores: one for the server, one for Locust")
    for store in (["sqlite", "postgresql"] if args.store == "both" else [args.store]):
        run_store(store, args)


if __name__ == "__main__":
    main()
