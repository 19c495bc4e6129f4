"""RFC 9457 problem details and the OpenAPI contract check (issue 20)."""

from __future__ import annotations

from typing import Any

import pytest

from passage.core.app import _is_public, create_app, iter_routes
from passage.core.errors import (
    PROBLEM_MEDIA_TYPE,
    Conflict,
    FieldError,
    InvalidInput,
    problem_details,
    render_message,
    set_message_renderer,
)
from tests.contract import ContractCheck, ContractViolation


def test_problem_details_members() -> None:
    """RFC 9457 section 3.1: type, title, status, detail, instance; extension members beside them."""
    error = InvalidInput("household is not valid", fields=[FieldError("members.2.age", "must be a whole number")])
    body = error.problem(instance="/api/v1/avrr/cases")
    assert body == {
        "type": "urn:passage:problem:invalid_input", "title": "Invalid input", "status": 422, "detail": "household is not valid",
        "code": "invalid_input", "instance": "/api/v1/avrr/cases", "fields": [{"path": "members.2.age", "message": "must be a whole number"}],
    }
    conflict = Conflict("illegal transition", extra={"allowed_transitions": ["accept"], "status": "spoofed"}).problem()
    assert conflict["allowed_transitions"] == ["accept"] and conflict["status"] == 409  # extensions never shadow members
    assert problem_details(status=404, code="http_error", detail="Not Found")["type"] == "about:blank"
    assert PROBLEM_MEDIA_TYPE == "application/problem+json"


def test_message_renderer_hook_is_used_for_detail() -> None:
    set_message_renderer(lambda code, message, params: f"[{code}] {message.upper()}")
    try:
        assert InvalidInput("bad").problem()["detail"] == "[invalid_input] BAD"
        assert render_message("conflict", "x") == "[conflict] X"
    finally:
        set_message_renderer(None)
    assert InvalidInput("bad").problem()["detail"] == "bad"


APP = create_app()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return APP.openapi()


PUBLIC = {(info.path, m.lower()) for info in iter_routes(list(APP.routes)) for m in info.methods if _is_public(info.route, info.extra_dependencies)}


def test_every_operation_documents_its_errors_as_problem_details(document: dict[str, Any]) -> None:
    assert ("/api/v1/dtm/public/v3/displacement/admin0", "get") in PUBLIC
    assert "HTTPValidationError" not in document["components"]["schemas"]
    operations = [(path, method, op) for path, methods in document["paths"].items() for method, op in methods.items()]
    assert len(operations) > 100
    for path, method, operation in operations:
        responses = operation["responses"]
        assert "default" in responses, (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")) or status == "default":
                content = response.get("content", {})
                assert "application/problem+json" in content or "dtm/public" in path, (method, path, status)
        if (path, method) not in PUBLIC:
            assert {"401", "403"} <= responses.keys(), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in responses, (method, path)


def test_contract_check_catches_undocumented_status_and_wrong_body(document: dict[str, Any]) -> None:
    check = ContractCheck(document)
    assert check.problems("GET", "/api/v1/dtm/rounds", 200, "application/json", b'{"items": "not a list"}')
    good = b'{"type": "urn:passage:problem:forbidden", "title": "Forbidden", "status": 403, "detail": "no", "code": "forbidden"}'
    assert check.problems("GET", "/api/v1/dtm/rounds", 403, "application/problem+json", good) == []
    assert check.problems("GET", "/api/v1/dtm/rounds", 403, "application/json", b'{"error": {"code": "forbidden"}}')
    assert check.problems("GET", "/api/v1/no-such-route", 200, "application/json", b"{}")

    class Response:
        status_code = 403
        headers = {"content-type": "application/json"}
        content = b'{"error": {"code": "forbidden", "message": "no"}}'

        class request:  # noqa: N801
            method = "GET"

            class url:  # noqa: N801
                path = "/api/v1/dtm/rounds"

        def read(self) -> None:
            return None

    with pytest.raises(ContractViolation, match="expected application/problem\\+json|documented"):
        check.hook(Response())
