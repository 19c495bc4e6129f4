"""DTM pages: rounds list, round page (issues per row, changes, processing, downloads), map with charts."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passage.core.deps import DbSession
from passage.core.errors import FieldError, InvalidInput, PassageError
from passage.core.i18n import N_, T_, format_date, format_number, get_locale, gettext, localise
from passage.core.inputs import whole_number
from passage.dtm import messages, service
from passage.dtm.api import choropleth_layer
from passage.dtm.choropleth import site_points
from passage.dtm.models import AssessmentRound, DisplacementFigure
from passage.dtm.schemas import MAX_ROUND_NUMBER, ComponentName
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import PageNumber
from passage.web.panels import HomePanel, PanelItem
from passage.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)

NAV = [NavItem(N_("Displacement"), "/dtm", Permission.DTM_READ, order=40)]

Reader = Annotated[User, require(Permission.DTM_READ)]
Manager = Annotated[User, require(Permission.DTM_MANAGE)]
PAGE_SIZE = 25

CHECK_LABELS = messages.CHECK
STATUS_LABELS = messages.STATUS
COMPONENT_LABELS = messages.COMPONENT
LEVEL_LABELS = {int(k): v for k, v in messages.LEVEL.items()}
# ColorBrewer "OrRd" 5-class sequential scheme (Brewer, colorbrewer2.org), light to dark.
PALETTE = ["#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000"]


def script_json(value: Any) -> str:
    """JSON for a `<script type="application/json">` block: `<`, `>` and `&` escaped so no value can close the tag."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _labels() -> dict[str, Any]:
    return {
        "check_labels": {k: gettext(v) for k, v in CHECK_LABELS.items()},
        "status_labels": {k: gettext(v) for k, v in STATUS_LABELS.items()},
        "component_labels": {k: gettext(v) for k, v in COMPONENT_LABELS.items()},
        "level_labels": {k: gettext(v) for k, v in LEVEL_LABELS.items()},
        "place": messages.place, "vocabulary_word": messages.vocabulary_word,
    }


# --- rounds list ---------------------------------------------------------------------------------

SORTS = {"number": (AssessmentRound.number,), "reporting_date": (AssessmentRound.reporting_date,), "operation": (AssessmentRound.operation, AssessmentRound.number)}


