"""DTM API under /api/v1/dtm: areas, rounds, processing, figures with their issues, aggregates, downloads,
map layers, and the public DTM API v3 displacement endpoints (aggregates only, no sign-in)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from passage.core.deps import DbSession
from passage.core.errors import FieldError, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from passage.core.i18n import T_, get_locale
from passage.core.settings import get_settings
from passage.dtm import service
from passage.dtm.choropleth import VALUE_FIELDS, choropleth, site_points
from passage.dtm.dtm_api import DTM_API_V3_FIELDS, QUERY_PARAMETER_DESCRIPTIONS, error_envelope, parse_query
from passage.dtm.geography import parse_cod_ab
from passage.dtm.hxl import table as hxl_table
from passage.dtm.hxl import write_hxl_csv, write_hxl_xlsx
from passage.dtm.models import AdminAreaRecord, AssessmentRound
from passage.dtm.report import build_report, write_pdf
from passage.dtm.schemas import (
    AggregateOut,
    AreaOut,
    ChangeOut,
    ComponentName,
    FigureIssue,
    FigureOut,
    IssueOut,
    LoadAreasOut,
    ProcessOut,
    ProcessRequest,
    RoundCreate,
    RoundOut,
    RoundUpdate,
    SeriesPoint,
)
from passage.security.deps import PUBLIC, require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import Offset, Page

router = APIRouter(prefix="/dtm", tags=["dtm"])

Reader = Annotated[User, require(Permission.DTM_READ)]
Manager = Annotated[User, require(Permission.DTM_MANAGE)]
Level = Annotated[int, Query(ge=0, le=3, description="Admin level 0-3 of the table.")]
Component = Annotated[ComponentName, Query(description="baseline or site.")]
GEOJSON_TYPES = ("application/geo+json", "application/json")
PUBLIC_PREFIX = "/public/v3/displacement"


def _round(db: DbSession, round_id: str) -> AssessmentRound:
    return service.get_round_by_id(db, round_id=round_id)


def aggregate_rows(rows: list[Any], level: int) -> list[dict[str, Any]]:
    """Aggregate rows as dicts keyed by the CSV/HXL column names (one level per table)."""
    header, _tags, data = hxl_table(rows, level)
    return [dict(zip(header, values, strict=True)) for values in data]


# --- areas ---------------------------------------------------------------------------------------


@router.get("/areas", response_model=Page[AreaOut])
def list_areas(
    db: DbSession, user: Reader, level: Annotated[int | None, Query(ge=0, le=3)] = None, parent: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of the English or Chinese name, or of the P-code.")] = None,
    offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[AreaOut]:
    from sqlalchemy import func, or_, select

    query = select(AdminAreaRecord)
    if level is not None:
        query = query.where(AdminAreaRecord.level == level)
    if parent:
        query = query.where(AdminAreaRecord.parent_pcode == parent.strip().upper())
    if q:
        pattern = f"%{q.strip()}%"
        query = query.where(or_(AdminAreaRecord.name_en.ilike(pattern), AdminAreaRecord.name_zh.ilike(pattern), AdminAreaRecord.pcode.ilike(pattern)))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = db.scalars(query.order_by(AdminAreaRecord.level, AdminAreaRecord.pcode).offset(offset).limit(limit))
    return Page[AreaOut](items=[AreaOut.model_validate(a) for a in items], total=total, offset=offset, limit=limit)


@router.post("/areas", response_model=LoadAreasOut)
async def load_areas(request: Request, db: DbSession, user: Manager, allow_flat_pcodes: bool = False) -> LoadAreasOut:
    """Load a COD-AB style GeoJSON FeatureCollection (body); the whole file is refused on any problem."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in GEOJSON_TYPES:
        raise UnsupportedMediaType(T_("send the boundaries as application/geo+json or application/json"))
    body = await request.body()
    if len(body) > get_settings().max_upload_bytes:
        raise PayloadTooLarge(T_("the boundary file is too large; simplify it first"))
    try:
        collection = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(T_("the body is not JSON"), fields=[FieldError("body", T_("not valid JSON"))]) from exc
    if not isinstance(collection, dict):
        raise InvalidInput(T_("the body must be a GeoJSON FeatureCollection"))
    areas = parse_cod_ab(collection, known_parents=service.known_area_levels(db), require_hierarchical_pcodes=not allow_flat_pcodes)
    result = service.load_areas(db, actor=user, areas=areas, source="api upload")
    return LoadAreasOut(created=result.created, updated=result.updated, variants_added=result.variants_added, by_level=result.by_level)


