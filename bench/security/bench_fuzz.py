"""Deep Schemathesis run: every operation of the OpenAPI document, >= 1,000 generated cases per operation.

    nice -n 10 .venv/bin/python -m bench.security.bench_fuzz --examples 1000 --seed 17 --workers 2 --state /tmp/passage-fuzz
    .venv/bin/python -m bench.security.bench_fuzz --examples 50 --only readmission     # a shorter run of some operations

The suite runs the same checks with 2 examples per operation and role (`tests/security/test_fuzzing.py`);
this is the benchmark-sized run. Checks per response, as in the suite: no 5xx; the body matches the
documented schema; the status is documented. Peer: none (the figures of merit are the counts of findings,
which must be 0, and the cases per operation).

How it spends its time (profiled, see `bench/results/security.md`):
- the data: the full demo (every module's records, the 100,000-person registry) is loaded once into a
  template store, kept in `--state`, and copied for each worker process, so a resumed run loads nothing;
- the roles: each operation's cases go to the roles whose grants cover the permissions its route declares,
  shared evenly (`--examples` in all), so they reach the handler rather than the permission check; one
  refused role gets `--refused` cases (`tests.security.fuzzing.plan_units`);
- the ids: path parameters take the ids of demo records that exist (read through the API as every role),
  or their generated values, as Hypothesis draws, so `/cases/{case_id}` is not 1,000 times a 404;
- the transport: one in-process ASGI client for all cases (Schemathesis builds one per call otherwise);
- Hypothesis: generation phases only (no shrinking: a finding is reported with its case, not minimised),
  no example database, health checks off;
- parallelism: `--workers` processes, each with its own copy of the store, claim units (an operation as a
  role) one at a time, so the two cores stay busy until the last unit.

Resumable: every finished unit is a JSON line in `--state`/results-*.jsonl and is skipped by a rerun with
the same `--state`; `--minutes` stops claiming new units after that long. The mobility runner is not woken
by `POST /mobility/runs` (the runs stay queued): executing analyses is the mobility benchmark's subject,
and a runner thread would take the GIL from the fuzzing in the same process.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _environment(data_dir: Path) -> dict[str, str]:
    return {"PASSAGE_ENVIRONMENT": "test", "PASSAGE_DATA_DIR": str(data_dir), "PASSAGE_DATABASE_URL": f"sqlite:///{data_dir / 'passage.db'}",
            "PASSAGE_KEY_FILE": str(data_dir / "keys.json")}


def _safe(method: str, path: str) -> bool:
    # Revoking one's own token would end the run's session for that role.
    return not (method == "DELETE" and path == "/api/v1/auth/token")


def _prepare_template(state: Path) -> Path:
    template = state / "template"
    if (template / "ready").exists():
        return template
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir(parents=True)
    script = "from passage.core.schema import upgrade_database; from passage.security.demo import load_demo; upgrade_database(); print(load_demo()[0])"
    subprocess.run([sys.executable, "-c", script], env={**os.environ, **_environment(template)}, check=True, cwd=ROOT)
    (template / "ready").write_text("ok")
    return template


def _results(state: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    for file in sorted(state.glob("results-*.jsonl")):
        for line in file.read_text().splitlines():
            if line.strip():
                data = json.loads(line)
                done[f"{data['method']} {data['path']} as {data['role']}"] = data
    return done


def worker(args: argparse.Namespace) -> None:
    state = Path(args.state)
    data_dir = state / f"worker-{args.worker}"
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(state / "template", data_dir)
    os.environ.update(_environment(data_dir))
    from fastapi.testclient import TestClient
    from tests.security import fuzzing

    from passage.core.app import create_app
    from passage.mobility import worker as mobility_worker
    from passage.security.service import rate_limiter

    mobility_worker.RUNNER.wake = lambda: None  # type: ignore[method-assign]
    deadline = float(args.deadline)
    done = set(_results(state))
    claims = state / "claims"
    out = (state / f"results-{args.worker}.jsonl").open("a")
    with TestClient(create_app()) as client:
        app = client.app
        headers = fuzzing.role_headers(client, fuzzing.ROLE_USERS.values())
        by_role = {role: headers[user] for role, user in fuzzing.ROLE_USERS.items()}
        operations = fuzzing.load_operations(app, _safe)
        if args.only:
            operations = [op for op in operations if re.search(args.only, f"{op.method.upper()} {op.path}")]
        if args.versioned:
            versioned = fuzzing.versioned_operations(app)
            operations = [op for op in operations if (op.method.upper(), op.path) in versioned]
        by_key = {(op.method.upper(), op.path): op for op in operations}
        units = fuzzing.plan_units(operations, fuzzing.declared_permissions(app), examples=args.examples, refused_examples=args.refused)
        session = fuzzing.asgi_session(app)
        own_ids = {str(client.get("/api/v1/me", headers=h).json().get("id")) for h in by_role.values()}
        known = fuzzing.known_path_parameters(session, {op.path for op in operations}, by_role,
                                              get_paths={p for (m, p) in fuzzing.declared_permissions(app) if m == "GET"}, exclude=own_ids)
        for unit in units:
            if unit.key in done or time.time() > deadline:
                continue
            try:
                (claims / re.sub(r"[^A-Za-z0-9]+", "_", unit.key)).open("x").close()
            except FileExistsError:
                continue
            if client.get("/api/v1/me", headers=by_role[unit.role]).status_code == 401:  # a case ended this role's session
                by_role[unit.role] = fuzzing.role_headers(client, [fuzzing.ROLE_USERS[unit.role]])[fuzzing.ROLE_USERS[unit.role]]
            operation = by_key[(unit.method, unit.path)]
            try:
                result = fuzzing.fuzz_unit(operation, role=unit.role, kind=unit.kind, headers=by_role[unit.role], max_examples=unit.max_examples,
                                           seed=fuzzing.unit_seed(args.seed, unit.method, unit.path, unit.role), session=session,
                                           known_parameters=known.get(unit.path), on_case=rate_limiter.clear,
                                           budget_seconds=args.unit_minutes * 60 if args.unit_minutes else None)
            except Exception as exc:  # noqa: BLE001 - recorded as the unit's error; the other units still run
                traceback.print_exc()
                result = fuzzing.UnitResult(method=unit.method, path=unit.path, role=unit.role, kind=unit.kind, max_examples=unit.max_examples,
                                            errors=[f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"])
            out.write(json.dumps(result.to_json()) + "\n")
            out.flush()
            print(f"[{args.worker}] {unit.key}: {result.cases} cases in {result.seconds:.0f} s, statuses {result.statuses}"
                  f"{', FINDINGS' if result.server_errors or result.schema_violations or result.undocumented else ''}", flush=True)
        session.__exit__(None, None, None)


def report(args: argparse.Namespace, started: float) -> None:
    from tests.security.fuzzing import SLOW_SECONDS, FuzzReport, UnitResult

    results = [UnitResult.from_json(data) for data in _results(Path(args.state)).values()]
    if args.only:
        results = [r for r in results if re.search(args.only, f"{r.method} {r.path}")]
    total = FuzzReport()
    per_operation: dict[tuple[str, str], list[UnitResult]] = collections.defaultdict(list)
    for result in results:
        total.add(result)
        per_operation[(result.method, result.path)].append(result)
    total.operations = len(per_operation)
    cases = {op: sum(r.cases for r in units) for op, units in per_operation.items()}
    allowed = {op: sum(r.cases for r in units if r.kind == "allowed") for op, units in per_operation.items()}
    reached = {op for op, units in per_operation.items() if any(s not in (401, 403) for r in units if r.kind == "allowed" for s in r.statuses)}
    two_xx = {op for op, units in per_operation.items() if any(200 <= s < 300 for r in units for s in r.statuses)}
    counts = sorted(cases.values())
    budget = [r.key for r in results if r.stopped_at_budget]
    cut = {(r.method, r.path) for r in results if r.stopped_at_budget}
    short = sorted((n, f"{m} {p}") for (m, p), n in cases.items() if n < args.examples and (m, p) not in cut)
    print(f"examples={args.examples} refused={args.refused} seed={args.seed} workers={args.workers} date={time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"minutes={(time.time() - started) / 60:.1f} load={os.getloadavg()[0]:.1f} unit_seconds={sum(r.seconds for r in results) / 60:.1f} min")
    print(total.summary())
    if counts:
        print(f"cases per operation: min {counts[0]}, median {counts[len(counts) // 2]}, max {counts[-1]}; "
              f"cases as allowed roles: {sum(allowed.values())}; operations answering 2xx at least once: {len(two_xx)}; "
              f"operations whose allowed roles got past the permission check: {len(reached)} of {sum(1 for v in allowed.values() if v)}")
    print(f"operations below {args.examples} cases (input space exhausted by Hypothesis before that): {len(short)}")
    for n, label in short:
        print(f"   {n:>5}  {label}")
    slow = [s for r in results for s in r.slow]
    errors = [f"{r.key}: {e}" for r in results for e in r.errors]
    print(f"answers slower than {SLOW_SECONDS:.0f} s or none: {len(slow)}; units stopped at --unit-minutes: {len(budget)} "
          f"({', '.join(f'{m} {p}: {cases[(m, p)]} cases' for m, p in sorted(cut))}); units that failed to run: {len(errors)}")
    for line in [*budget, *errors, *slow[:20]]:
        print("  ", line)
    for finding in (total.server_errors + total.schema_violations + total.undocumented)[:40]:
        print("  ", finding)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1000, help="Generated cases per operation, shared by the roles allowed to call it.")
    parser.add_argument("--refused", type=int, default=50, help="Generated cases per operation as one role that is refused.")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--state", default="/tmp/passage-fuzz", help="Template store and finished units; a rerun resumes.")
    parser.add_argument("--only", default="", help="A regular expression on 'METHOD /path': fuzz only these operations.")
    parser.add_argument("--versioned", action="store_true", help="Fuzz only the operations whose request body has a `version` field.")
    parser.add_argument("--minutes", type=float, default=0, help="Claim no new unit after this many minutes (0: no limit).")
    parser.add_argument("--unit-minutes", type=float, default=0, help="Stop sending one unit's cases after this many minutes (0: no limit).")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--worker", type=int, default=-1, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", default="inf", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker >= 0:
        worker(args)
        return
    started = time.time()
    state = Path(args.state)
    if not args.report_only:
        state.mkdir(parents=True, exist_ok=True)
        _prepare_template(state)
        shutil.rmtree(state / "claims", ignore_errors=True)
        (state / "claims").mkdir()
        deadline = started + args.minutes * 60 if args.minutes else float("inf")
        command = [sys.executable, "-m", "bench.security.bench_fuzz", "--examples", str(args.examples), "--refused", str(args.refused), "--unit-minutes", str(args.unit_minutes),
                   "--seed", str(args.seed), "--state", str(state), "--only", args.only, "--deadline", str(deadline),
                   *(["--versioned"] if args.versioned else [])]
        workers = [subprocess.Popen([*command, "--worker", str(i)], cwd=ROOT) for i in range(args.workers)]
        for process in workers:
            process.wait()
    report(args, started)


if __name__ == "__main__":
    main()
