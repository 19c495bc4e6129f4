"""Mobility pages: datasets and runs, the "run an analysis" form with a polled progress bar, results map and table."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from passage.core.deps import DbSession
from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import N_, gettext, localise
from passage.mobility import messages, service, worker
from passage.mobility.api import analyses
from passage.mobility.maps import PALETTE, VALUE_LABELS, area_layer
from passage.mobility.privacy import minimum_threshold
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.web.panels import HomePanel, PanelItem
from passage.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)

NAV = [NavItem(N_("Mobility"), "/mobility", Permission.MOBILITY_READ, order=45)]

Reader = Annotated[User, require(Permission.MOBILITY_READ)]
Runner = Annotated[User, require(Permission.MOBILITY_RUN)]
TABLE_ROWS = 500

ANALYSIS_LABELS = messages.ANALYSIS_LABELS
PARAMETER_LABELS = messages.PARAMETER_LABELS
METHOD_LABELS = messages.METHOD_LABELS
STATUS_LABELS = messages.STATUS_LABELS
COLUMN_LABELS = messages.COLUMN_LABELS


def script_json(value: Any) -> str:
    """JSON for a `<script type="application/json">` block, with `<`, `>` and `&` escaped."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _labels() -> dict[str, Any]:
    return {
        "analysis_labels": {k: gettext(v) for k, v in ANALYSIS_LABELS.items()},
        "parameter_labels": {k: gettext(v) for k, v in PARAMETER_LABELS.items()},
        "method_labels": {k: gettext(v) for k, v in METHOD_LABELS.items()},
        "status_labels": {k: gettext(v) for k, v in STATUS_LABELS.items()},
        "column_labels": {k: gettext(v) for k, v in COLUMN_LABELS.items()},
        "as_named": messages.as_named,
    }


@router.get("/mobility")
def index_page(request: Request, db: DbSession, user: Reader) -> Response:
    runs, _total = service.list_runs(db, limit=50)
    datasets = service.list_datasets(db)
    names = {d.id: d.name for d in datasets}
    return render(request, "mobility/index.html", {"datasets": datasets, "runs": runs, "dataset_names": names, **_labels()})


def _analysis_fields(analysis: str) -> list[dict[str, Any]]:
    """Form fields built from the analysis schema (`service.list_analyses()` and the metric's dataclass)."""
    info = {a.name: a for a in analyses()}.get(analysis)
    if info is None:
        return []
    fields = []
    for name in info.parameters:
        kind = "window" if name in service.WINDOW_PARAMETERS else "method" if name == "method" else "integer"
        fields.append({"name": name, "kind": kind, "required": name in info.required})
    return fields


def _form_page(request: Request, db: Session, *, values: dict[str, str], errors: list[FieldError] | None = None, status_code: int = 200) -> Response:
    datasets = service.list_datasets(db)
    analysis = values.get("analysis") or "flows_above_normal"
    dataset = next((d for d in datasets if d.id == values.get("dataset_id")), datasets[0] if datasets else None)
    messages: dict[str, str] = {}
    for error in errors or []:
        key = error.path.removeprefix("parameters.")
        messages[key] = (messages[key] + "; " if key in messages else "") + localise(error.message)
    context = {
        "datasets": datasets, "dataset": dataset, "analysis": analysis, "analyses": analyses(), "fields": _analysis_fields(analysis),
        "values": values, "errors": messages, "minimum_threshold": minimum_threshold(), **_labels(),
    }
    return render(request, "mobility/run_form.html", context, status_code=status_code)


@router.get("/mobility/run")
def run_form(
    request: Request, db: DbSession, user: Runner, dataset_id: Annotated[str, Query(max_length=32)] = "", analysis: Annotated[str, Query(max_length=64)] = "flows_above_normal",
) -> Response:
    return _form_page(request, db, values={"dataset_id": dataset_id, "analysis": analysis, "level": "", "engine": "duckdb", "redaction_threshold": str(minimum_threshold())})


@router.get("/mobility/run/fields")
def run_form_fields(request: Request, user: Runner, analysis: Annotated[str, Query(max_length=64)] = "flows_above_normal") -> Response:
    """The parameter fields of one analysis (htmx swaps them in when the analysis changes)."""
    return render(request, "mobility/_fields.html", {"fields": _analysis_fields(analysis), "values": {}, "errors": {}, **_labels()})


