"""Schemathesis over the OpenAPI document, as every role: the shared part of the CI test and the deep benchmark.

Checks per response: no 5xx; the body matches the documented schema when its status is documented; and the
status is documented. Until every operation documents its 4xx answers (RFC 9457 problem details, issue 20),
Passage's generic error statuses are tolerated on an operation that documents no 4xx other than 422, and
counted as `tolerated`; once an operation documents its errors, the check is strict for it.

The unit of work is one operation as one role (`fuzz_unit`): one Hypothesis run with a seed derived from the
operation and the role, so a unit gives the same cases whichever process runs it and in whatever order.
The deep benchmark (`bench/security/bench_fuzz.py`) plans its units with `plan_units`: the generated cases of
an operation go to the roles whose grants cover the permissions the route declares (so they reach the
handler, not the permission check), and a smaller number to one role that is refused.
"""

from __future__ import annotations

import collections
import re
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

GENERIC_ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 415, 422, 429})
SLOW_SECONDS = 5.0
TIMEOUT_SECONDS = 120.0

ROLE_USERS: dict[str, str] = {
    "requesting_officer": "nl.officer", "central_officer": "mps.central", "provincial_officer": "fj.officer",
    "iom_caseworker": "iom.caseworker", "consular_centre": "consular.centre", "consular_officer": "denpasar.officer",
    "consular_gateway": "consular.gateway", "analyst": "analyst", "admin": "admin",
}
"""One demo user per role, in the order the deep run prefers them when it picks the refused role."""


@dataclass
class UnitResult:
    """The outcome of one operation as one role."""

    method: str
    path: str
    role: str
    kind: str  # "allowed", "refused" or "any" (the suite's every-role run)
    max_examples: int
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    schema_violations: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    tolerated: int = 0
    seconds: float = 0.0
    slow: list[str] = field(default_factory=list)  # answers slower than `SLOW_SECONDS`, or none within `TIMEOUT_SECONDS`
    stopped_at_budget: bool = False
    errors: list[str] = field(default_factory=list)  # the run itself failed (not a response check)

    @property
    def key(self) -> str:
        return unit_key(self.method, self.path, self.role)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UnitResult:
        data = dict(data)
        data["statuses"] = {int(k): int(v) for k, v in data.get("statuses", {}).items()}
        return cls(**data)


def unit_key(method: str, path: str, role: str) -> str:
    return f"{method} {path} as {role}"


@dataclass
class FuzzReport:
    cases: int = 0
    server_errors: list[str] = field(default_factory=list)
    schema_violations: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    tolerated: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    operations: int = 0

    def add(self, unit: UnitResult) -> None:
        self.cases += unit.cases
        self.server_errors += unit.server_errors
        self.schema_violations += unit.schema_violations
        self.undocumented += unit.undocumented
        self.tolerated += unit.tolerated
        self.statuses.update(unit.statuses)

    def summary(self) -> str:
        return (f"{self.operations} operations, {self.cases} cases: {len(self.server_errors)} 5xx, {len(self.schema_violations)} schema violations, "
                f"{len(self.undocumented)} undocumented statuses ({self.tolerated} generic error statuses tolerated); statuses {dict(sorted(self.statuses.items()))}")


def _documented(operation: Any) -> set[str]:
    return {str(code) for code in (operation.definition.raw.get("responses") or {})}


def load_operations(app: Any, include: Callable[[str, str], bool] | None = None) -> list[Any]:
    """The API operations of the app's OpenAPI document, as Schemathesis operations."""
    import schemathesis

    app.openapi()  # build (and cache) the document first: loading it over ASGI has a 10-second time-out
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if include is None or include(op.method.upper(), op.path)]


def asgi_session(app: Any) -> Any:
    """One in-process client for every case (Schemathesis otherwise builds a client, and enters the app's
    lifespan check, for each call). The caller closes it."""
    from schemathesis.python import asgi

    return asgi.get_client(app).__enter__()


