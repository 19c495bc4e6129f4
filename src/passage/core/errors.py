"""Domain errors shared by every module, and their rendering as RFC 9457 problem details.

A service raises one of these; the API turns it into a 4xx `application/problem+json` body (RFC 9457,
"Problem Details for HTTP APIs": members `type`, `title`, `status`, `detail`, `instance`, plus the
extension members `code`, `fields` - the list of field problems - and any `extra` the error carries), the
CLI into one readable line on stderr and exit code 2. Messages never contain personal data: name the
field, the row or the byte offset, never the value.

`render_message` is the one place a message becomes the text a user reads: a message raised as `i18n.T_(...)`
(a template, its code, plus parameters) is rendered in the reader's language (the request's `Accept-Language`
or cookie, the CLI's `--lang`); `set_message_renderer` lets a test or an embedding replace that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from passage.core import i18n

PROBLEM_MEDIA_TYPE = "application/problem+json"
"""RFC 9457 section 3: the media type of a problem details object in JSON."""
PROBLEM_TYPE_PREFIX = "urn:passage:problem:"
"""Problem type URIs (RFC 9457 section 3.1.1: "a URI reference that identifies the problem type"); Passage's
are URNs, not meant to be dereferenced; every code is listed in docs/architecture.md ("Errors")."""

TITLES: dict[str, str] = {
    "bad_request": i18n.N_("Bad request"),
    "invalid_input": i18n.N_("Invalid input"),
    "not_authenticated": i18n.N_("Not authenticated"),
    "forbidden": i18n.N_("Forbidden"),
    "not_found": i18n.N_("Not found"),
    "conflict": i18n.N_("Conflict"),
    "payload_too_large": i18n.N_("Payload too large"),
    "unsupported_media_type": i18n.N_("Unsupported media type"),
    "too_many_requests": i18n.N_("Too many requests"),
    "busy": i18n.N_("Service busy"),
    "internal_error": i18n.N_("Internal error"),
    "http_error": i18n.N_("HTTP error"),
}
"""RFC 9457 section 3.1.2: "a short, human-readable summary of the problem type", the same for every occurrence."""

MessageRenderer = Callable[[str, str, dict[str, Any]], str]
"""(code, message as raised, parameters) -> the text to show; the i18n layer may replace the default."""


def _in_reader_language(code: str, message: str, parameters: dict[str, Any]) -> str:
    """A `Text` message is rendered in the request's or the CLI's language; a plain string is looked up in the
    catalogues (a fixed English sentence that has a Chinese entry is shown in Chinese)."""
    return i18n.localise(message)


_renderer: MessageRenderer = _in_reader_language


def set_message_renderer(renderer: MessageRenderer | None) -> None:
    """Install the function that renders error messages (None restores the default: the reader's language)."""
    global _renderer
    _renderer = renderer or _in_reader_language


def render_message(code: str, message: str, parameters: dict[str, Any] | None = None) -> str:
    return _renderer(code, message, dict(parameters or {}))


def problem_details(*, status: int, code: str, detail: str, instance: str | None = None,
                    fields: list[dict[str, str]] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """An RFC 9457 problem details object. Extension members never shadow the standard ones."""
    body: dict[str, Any] = {
        "type": "about:blank" if code == "http_error" else PROBLEM_TYPE_PREFIX + code,
        "title": i18n.gettext(TITLES.get(code, code.replace("_", " ").capitalize())),
        "status": status,
        "detail": render_message(code, detail, extra),
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    if fields:
        body["fields"] = fields
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return body


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; `path` is dotted (`household.members.2.age`) or `row 14, column birth_date`."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": render_message("field", self.message)}


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

    def problem(self, *, instance: str | None = None) -> dict[str, Any]:
        """This error as an RFC 9457 problem details object (see `problem_details`)."""
        return problem_details(status=self.status, code=self.code, detail=self.message, instance=instance,
                               fields=[f.as_dict() for f in self.fields], extra=self.extra)

    def one_line(self) -> str:
        """The CLI rendering: message, then each field problem, on a single line."""
        if not self.fields:
            return render_message(self.code, self.message)
        # A path built as a message (`T_("sheet {sheet}, row {row}", ...)`) reads in the reader's language here; the
        # problem details keep it as written (English), since clients match on it.
        details = "; ".join(f"{i18n.localise(f.path) if isinstance(f.path, i18n.Text) else f.path}: {render_message('field', f.message)}"
                            for f in self.fields[:10])
        more = " " + i18n.P_("(and {n} more)", "(and {n} more)", len(self.fields) - 10).render() if len(self.fields) > 10 else ""
        return f"{render_message(self.code, self.message)}: {details}{more}"


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