def _rounds_page(request: Request, db: Session, *, operation: str, sort: str, direction: str, page: int, errors: list[FieldError] | None = None, values: dict[str, str] | None = None, status_code: int = 200) -> Response:
    query = select(AssessmentRound)
    if operation:
        query = query.where(AssessmentRound.operation == operation)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    columns = SORTS.get(sort, SORTS["reporting_date"])
    ordered = query.order_by(*[c.desc() if direction == "desc" else c.asc() for c in columns], AssessmentRound.id)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 1), pages)
    rounds = list(db.scalars(ordered.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    counts = dict(db.execute(select(DisplacementFigure.round_id, func.count()).where(DisplacementFigure.round_id.in_([r.id for r in rounds])).group_by(DisplacementFigure.round_id)).tuples().all()) if rounds else {}
    context = {
        "rounds": rounds, "counts": counts, "operations": service.operations(db), "operation": operation, "sort": sort, "direction": direction,
        "page": page, "pages": pages, "total": total, "errors": {e.path: e.message for e in errors or []}, "values": values or {}, **_labels(),
    }
    return render(request, "dtm/rounds.html", context, status_code=status_code)


@router.get("/dtm")
def rounds_page(
    request: Request, db: DbSession, user: Reader, operation: Annotated[str, Query(max_length=100)] = "",
    sort: Annotated[Literal["number", "reporting_date", "operation"], Query()] = "reporting_date", direction: Annotated[Literal["asc", "desc"], Query()] = "desc",
    page: PageNumber = 1,
) -> Response:
    return _rounds_page(request, db, operation=operation, sort=sort, direction=direction, page=page)


def _date_field(name: str, raw: str, errors: list[FieldError], *, required: bool) -> dt.date | None:
    if not raw.strip():
        if required:
            errors.append(FieldError(name, N_("Enter a date.")))
        return None
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        errors.append(FieldError(name, N_("Enter the date as YYYY-MM-DD.")))
        return None


@router.post("/dtm/rounds")
def create_round_submit(
    request: Request, db: DbSession, user: Manager,
    operation: Annotated[str, Form(max_length=100)] = "", number: Annotated[str, Form(max_length=32)] = "",
    reporting_date: Annotated[str, Form(max_length=10)] = "", period_start: Annotated[str, Form(max_length=10)] = "", period_end: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    values = {"operation": operation, "number": number, "reporting_date": reporting_date, "period_start": period_start, "period_end": period_end}
    errors: list[FieldError] = []
    if not operation.strip():
        errors.append(FieldError("operation", N_("Enter the operation.")))
    round_number = 0
    try:
        round_number = whole_number(number, field="number", minimum=1, maximum=MAX_ROUND_NUMBER)
    except InvalidInput as exc:
        errors.extend(exc.fields)
    reported = _date_field("reporting_date", reporting_date, errors, required=True)
    start = _date_field("period_start", period_start, errors, required=False)
    end = _date_field("period_end", period_end, errors, required=False)
    if start and end and end < start:
        errors.append(FieldError("period_end", N_("The period ends before it starts.")))
    if not errors:
        try:
            with db.begin_nested():
                record = service.create_round(db, actor=user, operation=operation.strip(), number=round_number, reporting_date=reported, period_start=start, period_end=end)  # type: ignore[arg-type]
            return RedirectResponse(f"/dtm/rounds/{record.id}", status_code=303)
        except PassageError as exc:
            errors.append(FieldError("number", N_("This round number already exists for the operation.") if exc.status == 409 else localise(exc.message)))
    return _rounds_page(request, db, operation="", sort="reporting_date", direction="desc", page=1, errors=errors, values=values, status_code=422)


# --- one round -----------------------------------------------------------------------------------


def _round_context(db: Session, round_: AssessmentRound, *, level: int, component: ComponentName, issues_only: bool, page: int) -> dict[str, Any]:
    shown = service.published_round(db, round_=round_, component=component)
    table = shown.level(level)
    before, changes = service.changes_from_previous(db, round_=round_, level=level, component=component)
    change_by_pcode = {c.key: c for c in changes}
    offset = (max(page, 1) - 1) * PAGE_SIZE
    figures, total = service.list_figures(db, round_id=round_.id, component=component, issues_only=issues_only, offset=offset, limit=PAGE_SIZE)
    closed = [c for c in changes if c.status == "closed"]
    names = {a.pcode: messages.place(a.name_en, getattr(a, "name_zh", None)) for a in service.get_gazetteer(db).areas(level)} if closed else {}
    return {
        "round": round_, "level": level, "component": component, "issues_only": issues_only, "page": page, "pages": max(1, math.ceil(total / PAGE_SIZE)),
        "rows": table.rows, "changes": change_by_pcode, "closed": [(c, names.get(c.key, c.key)) for c in closed], "previous": before, "figures": figures, "figure_total": total,
        "issue_counts": service.issue_counts(db, round_id=round_.id, component=component),
        "totals": {**{name: shown.totals.get(level, {}).get(name, 0 if not table.rows else None) for name in ("idp_individuals", "idp_households", "returnee_individuals")},
                   "locations": sum(r.locations_assessed for r in table.rows)},
        "disclosure": shown.summary(),
        "not_rollable": table.not_rollable, **_labels(),
    }


@router.get("/dtm/rounds/{round_id}")
def round_page(
    round_id: str, request: Request, db: DbSession, user: Reader, level: Annotated[int, Query(ge=0, le=3)] = 1,
    component: Annotated[ComponentName, Query()] = "baseline", issues_only: bool = False, page: PageNumber = 1,
) -> Response:
    round_ = service.get_round_by_id(db, round_id=round_id)
    return render(request, "dtm/round.html", {**_round_context(db, round_, level=level, component=component, issues_only=issues_only, page=page), "processed": None})


@router.post("/dtm/rounds/{round_id}/process")
def process_submit(round_id: str, request: Request, db: DbSession, user: Manager, component: Annotated[ComponentName, Form()] = "baseline", household_size: Annotated[str, Form(max_length=8)] = "") -> Response:
    round_ = service.get_round_by_id(db, round_id=round_id)
    size: float | None = None
    errors: dict[str, str] = {}
    if household_size.strip():
        try:
            size = float(household_size)
            if not 0 < size <= 30:
                raise ValueError
        except ValueError:
            errors["household_size"] = gettext(N_("Enter an average household size between 0 and 30."))
    result = None
    if not errors:
        result = service.process_form_submissions(db, actor=user, round_id=round_.id, component=component, default_household_size=size)
    context = _round_context(db, round_, level=1 if component == "baseline" else 2, component=component, issues_only=False, page=1)
    return render(request, "dtm/round.html", {**context, "processed": result, "process_errors": errors}, status_code=422 if errors else 200)


# --- map -----------------------------------------------------------------------------------------


@router.get("/dtm/map")
def map_page(
    request: Request, db: DbSession, user: Reader, round_id: Annotated[str | None, Query(max_length=64)] = None, level: Annotated[int, Query(ge=0, le=3)] = 1,
    component: Annotated[ComponentName, Query()] = "baseline",
) -> Response:
    rounds = service.list_rounds(db)
    round_ = service.get_round_by_id(db, round_id=round_id) if round_id else (max(rounds, key=lambda r: (r.reporting_date, r.number)) if rounds else None)
    context: dict[str, Any] = {"rounds": rounds, "round": round_, "level": level, "component": component, "palette": PALETTE, **_labels()}
    if round_ is not None:
        layer = choropleth_layer(db, round_, level=level, component=component)
        sites = site_points(service.published_sites(db, round_=round_))
        series = service.round_series(db, operation=round_.operation, level=level, component=component)
        names = {f["properties"]["pcode"]: (f["properties"]["name_zh"] if get_locale() == "zh_Hans" and f["properties"]["name_zh"] else f["properties"]["name"]) for f in layer["features"]}
        top = sorted(((k, v) for k, v in series[-1]["by_area"].items() if v is not None), key=lambda kv: -kv[1])[:5] if series else []
        chart = {
            "labels": [gettext(N_("Round")) + f" {p['round']}" for p in series],
            "total_label": gettext(N_("IDP individuals, all areas")),
            "total": [p["idp_individuals"] for p in series],
            "areas": [{"label": names.get(pcode, pcode), "data": [p["by_area"].get(pcode) for p in series]} for pcode, _ in top],
        }
        breaks = layer["legend"]["breaks"]
        legend = []
        lower = 0.0
        for index, bound in enumerate(breaks):
            legend.append({"color": PALETTE[min(index, len(PALETTE) - 1)], "from": int(lower), "to": int(bound)})
            lower = bound + 1
        context.update({
            "layer_json": script_json(layer), "sites_json": script_json(sites), "chart_json": script_json(chart),
            "features": sorted((f["properties"] for f in layer["features"]), key=lambda p: (p["value"] is None, -(p["value"] or 0), p["pcode"])),
            "sites": [f["properties"] for f in sites["features"]], "sites_skipped": sites["skipped"], "legend": legend, "series": series,
        })
    return render(request, "dtm/map.html", context)


# --- home panel ----------------------------------------------------------------------------------


def home_panel(session: Session, user: User) -> HomePanel | None:
    """Latest rounds for those who read DTM figures (analysts, IOM)."""
    from passage.security.deps import user_has

    if not user_has(user, Permission.DTM_READ):
        return None
    latest = list(session.scalars(select(AssessmentRound).order_by(AssessmentRound.reporting_date.desc(), AssessmentRound.number.desc()).limit(3)))
    items = []
    for round_ in latest:
        # the published total (disclosure control), as the round page shows it
        total = service.published_round(session, round_=round_, with_previous=False).totals.get(0, {}).get("idp_individuals", 0)
        shown = format_number(total) if total is not None else gettext(N_("withheld"))
        figure = localise(T_("IDP individuals: {count}", count=shown))
        items.append(PanelItem(f"{messages.country_name(round_.operation)} · {gettext(N_('Round'))} {round_.number}", f"/dtm/rounds/{round_.id}",
                               f"{figure} · {format_date(round_.reporting_date)}"))
    if not items:
        items.append(PanelItem(gettext(N_("No assessment rounds yet")), "/dtm"))
    items.append(PanelItem(gettext(N_("Map of displacement")), "/dtm/map"))
    return HomePanel(title=gettext(N_("Displacement tracking")), items=items, more_href="/dtm", order=40)