def fuzz(app: Any, *, headers_by_role: dict[str, dict[str, str]], max_examples: int, seed: int,
         include: Callable[[str, str], bool] | None = None, on_case: Callable[[], None] | None = None) -> FuzzReport:
    """Run every operation of the app's OpenAPI document as every role with `max_examples` generated cases each."""
    report = FuzzReport()
    operations = load_operations(app, include)
    report.operations = len(operations)
    session = asgi_session(app)
    try:
        for role_index, (role, headers) in enumerate(sorted(headers_by_role.items())):
            for operation in operations:
                report.add(fuzz_unit(operation, role=role, kind="any", headers=headers, max_examples=max_examples,
                                     seed=seed * 1000 + role_index, session=session, on_case=on_case))
    finally:
        session.__exit__(None, None, None)
    return report


def unit_seed(seed: int, method: str, path: str, role: str) -> int:
    """A seed per operation and role, stable across processes and runs (not Python's salted `hash`)."""
    return seed * 1_000_003 + zlib.crc32(unit_key(method, path, role).encode())


def fuzz_unit(operation: Any, *, role: str, kind: str, headers: dict[str, str], max_examples: int, seed: int, session: Any = None,
              known_parameters: list[dict[str, Any]] | None = None, on_case: Callable[[], None] | None = None,
              keep_findings: int = 5, budget_seconds: float | None = None) -> UnitResult:
    """Send up to `max_examples` generated cases of one operation as one role and check every response.

    `known_parameters` are path-parameter values of records that exist (e.g. a case id the role can see);
    each case takes one of them, or keeps its generated values, as Hypothesis draws; with the record's version
    when known, which replaces a generated body's `version` and follows the record's successful writes. Hypothesis stops early
    when the operation's input space is exhausted (e.g. a GET without parameters), so `cases` can be lower.
    After `budget_seconds` the remaining cases are generated but not sent (`stopped_at_budget`): the deep run's
    guard against one operation whose answers take seconds each taking the whole run."""
    import hypothesis
    import requests
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from schemathesis.specs.openapi.checks import response_schema_conformance

    documented = _documented(operation)
    strict = any(code.startswith("4") and code != "422" for code in documented)
    method = operation.method.upper()
    result = UnitResult(method=method, path=operation.path, role=role, kind=kind, max_examples=max_examples)
    statuses: collections.Counter[int] = collections.Counter()
    choices: list[dict[str, Any] | None] = [None, *(known_parameters or [])]
    started = time.perf_counter()

    def finding(bucket: list[str], case: Any, text: str) -> None:
        if len(bucket) < keep_findings:
            body = repr(getattr(case, "body", None))[:300]
            bucket.append(f"{role} {method} {case.formatted_path} query={case.query} body={body} -> {text}")
        else:
            bucket.append(f"{role} {method} {operation.path} -> {text}")

    @given(case=operation.as_strategy(), known=st.sampled_from(choices))
    @settings(max_examples=max_examples, database=None, deadline=None, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: Any, known: dict[str, Any] | None) -> None:
        if budget_seconds is not None and time.perf_counter() - started > budget_seconds:
            result.stopped_at_budget = True
            return
        if known:
            case.path_parameters = {**(case.path_parameters or {}), **{k: v for k, v in known.items() if k != VERSION_KEY}}
            if VERSION_KEY in known and isinstance(case.body, dict) and "version" in case.body:
                case.body = {**case.body, "version": known[VERSION_KEY]}
        if on_case is not None:
            on_case()
        sent = time.perf_counter()
        try:
            response = case.call(headers=headers, session=session, timeout=TIMEOUT_SECONDS)
        except requests.exceptions.Timeout:
            result.cases += 1
            finding(result.slow, case, f"no answer within {TIMEOUT_SECONDS:.0f} s")
            return
        elapsed = time.perf_counter() - sent
        if elapsed > SLOW_SECONDS:
            finding(result.slow, case, f"answered in {elapsed:.1f} s")
        status = response.status_code
        if known and VERSION_KEY in known and 200 <= status < 300:
            _follow_version(known, response)
        result.cases += 1
        statuses[status] += 1
        if status >= 500:
            finding(result.server_errors, case, str(status))
            return
        if str(status) not in documented and f"{str(status)[0]}XX" not in documented and "default" not in documented:
            if not strict and status in GENERIC_ERROR_STATUSES:
                result.tolerated += 1
            else:
                finding(result.undocumented, case, str(status))
            return
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except Exception as exc:  # noqa: BLE001 - a schema violation is a finding, reported with its operation
            finding(result.schema_violations, case, f"{status}: {type(exc).__name__} {str(exc).splitlines()[0][:160]}")

    hypothesis.seed(seed)(run)()
    result.seconds = round(time.perf_counter() - started, 3)
    result.statuses = dict(statuses)
    return result