# --- rounds --------------------------------------------------------------------------------------


@router.get("/rounds", response_model=Page[RoundOut])
def list_rounds(
    db: DbSession, user: Reader, operation: Annotated[str | None, Query(max_length=100)] = None,
    offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RoundOut]:
    rounds = service.list_rounds(db, operation=operation)
    return Page[RoundOut](items=[RoundOut.model_validate(r) for r in rounds[offset : offset + limit]], total=len(rounds), offset=offset, limit=limit)


@router.post("/rounds", response_model=RoundOut, status_code=201)
def create_round(body: RoundCreate, db: DbSession, user: Manager) -> RoundOut:
    record = service.create_round(db, actor=user, operation=body.operation.strip(), number=body.number, reporting_date=body.reporting_date, period_start=body.period_start, period_end=body.period_end, title=body.title)
    return RoundOut.model_validate(record)


@router.get("/rounds/{round_id}", response_model=RoundOut)
def get_round(round_id: str, db: DbSession, user: Reader) -> RoundOut:
    return RoundOut.model_validate(_round(db, round_id))


@router.patch("/rounds/{round_id}", response_model=RoundOut)
def update_round(round_id: str, body: RoundUpdate, db: DbSession, user: Manager) -> RoundOut:
    record = service.update_round(db, actor=user, round_id=round_id, expected_version=body.version, title=body.title, reporting_date=body.reporting_date, period_start=body.period_start, period_end=body.period_end)
    return RoundOut.model_validate(record)


@router.post("/rounds/{round_id}/process", response_model=ProcessOut)
def process_round(round_id: str, body: ProcessRequest, db: DbSession, user: Manager) -> ProcessOut:
    """Check and record the forms engine's accepted submissions of the component that fall in the round."""
    result = service.process_form_submissions(db, actor=user, round_id=_round(db, round_id).id, component=body.component, form_ref=body.form, default_household_size=body.household_size)
    return ProcessOut(
        recorded=result.recorded, already_recorded=result.already_recorded, not_stored=result.not_stored, counts=result.counts(),
        issues=[IssueOut(row=i.row, check=i.check, field=i.field, severity=i.severity, message=i.message) for i in result.issues],
    )