def _parameters_from_form(form: dict[str, str], analysis: str) -> dict[str, str | int]:
    parameters: dict[str, str | int] = {}
    for field in _analysis_fields(analysis):
        name = field["name"]
        if field["kind"] == "window":
            start, end = form.get(f"{name}_start", "").strip(), form.get(f"{name}_end", "").strip()
            if start or end or field["required"]:
                parameters[name] = f"{start}..{end}"
        elif form.get(name, "").strip():
            parameters[name] = form[name].strip()
    return parameters


@router.post("/mobility/run")
async def run_submit(request: Request, db: DbSession, user: Runner, background: BackgroundTasks) -> Response:
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str) and len(v) <= 500}
    analysis = form.get("analysis", "")
    errors: list[FieldError] = []
    threshold: int | None = None
    text = form.get("redaction_threshold", "").strip()
    if text:
        try:
            threshold = int(text)
        except ValueError:
            errors.append(FieldError("redaction_threshold", gettext(N_("Enter a whole number."))))
    if not errors:
        try:
            run = service.start_run(
                db, actor=user, dataset_id=form.get("dataset_id", ""), analysis=analysis, parameters=_parameters_from_form(form, analysis),
                level=form.get("level", "") or "1", engine=form.get("engine", "duckdb"), threshold=threshold, override_reason=form.get("override_reason") or None,
            )
        except InvalidInput as exc:
            errors = exc.fields or [FieldError("analysis", exc.message)]
    if errors:
        return _form_page(request, db, values=form, errors=errors, status_code=422)
    background.add_task(worker.RUNNER.wake)
    return RedirectResponse(f"/mobility/runs/{run.id}", status_code=303)


@router.get("/mobility/runs/{run_id}")
def run_page(request: Request, run_id: str, db: DbSession, user: Reader) -> Response:
    run = service.get_run(db, run_id=run_id)
    dataset = service.get_dataset(db, dataset_id=run.dataset_id)
    context: dict[str, Any] = {"run": run, "dataset": dataset, "palette": PALETTE, **_labels()}
    if run.status == "succeeded":
        data = service.run_result(run)
        layer = area_layer(run=run, columns=data["columns"], rows=data["rows"], geometries=partial(service.area_geometries, Path(dataset.path)))
        names = {f["properties"]["pcode"]: f["properties"]["name"] for f in layer["features"]}
        context |= {
            "columns": data["columns"], "rows": data["rows"][:TABLE_ROWS], "row_total": len(data["rows"]), "layer": layer, "layer_json": script_json(layer),
            "area_rows": sorted(layer["features"], key=lambda f: (f["properties"]["value"] is None, -(f["properties"]["value"] or 0), f["properties"]["pcode"])),
            "value_label": gettext(VALUE_LABELS.get(run.analysis, N_("Value"))), "area_names": names, "redacted_label": gettext(N_("withheld")),
        }
    return render(request, "mobility/run.html", context)


@router.get("/mobility/runs/{run_id}/progress")
def run_progress(request: Request, run_id: str, db: DbSession, user: Reader) -> Response:
    """The progress fragment polled by htmx; once the run has finished, htmx is told to reload the run page."""
    run = service.get_run(db, run_id=run_id)
    response = render(request, "mobility/_progress.html", {"run": run, **_labels()})
    if run.status in service.FINISHED:
        response.headers["HX-Redirect"] = f"/mobility/runs/{run.id}"
    return response


def home_panel(session: Session, user: User) -> HomePanel | None:
    """Recent mobility runs for analysts."""
    from passage.security.deps import user_has

    if not user_has(user, Permission.MOBILITY_READ):
        return None
    runs, _total = service.list_runs(session, limit=4)
    items = [
        PanelItem(gettext(ANALYSIS_LABELS.get(r.analysis, r.analysis)), f"/mobility/runs/{r.id}", f"{gettext(STATUS_LABELS.get(r.status, r.status))} · {r.created_at.strftime('%Y-%m-%d %H:%M')}")
        for r in runs
    ]
    if not items:
        items.append(PanelItem(gettext(N_("No analysis runs yet")), "/mobility"))
    if user_has(user, Permission.MOBILITY_RUN):
        items.append(PanelItem(gettext(N_("Run an analysis")), "/mobility/run"))
    return HomePanel(title=gettext(N_("Mobility analytics")), items=items, more_href="/mobility", order=45)
