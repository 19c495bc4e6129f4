"""Mobility API under /api/v1/mobility: datasets, analyses, runs (start, status), redacted results, CSV/HXL.

Only redacted aggregates leave these routes: results are read from the files the engine wrote after
redaction (`service.run_result`), never from the dataset. Starting a run needs MOBILITY_RUN (analysts);
everything else MOBILITY_READ.
"""

from __future__ import annotations

import csv
import dataclasses
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query
from fastapi.responses import Response

from passage.core.deps import DbSession
from passage.mobility import (
    messages,  # noqa: F401 - registers the column words
    service,
    worker,
)
from passage.mobility.maps import area_layer
from passage.mobility.metrics import METRICS
from passage.mobility.schemas import AnalysisOut, DatasetDetail, DatasetOut, RunCreate, RunOut, RunResultOut
from passage.security import audit
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import Offset, Page

router = APIRouter(prefix="/mobility", tags=["mobility"], on_startup=[worker.startup])

Reader = Annotated[User, require(Permission.MOBILITY_READ)]
Runner = Annotated[User, require(Permission.MOBILITY_RUN)]


def analyses() -> list[AnalysisOut]:
    """The named analyses with their parameters (required first) and output columns."""
    out = []
    for name, info in service.list_analyses().items():
        fields = {f.name: f for f in dataclasses.fields(METRICS[name])}
        required = [f for f in info["parameters"] if fields[f].default is dataclasses.MISSING and fields[f].default_factory is dataclasses.MISSING]
        out.append(AnalysisOut(name=name, doc=info["doc"], parameters=info["parameters"], required=required, columns=info["columns"]))
    return out


@router.get("/datasets", response_model=Page[DatasetOut])
def list_datasets(db: DbSession, user: Reader, offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page[DatasetOut]:
    datasets = service.list_datasets(db)
    return Page[DatasetOut](items=[DatasetOut.model_validate(d) for d in datasets[offset : offset + limit]], total=len(datasets), offset=offset, limit=limit)


@router.get("/datasets/{dataset_id}", response_model=DatasetDetail)
def get_dataset(dataset_id: str, db: DbSession, user: Reader) -> DatasetDetail:
    return DatasetDetail.model_validate(service.get_dataset(db, dataset_id=dataset_id))


@router.get("/analyses", response_model=list[AnalysisOut])
def list_analyses(user: Reader) -> list[AnalysisOut]:
    return analyses()


@router.get("/runs", response_model=Page[RunOut])
def list_runs(
    db: DbSession, user: Reader, dataset_id: Annotated[str | None, Query(max_length=32)] = None,
    offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RunOut]:
    runs, total = service.list_runs(db, dataset_id=dataset_id, limit=limit, offset=offset)
    return Page[RunOut](items=[RunOut.model_validate(r) for r in runs], total=total, offset=offset, limit=limit)


@router.post("/runs", response_model=RunOut, status_code=202)
def start_run(body: RunCreate, db: DbSession, user: Runner, background: BackgroundTasks) -> RunOut:
    """Queue a run; poll `GET /runs/{id}` for status and progress. The runner wakes after the commit."""
    run = service.start_run(
        db, actor=user, dataset_id=body.dataset_id, analysis=body.analysis, parameters=body.parameters, level=body.level,
        engine=body.engine, threshold=body.redaction_threshold, override_reason=body.override_reason,
    )
    background.add_task(worker.RUNNER.wake)
    return RunOut.model_validate(run)


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, db: DbSession, user: Reader) -> RunOut:
    return RunOut.model_validate(service.get_run(db, run_id=run_id))


@router.get("/runs/{run_id}/result", response_model=RunResultOut)
def get_result(run_id: str, db: DbSession, user: Reader) -> RunResultOut:
    run = service.get_run(db, run_id=run_id)
    data = service.run_result(run)
    columns: list[str] = data["columns"]
    return RunResultOut(
        run=RunOut.model_validate(run), columns=columns, rows=[dict(zip(columns, row, strict=True)) for row in data["rows"]],
        threshold=run.threshold, values_redacted=run.values_redacted or 0,
    )


@router.get("/runs/{run_id}/map")
def get_map(run_id: str, db: DbSession, user: Reader) -> dict[str, Any]:
    """GeoJSON of the run's areas with the mapped value (`value` null and `redacted` true when not publishable)."""
    run = service.get_run(db, run_id=run_id)
    data = service.run_result(run)
    dataset = service.get_dataset(db, dataset_id=run.dataset_id)
    return area_layer(run=run, columns=data["columns"], rows=data["rows"], geometries=partial(service.area_geometries, Path(dataset.path)))


def _download(db: DbSession, user: User, run_id: str, *, hxl: bool) -> Response:
    run = service.get_run(db, run_id=run_id)
    path = service.result_file(run, hxl=hxl)
    audit.record(db, actor=user, action="export", entity_type="mobility_run", entity_id=run.id, details={"format": "hxl" if hxl else "csv"})
    name = f"mobility-{run.analysis}-{run.id[:8]}{'-hxl' if hxl else ''}.csv"
    return Response(content=localised_header(Path(path).read_bytes()), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


def localised_header(content: bytes, *, locale: str | None = None) -> bytes:
    """The result CSV with its header row in the reader's language (the column's word; a code without one stays as
    it is). The rows below, and the HXL hashtag row of the HXL variant, are unchanged: they are data and codes."""
    from passage.core.files import csv_text
    from passage.core.i18n import label

    text = content.decode("utf-8-sig")
    first, _newline, rest = text.partition("\n")
    codes = next(csv.reader([first.rstrip("\r")]))
    header = csv_text([[label("mobility.column", code, locale=locale) for code in codes]], lineterminator="\n")
    return (header + rest).encode("utf-8")


@router.get("/runs/{run_id}/result.csv")
def download_csv(run_id: str, db: DbSession, user: Reader) -> Response:
    return _download(db, user, run_id, hxl=False)


@router.get("/runs/{run_id}/result.hxl.csv")
def download_hxl(run_id: str, db: DbSession, user: Reader) -> Response:
    return _download(db, user, run_id, hxl=True)
