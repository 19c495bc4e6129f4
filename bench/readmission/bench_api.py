"""Readmission API under a realistic mix at 10,000 cases, against a live server (`passage serve`), on SQLite or PostgreSQL.

    .venv/bin/python -m bench.readmission.bench_api --cases 10000 --rate 40 --seconds 30 --store sqlite
    .venv/bin/python -m bench.readmission.bench_api --cases 10000 --rate 40 --seconds 30 --store postgresql

Set-up: migrations, the demo people and demo cases (`passage demo load`), then N extra cases seeded directly
with the ORM (encrypted personal columns, deadlines computed by the rules; seeding through the API would take
longer than the run) spread over every state, NL/FR and the three provinces. Load (open loop, fixed rate):
55 % inbox listings (filters, sorting, pages; scope and deadline flags computed in SQL), 25 % case reads (audited),
15 % transitions (acknowledge, route, verify: audited, deadlines recomputed), 5 % evidence uploads (encrypted,
checksummed). Users: nl.officer, mps.central, fj.officer. Prints p50/p99 per kind and overall, and checks the
audit chain afterwards. The load generator shares the 2 cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.security.bench_api import (  # noqa: E402
    BIN,
    PASSWORD,
    Samples,
    free_port,
    open_loop,
    start_server,
    stop,
    summarise,
    totp,
)

PDF = b"%PDF-1.4\n% bench evidence\n" + b"0" * 40_000 + b"\n%%EOF\n"
STATES = [("draft", 10), ("submitted", 20), ("acknowledged", 20), ("routed", 15), ("identity_verified", 5), ("accepted", 5), ("refused", 5), ("travel_document_issued", 5), ("transferred", 15)]


def seed(cases: int) -> None:
    """N extra cases straight into the database (the server is not running yet)."""
    from sqlalchemy import select

    from passage.core.db import dispose_engines, unit_of_work
    from passage.core.settings import reset_settings_cache
    from passage.readmission import service
    from passage.readmission.models import ReadmissionCase, TimelineEvent
    from passage.security.crypto import reset_cipher
    from passage.security.models import Organisation, User

    reset_settings_cache()
    dispose_engines()
    reset_cipher()
    rng = random.Random(3)
    today = dt.date.today()
    with unit_of_work() as s:
        orgs = {o.name.split(" ")[0]: o for o in s.scalars(select(Organisation))}
        nl_user = s.scalars(select(User).where(User.username == "nl.officer")).one()
        provinces = [o for o in orgs.values() if o.province]
        mps = next(o for o in orgs.values() if o.country == "CN" and o.province is None)
        requesting = {"NL": next(o for o in orgs.values() if o.country == "NL"), "FR": next(o for o in orgs.values() if o.country == "FR")}
        version = service.agreement_version(s, "eu-china-draft", 1)
        weights = [w for _, w in STATES]
        for batch in range(0, cases, 1000):
            for i in range(batch, min(cases, batch + 1000)):
                state = rng.choices([name for name, _ in STATES], weights)[0]
                country = "NL" if i % 2 else "FR"
                province = provinces[i % 3]
                submitted = None if state == "draft" else today - dt.timedelta(days=rng.randint(1, 60))
                case = ReadmissionCase(
                    reference=f"{country}-BENCH-{i:06d}", procedure="readmission", state=state, agreement_slug="eu-china-draft", agreement_version=1,
                    requesting_state=country, requested_state="CN", requesting_org_id=requesting[country].id, requested_central_org_id=mps.id,
                    routed_province_org_id=province.id if state not in {"draft", "submitted", "acknowledged"} else None,
                    province_code=province.province if state not in {"draft", "submitted", "acknowledged"} else None,
                    surname=rng.choice(["CHEN", "LIN", "WANG", "ZHENG"]), given_names=rng.choice(["Wei", "Li", "Yan"]), date_of_birth="1990-01-01",
                    place_of_birth="Fuqing", sex=rng.choice("FM"), nationality="CHN", languages=["zh"], last_addresses=["Fuqing, Fujian"],
                    submitted_on=submitted, acknowledged_on=submitted + dt.timedelta(days=1) if submitted and state != "submitted" else None,
                    aliases_confirmed_none=True, created_by=nl_user.id,
                )
                if state in {"accepted", "travel_document_issued", "transferred"} and case.acknowledged_on:
                    case.replied_on = case.accepted_on = case.acknowledged_on + dt.timedelta(days=10)
                if state == "refused" and case.acknowledged_on:
                    case.replied_on, case.refusal_reason, case.closed_on = case.acknowledged_on + dt.timedelta(days=12), "not_a_national", case.acknowledged_on + dt.timedelta(days=12)
                if state in {"travel_document_issued", "transferred"} and case.accepted_on:
                    case.travel_document_issued_on, case.travel_document_number = case.accepted_on + dt.timedelta(days=5), "LXZ000001"
                if state == "transferred" and case.travel_document_issued_on:
                    case.transferred_on = case.closed_on = case.travel_document_issued_on + dt.timedelta(days=10)
                case.events.append(TimelineEvent(action="create", from_state=None, to_state=state, actor_id=nl_user.id, actor_role="requesting_officer", occurred_at=dt.datetime.now(dt.UTC), details={}))
                service.recompute_deadlines(s, case, version)
                s.add(case)
            s.flush()
    dispose_engines()


async def drive(base: str, rate: float, seconds: float) -> Samples:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        tokens = {}
        for username in ("nl.officer", "mps.central", "fj.officer"):
            body = {"username": username, "password": PASSWORD, "totp_code": totp(username)}
            tokens[username] = {"Authorization": f"Bearer {(await client.post('/api/v1/auth/token', json=body)).json()['access_token']}"}

        async def pool(user: str, **params: Any) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            for offset in range(0, 800, 200):
                page = (await client.get("/api/v1/readmission/cases", params={**params, "limit": 200, "offset": offset, "sort": "reference"}, headers=tokens[user])).json()
                items += page["items"]
            return items

        submitted = await pool("mps.central", state="submitted")
        acknowledged = await pool("mps.central", state="acknowledged")
        routed = await pool("fj.officer", state="routed")
        drafts = await pool("nl.officer", state="draft")
        readable = await pool("mps.central")
        fujian = next(o["id"] for o in (await client.get("/api/v1/organisations", headers=tokens["mps.central"])).json() if o.get("province") == "CN-FJ")
        rng = random.Random(11)
        work = [("mps.central", c, "acknowledge", {}) for c in submitted] + [("mps.central", c, "route", {"province_org_id": fujian}) for c in acknowledged] + [("fj.officer", c, "verify_identity", {"method": "interview"}) for c in routed]
        rng.shuffle(work)
        filters = [{}, {"due": "flagged"}, {"state": "acknowledged"}, {"sort": "due"}, {"requesting_state": "NL"}, {"q": "BENCH-00"}, {"needs_action": "true"}]

        async def one(index: int, samples: Samples, due: float) -> None:
            try:
                kind, status = await attempt()
            except httpx.HTTPError as exc:
                kind, status = f"error {type(exc).__name__}", 599
            samples.add(kind, time.perf_counter() - due, status)

        async def attempt() -> tuple[str, int]:
            roll = rng.random()
            if roll < 0.55 or (roll >= 0.80 and roll < 0.95 and not work) or (roll >= 0.95 and not drafts):
                kind = "inbox"
                user = rng.choice(["nl.officer", "mps.central", "fj.officer"])
                params = {**rng.choice(filters), "offset": rng.choice([0, 25, 50, 500]), "limit": 25}
                response = await client.get("/api/v1/readmission/cases", params=params, headers=tokens[user])
            elif roll < 0.80:
                kind = "case read"
                case = rng.choice(readable)
                response = await client.get(f"/api/v1/readmission/cases/{case['id']}", headers=tokens["mps.central"])
            elif roll < 0.95:
                kind = "transition"
                user, case, action, payload = work.pop()
                response = await client.post(f"/api/v1/readmission/cases/{case['id']}/transitions", json={"action": action, "version": case["version"], "payload": payload}, headers=tokens[user])
            else:
                kind = "upload"
                case = drafts.pop()
                response = await client.post(f"/api/v1/readmission/cases/{case['id']}/evidence", data={"evidence_type": "passport", "version": str(case["version"])}, files={"file": ("e.pdf", PDF, "application/pdf")}, headers=tokens["nl.officer"])
            return kind, response.status_code

        return await open_loop(rate, seconds, one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="passage-bench-readmission-"))
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
        started = time.perf_counter()
        seed(args.cases)
        print(f"seeded {args.cases} cases in {time.perf_counter() - started:.1f}s")
        port = free_port()
        server = start_server([str(BIN / "passage"), "serve", "--port", str(port), "--workers", str(args.workers)], env, port)
        try:
            print(f"store={args.store} cases={args.cases}+30 demo rate={args.rate}/s seconds={args.seconds} workers={args.workers} date={time.strftime('%Y-%m-%d')}")
            summarise("passage readmission mix", asyncio.run(drive(f"http://127.0.0.1:{port}", args.rate, args.seconds)))
        finally:
            stop(server)
        check = subprocess.run([str(BIN / "passage"), "audit", "verify"], env=env, capture_output=True, text=True)
        print((check.stdout or check.stderr).strip().splitlines()[-1] if (check.stdout or check.stderr) else f"audit verify exit {check.returncode}")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
