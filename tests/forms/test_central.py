"""Pulling submissions from ODK Central through pyodk, against a local server replaying a Central OData
response (`fixtures/central_submissions.json`, in the shape of Central's `Submissions?$expand=*`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from passage.core.errors import InvalidInput
from passage.forms import service
from passage.security.actors import system_actor
from tests.forms.test_service import TODAY

RESPONSE = (Path(__file__).parent / "fixtures" / "central_submissions.json").read_bytes()
TOKEN = "central-token-for-tests"

SYSTEM = system_actor("forms.test")


class _Central(BaseHTTPRequestHandler):
    requests: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's handler name
        _Central.requests.append((self.path, self.headers.get("Authorization", "")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"code": 401.2, "message": "Could not authenticate with the provided credentials."})
        elif self.path.startswith("/v1/projects/7/forms/site_check.svc/Submissions"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(RESPONSE)
        else:
            self._send(404, {"code": 404.1, "message": "Could not find the resource you were looking for."})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def central() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Central)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Central.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loaded(session: Session, site_form_path: Path) -> service.LoadResult:
    result = service.load_form(session, actor=SYSTEM, content=site_form_path.read_bytes(), filename=site_form_path.name)
    session.commit()
    return result


def test_pull_imports_central_submissions_and_skips_them_the_second_time(session: Session, loaded: service.LoadResult, central: str) -> None:
    report = service.pull_from_central(session, actor=SYSTEM, form_ref="site_check", base_url=central, project_id=7, token=TOKEN, today=TODAY)
    assert (report.rows_read, report.accepted, report.quarantined) == (2, 1, 1)
    assert report.quarantined_by_reason == {"choice": 1}  # n1 is not a district of the south
    assert _Central.requests[0][0].startswith("/v1/projects/7/forms/site_check.svc/Submissions?")
    assert "%24expand=%2A" in _Central.requests[0][0] or "$expand=*" in _Central.requests[0][0]
    stored = next(service.iter_submissions(session, form_ref="site_check", actor=SYSTEM))
    assert stored.uuid == "5d1c6a4e-2f4b-4c52-9a57-1f2e3d4c5b6a"
    assert stored.data["members"] == [{"members/member_age": 30, "members/member_sex": "f"}, {"members/member_age": 8, "members/member_sex": "m"}]
    assert stored.data["location"] == [12.5, 44.1, 0, 5]
    again = service.pull_from_central(session, actor=SYSTEM, form_ref="site_check", base_url=central, project_id=7, token=TOKEN, today=TODAY)
    assert (again.accepted, again.duplicates) == (0, 2)


def test_a_wrong_token_is_a_clear_refusal_without_the_token(session: Session, loaded: service.LoadResult, central: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.pull_from_central(session, actor=SYSTEM, form_ref="site_check", base_url=central, project_id=7, token="wrong-secret", today=TODAY)
    line = caught.value.one_line()
    assert line.startswith(f"ODK Central {central}, project 7, form site_check: the pull failed")
    assert "wrong-secret" not in line