@router.get("/rounds/{round_id}/figures", response_model=Page[FigureOut])
def list_figures(
    round_id: str, db: DbSession, user: Reader, component: Annotated[ComponentName | None, Query()] = None,
    issues_only: bool = False, offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[FigureOut]:
    """Stored figures of a round, each with the consistency issues found when it was recorded."""
    rows, total = service.list_figures(db, round_id=_round(db, round_id).id, component=component, issues_only=issues_only, offset=offset, limit=limit)
    items = [
        FigureOut(
            id=f.id, component=f.component, submission_uuid=f.submission_uuid, site_id=code, admin_pcode=f.admin_pcode, admin_level=f.admin_level,
            reported_name=f.reported_name, assessment_date=f.assessment_date, idp_households=f.idp_households, idp_individuals=f.idp_individuals,
            returnee_households=f.returnee_households, returnee_individuals=f.returnee_individuals, males=f.males, females=f.females,
            reasons=list(f.reasons or []), needs=list(f.needs or []), issues=[FigureIssue(**i) for i in f.issues or []],
        )
        for f, code in rows
    ]
    return Page[FigureOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/rounds/{round_id}/aggregates", response_model=AggregateOut)
def aggregates(round_id: str, db: DbSession, user: Reader, level: Level, component: Component = "baseline") -> AggregateOut:
    """One admin level of the round; rows use the column names of the CSV export (docs/dtm.md)."""
    round_ = _round(db, round_id)
    shown = service.published_round(db, round_=round_, component=component)
    result = shown.level(level)
    return AggregateOut(
        round_id=round_.id, operation=round_.operation, round_number=round_.number, level=level, component=component,
        rows=aggregate_rows(result.rows, level), not_rollable=result.not_rollable, unknown_pcodes=result.unknown_pcodes,
        disclosure=shown.summary(),
    )


@router.get("/rounds/{round_id}/changes", response_model=list[ChangeOut])
def changes(round_id: str, db: DbSession, user: Reader, level: Level, component: Component = "baseline") -> list[ChangeOut]:
    """Change of IDP individuals per area from the previous round of the operation (empty for a first round)."""
    round_ = _round(db, round_id)
    _before, found = service.changes_from_previous(db, round_=round_, level=level, component=component)
    names = {pcode: name for pcode, name in db.execute(_names_query([c.key for c in found]))}
    return [ChangeOut(pcode=c.key, name=names.get(c.key, c.key), previous=c.previous, current=c.current, change=c.change, change_percent=c.percent, status=c.status) for c in found]


def _names_query(pcodes: list[str]) -> Any:
    from sqlalchemy import select

    return select(AdminAreaRecord.pcode, AdminAreaRecord.name_en).where(AdminAreaRecord.pcode.in_(pcodes))


@router.get("/series", response_model=list[SeriesPoint])
def series(db: DbSession, user: Reader, operation: Annotated[str, Query(min_length=1, max_length=100)], level: Level = 1, component: Component = "baseline") -> list[SeriesPoint]:
    """IDP individuals per round of an operation, in total and per area (the time-series charts)."""
    return [SeriesPoint(**point) for point in service.round_series(db, operation=operation, level=level, component=component)]


# --- downloads -----------------------------------------------------------------------------------


def _file_name(round_: AssessmentRound, level: int, component: str, extension: str) -> str:
    safe = "".join(ch if ch.isalnum() else "-" for ch in round_.operation).strip("-").lower() or "operation"
    return f"dtm-{safe}-round{round_.number}-admin{level}-{component}.{extension}"


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/rounds/{round_id}/hxl.csv")
def hxl_csv(round_id: str, db: DbSession, user: Reader, level: Level, component: Component = "baseline") -> Response:
    """HXL-tagged CSV of one admin level: header row, hashtag row, data."""
    round_ = _round(db, round_id)
    rows = service.published_round(db, round_=round_, component=component).level(level).rows
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "table.csv"
        write_hxl_csv(rows, level, path, locale=get_locale())
        content = path.read_bytes()
    return _download(content, "text/csv; charset=utf-8", _file_name(round_, level, component, "csv"))


@router.get("/rounds/{round_id}/hxl.xlsx")
def hxl_xlsx(round_id: str, db: DbSession, user: Reader, level: Level, component: Component = "baseline") -> Response:
    """HXL-tagged XLSX of one admin level (sheet `admin<level>`)."""
    round_ = _round(db, round_id)
    rows = service.published_round(db, round_=round_, component=component).level(level).rows
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "table.xlsx"
        write_hxl_xlsx(rows, level, path, locale=get_locale())
        content = path.read_bytes()
    return _download(content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _file_name(round_, level, component, "xlsx"))


@router.get("/rounds/{round_id}/report.pdf")
def report_pdf(round_id: str, db: DbSession, user: Reader, level: Level = 1, component: Component = "baseline", language: Annotated[Literal["en", "zh"] | None, Query()] = None) -> Response:
    """The round report as PDF (key figures, table with change, sex and age, reasons, issue counts), in `language`,
    or in the reader's language (`Accept-Language`, the language cookie) when it is not given."""
    language = language or ("zh" if get_locale() == "zh_Hans" else "en")
    round_ = _round(db, round_id)
    shown = service.published_round(db, round_=round_, component=component)
    report = build_report(shown.level(level).rows, level=level, operation=round_.operation, round_number=round_.number, reporting_date=round_.reporting_date, assessment_type=component,
                          issue_counts=service.issue_counts(db, round_id=round_.id, component=component), language=language, totals=shown.totals.get(level, {}),
                          threshold=shown.protection.threshold)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "report.pdf"
        write_pdf(report, path, language=language)
        content = path.read_bytes()
    return _download(content, "application/pdf", _file_name(round_, level, component, f"{language}.pdf"))


# --- map layers ----------------------------------------------------------------------------------


def choropleth_layer(db: DbSession, round_: AssessmentRound, *, level: int, component: ComponentName, value: str = "idp_individuals") -> dict[str, Any]:
    rows = service.published_round(db, round_=round_, component=component).level(level).rows
    areas = service.get_gazetteer(db, with_geometry=True).areas(level)
    return choropleth(rows, areas, level=level, value_field=value)


@router.get("/rounds/{round_id}/choropleth.geojson")
def choropleth_geojson(round_id: str, db: DbSession, user: Reader, level: Level = 1, component: Component = "baseline", value: Annotated[str, Query(max_length=40)] = "idp_individuals") -> JSONResponse:
    """Every area of the level with its value and quantile class, and the legend."""
    if value not in VALUE_FIELDS:
        raise InvalidInput(T_("unknown value"), fields=[FieldError("value", T_("one of {VALUE_FIELDS}", VALUE_FIELDS=', '.join(VALUE_FIELDS)))])
    return JSONResponse(choropleth_layer(db, _round(db, round_id), level=level, component=component, value=value), media_type="application/geo+json")


@router.get("/rounds/{round_id}/sites.geojson")
def sites_geojson(round_id: str, db: DbSession, user: Reader) -> JSONResponse:
    """Sites assessed in the round as points with their figures and needs."""
    return JSONResponse(site_points(service.published_sites(db, round_=_round(db, round_id))), media_type="application/geo+json")


# --- the public DTM API v3 -----------------------------------------------------------------------

_RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "numPresentIdpInd": {"type": ["integer", "null"]}, "roundNumber": {"type": "integer"},
                   "reportingDate": {"type": "string", "format": "date"}},
    "required": ["id", "operation", "admin0Pcode", "numPresentIdpInd", "reportingDate", "roundNumber"],
}
PUBLIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "DTM API v3 envelope", "content": {"application/json": {"schema": {
        "type": "object", "required": ["isSuccess", "message", "result"],
        "properties": {"isSuccess": {"const": True}, "message": {"type": "string"}, "result": {"type": "array", "items": _RECORD_SCHEMA}}}}}},
    422: {"description": "Refused query in the DTM API v3 envelope", "content": {"application/json": {"schema": {
        "type": "object", "required": ["isSuccess", "errorMessages", "result"],
        "properties": {"isSuccess": {"const": False}, "message": {"type": "string"}, "errorMessages": {"type": "array", "items": {"type": "string"}},
                       "result": {"type": "array", "maxItems": 0},
                       "fields": {"type": "array", "items": {"type": "object", "required": ["path", "message"]}}}}}}},
}


