"""Person search latency: the blind-index case search at 100,000 cases, and the registry search on the demo registry.

    .venv/bin/python -m bench.readmission.bench_person_search --cases 100000 --store sqlite
    .venv/bin/python -m bench.readmission.bench_person_search --cases 100000 --store postgresql   # a throwaway cluster, as tests/conftest.py starts
    .venv/bin/python -m bench.readmission.bench_person_search --cases 100000 --store postgresql --url postgresql+psycopg://...  # a server of your own
    .venv/bin/python -m bench.readmission.bench_person_search --registry var/identity/registry.index --queries 200

Case search. N cases are seeded straight into the database with the people of the synthetic registry
generator (`identity.synthetic`: names in characters, Latin spellings in pinyin or Wade-Giles, dates, passport
numbers), their blind-index tokens computed exactly as the service does (`service.index_person`). Each query
is one person, typed as an officer would (another romanisation, the characters, a date, a passport number),
run through `service.list_cases` as the MPS central officer (every case in scope), page of 25 with the audit
entry, one transaction each. Peer: the same look-up as a hand-written indexed SQL query on a PLAINTEXT copy
of the same people (`peer_person`, B-tree on (surname_key, given_key), (birth), (document)), i.e. what a
system without field encryption would run; the ratio is ours / peer.

Registry search. Queries are registry people re-written in Wade-Giles, Cantonese or pinyin with their date and
place, run through `identity.search.search` on the index the demo builds. Peer: an exhaustive scan of the same
registry's pinyin names with rapidfuzz (`process.extract`, the brute-force approach without blocking).
Prints p50 and p95 in ms and the ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.security.bench_api import BIN  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def people(count: int, seed: int = 11) -> list[dict[str, str]]:
    """Synthetic people (characters, one Latin spelling, date, passport), from the registry generator's draws."""
    from passage.identity import service as identity_service
    from passage.identity import synthetic

    rng = random.Random(seed)
    out = []
    for i in range(count):
        surname, given, sex, birth, _, _ = synthetic._person(rng)
        spellings = identity_service.romanisations(surname, given)
        system = rng.choice(["pinyin", "wade_giles"])
        latin = spellings.get(system) or spellings.get("pinyin") or "X X"
        family_latin, _, given_latin = latin.partition(" ")
        out.append({"surname": family_latin, "given_names": given_latin, "characters": surname + given, "date_of_birth": birth.isoformat(),
                    "sex": sex, "passport_number": f"E{i:08d}", "other_spelling": spellings.get("wade_giles" if system == "pinyin" else "pinyin", latin)})
    return out


def seed(cases: int) -> list[dict[str, str]]:
    """N cases with their tokens, and the plaintext peer table, straight into the database."""
    from sqlalchemy import Column, Index, MetaData, String, Table, insert, select

    from passage.core.db import analyze, dispose_engines, get_engine, unit_of_work
    from passage.core.settings import reset_settings_cache
    from passage.readmission import person_search, service
    from passage.readmission.models import CaseSearchToken, ReadmissionCase
    from passage.security import blind_index
    from passage.security.crypto import reset_cipher
    from passage.security.models import Organisation, User

    reset_settings_cache()
    dispose_engines()
    reset_cipher()
    crowd = people(cases)
    metadata = MetaData()
    peer = Table("peer_person", metadata, Column("case_id", String(32), primary_key=True), Column("surname_key", String(40)), Column("given_key", String(60)),
                 Column("birth", String(10)), Column("document", String(30)), Column("requested_state", String(2)),
                 Index("ix_peer_name", "surname_key", "given_key"), Index("ix_peer_birth", "birth"), Index("ix_peer_document", "document"))
    metadata.create_all(get_engine())
    started = time.perf_counter()
    with unit_of_work() as s:
        orgs = list(s.scalars(select(Organisation)))
        nl = next(o for o in orgs if o.country == "NL")
        mps = next(o for o in orgs if o.country == "CN" and o.province is None)
        officer = s.scalars(select(User).where(User.username == "nl.officer")).one()
        today = service.today_utc()
        for start in range(0, cases, 2000):
            rows, tokens, plain = [], [], []
            for i in range(start, min(cases, start + 2000)):
                p = crowd[i]
                case_id = f"{i:032x}"
                rows.append({"id": case_id, "reference": f"NL-BENCH-{i:06d}", "procedure": "readmission", "state": "acknowledged", "agreement_slug": "eu-china-draft",
                             "agreement_version": 1, "requesting_state": "NL", "requested_state": "CN", "requesting_org_id": nl.id, "requested_central_org_id": mps.id,
                             "created_by": officer.id, "surname": p["surname"], "given_names": p["given_names"], "name_in_characters": p["characters"],
                             "date_of_birth": p["date_of_birth"], "sex": p["sex"], "passport_number": p["passport_number"], "submitted_on": today,
                             "aliases_confirmed_none": True, "accelerated": False, "version": 1})
                keys = person_search.person_keys(surname=p["surname"], given_names=p["given_names"], name_in_characters=p["characters"], aliases=[],
                                                 date_of_birth=p["date_of_birth"], documents=[p["passport_number"]])
                for kind, values in keys.items():
                    for value in values:
                        key_id, token = blind_index.token(value, context=f"{service.TOKEN_CONTEXT}.{kind}")
                        tokens.append({"case_id": case_id, "kind": kind, "token": token, "key_id": key_id})
                plain.append({"case_id": case_id, "surname_key": p["surname"].lower(), "given_key": p["given_names"].lower().replace("-", ""),
                              "birth": p["date_of_birth"], "document": p["passport_number"], "requested_state": "CN"})
            s.execute(insert(ReadmissionCase), rows)
            s.execute(insert(CaseSearchToken), tokens)
            s.execute(insert(peer), plain)
        analyze(s)  # what every bulk load does (`core.db.analyze`): planner statistics for both stores
    print(f"seeded {cases} cases with tokens in {time.perf_counter() - started:.0f} s")
    dispose_engines()
    return crowd


