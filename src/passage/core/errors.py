"""Domain errors shared by every module.

A service raises one of these; the API turns it into a JSON 4xx with field paths, the CLI into one
readable line on stderr and exit code 2. Messages never contain personal data: name the field, the
row or the byte offset, never the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; `path` is dotted (`household.members.2.age`) or `row 14, column birth_date`."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class PassageError(Exception):
    """Base of every expected failure. `status` is the HTTP status the API answers with."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, fields: list[FieldError] | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.fields: list[FieldError] = list(fields or [])
        self.extra: dict[str, Any] = dict(extra or {})

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = [f.as_dict() for f in self.fields]
        body.update(self.extra)
        return body

    def one_line(self) -> str:
        """The CLI rendering: message, then each field problem, on a single line."""
        if not self.fields:
            return self.message
        details = "; ".join(f"{f.path}: {f.message}" for f in self.fields[:10])
        more = f" (and {len(self.fields) - 10} more)" if len(self.fields) > 10 else ""
        return f"{self.message}: {details}{more}"


class InvalidInput(PassageError):
    status = 422
    code = "invalid_input"


class NotAuthenticated(PassageError):
    status = 401
    code = "not_authenticated"


class Forbidden(PassageError):
    status = 403
    code = "forbidden"


class NotFound(PassageError):
    status = 404
    code = "not_found"


class Conflict(PassageError):
    """Stale version or an illegal state transition; `extra` may list the allowed transitions."""

    status = 409
    code = "conflict"


class PayloadTooLarge(PassageError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(PassageError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(PassageError):
    status = 429
    code = "too_many_requests"