def _text_param(name: str) -> Any:
    # Declared as text so that a malformed date or round number is answered in DTM's envelope, not FastAPI's.
    return Query(alias=name, description=QUERY_PARAMETER_DESCRIPTIONS[name])


def _public(level: int, request: Request, db: DbSession) -> Any:
    try:
        query = parse_query({name: value for name, value in request.query_params.items()})
    except InvalidInput as error:
        return JSONResponse(error_envelope(error), status_code=422)
    records = service.public_displacement(db, level=level, query=query)
    return {"isSuccess": True, "message": f"{len(records)} record(s)", "result": records}


def _public_route(level: int, summary: str) -> Any:
    def endpoint(
        request: Request,
        db: DbSession,
        operation: Annotated[str | None, _text_param("Operation")] = None,
        country_name: Annotated[str | None, _text_param("CountryName")] = None,
        admin0_pcode: Annotated[str | None, _text_param("Admin0Pcode")] = None,
        admin1_name: Annotated[str | None, _text_param("Admin1Name")] = None,
        admin1_pcode: Annotated[str | None, _text_param("Admin1Pcode")] = None,
        admin2_name: Annotated[str | None, _text_param("Admin2Name")] = None,
        admin2_pcode: Annotated[str | None, _text_param("Admin2Pcode")] = None,
        from_reporting_date: Annotated[str | None, _text_param("FromReportingDate")] = None,
        to_reporting_date: Annotated[str | None, _text_param("ToReportingDate")] = None,
        from_round_number: Annotated[str | None, _text_param("FromRoundNumber")] = None,
        to_round_number: Annotated[str | None, _text_param("ToRoundNumber")] = None,
    ) -> Any:
        # The declared parameters document the route; the raw query string is checked as a whole so
        # that unknown names are refused too (DTM API v3 query parameters, see dtm_api.QUERY_PARAMETERS).
        return _public(level, request, db)

    endpoint.__name__ = f"public_admin{level}"
    endpoint.__doc__ = summary
    return endpoint


for _level, _summary in (
    (0, "DTM API v3 `displacement/admin0`: country totals per round (fields as in IOM's DTM API v3)."),
    (1, "DTM API v3 `displacement/admin1`: admin 1 totals per round."),
    (2, "DTM API v3 `displacement/admin2`: admin 2 totals per round."),
):
    router.add_api_route(f"{PUBLIC_PREFIX}/admin{_level}", _public_route(_level, _summary), methods=["GET"], dependencies=[PUBLIC],
                         tags=["dtm-public"], responses=PUBLIC_RESPONSES, name=f"public_admin{_level}")


__all__ = ["DTM_API_V3_FIELDS", "router"]
