"""Shell pages: home, health, language switch; the HTML error page and the static assets for `core.app`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import text

from passage.core.app import LANG_COOKIE
from passage.core.deps import DbSession
from passage.core.i18n import LOCALES
from passage.core.settings import get_settings
from passage.security.deps import PUBLIC, require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.web.panels import collect_home_panels
from passage.web.templating import render, safe_next

router = APIRouter(include_in_schema=False)

STATIC_MOUNTS = [("/static", Path(__file__).resolve().parent.parent / "web" / "static", "static")]
"""The vendored assets (htmx, Leaflet, the chart library, CSS), mounted by `core.app.create_app`."""


def render_error_page(request: Request, status: int, error: dict[str, Any]) -> Response:
    """The HTML error page for a browser (`core.app` answers API clients with JSON)."""
    return render(request, "error.html", {"status": status, "error": error}, status_code=status)


@router.get("/", name="home")
def home(request: Request, db: DbSession, user: Annotated[User, require(Permission.PROFILE)]) -> Response:
    panels = collect_home_panels(db, user)
    return render(request, "home.html", {"panels": panels, "roles": sorted(r.value for r in user.role_set)})


@router.get("/healthz", dependencies=[PUBLIC])
def healthz(db: DbSession) -> Response:
    db.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok", "database": db.get_bind().dialect.name})


@router.post("/language", dependencies=[PUBLIC])
def switch_language(lang: Annotated[str, Form()], next: Annotated[str | None, Form()] = None) -> Response:  # noqa: A002
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LOCALES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax", secure=get_settings().secure_cookies)
    return response
