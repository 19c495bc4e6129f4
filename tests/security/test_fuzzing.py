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


@pytest.mark.sqlite_only(reason="reads the route table and the OpenAPI document; no store logic")
def test_deep_plan_gives_each_operation_its_cases_as_roles_that_may_call_it(app_client: Any) -> None:
    """The deep benchmark's plan: >= N cases per operation as roles whose grants cover the route's declared
    permissions, and a few as one role that lacks them."""
    from passage.security.models import Role
    from passage.security.permissions import permissions_for
    from tests.security.fuzzing import declared_permissions, load_operations, plan_units

    operations = load_operations(app_client.app, _safe)
    declared = declared_permissions(app_client.app)
    units = plan_units(operations, declared, examples=1000, refused_examples=50)
    assert len(operations) >= 100
    for operation in operations:
        method, path = operation.method.upper(), operation.path
        needed = declared[(method, path)]
        mine = [u for u in units if (u.method, u.path) == (method, path)]
        allowed = [u for u in mine if u.kind == "allowed"]
        assert sum(u.max_examples for u in allowed) >= 1000, (method, path)
        assert all(needed <= permissions_for({Role(u.role)}) for u in allowed), (method, path)
        assert all(not needed <= permissions_for({Role(u.role)}) for u in mine if u.kind == "refused"), (method, path)
        if needed and any(not needed <= permissions_for({role}) for role in Role):
            assert [u.max_examples for u in mine if u.kind == "refused"] == [50], (method, path)
    readmission_create = [u.role for u in units if (u.method, u.path) == ("POST", "/api/v1/readmission/cases") and u.kind == "allowed"]
    assert readmission_create == ["requesting_officer"]


def test_known_record_version_goes_into_the_body_and_follows_writes() -> None:
    from tests.security.fuzzing import VERSION_KEY, _follow_version, _values

    found = _values([{"id": "a", "version": 3}, {"id": "b"}, {"ref": "c", "version": True}], "case_id")
    assert found == [("a", 3), ("b", None), ("c", None)]

    class Answer:
        def json(self) -> Any:
            return {"id": "a", "version": 4}

    known: dict[str, Any] = {"case_id": "a", VERSION_KEY: 3}
    _follow_version(known, Answer())
    assert known[VERSION_KEY] == 4
