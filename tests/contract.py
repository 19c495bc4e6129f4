"""Every API response the test suite produces is checked against the application's OpenAPI document.

`app_client` (tests/conftest.py) installs `ContractCheck` as an httpx response hook, so a response whose
status is not documented for its operation, or whose JSON body does not match the documented schema
(the route's model, RFC 9457 problem details for errors, DTM API v3 envelopes), fails the test that made
the request, at the line that made it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

JSON_TYPES = ("application/json", "application/problem+json", "application/geo+json")


class ContractViolation(AssertionError):
    pass


@dataclass(frozen=True)
class _Operation:
    path: str
    method: str
    pattern: re.Pattern[str]
    literal_segments: int
    spec: dict[str, Any]


class ContractCheck:
    def __init__(self, document: dict[str, Any], *, exempt: tuple[str, ...] = ("/api/v1/openapi.json", "/api/v1/docs")) -> None:
        self.document = document
        self.exempt = exempt
        self.components = document.get("components", {})
        self.checked = 0
        operations = []
        for path, methods in document.get("paths", {}).items():
            regex = "^" + "/".join("[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part) for part in path.split("/")) + "$"
            literal = sum(1 for part in path.split("/") if part and not part.startswith("{"))
            for method, spec in methods.items():
                operations.append(_Operation(path, method.upper(), re.compile(regex), literal, spec))
        # the most specific template wins: /rounds/current before /rounds/{round_id}
        self.operations = sorted(operations, key=lambda o: -o.literal_segments)
        self._validators: dict[str, Any] = {}

    def _validator(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            self._validators[key] = jsonschema_rs.validator_for({**schema, "components": self.components})
        return self._validators[key]

    def operation(self, method: str, path: str) -> _Operation | None:
        for operation in self.operations:
            if operation.method == method and operation.pattern.match(path):
                return operation
        return None

    def problems(self, method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
        if not path.startswith("/api/") or path.startswith(self.exempt):
            return []
        self.checked += 1
        media = content_type.split(";")[0].strip().lower()
        operation = self.operation(method, path)
        where = f"{method} {path} -> {status}"
        if operation is None:
            if status < 400:
                return [f"{where}: no operation in the OpenAPI document answers this request"]
            return self._body_problems(where, media, body, {"$ref": "#/components/schemas/ProblemDetails"}, "application/problem+json")
        responses = operation.spec.get("responses", {})
        response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if response is None:
            return [f"{where}: status {status} is not documented for {operation.method} {operation.path} (documented: {sorted(responses)})"]
        content = response.get("content") or {}
        if media not in JSON_TYPES or not body:
            return []
        declared = content.get(media) or (content.get("application/json") if media == "application/geo+json" else None)
        if declared is None:
            if content and not any(t in JSON_TYPES for t in content):
                return []  # a file download documented with its own media type
            return [f"{where}: answered {media}, documented {sorted(content) or 'no body'}"]
        schema = declared.get("schema")
        if not schema:
            return []
        return self._body_problems(where, media, body, schema, media)

    def _body_problems(self, where: str, media: str, body: bytes, schema: dict[str, Any], expected_media: str) -> list[str]:
        if media != expected_media:
            return [f"{where}: answered {media or 'no content type'}, expected {expected_media}"]
        try:
            data = json.loads(body)
        except ValueError:
            return [f"{where}: body is not JSON"]
        errors = [f"{where}: {error.instance_path or '(root)'}: {error.message[:200]}" for error in self._validator(schema).iter_errors(data)]
        return errors[:5]

    def hook(self, response: Any) -> None:
        """httpx response hook: raise `ContractViolation` naming the request and every mismatch."""
        response.read()
        request = response.request
        found = self.problems(request.method, request.url.path, response.status_code, response.headers.get("content-type", ""), response.content)
        if found:
            raise ContractViolation("response does not match the OpenAPI document:\n" + "\n".join(found))
