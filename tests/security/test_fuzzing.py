"""Issue 17, "Prove it in CI": Schemathesis on the OpenAPI document for every role's token, fixed seed, few examples.

The deeper run (>= 1,000 cases per operation) is `bench/security/bench_fuzz.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.fuzzing import fuzz, role_headers

ROLES = ("admin", "nl.officer", "mps.central", "fj.officer", "iom.caseworker", "analyst")


def _safe(method: str, path: str) -> bool:
    # Revoking one's own token would end the run's session for that role.
    return not (method == "DELETE" and path == "/api/v1/auth/token")


# TODO(pg): 400 s on PostgreSQL on the shared machine (one request per operation and role, each a fresh
# transaction); the role logic is the same on both stores. Run it on PostgreSQL before a release.
@pytest.mark.sqlite_only(reason="exhaustive matrix, store-independent logic; kept off PostgreSQL for the suite's 30 minutes")
@pytest.mark.slow
def test_every_operation_as_every_role(app_client: Any) -> None:
    from passage.security.service import rate_limiter

    headers = role_headers(app_client, ROLES)
    report = fuzz(app_client.app, headers_by_role=headers, max_examples=2, seed=17, include=_safe, on_case=rate_limiter.clear)
    print(report.summary())
    assert report.operations >= 50
    assert report.cases >= report.operations * len(ROLES)
    assert report.server_errors == []
    assert report.schema_violations == []
    assert report.undocumented == []