def _follow_version(known: dict[str, Any], response: Any) -> None:
    """After a write succeeded, the next case on the same record sends the version the answer reports."""
    try:
        payload = response.json()
    except ValueError:
        return
    if isinstance(payload, dict) and isinstance(payload.get("version"), int):
        known[VERSION_KEY] = payload["version"]


def versioned_operations(app: Any) -> set[tuple[str, str]]:
    """(METHOD, path) of the API operations whose request body has a `version` field (optimistic concurrency)."""
    document = app.openapi()
    components = document.get("components", {}).get("schemas", {})

    def has_version(schema: Any, depth: int = 0) -> bool:
        if depth > 4 or not isinstance(schema, dict):
            return False
        if "$ref" in schema:
            return has_version(components.get(schema["$ref"].split("/")[-1]), depth + 1)
        if "version" in (schema.get("properties") or {}):
            return True
        return any(has_version(sub, depth + 1) for key in ("anyOf", "oneOf", "allOf") for sub in schema.get(key, []))

    found = set()
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content", {}) if isinstance(operation, dict) else {}
            if any(has_version(media.get("schema")) for media in content.values()):
                found.add((method.upper(), path))
    return found


# --- the deep run's plan -------------------------------------------------------------------------------------


def declared_permissions(app: Any) -> dict[tuple[str, str], frozenset[Any]]:
    """(method, path) -> the permissions the route's dependencies declare (`__passage_permissions__`)."""
    from passage.core.app import iter_routes

    def walk(dependant: Any) -> set[Any]:
        found = set(getattr(getattr(dependant, "call", None), "__passage_permissions__", ()) or ())
        for sub in getattr(dependant, "dependencies", ()):
            found |= walk(sub)
        return found

    declared: dict[tuple[str, str], frozenset[Any]] = {}
    for info in iter_routes(app.routes):
        needed = frozenset(walk(info.route.dependant))
        for method in info.methods - {"HEAD", "OPTIONS"}:
            declared[(method, info.path)] = needed
    return declared


@dataclass(frozen=True)
class PlannedUnit:
    method: str
    path: str
    role: str
    kind: str
    max_examples: int

    @property
    def key(self) -> str:
        return unit_key(self.method, self.path, self.role)


