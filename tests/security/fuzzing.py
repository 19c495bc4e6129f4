"""Schemathesis over the OpenAPI document, as every role: the shared part of the CI test and the deep benchmark.

Checks per response: no 5xx; the body matches the documented schema when its status is documented; and the
status is documented. Until every operation documents its 4xx answers (RFC 9457 problem details, issue 20),
Passage's generic error statuses are tolerated on an operation that documents no 4xx other than 422, and
counted as `tolerated`; once an operation documents its errors, the check is strict for it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

GENERIC_ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 415, 422, 429})


@dataclass
class FuzzReport:
    cases: int = 0
    server_errors: list[str] = field(default_factory=list)
    schema_violations: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    tolerated: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    operations: int = 0

    def summary(self) -> str:
        return (f"{self.operations} operations, {self.cases} cases: {len(self.server_errors)} 5xx, {len(self.schema_violations)} schema violations, "
                f"{len(self.undocumented)} undocumented statuses ({self.tolerated} generic error statuses tolerated); statuses {dict(sorted(self.statuses.items()))}")


def _documented(operation: Any) -> set[str]:
    return {str(code) for code in (operation.definition.raw.get("responses") or {})}


def fuzz(app: Any, *, headers_by_role: dict[str, dict[str, str]], max_examples: int, seed: int,
         include: Callable[[str, str], bool] | None = None, on_case: Callable[[], None] | None = None) -> FuzzReport:
    """Run every operation of the app's OpenAPI document as every role with `max_examples` generated cases each."""
    import schemathesis

    app.openapi()  # build (and cache) the document first: loading it over ASGI has a 10-second time-out
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    report = FuzzReport()
    operations = [result.ok() for result in schema.get_all_operations()]
    for role_index, (role, headers) in enumerate(sorted(headers_by_role.items())):
        for operation in operations:
            if include is not None and not include(operation.method.upper(), operation.path):
                continue
            if role_index == 0:
                report.operations += 1
            _fuzz_operation(operation, role=role, headers=headers, report=report, max_examples=max_examples,
                            seed=seed * 1000 + role_index, on_case=on_case)
    return report


def _fuzz_operation(operation: Any, *, role: str, headers: dict[str, str], report: FuzzReport, max_examples: int, seed: int,
                    on_case: Callable[[], None] | None) -> None:
    import hypothesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.specs.openapi.checks import response_schema_conformance

    documented = _documented(operation)
    strict = any(code.startswith("4") and code != "422" for code in documented)
    label = f"{role} {operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @settings(max_examples=max_examples, database=None, deadline=None, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: Any) -> None:
        if on_case is not None:
            on_case()
        response = case.call(headers=headers)
        status = response.status_code
        report.cases += 1
        report.statuses[status] += 1
        if status >= 500:
            report.server_errors.append(f"{label} -> {status}")
            return
        if str(status) not in documented and f"{str(status)[0]}XX" not in documented and "default" not in documented:
            if not strict and status in GENERIC_ERROR_STATUSES:
                report.tolerated += 1
            else:
                report.undocumented.append(f"{label} -> {status}")
            return
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except Exception as exc:  # noqa: BLE001 - a schema violation is a finding, reported with its operation
            report.schema_violations.append(f"{label} -> {status}: {type(exc).__name__} {str(exc).splitlines()[0][:160]}")

    hypothesis.seed(seed)(run)()


def role_headers(client: Any, usernames: Iterable[str]) -> dict[str, dict[str, str]]:
    from tests.conftest import api_headers

    return {username: api_headers(client, username) for username in usernames}
