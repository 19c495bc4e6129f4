"""Audited requests under concurrency: the sealed audit log (issue 18) against the global-lock chain it replaced.

    .venv/bin/python -m bench.security.bench_audit --threads 16 --requests 150 --repeat 3

Each "request" is what the audit costs an audited read: one transaction that reads a user row, appends an audit
entry and commits. The peer is the previous `audit.record`, reproduced below unchanged: take the global
advisory lock `pg_advisory_xact_lock`, read the chain head, compute the HMAC link, insert, commit (the lock is
held from the append to the commit). A second peer does the same lock and chain work but inserts with the Core INSERT of today's
`record`, to separate what the lock costs from what the ORM flush cost. Passage is today's `audit.record` (a sequence number, no lock, no chain
work) with the sealer thread of `passage serve` running beside it. Both run on the same throwaway PostgreSQL 15
cluster, each in a fresh database, `--threads` closed-loop clients, repeated `--repeat` times alternately;
the script prints the median throughput and latency of each, their ratio, the sealing lag, and then verifies
both chains (and times the verification).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import hmac
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import cast

from sqlalchemy import Engine, Table, create_engine, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

GENESIS = "0" * 64


def legacy_record(session: Session, key: bytes, *, action: str, entity_id: str, core: bool = False) -> None:
    """The audit append before issue 18 (security/audit.py at 3d24944), with the same canonical form."""
    from passage.core.models import utcnow
    from passage.security.models import AuditEntry

    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": 0x5A55A6E})
    last = session.execute(select(AuditEntry.sequence, AuditEntry.entry_hash).order_by(AuditEntry.sequence.desc()).limit(1)).first()
    sequence = (last.sequence + 1) if last else 1
    previous = last.entry_hash if last else GENESIS
    entry = AuditEntry(sequence=sequence, occurred_at=utcnow(), actor_user_id=None, actor_organisation_id=None, action=action,
                       entity_type="user", entity_id=entity_id, outcome="ok", details={}, key_id="legacy", previous_hash=previous, entry_hash="")
    from passage.security import audit

    entry.entry_hash = hmac.new(key, previous.encode() + audit._canonical(entry), hashlib.sha256).hexdigest()
    if core:
        # the same lock and chain work, inserted with the cached Core INSERT that today's `record` uses
        session.execute(insert(cast(Table, AuditEntry.__table__)), {c: getattr(entry, c) for c in (
            "sequence", "occurred_at", "actor_user_id", "actor_organisation_id", "action", "entity_type", "entity_id", "outcome",
            "details", "key_id", "previous_hash", "entry_hash")})
        return
    session.add(entry)
    session.flush()


def run(engine: Engine, *, threads: int, requests: int, mode: str, user_id: str) -> dict[str, float]:
    from passage.security import audit
    from passage.security.models import User

    factory = sessionmaker(bind=engine, expire_on_commit=False)
    key = audit.legacy_chain_key()
    barrier = threading.Barrier(threads)

    def client(index: int) -> list[float]:
        latencies = []
        barrier.wait()
        for number in range(requests):
            started = time.perf_counter()
            with factory() as session:
                session.scalar(select(User.username).where(User.id == user_id))
                if mode != "sealed":
                    legacy_record(session, key, action="read", entity_id=user_id, core=mode == "globallock-core")
                else:
                    audit.record(session, actor=None, action="read", entity_type="user", entity_id=user_id, details={"n": number})
                session.commit()
            latencies.append(time.perf_counter() - started)
        return latencies

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        everything = [x for chunk in pool.map(client, range(threads)) for x in chunk]
    elapsed = time.perf_counter() - began
    everything.sort()
    return {"throughput": len(everything) / elapsed, "p50_ms": 1000 * statistics.median(everything),
            "p99_ms": 1000 * everything[int(0.99 * (len(everything) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--requests", type=int, default=150, help="requests per thread and run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from tests.conftest import PostgresCluster

    work = Path(tempfile.mkdtemp(prefix="passage-bench-audit-"))
    cluster = PostgresCluster()
    cluster.start()
    os.environ.update({"PASSAGE_DATA_DIR": str(work), "PASSAGE_KEY_FILE": str(work / "keys.json"), "PASSAGE_ENVIRONMENT": "development",
                       "PASSAGE_AUDIT_SEALER_THREAD": "false"})
    try:
        from passage.core.db import dispose_engines, make_engine, unit_of_work
        from passage.core.schema import upgrade_database
        from passage.core.settings import reset_settings_cache
        from passage.security import audit
        from passage.security.crypto import reset_cipher
        from passage.security.demo import _create_people
        from passage.security.models import AuditEntry, User

        admin = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
        engines: dict[str, Engine] = {}
        user_ids: dict[str, str] = {}
        for name in ("sealed", "globallock", "globallock-core"):
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            url = cluster.url(name)
            os.environ["PASSAGE_DATABASE_URL"] = url
            reset_settings_cache()
            dispose_engines()
            reset_cipher()
            upgrade_database(url=url)
            with unit_of_work() as session:
                _create_people(session)
                user_ids[name] = session.scalar(select(User.id).where(User.username == "admin")) or ""
            audit.seal_all(grace_seconds=0)  # the demo people's own entries, so both chains start sealed
            engines[name] = make_engine(url, pool_size=args.threads + 4, max_overflow=0)

        # The sealer runs during the Passage runs, as in `passage serve` (0.5 s rounds, 1 s grace).
        os.environ["PASSAGE_DATABASE_URL"] = cluster.url("sealed")
        reset_settings_cache()
        dispose_engines()
        stop = threading.Event()
        lags: list[float] = []

        def sealer() -> None:
            seen: dict[int, float] = {}
            while not stop.is_set():
                audit.seal_once(engines["sealed"], first_seen=seen)
                stop.wait(0.5)

        background = threading.Thread(target=sealer, daemon=True)
        background.start()
        results: dict[str, list[dict[str, float]]] = {"sealed": [], "globallock": [], "globallock-core": []}
        for _ in range(args.repeat):
            for name in ("globallock", "globallock-core", "sealed"):
                results[name].append(run(engines[name], threads=args.threads, requests=args.requests, mode=name, user_id=user_ids[name]))
                if name == "sealed":
                    # sealing lag: time until every committed entry of this run is in the chain
                    began = time.perf_counter()
                    while True:
                        with engines["sealed"].connect() as connection:
                            pending = connection.execute(select(AuditEntry.id).where(AuditEntry.entry_hash.is_(None)).limit(1)).first()
                        if pending is None:
                            break
                        time.sleep(0.02)
                    lags.append(time.perf_counter() - began)
        stop.set()
        background.join()

        def med(name: str, key: str) -> float:
            return statistics.median(r[key] for r in results[name])

        print(f"date={time.strftime('%Y-%m-%d')} store=postgresql-15 threads={args.threads} requests/run={args.threads * args.requests} repeat={args.repeat}")
        print(json.dumps(results))
        for name, label in (("sealed", "Passage (sequence + sealer)"), ("globallock", "peer: global-lock chain (old code)"),
                            ("globallock-core", "peer: global-lock chain, Core INSERT")):
            print(f"{label:38s} throughput {med(name, 'throughput'):8.1f} req/s   p50 {med(name, 'p50_ms'):7.2f} ms   p99 {med(name, 'p99_ms'):7.2f} ms")
        print(f"ratio Passage/peer: throughput {med('sealed', 'throughput') / med('globallock', 'throughput'):.2f}x, "
              f"p50 {med('sealed', 'p50_ms') / med('globallock', 'p50_ms'):.2f}x, p99 {med('sealed', 'p99_ms') / med('globallock', 'p99_ms'):.2f}x")
        print(f"ratio Passage/peer with the same Core INSERT (the lock alone): throughput {med('sealed', 'throughput') / med('globallock-core', 'throughput'):.2f}x, "
              f"p50 {med('sealed', 'p50_ms') / med('globallock-core', 'p50_ms'):.2f}x, p99 {med('sealed', 'p99_ms') / med('globallock-core', 'p99_ms'):.2f}x")
        print(f"sealing lag after a run (all entries chained): median {statistics.median(lags):.2f} s, max {max(lags):.2f} s")
        for name, engine in engines.items():
            with sessionmaker(bind=engine)() as session:
                began = time.perf_counter()
                report = audit.verify_chain(session)
                took = time.perf_counter() - began
            print(f"{name}: {report.summary()} in {took:.2f} s ({report.entries_checked / took:,.0f} entries/s)")
        admin.dispose()
        for engine in engines.values():
            engine.dispose()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