def plan_units(operations: Iterable[Any], declared: dict[tuple[str, str], frozenset[Any]], *, examples: int, refused_examples: int) -> list[PlannedUnit]:
    """Per operation: `examples` cases shared evenly by the roles whose grants cover the declared permissions
    (every role for an operation that declares none), and `refused_examples` for the first role (in
    `ROLE_USERS` order) that lacks them. An operation that no role may call (it needs a per-user sensitive
    grant, e.g. `sensitive:biometrics`) gets `examples` cases as the role that holds most of its permissions,
    which checks that the refusal itself is documented and well-formed."""
    from passage.security.models import Role
    from passage.security.permissions import permissions_for

    units: list[PlannedUnit] = []
    for operation in operations:
        method, path = operation.method.upper(), operation.path
        needed = declared.get((method, path), frozenset())
        allowed = [role for role in ROLE_USERS if needed <= permissions_for({Role(role)})]
        refused = [role for role in ROLE_USERS if role not in allowed]
        if not allowed:
            best = max(refused, key=lambda role: len(needed & permissions_for({Role(role)})))
            units.append(PlannedUnit(method, path, best, "refused", examples))
            continue
        share = -(-examples // len(allowed))  # ceiling: the shares add up to at least `examples`
        units += [PlannedUnit(method, path, role, "allowed", share) for role in allowed]
        if refused and refused_examples:
            units.append(PlannedUnit(method, path, refused[0], "refused", refused_examples))
    return units


# --- path parameters of records that exist -------------------------------------------------------------------

_PARAMETER = re.compile(r"\{([^}]+)\}")
VERSION_KEY = "(version)"
"""In an assignment of known path parameters: the record's version as last read, for a body's `version` field
(optimistic concurrency, `core.db.check_version`), so a generated write can pass the version check."""


def _items(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, list):
        return [item for item in payload if isinstance(item, dict)]
    if isinstance(payload, dict):
        for key in ("items", "results", "data", "features"):
            if isinstance(payload.get(key), list):
                return [item for item in payload[key] if isinstance(item, dict)]
    return []


def _values(items: list[dict[str, Any]], parameter: str) -> list[tuple[str, int | None]]:
    """(path value, the record's `version` when it shows one) of each item."""
    found: list[tuple[str, int | None]] = []
    for item in items:
        props: dict[str, Any] = item["properties"] if isinstance(item.get("properties"), dict) else {}
        for name in (parameter, "id", "ref", "number"):
            value = item.get(name, props.get(name))
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                version = item.get("version")
                found.append((str(value), version if isinstance(version, int) and not isinstance(version, bool) else None))
                break
    return found


def _nested(payload: Any, stem: str) -> list[dict[str, Any]]:
    """Dicts in lists held under a key that starts with the parameter's stem (`consent_id` -> `consents`)."""
    found: list[dict[str, Any]] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key.startswith(stem) and isinstance(value, list):
                found += [item for item in value if isinstance(item, dict)]
            elif isinstance(value, (dict, list)):
                found += _nested(value, stem)
    elif isinstance(payload, list):
        for value in payload:
            found += _nested(value, stem)
    return found


def known_path_parameters(session: Any, paths: Iterable[str], headers_by_role: dict[str, dict[str, str]], *,
                          get_paths: set[str], exclude: set[str], per_level: int = 12) -> dict[str, list[dict[str, Any]]]:
    """For each templated path, assignments of its parameters to records that exist, read through the API
    as every role: the first parameter from the collection's list (`/cases` for `/cases/{case_id}`), a
    nested one from its own collection when it has a GET route, else from the parent record's detail
    (`consent_id` from the case's `consents`). Values in `exclude` (the fuzzing users' own ids: a case that
    disables them would end the run's sessions) are left out."""
    cache: dict[str, list[Any]] = {}

    def get(path: str) -> list[Any]:
        if path not in cache:
            cache[path] = []
            for headers in headers_by_role.values():
                response = session.get(path, headers=headers)
                if response.status_code == 200 and "json" in response.headers.get("content-type", ""):
                    cache[path].append(response.json())
        return cache[path]

    known: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        names = _PARAMETER.findall(path)
        if not names:
            continue
        assignments: list[dict[str, Any]] = [{}]
        for name in names:
            head = path[: path.index("{" + name + "}")].rstrip("/")
            grown: list[dict[str, Any]] = []
            for assignment in assignments[:per_level]:
                collection = head.format(**assignment) if "{" in head else head
                values: list[tuple[str, int | None]] = []
                if head in get_paths:
                    for payload in get(collection):
                        values += _values(_items(payload), name)
                if not values and "{" in head:
                    parent = head[: head.rindex("}") + 1]
                    stem = name.removesuffix("_id")
                    for payload in get(parent.format(**assignment)):
                        values += _values(_nested(payload, stem), name)
                versions: dict[str, int | None] = {}
                for value, version in values:
                    versions.setdefault(value, version)
                for value, version in versions.items():
                    if value not in exclude:
                        grown.append({**assignment, name: value, **({VERSION_KEY: version} if version is not None else {})})
                        if len(grown) >= per_level * 4:
                            break
            assignments = grown
            if not assignments:
                break
        if assignments:
            known[path] = assignments[: per_level * 4]
    return known


def role_headers(client: Any, usernames: Iterable[str]) -> dict[str, dict[str, str]]:
    from tests.conftest import api_headers

    return {username: api_headers(client, username) for username in usernames}