def case_search(crowd: list[dict[str, str]], queries: int) -> None:
    from sqlalchemy import select, text

    from passage.core.db import dispose_engines, unit_of_work
    from passage.readmission import service
    from passage.security.models import User

    dispose_engines()
    rng = random.Random(5)
    sample = rng.sample(crowd, queries)
    forms = {
        "other romanisation": lambda p: p["other_spelling"], "characters": lambda p: p["characters"],
        "date of birth": lambda p: ".".join(reversed(p["date_of_birth"].split("-"))), "passport number": lambda p: p["passport_number"],
        "name + date": lambda p: f"{p['other_spelling']} {p['date_of_birth']}",
    }
    peer_sql = {
        "other romanisation": "SELECT case_id FROM peer_person WHERE requested_state = 'CN' AND surname_key = :s AND given_key = :g ORDER BY case_id LIMIT 25",
        "characters": "SELECT case_id FROM peer_person WHERE requested_state = 'CN' AND surname_key = :s AND given_key = :g ORDER BY case_id LIMIT 25",
        "date of birth": "SELECT case_id FROM peer_person WHERE requested_state = 'CN' AND birth = :b ORDER BY case_id LIMIT 25",
        "passport number": "SELECT case_id FROM peer_person WHERE requested_state = 'CN' AND document = :d ORDER BY case_id LIMIT 25",
        "name + date": "SELECT case_id FROM peer_person WHERE requested_state = 'CN' AND surname_key = :s AND given_key = :g AND birth = :b ORDER BY case_id LIMIT 25",
    }
    # warm-up, not counted (as the application does at start, `identity.service.warm_up`): the romanisation tables
    # every Latin-name look-up needs take 2-3 s to build once per process, and the first query used to pay for them
    with unit_of_work() as s:
        actor = s.scalars(select(User).where(User.username == "mps.central")).one()
        service.list_cases(s, actor=actor, filters=service.CaseFilter(q="CHANG Wei 1980-01-01 E00000000", limit=25))
    print(f"{'query':22} {'found':>6} {'ours p50':>9} {'ours p95':>9} {'peer p50':>9} {'peer p95':>9} {'ratio p95':>9}")
    for label, make in forms.items():
        ours, theirs, found = [], [], 0
        for p in sample:
            started = time.perf_counter()
            with unit_of_work() as s:
                actor = s.scalars(select(User).where(User.username == "mps.central")).one()
                rows, _, _ = service.list_cases(s, actor=actor, filters=service.CaseFilter(q=make(p), limit=25))
            ours.append((time.perf_counter() - started) * 1000)
            found += any(r.passport_number == p["passport_number"] for r in rows)
            started = time.perf_counter()
            with unit_of_work() as s:
                s.execute(text(peer_sql[label]), {"s": p["surname"].lower(), "g": p["given_names"].lower().replace("-", ""), "b": p["date_of_birth"], "d": p["passport_number"]}).all()
            theirs.append((time.perf_counter() - started) * 1000)
        print(f"{label:22} {found:>3}/{len(sample):<3} {statistics.median(ours):8.1f} {percentile(ours, .95):8.1f} {statistics.median(theirs):8.2f} "
              f"{percentile(theirs, .95):8.2f} {percentile(ours, .95) / max(percentile(theirs, .95), 1e-6):8.1f}x")


