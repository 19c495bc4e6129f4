"""Crash loop: kill -9 the server during audited writes, restart, and check that nothing acknowledged was lost.

    .venv/bin/python -m bench.security.bench_crash --store sqlite --trials 200
    .venv/bin/python -m bench.security.bench_crash --store postgresql --trials 200

Each trial starts `passage serve`, lets 8 writers send audited optimistic-concurrency updates (PATCH of a
user's display name) to 4 records, kills the server with SIGKILL at a random moment (0.3-1.5 s in), then,
with the server down, checks on the database itself:
- acknowledged writes lost: for every record, the stored version is at least every version a 200 answer
  reported (an acknowledged update is durable);
- changes without their audit entry: for every record, the number of committed updates (version - 1)
  equals the number of `update` audit entries for it (the change and its entry commit together, or neither);
- after the sealer has run (as a restarted server's would: `audit.seal_all`, which records the sequence numbers
  of rolled-back transactions as skipped), every entry is sealed and the keyed audit chain verifies
  (`audit.verify_chain`, with the signed checkpoints).
Peer: none; the figure of merit is 0 / 0 / intact over every trial. SQLite runs with `synchronous=NORMAL` in
WAL mode, which is durable against a process crash (not against power loss); PostgreSQL with the test
cluster's settings (fsync off: a process kill, not a power cut, is what is simulated).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))

from bench.security.bench_api import free_port, totp  # noqa: E402


def start_server(args: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start the server and wait for /healthz (up to 3 minutes: a loaded machine starts it slowly)."""
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("ab"))  # noqa: S603 - our own command
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited at start (code {process.returncode}); see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start within 3 minutes")

def start_forked_server(port: int, log: Path) -> int:
    """Fork this process (which has already imported the whole application) into a server: the same code as
    `passage serve` without paying Python's imports at every restart, so that hundreds of trials fit in an hour.
    The database engines are disposed before the fork, so the child opens its own connections."""
    from passage.core.db import dispose_engines

    dispose_engines()
    pid = os.fork()
    if pid == 0:  # the server child: never returns
        code = 0
        try:
            log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(log_fd, 2)
            null_fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null_fd, 1)
            import uvicorn

            from passage.core.app import create_app

            uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning")
        except BaseException:  # noqa: BLE001 - a child must not fall back into the parent's loop
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            raise SystemExit(f"the forked server exited at start (status {status}); see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return pid
        except httpx.HTTPError:
            time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise SystemExit("the forked server did not start within 3 minutes")


PASSWORD = "passage-demo-2026"
TARGETS = ("nl.officer", "fr.officer", "fj.officer", "zj.officer")


def _setup(env: dict[str, str]) -> None:
    for step in (["db", "upgrade"],):
        done = subprocess.run([str(BIN / "passage"), *step], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"passage {' '.join(step)} failed:\n{done.stderr[-3000:]}")
    script = "from passage.core.db import unit_of_work\nfrom passage.security.demo import _create_people\nwith unit_of_work() as s:\n    _create_people(s)\n"
    done = subprocess.run([str(BIN / "python"), "-c", script], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"creating the people failed:\n{done.stderr[-3000:]}")


def _check(acknowledged: dict[str, int]) -> tuple[int, int, bool, str]:
    """(lost acknowledged writes, changes without audit entry, chain ok, summary), read from the database itself
    while the server is down (in this process: the environment points at the bench's store)."""
    from sqlalchemy import func, select

    from passage.core.db import dispose_engines, unit_of_work
    from passage.security import audit
    from passage.security.models import AuditEntry, User

    lost = missing = 0
    try:
        audit.seal_all(grace_seconds=0.2)
        with unit_of_work() as session:
            for user_id, version in acknowledged.items():
                stored = session.scalar(select(User.version).where(User.id == user_id)) or 0
                if stored < version:
                    lost += 1
            for user in session.scalars(select(User)):
                entries = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "update", AuditEntry.entity_id == user.id)) or 0
                missing += abs(user.version - 1 - entries)
            report = audit.verify_chain(session)
    finally:
        dispose_engines()
    return lost, missing, report.ok and report.unsealed == 0, report.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--spawn", action="store_true",
                        help="start each server as a new `passage serve` process (slow: imports at every restart) instead of forking")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="passage-crash-"))
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
    totals = {"acknowledged": 0, "lost": 0, "missing_audit": 0, "chain_broken": 0, "answers_5xx": 0}
    started = time.time()
    try:
        _setup(env)
        token = ""
        acknowledged: dict[str, int] = {}
        for trial in range(1, args.trials + 1):
            port = free_port()
            if args.spawn:
                server_pid = start_server([str(BIN / "passage"), "serve", "--port", str(port)], env, port, work / "server.log").pid
            else:
                if trial == 1:
                    from passage.core.app import create_app

                    create_app()  # import every module once, before the first fork
                server_pid = start_forked_server(port, work / "server.log")
            base = f"http://127.0.0.1:{port}"
            if not token:
                with httpx.Client(base_url=base, timeout=30) as client:
                    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD, "totp_code": totp("admin")}).json()["access_token"]
                    users = client.get("/api/v1/users", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}).json()["items"]
                targets = [u["id"] for u in users if u["username"] in TARGETS]
            stop_at = time.monotonic() + rng.uniform(0.3, 1.5)
            lock = threading.Lock()

            def writer(index: int) -> None:
                sent = 0
                with httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:  # noqa: B023 - joined below
                    while time.monotonic() < stop_at + 5:  # noqa: B023
                        sent += 1
                        target = targets[index % len(targets)]  # noqa: B023
                        try:
                            current = client.get(f"/api/v1/users/{target}").json()
                            response = client.patch(f"/api/v1/users/{target}", json={"version": current["version"], "display_name": f"trial {trial} writer {index} #{sent}"})  # noqa: B023
                        except (httpx.HTTPError, KeyError, ValueError):
                            return  # the server is gone
                        if response.status_code == 200:
                            with lock:  # noqa: B023
                                acknowledged[target] = max(acknowledged.get(target, 0), response.json()["version"])
                                totals["acknowledged"] += 1
                        elif response.status_code >= 500:
                            totals["answers_5xx"] += 1

            threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            time.sleep(max(0.0, stop_at - time.monotonic()))
            os.kill(server_pid, signal.SIGKILL)
            os.waitpid(server_pid, 0)
            for thread in threads:
                thread.join(30)
            lost, missing, ok, summary = _check(acknowledged)
            totals["lost"] += lost
            totals["missing_audit"] += missing
            totals["chain_broken"] += 0 if ok else 1
            if trial % 5 == 0 or lost or missing or not ok:
                print(f"trial {trial}/{args.trials}: acknowledged so far {totals['acknowledged']}, lost {totals['lost']}, "
                      f"changes without audit {totals['missing_audit']}, chain broken {totals['chain_broken']} ({summary})", flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"store={args.store} trials={args.trials} seed={args.seed} date={time.strftime('%Y-%m-%d')} minutes={(time.time() - started) / 60:.1f}")
    print(f"acknowledged writes {totals['acknowledged']}; lost {totals['lost']}; changes without audit entry {totals['missing_audit']}; "
          f"audit chain broken after {totals['chain_broken']} restarts; 5xx answers {totals['answers_5xx']}")


if __name__ == "__main__":
    main()
