"""Deep Schemathesis run: every operation of the OpenAPI document as every role, many cases per operation.

    .venv/bin/python -m bench.security.bench_fuzz --examples 1000 --seed 17
    .venv/bin/python -m bench.security.bench_fuzz --examples 50 --roles admin,nl.officer   # a shorter run

The suite runs the same checks with 2 examples per operation and role (`tests/security/test_fuzzing.py`);
this is the benchmark-sized run. It prints, per role, the cases sent and the findings: 5xx answers, bodies
that violate the documented schema, statuses the document does not list. Peer: none (the figures of merit
are the counts of findings, which must be 0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ROLES = ("admin", "nl.officer", "mps.central", "fj.officer", "iom.caseworker", "analyst")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1000, help="Generated cases per operation and role.")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--roles", default=",".join(ROLES))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="passage-fuzz-"))
    os.environ.update({"PASSAGE_ENVIRONMENT": "test", "PASSAGE_DATA_DIR": str(work), "PASSAGE_DATABASE_URL": f"sqlite:///{work / 'passage.db'}",
                       "PASSAGE_KEY_FILE": str(work / "keys.json")})
    from fastapi.testclient import TestClient
    from tests.security.fuzzing import fuzz, role_headers

    from passage.core.app import create_app
    from passage.core.db import unit_of_work
    from passage.core.schema import upgrade_database
    from passage.security.demo import _create_people
    from passage.security.service import rate_limiter

    started = time.time()
    try:
        upgrade_database()
        with unit_of_work() as session:
            _create_people(session)
        with TestClient(create_app()) as client:
            roles = [r for r in args.roles.split(",") if r]
            headers = role_headers(client, roles)
            report = fuzz(client.app, headers_by_role=headers, max_examples=args.examples, seed=args.seed,
                          include=lambda method, path: not (method == "DELETE" and path == "/api/v1/auth/token"), on_case=rate_limiter.clear)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"examples={args.examples} seed={args.seed} roles={args.roles} date={time.strftime('%Y-%m-%d')} minutes={(time.time() - started) / 60:.1f}")
    print(report.summary())
    for finding in (report.server_errors + report.schema_violations + report.undocumented)[:30]:
        print("  ", finding)


if __name__ == "__main__":
    main()
