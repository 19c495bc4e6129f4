"""The application factory: routers of every module, error handling, security headers, locale, static files.

Core imports no module. It finds what modules contribute through `passage.MODULES`: each `api.router` and
`views.router`; an api module may define `warm_up()` (run once in a background thread when the application starts,
outside tests: caches that the first request would otherwise pay for); a views module may also define `render_error_page(request, status, error) -> Response` (the HTML
error page; the `web` module does) and `STATIC_MOUNTS = [(path, directory, name)]` (the vendored assets).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passage import MODULES, __version__
from passage.core import i18n
from passage.core.errors import (
    PROBLEM_MEDIA_TYPE,
    NotAuthenticated,
    PassageError,
    problem_details,
    render_message,
)
from passage.core.settings import get_settings

logger = logging.getLogger("passage")

LANG_COOKIE = "passage_lang"


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def _error_response(request: Request, status: int, body: dict[str, Any]) -> Response:
    """An error as a page for browsers (the web layer's renderer), else as RFC 9457 problem details
    (`application/problem+json`). `body` holds `code`, `message` and optionally `fields` and extension members."""
    extra = {k: v for k, v in body.items() if k not in ("code", "message", "fields")}
    problem = problem_details(status=status, code=body["code"], detail=body["message"], instance=request.url.path,
                              fields=body.get("fields"), extra=extra)
    renderer = getattr(request.app.state, "render_error_page", None)
    if renderer is not None and _wants_html(request):
        return renderer(request, status, {**body, "message": problem["detail"]})  # type: ignore[no-any-return]
    return JSONResponse(problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


_VALIDATION_MESSAGES: dict[str, str] = {
    "missing": i18n.N_("required"),
    "extra_forbidden": i18n.N_("not a field of this request"),
    "string_type": i18n.N_("must be text"),
    "string_too_short": i18n.N_("at least {min_length} characters"),
    "string_too_long": i18n.N_("at most {max_length} characters"),
    "string_pattern_mismatch": i18n.N_("does not have the expected form"),
    "int_type": i18n.N_("must be a whole number"),
    "int_parsing": i18n.N_("must be a whole number"),
    "float_type": i18n.N_("must be a number"),
    "float_parsing": i18n.N_("must be a number"),
    "decimal_parsing": i18n.N_("must be a number"),
    "bool_type": i18n.N_("must be true or false"),
    "bool_parsing": i18n.N_("must be true or false"),
    "date_type": i18n.N_("must be a date (YYYY-MM-DD)"),
    "date_parsing": i18n.N_("must be a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": i18n.N_("must be a date (YYYY-MM-DD)"),
    "datetime_type": i18n.N_("must be a date and time (ISO 8601)"),
    "datetime_parsing": i18n.N_("must be a date and time (ISO 8601)"),
    "datetime_from_date_parsing": i18n.N_("must be a date and time (ISO 8601)"),
    "greater_than": i18n.N_("must be greater than {gt}"),
    "greater_than_equal": i18n.N_("must be at least {ge}"),
    "less_than": i18n.N_("must be less than {lt}"),
    "less_than_equal": i18n.N_("must be at most {le}"),
    "too_short": i18n.N_("at least {min_length} items"),
    "too_long": i18n.N_("at most {max_length} items"),
    "literal_error": i18n.N_("must be one of: {expected}"),
    "enum": i18n.N_("must be one of: {expected}"),
    "uuid_parsing": i18n.N_("must be an identifier (UUID)"),
    "uuid_type": i18n.N_("must be an identifier (UUID)"),
    "list_type": i18n.N_("must be a list"),
    "dict_type": i18n.N_("must be an object"),
    "model_type": i18n.N_("must be an object"),
    "json_invalid": i18n.N_("is not valid JSON"),
    "value_error": i18n.N_("is not valid"),
    "assertion_error": i18n.N_("is not valid"),
}
"""Pydantic's error types (https://docs.pydantic.dev/latest/errors/validation_errors/) as messages in the reader's
language; the context values are limits from the schema, never the submitted value."""


def validation_message(error: Mapping[str, Any]) -> i18n.Text:
    """One pydantic validation error as a message: its type's template with the schema limits from `ctx`; a validator
    that raises `ValueError(T_(...))` gives its own message."""
    raised = dict(error.get("ctx") or {}).get("error")
    if isinstance(raised, ValueError) and raised.args and isinstance(raised.args[0], i18n.Text):
        return raised.args[0]
    template = _VALIDATION_MESSAGES.get(str(error.get("type", "")))
    if template is None:
        return i18n.Text(str(error.get("msg", "invalid")))
    context: dict[str, Any] = {k: v if isinstance(v, (int, float)) else str(v) for k, v in dict(error.get("ctx") or {}).items()}
    try:
        template.format(**context)
    except (KeyError, IndexError):
        return i18n.Text(str(error.get("msg", "invalid")))
    return i18n.Text(template, **context)


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(location[0] if location else "request")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PassageError)
    async def passage_error(request: Request, exc: PassageError) -> Response:
        if isinstance(exc, NotAuthenticated) and _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        response = _error_response(request, exc.status, exc.as_dict())
        if "retry_after" in exc.extra:
            response.headers["retry-after"] = str(exc.extra["retry_after"])
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # The offending input values are left out on purpose: they may be personal data.
        fields = [{"path": _field_path(err.get("loc", ())), "message": render_message("field", validation_message(err))} for err in exc.errors()]
        return _error_response(request, 422, {"code": "invalid_input", "message": i18n.N_("the request is not valid"), "fields": fields})

    @app.exception_handler(StaleDataError)
    async def stale(request: Request, exc: StaleDataError) -> Response:
        return _error_response(request, 409, {"code": "conflict", "message": i18n.N_("the record was changed by someone else; reload it and try again")})

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def pool_exhausted(request: Request, exc: SQLAlchemyTimeoutError) -> Response:
        # Every database connection is busy: the request changed nothing, and the client may retry.
        response = _error_response(request, 503, {"code": "busy", "message": i18n.N_("the server is busy; try again in a moment")})
        response.headers["retry-after"] = "2"
        return response

    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, exc: IntegrityError) -> Response:
        return _error_response(request, 409, {"code": "conflict", "message": i18n.N_("the change conflicts with existing data")})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error_response(request, exc.status_code, {"code": "http_error", "message": str(exc.detail)})

    # Starlette's own details, so that they are extracted into the catalogues and shown in the reader's language
    i18n.N_("Not Found"), i18n.N_("Method Not Allowed"), i18n.N_("Unsupported Media Type"), i18n.N_("Request Entity Too Large")

    @app.exception_handler(OperationalError)
    async def database_busy(request: Request, exc: OperationalError) -> Response:
        kind = database_contention(exc)
        if kind is None:
            return _incident_response(request, exc)
        # A lock wait that ran out, a deadlock or a serialisation failure: the transaction was rolled back
        # and changed nothing, so the client may simply retry (never a 500).
        status, code, message = (409, "conflict", i18n.N_("the record is being changed by someone else; try again")) if kind == "conflict" else (
            503, "busy", i18n.N_("the database is busy; try again in a moment")
        )
        response = _error_response(request, status, {"code": code, "message": message})
        response.headers["retry-after"] = RETRY_AFTER_SECONDS
        return response

    # a lock wait that runs out while a bound value is being prepared (an encrypted column fetching its data key)
    # arrives wrapped in a StatementError, not an OperationalError: the same answer (seen under load on SQLite)
    app.add_exception_handler(StatementError, database_busy)  # type: ignore[arg-type]

    @app.exception_handler(OverflowError)
    async def overflow(request: Request, exc: OverflowError) -> Response:
        return _error_response(request, 422, {"code": "invalid_input", "message": i18n.N_("a number in the request is too large")})


RETRY_AFTER_SECONDS = "2"

_CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
"""PostgreSQL serialization_failure and deadlock_detected."""
_BUSY_SQLSTATES = frozenset({"55P03", "57014"})
"""PostgreSQL lock_not_available (lock_timeout) and query_canceled (statement_timeout)."""


def database_contention(exc: BaseException) -> str | None:
    """`"busy"` for a lock wait that timed out, `"conflict"` for a deadlock or serialisation failure, else None."""
    original = getattr(exc, "orig", exc)
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if sqlstate in _CONFLICT_SQLSTATES:
        return "conflict"
    if sqlstate in _BUSY_SQLSTATES:
        return "busy"
    text = str(original).lower()
    if "database is locked" in text or "database is busy" in text or "database table is locked" in text:
        return "busy"
    return None


def _incident_response(request: Request, exc: BaseException) -> Response:
    incident = uuid.uuid4().hex[:12]
    # Only the exception type and the route are logged, without a traceback: messages and frames may quote
    # personal values (SQL parameters, names). The incident id links the answer to the log line.
    logger.error("unexpected error %s on %s %s: %s", incident, request.method, request.url.path, type(exc).__name__)
    return _error_response(request, 500, {"code": "internal_error", "message": f"an unexpected error occurred (incident {incident})"})


class HttpMiddleware:
    """Plain ASGI middleware for HTTP requests (`handle`); other scopes (lifespan, websockets) pass through.

    Every middleware here is plain ASGI, never Starlette's `BaseHTTPMiddleware`, which runs the rest of the app
    in a task of its own and passes the body through a stream: a fixed cost on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class IncidentMiddleware(HttpMiddleware):
    """Turn any unhandled exception into a 500 with an incident id, logged as one line without a traceback.

    Starlette's own handler for `Exception` re-raises after answering, so the server would log the full
    traceback (with SQL and values); this middleware answers and stops the exception here instead.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the last line of defence; logged with its type
            request = Request(scope)
            if started:
                logger.error("unexpected error after the response started on %s %s: %s", request.method, request.url.path, type(exc).__name__)
                return
            response = _incident_response(request, exc)
            await response(scope, receive, send)


class LocaleAndHeaders(HttpMiddleware):
    """The reader's language for the request (the language cookie, else `Accept-Language`), and the security
    headers (and `cache-control: no-store` under /api/) on every answer that does not set its own."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        token = i18n.set_locale(request.cookies.get(LANG_COOKIE) or i18n.negotiate(request.headers.get("accept-language")))
        api = scope.get("path", "").startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for header, value in SECURITY_HEADERS.items():
                    headers.setdefault(header, value)
                if api:
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            i18n._current_locale.reset(token)


class AdmissionLimit(HttpMiddleware):
    """At most `max_in_flight` requests at once in this worker; a request that cannot start within
    `admission_wait_seconds` is answered 429 with `Retry-After: 1` and changes nothing (no route has run).

    Backpressure at the door: past its capacity a server that admits everything makes every request wait
    (for the CPU, then for a database connection, then 503 after `db_pool_timeout`), so no one is served in
    time. Bounding what is in flight keeps the latency of admitted requests near the service time and sheds the
    rest with an answer a client can retry. `/healthz` is never held back."""

    def __init__(self, app: ASGIApp, max_in_flight: int, wait_seconds: float) -> None:
        super().__init__(app)
        self.max_in_flight = max_in_flight
        self.wait_seconds = wait_seconds
        self._turns: anyio.Semaphore | None = None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") == "/healthz":
            await self.app(scope, receive, send)
            return
        if self._turns is None:
            self._turns = anyio.Semaphore(self.max_in_flight)
        admitted = False
        with anyio.move_on_after(self.wait_seconds):  # bounds the wait for a turn only, never the request
            await self._turns.acquire()
            admitted = True
        if not admitted:
            await _send_problem(send, scope, 429, "too_many_requests", "the server is at capacity; try again in a second", headers=[(b"retry-after", b"1")])
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._turns.release()


ACCESS_LOG = logging.getLogger("passage.access")


class AccessLog(HttpMiddleware):
    """One line per request: method, path, the *names* of the query parameters (never their values, which
    may be a searched name), status and duration. Replaces the server's own access log, which logs the
    query string word for word."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        begun = time.perf_counter()
        status = 0

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            names = sorted({name for name, _ in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)})
            query = f"?{'&'.join(n[:40] for n in names[:20])}" if names else ""
            client = scope.get("client")
            ACCESS_LOG.info(
                '%s "%s %s%s" %s %.0fms', client[0] if client else "-", scope.get("method", ""), scope.get("path", ""), query, status or 500,
                (time.perf_counter() - begun) * 1000,
            )


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ProblemDetails",
    "description": "RFC 9457 problem details; `code` and `fields` are Passage's extension members.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "Problem type URI (urn:passage:problem:<code>, or about:blank)."},
        "title": {"type": "string", "description": "Short summary of the problem type."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong in this occurrence, without personal data."},
        "instance": {"type": "string", "description": "The request path."},
        "code": {"type": "string", "description": "Stable machine-readable code, e.g. invalid_input, conflict."},
        "fields": {
            "type": "array",
            "description": "Each problem with one input field: dotted path (or row and column) and message.",
            "items": {"type": "object", "required": ["path", "message"],
                      "properties": {"path": {"type": "string"}, "message": {"type": "string"}}},
        },
    },
    "additionalProperties": True,
}
ERROR_DESCRIPTIONS = {
    "401": "Not signed in (no or expired session or token).",
    "403": "Signed in, but the role, organisation or scope does not allow this.",
    "404": "No such record, or not visible to the caller (never says which).",
    "409": "Stale version, illegal state transition or conflicting data.",
    "422": "Invalid input: `fields` lists each field path at fault.",
    "default": "Any other error (400, 413, 415, 429, 503, 500), as problem details.",
}
STATE_CHANGING = frozenset({"post", "put", "patch", "delete"})


def _is_public(route: APIRoute, extra: tuple[Any, ...]) -> bool:
    calls = [d.call for d in route.dependant.dependencies] + [getattr(d, "dependency", None) for d in (*route.dependencies, *extra)]
    return any(getattr(call, "__passage_public__", False) for call in calls)


def document_problems(app: FastAPI) -> None:
    """Every operation of the OpenAPI document lists its error responses as RFC 9457 problem details
    (`application/problem+json`): 401/403 unless public, 404 with a path parameter, 409 when it changes
    state, 422 when it takes input, and `default` for the rest; FastAPI's own 422 body is replaced."""
    from fastapi.openapi.utils import get_openapi

    public = {(info.path, method.lower()) for info in iter_routes(list(app.routes)) for method in info.methods
              if _is_public(info.route, info.extra_dependencies)}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ProblemDetails"] = PROBLEM_SCHEMA
        problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in STATE_CHANGING | {"get", "head", "options"}:
                    continue
                responses = operation.setdefault("responses", {})
                if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                    responses.pop("422")  # FastAPI's default body, which Passage never sends
                wanted = ["default"]
                if (path, method) not in public:
                    wanted += ["401", "403"]
                if "{" in path:
                    wanted.append("404")
                if method in STATE_CHANGING and (path, method) not in public:
                    wanted.append("409")
                if operation.get("parameters") or operation.get("requestBody"):
                    wanted.append("422")
                for status in wanted:
                    responses.setdefault(status, {"description": ERROR_DESCRIPTIONS[status]})
                for status, documented in responses.items():
                    if status == "default" or status.startswith(("4", "5")):
                        documented.setdefault("content", problem)  # a route's own error entry gets the body it is sent with
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class BodySizeLimit(HttpMiddleware):
    """Refuse request bodies above the configured size with 413: by the declared Content-Length before the
    route runs, and by counting the bytes of a chunked body as they arrive (the route then sees a
    disconnect, changes nothing, and its own answer is replaced by the 413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = f"the request body exceeds {self.max_bytes} bytes"
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_problem(send, scope, 413, "payload_too_large", too_large)
            return
        received = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not exceeded:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded:
            await _send_problem(send, scope, 413, "payload_too_large", too_large)


async def _send_problem(send: Send, scope: Scope, status: int, code: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """A problem details response sent before any route runs (no Request object exists yet)."""
    payload = json.dumps(problem_details(status=status, code=code, detail=detail, instance=scope.get("path"))).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(payload)).encode()), *headers]})
    await send({"type": "http.response.body", "body": payload})


SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class RouteInfo:
    """A concrete API route with its full path and every dependency that applies to it."""

    path: str
    methods: frozenset[str]
    route: APIRoute
    extra_dependencies: tuple[Any, ...]


def iter_routes(routes: list[Any], prefix: str = "", extra: tuple[Any, ...] = ()) -> Iterator[RouteInfo]:
    """Flatten the application's routes, including routers included with `include_router`."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield RouteInfo(prefix + route.path, frozenset(route.methods or ()), route, extra)
        elif hasattr(route, "original_router") and hasattr(route, "include_context"):
            context = route.include_context
            router = route.original_router
            yield from iter_routes(
                list(router.routes),
                prefix + (context.prefix or ""),
                extra + tuple(context.dependencies or ()) + tuple(router.dependencies or ()),
            )


def _module_parts(kind: str) -> list[Any]:
    """Each module's `api` or `views` module, in the order of `passage.MODULES`."""
    parts = []
    for module in MODULES:
        if importlib.util.find_spec(f"passage.{module}") is None:
            continue
        if importlib.util.find_spec(f"passage.{module}.{kind}") is None:
            continue
        parts.append(importlib.import_module(f"passage.{module}.{kind}"))
    return parts


def _module_routers(kind: str) -> list[Any]:
    return [part.router for part in _module_parts(kind)]


def _warm_up(warmers: list[Any]) -> None:
    for warm in warmers:
        try:
            warm()
        except Exception:  # a cache that could not be built is built by the first request instead
            logger.exception("warm-up failed")


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="Passage",
        version=__version__,
        description="Practical cooperation on migration: readmission, identification, AVRR, DTM, mobility analytics, the Dialogue.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    install_error_handlers(app)

    app.add_middleware(LocaleAndHeaders)
    for router in _module_routers("api"):
        app.include_router(router, prefix="/api/v1")
    for views in _module_parts("views"):
        app.include_router(views.router)
        if getattr(views, "render_error_page", None) is not None:
            app.state.render_error_page = views.render_error_page
        for path, directory, name in getattr(views, "STATIC_MOUNTS", ()):
            app.mount(path, StaticFiles(directory=directory), name=name)
    if settings.environment != "test":
        warmers = [part.warm_up for part in _module_parts("api") if callable(getattr(part, "warm_up", None))]
        if warmers:
            threading.Thread(target=_warm_up, args=(warmers,), name="passage-warm-up", daemon=True).start()
    document_problems(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(IncidentMiddleware)
    app.add_middleware(AdmissionLimit, max_in_flight=settings.max_in_flight, wait_seconds=settings.admission_wait_seconds)
    app.add_middleware(AccessLog)
    return app
