"""API load benchmark: logins, reads and audited writes at a fixed request rate, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.security.bench_api --rate 100 --seconds 30 --store sqlite
    .venv/bin/python -m bench.security.bench_api --rate 100 --seconds 30 --store postgresql

Passage (`passage serve`, 2 workers) and the peer (`bench/security/peer_app.py`: the same reads and updates with
hand-written SQL and no authentication, permission, scope or audit) run one after the other on the same
database and the same open-loop schedule; the script prints throughput, p50 and p99 for both and their ratio,
then checks that the audit chain is intact. The load generator shares the 2 cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyotp

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PASSWORD = "passage-demo-2026"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def totp(username: str) -> str:
    secret = base64.b32encode(hashlib.sha256(f"passage-demo:{username}".encode()).digest()[:20]).decode()
    return pyotp.TOTP(secret).now()


@dataclass
class Samples:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    late_starts: int = 0

    def add(self, kind: str, seconds: float, status: int) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def all(self) -> list[float]:
        return [v for values in self.latencies.values() for v in values]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] * 1000


def start_server(args: list[str], env: dict[str, str], port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    sink = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=sink)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 404):
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


async def open_loop(rate: float, seconds: float, make_request) -> Samples:  # type: ignore[no-untyped-def]
    """Start requests on a fixed schedule (not when the previous one finished), so slow responses show as latency."""
    samples = Samples()
    interval = 1.0 / rate
    start = time.perf_counter()
    tasks = []
    count = int(rate * seconds)
    for index in range(count):
        due = start + index * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.05:
            samples.late_starts += 1
        tasks.append(asyncio.create_task(make_request(index, samples, due)))
    await asyncio.gather(*tasks)
    samples.latencies["_elapsed"] = [time.perf_counter() - start]
    return samples


def guarded(request):  # type: ignore[no-untyped-def]
    """Count a request that failed at the transport level (pool or read timeout) as status 0, not a crash."""

    async def run(index: int, samples: Samples, due: float) -> None:
        try:
            await request(index, samples, due)
        except httpx.HTTPError:
            samples.add("transport-error", time.perf_counter() - due, 0)

    return run


async def drive_passage(base: str, rate: float, seconds: float, targets: list[str]) -> Samples:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(120, pool=None), limits=limits) as client:
        token = (await client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD, "totp_code": totp("admin")})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        versions = {t: (await client.get(f"/api/v1/users/{t}", headers=headers)).json()["version"] for t in targets}
        rng = random.Random(7)

        async def one(index: int, samples: Samples, due: float) -> None:
            roll = rng.random()
            target = targets[index % len(targets)]
            if roll < 0.02:
                kind = "login"
                response = await client.post("/api/v1/auth/token", json={"username": "analyst", "password": PASSWORD})
            elif roll < 0.72:
                kind = "read"
                response = await client.get(f"/api/v1/users/{target}", headers=headers)
            else:
                kind = "write"
                response = await client.patch(f"/api/v1/users/{target}", json={"version": versions[target], "display_name": f"bench {index}"}, headers=headers)
                if response.status_code == 200:
                    versions[target] = response.json()["version"]
            samples.add(kind, time.perf_counter() - due, response.status_code)

        return await open_loop(rate, seconds, guarded(one))


async def drive_peer(base: str, rate: float, seconds: float, targets: list[str], versions: dict[str, int]) -> Samples:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(120, pool=None), limits=limits) as client:
        rng = random.Random(7)

        async def one(index: int, samples: Samples, due: float) -> None:
            roll = rng.random()
            target = targets[index % len(targets)]
            if roll < 0.72:
                kind = "read" if roll >= 0.02 else "login-equivalent read"
                response = await client.get(f"/peer/users/{target}")
            else:
                kind = "write"
                response = await client.patch(f"/peer/users/{target}", json={"version": versions[target], "display_name": f"peer {index}"})
                if response.status_code == 200:
                    versions[target] = response.json()["version"]
            samples.add(kind, time.perf_counter() - due, response.status_code)

        return await open_loop(rate, seconds, guarded(one))


def summarise(name: str, samples: Samples) -> dict[str, float]:
    values = samples.all()
    elapsed = samples.latencies.pop("_elapsed")[0]
    values = samples.all()
    result = {"requests": len(values), "throughput": len(values) / elapsed, "p50": pct(values, 50), "p99": pct(values, 99)}
    print(f"{name}: {len(values)} requests in {elapsed:.1f}s = {result['throughput']:.1f}/s; p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms; statuses {dict(sorted(samples.statuses.items()))}; late starts {samples.late_starts}")
    for kind, lat in sorted(samples.latencies.items()):
        print(f"    {kind:<22} n={len(lat):<6} p50 {pct(lat, 50):7.1f} ms   p99 {pct(lat, 99):7.1f} ms   median {statistics.median(lat) * 1000:7.1f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="passage-bench-"))
    cluster = None
    if args.store == "postgresql":
        sys.path.insert(0, str(ROOT))
        from tests.conftest import PostgresCluster

        cluster = PostgresCluster()
        cluster.start()
        url = cluster.url("postgres")
    else:
        url = f"sqlite:///{work / 'passage.db'}"
    env = dict(os.environ, PASSAGE_DATA_DIR=str(work), PASSAGE_DATABASE_URL=url, PASSAGE_KEY_FILE=str(work / "keys.json"), PASSAGE_ENVIRONMENT="development")
    try:
        for step in (["db", "upgrade"], ["demo", "load"]):
            done = subprocess.run([str(BIN / "passage"), *step], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"passage {' '.join(step)} failed:\n{done.stderr[-3000:]}")
        port = free_port()
        server_log = work / "server.log"
        server = start_server([str(BIN / "passage"), "serve", "--port", str(port), "--workers", str(args.workers)], env, port, server_log)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as client:
                token = client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD, "totp_code": totp("admin")}).json()["access_token"]
                users = client.get("/api/v1/users", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}).json()["items"]
            targets = [u["id"] for u in users if u["username"] not in ("admin", "analyst")]
            print(f"store={args.store} rate={args.rate}/s seconds={args.seconds} workers={args.workers} targets={len(targets)} date={time.strftime('%Y-%m-%d')}")
            ours = summarise("passage", asyncio.run(drive_passage(base, args.rate, args.seconds, targets)))
        finally:
            stop(server)
        errors = [line for line in server_log.read_text(errors="replace").splitlines() if "unexpected error" in line]
        print(f"server errors logged: {len(errors)}", *errors[:5], sep="\n    ")
        verify = subprocess.run([str(BIN / "passage"), "audit", "verify"], env=env, capture_output=True, text=True)
        print("audit:", verify.stdout.strip())

        peer_port = free_port()
        peer_env = dict(env, PEER_DATABASE_URL=url, PYTHONPATH=str(ROOT))
        peer = start_server([str(BIN / "uvicorn"), "bench.security.peer_app:app", "--port", str(peer_port), "--workers", str(args.workers), "--log-level", "warning"], peer_env, peer_port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{peer_port}", timeout=30) as client:
                versions = {t: client.get(f"/peer/users/{t}").json()["version"] for t in targets}
            theirs = summarise("peer (bare FastAPI + hand-written SQL)", asyncio.run(drive_peer(f"http://127.0.0.1:{peer_port}", args.rate, args.seconds, targets, versions)))
        finally:
            stop(peer)
        print(f"ratio passage/peer: p50 {ours['p50'] / theirs['p50']:.2f}x, p99 {ours['p99'] / theirs['p99']:.2f}x")
        target_met = ours["p99"] < 100
        print(f"target p99 < 100 ms at {args.rate:.0f}/s: {'met' if target_met else 'NOT met'} ({ours['p99']:.1f} ms)")
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
