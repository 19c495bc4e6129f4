"""Jinja2 templates for every module, with the i18n extension bound to the request's locale.

The presentation layer sits between `core` and `security`: it imports no access-control code; the signed-in
viewer (set on the request by `security.deps`) carries its permissions, and security registers the template
names it owns (`register_globals`).

Templates live in `passage/<module>/templates/<module>/...` and all extend `base.html` (in
`passage/web/templates/`). `render()` adds the user, the CSRF token, the locale and the navigation.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.responses import HTMLResponse

from passage import MODULES
from passage.core import i18n


@dataclass(frozen=True)
class NavItem:
    """A link in the top navigation; shown only to users holding `permission` (a `security.permissions.Permission`)."""

    label: str
    path: str
    permission: str
    order: int = 50


def _template_dirs() -> list[str]:
    dirs = []
    for module in ("web", *MODULES):
        spec = importlib.util.find_spec(f"passage.{module}")
        if spec is None or not spec.submodule_search_locations:
            continue
        directory = Path(next(iter(spec.submodule_search_locations))) / "templates"
        if directory.is_dir() and str(directory) not in dirs:
            dirs.append(str(directory))
    return dirs


def _build_environment() -> Environment:
    environment = Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in _template_dirs()]),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.globals.update(
        current_locale=i18n.get_locale,
        locale_names=i18n.LOCALE_NAMES,
        T_=i18n.T_,
        P_=i18n.P_,
    )
    environment.filters.update(
        tr=i18n.localise,
        label=_label_filter,
        number=_nowrap(i18n.format_number),
        percent=_nowrap(i18n.format_percent),
        money=_nowrap(i18n.format_money),
        date=_nowrap(i18n.format_date),
        datetime=_nowrap(i18n.format_datetime),
        date_text=i18n.format_date,
        nowrap=_nowrap(str),
        language=i18n.format_language,
        ref=_nowrap(str),
    )
    return environment


def _template_module(context: Context) -> str | None:
    """The module of the template being rendered, from the file the loader found for its name (templates live in
    `passage/<module>/templates/`, `_template_dirs()`; `base.html` and the shared parts in `passage/web/templates/`)."""
    if context.name is None:
        return None
    try:
        filename = context.environment.get_template(context.name).filename
    except TemplateNotFound:
        return None
    return i18n.module_of_file(filename or "")


def _string_module(context: Context) -> str | None:
    """The module a template string belongs to: the template file the `_()`/`{% trans %}` is written in (its
    compiled code's frame, so `base.html`'s words are `web`'s inside a consular page), else the rendered template."""
    return i18n.calling_module(sys._getframe(2)) or _template_module(context)


@pass_context
def _gettext(context: Context, message: str) -> str:
    """jinja's `_()`/`gettext`/`{% trans %}`: the template's module catalogue first, then the merged one."""
    return i18n.translate(message, module=_string_module(context))


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.translate_plural(singular, plural, n, module=_string_module(context))


def _label_filter(value: Any, domain: str) -> str:
    """`{{ case.state|label("readmission.state") }}`: the word for a stored code in the reader's language."""
    return i18n.label(domain, value)


def _nowrap(formatter: Callable[..., str]) -> Callable[..., Markup]:
    """A filter whose output never breaks across lines (a reference, a date, a number, an amount): the value is
    escaped and wrapped in `<span class="nowrap">`. Use `date_text` inside an attribute."""

    def wrapped(value: Any, *args: Any, **kwargs: Any) -> Markup:
        if value is None or value == "":
            return Markup("")
        return Markup('<span class="nowrap">{}</span>').format(formatter(value, *args, **kwargs))

    return wrapped


templates = Jinja2Templates(env=_build_environment())


def register_globals(**values: Any) -> None:
    """Names every template may use, given by the layer that owns them (security gives `Permission` and `role_label`):
    the presentation layer imports no access-control code."""
    templates.env.globals.update(values)


def navigation_items() -> list[NavItem]:
    items: list[NavItem] = []
    for module in MODULES:
        if importlib.util.find_spec(f"passage.{module}") is None or importlib.util.find_spec(f"passage.{module}.views") is None:
            continue
        items.extend(getattr(importlib.import_module(f"passage.{module}.views"), "NAV", []))
    return sorted(items, key=lambda item: (item.order, item.path))


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    granted: frozenset[str] = viewer.permissions if viewer is not None else frozenset()
    full_context: dict[str, Any] = {
        "request": request,
        "user": viewer,
        "granted": granted,
        "csrf_token": viewer.csrf_token if viewer is not None else "",
        "nav": [item for item in navigation_items() if item.permission in granted],
        "locale": i18n.get_locale(),
    }
    full_context.update(context or {})
    return templates.TemplateResponse(request, template, full_context, status_code=status_code)


def safe_next(candidate: str | None) -> str:
    """Only a local path may follow a form: an open redirect would let a phishing link bounce through Passage."""
    if candidate and candidate.startswith("/") and not candidate.startswith("//") and "\\" not in candidate:
        return candidate
    return "/"