def registry_search(index_dir: Path, queries: int) -> None:
    import csv

    from rapidfuzz import fuzz, process

    from passage.identity import compare, dates, search
    from passage.identity import service as identity_service
    from passage.identity.index import open_index
    from passage.identity.romanisation import pinyin_keys

    index = open_index(index_dir)
    registry = index_dir.with_suffix(".csv") if index_dir.with_suffix(".csv").exists() else index_dir.parent / "registry.csv"
    with registry.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(9)
    sample = rng.sample(rows, queries)
    pinyin_names = [(pinyin_keys(r["family_name"], surname=True) or ("",))[0] + " " + (pinyin_keys(r["given_name"], surname=False) or ("",))[0] for r in rows]
    ours, theirs, top1 = [], [], 0
    for r in sample:
        spellings = identity_service.romanisations(r["family_name"], r["given_name"])
        system = rng.choice([s for s in ("wade_giles", "cantonese_hk", "pinyin") if s in spellings] or ["pinyin"])
        family, _, given = spellings.get(system, "x x").partition(" ")
        query = compare.Query(family_name=family, given_name=given, birth_date=dates.parse_partial(r["birth_date"], where="b"), birth_place=r["birth_place"], sex=r["sex"])
        started = time.perf_counter()
        result = search.search(index, query, 10)
        ours.append((time.perf_counter() - started) * 1000)
        top1 += bool(result.candidates) and result.candidates[0].person_id == r["person_id"]
        started = time.perf_counter()
        process.extract(f"{family} {given}".lower(), pinyin_names, scorer=fuzz.ratio, limit=10)
        theirs.append((time.perf_counter() - started) * 1000)
    print(f"registry={index.size} queries={queries} top-1 correct {top1}/{queries}")
    print(f"ours (blocking + Fellegi-Sunter): p50 {statistics.median(ours):.1f} ms  p95 {percentile(ours, .95):.1f} ms")
    print(f"peer (rapidfuzz exhaustive scan of pinyin names): p50 {statistics.median(theirs):.1f} ms  p95 {percentile(theirs, .95):.1f} ms")
    print(f"ratio p95 ours/peer: {percentile(ours, .95) / percentile(theirs, .95):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--registry", type=Path, default=None, help="a registry index directory: run the registry search bench instead")
    parser.add_argument("--url", default=None, help="with --store postgresql: an empty database to use instead of a throwaway cluster")
    parser.add_argument("--reuse", type=Path, default=None, help="a SQLite work directory seeded by an earlier run with the same --cases (skips seeding)")
    args = parser.parse_args()
    if args.registry is not None:
        registry_search(args.registry, args.queries)
        return
    work = args.reuse or Path(tempfile.mkdtemp(prefix="passage-bench-person-"))
    reuse = args.reuse is not None and (work / "passage.db").exists() and args.store == "sqlite"
    cluster = None
    if args.store == "postgresql" and args.url:
        url = args.url
    elif args.store == "postgresql":
        from tests.conftest import PostgresCluster

        cluster = PostgresCluster()
        cluster.port = 5482
        cluster.start()
        url = cluster.url("postgres")
    else:
        url = f"sqlite:///{work / 'passage.db'}"
    env = dict(os.environ, PASSAGE_DATA_DIR=str(work), PASSAGE_DATABASE_URL=url, PASSAGE_KEY_FILE=str(work / "keys.json"), PASSAGE_ENVIRONMENT="development",
               PASSAGE_DEMO_REGISTRY_SIZE="0")
    os.environ.update({k: env[k] for k in ("PASSAGE_DATA_DIR", "PASSAGE_DATABASE_URL", "PASSAGE_KEY_FILE", "PASSAGE_ENVIRONMENT", "PASSAGE_DEMO_REGISTRY_SIZE")})
    try:
        if reuse:
            crowd = people(args.cases)
        else:
            subprocess.run([str(BIN / "passage"), "db", "upgrade"], env=env, check=True, capture_output=True)
            subprocess.run([str(BIN / "passage"), "demo", "load"], env=env, check=True, capture_output=True)
            crowd = seed(args.cases)
        print(f"store={args.store} cases={args.cases}+30 demo queries={args.queries} page=25 date={time.strftime('%Y-%m-%d')}")
        case_search(crowd, args.queries)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
