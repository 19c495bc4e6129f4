"""Issue 17, "Prove it in CI": an authorisation matrix generated from the route table.

Every demo user (every role, and for the scoped records: own organisation, another organisation of another
state, the requested state's central authority, the routed province and another province) x every API route:
- a route whose declared permission the role lacks answers 403, whatever the method;
- a route on a scoped record (a readmission case, an AVRR case) answers no 2xx to a user outside the record's
  scope, and the detail page answers 200 to every user inside it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from passage.core.app import iter_routes
from passage.security.deps import Principal
from passage.security.models import Role
from passage.security.permissions import Permission, permissions_for
from tests.conftest import api_headers

USERS = {
    "nl.officer": Role.REQUESTING_OFFICER, "fr.officer": Role.REQUESTING_OFFICER, "mps.central": Role.CENTRAL_OFFICER,
    "fj.officer": Role.PROVINCIAL_OFFICER, "zj.officer": Role.PROVINCIAL_OFFICER, "gd.officer": Role.PROVINCIAL_OFFICER,
    "iom.caseworker": Role.IOM_CASEWORKER, "analyst": Role.ANALYST, "admin": Role.ADMIN,
}
READMISSION_SCOPE = {"nl.officer", "mps.central", "fj.officer"}
"""Who sees a case NL asked China to readmit, routed to Fujian: the owner, the requested state's centre, the province."""
AVRR_SCOPE = {"iom.caseworker"}


def _declared_permissions(dependant: Any) -> set[Permission]:
    found: set[Permission] = set()
    call = getattr(dependant, "call", None)
    found |= set(getattr(call, "__passage_permissions__", ()) or ())
    for sub in getattr(dependant, "dependencies", ()):
        found |= _declared_permissions(sub)
    return found


def _api_routes(app: Any) -> list[tuple[str, str, set[Permission]]]:
    routes = []
    for info in iter_routes(app.routes):
        if not info.path.startswith("/api/"):
            continue
        for method in sorted(info.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, info.path, _declared_permissions(info.route.dependant)))
    return routes


def _call(client: Any, method: str, path: str, headers: dict[str, str]) -> int:
    if method in ("GET", "DELETE"):
        return int(client.request(method, path, headers=headers).status_code)
    return int(client.request(method, path, headers=headers, json={}).status_code)


@pytest.fixture
def signed_in(app_client: Any) -> dict[str, dict[str, str]]:
    return {username: api_headers(app_client, username) for username in USERS}


@pytest.mark.slow
def test_permission_matrix_over_every_route(app_client: Any, signed_in: dict[str, dict[str, str]]) -> None:
    routes = _api_routes(app_client.app)
    assert len(routes) >= 100
    checked = 0
    for method, path, needed in routes:
        if not needed or (method, path) == ("DELETE", "/api/v1/auth/token"):
            continue
        concrete = re.sub(r"\{[^}]+\}", uuid.uuid4().hex, path)
        for username, role in USERS.items():
            granted = permissions_for({role})
            if needed <= granted:
                continue
            status = _call(app_client, method, concrete, signed_in[username])
            assert status == 403, (username, method, path, status)
            checked += 1
    assert checked >= 300


def _readmission_case(client: Any, signed_in: dict[str, dict[str, str]]) -> str:
    from tests.readmission.test_api import complete_case, org_id, step

    nl, mps = signed_in["nl.officer"], signed_in["mps.central"]
    case = step(client, nl, complete_case(client, nl), "submit")
    case = step(client, mps, case, "acknowledge")
    case = step(client, mps, case, "route", province_org_id=org_id("Fujian"))
    return str(case["id"])


def _avrr_case(client: Any, signed_in: dict[str, dict[str, str]]) -> str:
    from tests.avrr.test_api import new_case

    return str(new_case(client, signed_in["iom.caseworker"])["id"])


@pytest.mark.slow
def test_scoped_records_over_every_route(app_client: Any, signed_in: dict[str, dict[str, str]]) -> None:
    records = {
        "/api/v1/readmission/cases/{case_id}": (_readmission_case(app_client, signed_in), READMISSION_SCOPE),
        "/api/v1/avrr/cases/{case_id}": (_avrr_case(app_client, signed_in), AVRR_SCOPE),
    }
    routes = _api_routes(app_client.app)
    checked = 0
    for prefix, (record_id, scope) in records.items():
        record_routes = [(m, p) for m, p, _ in routes if p == prefix or p.startswith(prefix + "/")]
        assert len(record_routes) >= 5, prefix
        for method, path in record_routes:
            concrete = re.sub(r"\{[^}]+\}", uuid.uuid4().hex, path.replace("{case_id}", record_id))
            for username in USERS:
                status = _call(app_client, method, concrete, signed_in[username])
                assert status < 500, (username, method, path, status)
                if username not in scope:
                    assert not 200 <= status < 300, (username, method, path, status)
                checked += 1
        detail = prefix.replace("{case_id}", record_id)
        for username in USERS:
            status = app_client.get(detail, headers=signed_in[username]).status_code
            assert (status == 200) == (username in scope), (username, detail, status)
    assert checked >= 200


def test_matrix_sees_every_permission_declaration(app_client: Any) -> None:
    """The generator finds a declared permission on (almost) every API route, so the matrix covers them."""
    routes = _api_routes(app_client.app)
    undeclared = [(m, p) for m, p, needed in routes if not needed]
    # Public routes: sign-in, health, the public DTM read API, and the consular safety advice travellers read
    # (like the 12308 app's). Nothing else may lack a declaration.
    assert all(p.startswith(("/api/v1/auth/token", "/api/v1/dtm/", "/api/v1/consular/advice")) or p.endswith("healthz")
               for _, p in undeclared), undeclared
    assert Principal
