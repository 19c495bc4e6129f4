"""Mobility service API: ingest a dataset, run a named analysis on it, export CSV or HXL.

This is what the CLI calls and what the web layer (wave 2) should call. Only redacted aggregates
leave `run_analysis`: counts <= the policy threshold become None (empty in files) and rows whose
every count is redacted are dropped, as FlowKit's redaction does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passage.core.db import unit_of_work
from passage.core.errors import Conflict, FieldError, InvalidInput, NotFound, PassageError
from passage.core.files import atomic_output, csv_writer
from passage.core.i18n import T_
from passage.core.models import utcnow
from passage.mobility.engines import DuckDBEngine, Engine, SparkEngine, make_engine, sorted_rows
from passage.mobility.ingest import (
    IngestReport,
    ProgressCallback,
    dataset_location,
    ingest,
    read_dataset_table,
    read_manifest,
)
from passage.mobility.metrics import METRICS, Metric
from passage.mobility.models import MobilityDataset, MobilityRun
from passage.mobility.privacy import PrivacyPolicy, protect_rows
from passage.mobility.pseudonymise import PseudonymKey
from passage.mobility.units import SpatialUnit, cell_units, parse_unit, unit_names
from passage.mobility.windows import Window, parse_window
from passage.security import audit
from passage.security.actors import SYSTEM_ACTOR_ID, Actor, is_system, system_actor
from passage.security.operations import require_permission
from passage.security.permissions import Permission

WINDOW_PARAMETERS = ("window", "from_window", "to_window", "benchmark", "comparison", "focal")


def _noop(_stage: str, _fraction: float) -> None:
    return None


def list_analyses() -> dict[str, dict[str, Any]]:
    """Named analyses with their parameters and output columns (for forms and API schemas)."""
    out: dict[str, dict[str, Any]] = {}
    for name, cls in METRICS.items():
        fields = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
        out[name] = {"parameters": fields, "columns": list(cls.keys + cls.counts) + (["above_normal"] if name == "flows_above_normal" else []), "doc": (cls.__doc__ or "").strip().splitlines()[0]}
    return out


def build_metric(analysis: str, params: Mapping[str, Any]) -> Metric:
    """A metric from its name and string parameters (windows as `YYYY-MM-DD..YYYY-MM-DD`)."""
    cls = METRICS.get(analysis)
    if cls is None:
        raise InvalidInput(T_("unknown analysis {analysis}", analysis=analysis), fields=[FieldError("analysis", T_("unknown"))])
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidInput(T_("unknown parameter(s) for {analysis}: {unknown}", analysis=analysis, unknown=', '.join(unknown)), fields=[FieldError(u, T_("unknown parameter")) for u in unknown])
    values: dict[str, Any] = {}
    window_errors: list[FieldError] = []
    for key, value in params.items():
        if key in WINDOW_PARAMETERS and not isinstance(value, Window):
            try:
                values[key] = parse_window(str(value), field=key)
            except InvalidInput as exc:  # report every bad window at once, not only the first
                window_errors += exc.fields
        elif key == "min_active_days":
            try:
                values[key] = int(value)
            except (TypeError, ValueError):
                raise InvalidInput(T_("min_active_days must be an integer"), fields=[FieldError(key, T_("not an integer"))]) from None
        else:
            values[key] = value
    if window_errors:
        raise InvalidInput(T_("invalid analysis window(s)"), fields=window_errors)
    try:
        metric = cls(**values)
    except TypeError:
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        raise InvalidInput(T_("missing parameter(s) for {analysis}: {missing}", analysis=analysis, missing=', '.join(missing)), fields=[FieldError(m, T_("required")) for m in missing]) from None
    if getattr(metric, "method", "last") not in ("last", "most-common"):
        raise InvalidInput(T_("method must be last or most-common"), fields=[FieldError("method", T_("unknown"))])
    metric.windows()  # checks overlaps now, before any engine starts
    return metric


def compute_metric(
    *,
    dataset: str | Path,
    metric: Metric,
    unit: SpatialUnit,
    engine: Engine,
    progress: ProgressCallback | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Unredacted aggregate rows, sorted. Internal to the engine boundary: call `run_analysis` for outputs."""
    report = progress or _noop
    location = dataset_location(dataset)
    read_manifest(location)
    report("mapping cells to spatial units", 0.05)
    units = cell_units(location, unit)
    engine.register_table("cell_units", units)
    engine.register_table("unit_names", unit_names(units))
    engine.register_events(f"{location}/events")
    report(f"running {metric.name} on {engine.name}", 0.1)
    sql, params = metric.sql(), metric.params()
    if isinstance(engine, DuckDBEngine):
        columns, rows = _duckdb_with_progress(engine, sql, params, report)
    else:
        columns, rows = engine.query(sql, params)
    report("redacting", 0.95)
    return columns, sorted_rows(rows)


def _duckdb_with_progress(engine: DuckDBEngine, sql: str, params: dict[str, Any], report: ProgressCallback) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run on a worker thread and poll DuckDB's own query progress for the callback."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = engine.query(sql, params)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread below
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="passage-mobility-query", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.25)
        fraction = engine.con.query_progress()
        if fraction is not None and fraction >= 0:
            report("running query", 0.1 + 0.85 * min(float(fraction), 100.0) / 100.0)
    if "error" in outcome:
        raise outcome["error"]
    result: tuple[list[str], list[tuple[Any, ...]]] = outcome["result"]
    return result


@dataclass
class AnalysisResult:
    """Redacted aggregate output of one run, plus the run's metadata (for files, pages and the audit log)."""

    analysis: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    metadata: dict[str, Any] = field(default_factory=dict)

    def audit_records(self) -> list[dict[str, Any]]:
        """Records wave 2 writes with `passage.security.audit.record` (e.g. a threshold override)."""
        override = self.metadata.get("privacy", {}).get("override")
        return [override | {"run_id": self.metadata.get("run_id")}] if override else []


def redact(metric: Metric, columns: list[str], rows: list[tuple[Any, ...]], policy: PrivacyPolicy) -> tuple[list[str], list[tuple[Any, ...]], int]:
    """Apply the disclosure rule (`privacy.protect_rows`): small counts and the cells that would give them away
    -> None, rows with nothing published dropped; returns (columns, rows, values redacted)."""
    return protect_rows(metric.name, metric.counts, columns, rows, policy)


def run_analysis(
    *,
    dataset: str | Path,
    analysis: str,
    params: Mapping[str, Any],
    level: str | int = 1,
    engine: str = "duckdb",
    master: str = "local[*]",
    policy: PrivacyPolicy | None = None,
    actor: str = "system",
    progress: ProgressCallback | None = None,
    spark: Any | None = None,
) -> AnalysisResult:
    """Run a named analysis on an ingested dataset and return redacted aggregates with run metadata."""
    report = progress or _noop
    policy = policy or PrivacyPolicy()
    metric = build_metric(analysis, params)
    unit = parse_unit(level)
    manifest = read_manifest(dataset)
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    runner = make_engine(engine, master=master, spark=spark)
    try:
        columns, raw_rows = compute_metric(dataset=dataset, metric=metric, unit=unit, engine=runner, progress=report)
    finally:
        runner.close()
    out_columns, rows, redacted = redact(metric, columns, raw_rows, policy)
    report("done", 1.0)
    metadata = {
        "run_id": uuid.uuid4().hex,
        "analysis": analysis,
        "parameters": metric.describe(),
        "level": str(unit),
        "engine": engine if engine == "duckdb" else f"spark ({master})",
        "actor": actor,
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - clock, 3),
        "dataset": {"key_fingerprint": manifest.get("key_fingerprint"), "ingest": manifest.get("report"), "timezone": manifest.get("timezone")},
        "privacy": policy.metadata() | {"values_redacted": redacted, "rows_published": len(rows)},
    }
    return AnalysisResult(analysis=analysis, columns=out_columns, rows=rows, metadata=metadata)


def ingest_dataset(
    *,
    events: str | Path,
    cells: Path,
    areas: Path,
    out_dir: str | Path,
    key: PseudonymKey,
    period: str | None = None,
    timezone: str = "UTC",
    max_rejected_share: float = 0.0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    engine: str = "duckdb",
    master: str = "local[*]",
    spark: Any | None = None,
) -> IngestReport:
    """Ingest raw events into a dataset folder, or on Spark an object-store URL (see `ingest.ingest`)."""
    window = parse_window(period, field="period") if period else None
    runner = make_engine(engine, master=master, spark=spark)
    try:
        return ingest(events=events, cells=Path(cells), areas=Path(areas), out_dir=out_dir, key=key, period=window, timezone=timezone,
                      max_rejected_share=max_rejected_share, overwrite=overwrite, progress=progress, engine=runner)
    finally:
        runner.close()


def _csv_value(value: Any) -> str:
    return "" if value is None else str(value)


def hxl_tags(columns: list[str], level: str) -> list[str]:
    """HXL hashtags (HXL standard 1.1, hxlstandard.org) for our output columns."""
    unit = parse_unit(level)
    place = f"#adm{int(unit.value)}+code" if unit.kind == "admin" else "#loc+code"
    tags = {
        "pcode": place,
        "origin_pcode": place + "+origin",
        "destination_pcode": place + "+dest",
        "date": "#date",
        "subscribers": "#population+subscribers+num",
        "events": "#indicator+events+num",
        "residents": "#population+residents+num",
        "displaced": "#affected+displaced+num",
        "present": "#population+present+num",
        "absent": "#population+absent+num",
        "subscribers_benchmark_comparison": "#population+flow+normal+num",
        "subscribers_benchmark_focal": "#population+flow+focal+num",
        "above_normal": "#population+flow+above_normal+num",
    }
    return [tags[c] for c in columns]


def write_csv(result: AnalysisResult, path: Path, *, hxl: bool = False, metadata: bool = True) -> None:
    """Write the result (and `<path>.meta.json` with the run metadata) atomically; redacted values are empty."""
    with atomic_output(path) as handle:
        writer = csv_writer(handle, lineterminator="\n")
        writer.writerow(result.columns)
        if hxl:
            writer.writerow(hxl_tags(result.columns, result.metadata.get("level", "1")))
        writer.writerows([_csv_value(v) for v in row] for row in result.rows)
    if metadata:
        with atomic_output(Path(str(path) + ".meta.json")) as handle:
            json.dump(result.metadata, handle, indent=2, default=str)


def area_geometries(dataset: str | Path, level: int) -> dict[str, Any]:
    """GeoJSON FeatureCollection of one admin level's areas, for maps (join results on `pcode`)."""
    table = read_dataset_table(dataset, "areas").to_pylist()
    features = [
        {"type": "Feature", "properties": {"pcode": a["pcode"], "name": a["name"], "level": a["level"], "parent_pcode": a["parent_pcode"]}, "geometry": json.loads(a["geometry"])}
        for a in table
        if a["level"] == level
    ]
    return {"type": "FeatureCollection", "features": features}


# --- datasets and runs in the database (wave 2) -----------------------------------------------------
# Registered datasets and audited analysis runs. `start_run` validates and queues a run in the caller's
# transaction together with its audit entries; `passage.mobility.worker` executes queued runs one at a
# time on a background thread and records progress, the redacted result files and the completion
# audit entries (`AnalysisResult.audit_records()`) in one transaction.

RUN_STATUSES = ("queued", "running", "succeeded", "failed")
FINISHED = ("succeeded", "failed")
STALE_HEARTBEAT = dt.timedelta(minutes=2)
"""A running run whose worker has not written a heartbeat for this long is considered orphaned."""


CLI_ACTOR = system_actor("mobility.cli")
"""The server operator running `passage mobility ...`: its runs are recorded and audited like an analyst's."""
WORKER_ACTOR = system_actor("mobility.worker")
"""Who records the outcome of a run that no user started (a CLI run)."""


def _check_can_run(session: Session, actor: Actor, operation: str) -> None:
    """`mobility:run`, checked here (refused and audited by the foundation) whoever calls."""
    require_permission(session, actor=actor, permission=Permission.MOBILITY_RUN, entity_type="mobility_run", operation=operation,
                       message="only analysts may ingest data and run mobility analyses")


def _user_id(actor: Actor) -> str | None:
    return None if is_system(actor) else actor.id


def mobility_dir() -> Path:
    """`<data_dir>/mobility`: ingested datasets and run results."""
    from passage.core.settings import get_settings

    return Path(get_settings().data_dir).resolve() / "mobility"


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def register_dataset(session: Session, *, actor: Actor, name: str, path: str | Path) -> MobilityDataset:
    """Register an ingested dataset folder (its manifest is read; nothing is re-ingested)."""
    _check_can_run(session, actor, "register_dataset")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(T_("the dataset needs a name of 1 to 100 characters"), fields=[FieldError("name", T_("1 to 100 characters"))])
    if session.scalar(select(MobilityDataset.id).where(MobilityDataset.name == name)) is not None:
        raise Conflict(T_("a dataset with this name is already registered"), extra={"fields": [{"path": "name", "message": "already registered"}]})
    manifest = read_manifest(path)
    report = manifest.get("report") or {}
    dataset = MobilityDataset(
        name=name, path=dataset_location(path), key_fingerprint=str(manifest.get("key_fingerprint", "")), timezone=str(manifest.get("timezone") or "UTC"),
        first_day=_day(report.get("first_day")), last_day=_day(report.get("last_day")), levels=list(manifest.get("levels") or []),
        rows_kept=int(report.get("rows_kept") or 0), report=report, created_by_id=_user_id(actor),
    )
    session.add(dataset)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="mobility_dataset", entity_id=dataset.id,
                 details={"fields": ["name", "path", "key_fingerprint", "levels", "report"], "rows_kept": dataset.rows_kept})
    return dataset


def ingest_and_register(
    session: Session, *, actor: Actor, name: str, events: str | Path, cells: Path, areas: Path, key: PseudonymKey,
    folder: str | None = None, period: str | None = None, timezone: str = "UTC", max_rejected_share: float = 0.0,
    overwrite: bool = False, progress: ProgressCallback | None = None,
) -> MobilityDataset:
    """Ingest raw events under `<data_dir>/mobility/<folder>` and register the dataset (analysts only)."""
    _check_can_run(session, actor, "ingest")
    slug = folder or "".join(c if c.isalnum() or c in "-_" else "-" for c in name.strip().lower())[:60]
    if not slug.strip("-_"):
        raise InvalidInput(T_("the dataset name must contain letters or digits"), fields=[FieldError("name", T_("no letters or digits"))])
    out = mobility_dir() / "datasets" / slug if folder is None else mobility_dir() / folder
    ingest_dataset(events=events, cells=cells, areas=areas, out_dir=out, key=key, period=period, timezone=timezone, max_rejected_share=max_rejected_share, overwrite=overwrite, progress=progress)
    return register_dataset(session, actor=actor, name=name, path=out)


def list_datasets(session: Session) -> list[MobilityDataset]:
    return list(session.scalars(select(MobilityDataset).order_by(MobilityDataset.created_at.desc(), MobilityDataset.name)))


def get_dataset(session: Session, *, dataset_id: str) -> MobilityDataset:
    dataset = session.get(MobilityDataset, dataset_id)
    if dataset is None:
        raise NotFound(T_("no such dataset"))
    return dataset


def _prefixed(exc: InvalidInput, parameter_names: set[str]) -> InvalidInput:
    """The same error with parameter paths under `parameters.` (as the request body names them)."""
    fields = [FieldError(f"parameters.{f.path}" if f.path in parameter_names else f.path, f.message) for f in exc.fields]
    return InvalidInput(exc.message, fields=fields)


def validate_run(dataset: MobilityDataset, *, analysis: str, parameters: Mapping[str, Any], level: str) -> tuple[Metric, SpatialUnit]:
    """Check a run request against the analysis schema and the dataset; errors name `parameters.<name>`."""
    cls = METRICS.get(analysis)
    names = {f.name for f in dataclasses.fields(cls)} if cls else set()
    try:
        metric = build_metric(analysis, parameters)
    except InvalidInput as exc:
        raise _prefixed(exc, names | {u for u in parameters}) from None
    problems: list[FieldError] = []
    if dataset.first_day and dataset.last_day:
        for key in WINDOW_PARAMETERS:
            window = getattr(metric, key, None)
            if isinstance(window, Window) and (window.start < dataset.first_day or window.end > dataset.last_day):
                problems.append(FieldError(f"parameters.{key}", T_("outside the dataset's days ({first_day}..{last_day})", first_day=dataset.first_day.isoformat(), last_day=dataset.last_day.isoformat())))
    try:
        unit = parse_unit(level)
    except InvalidInput as exc:
        problems += exc.fields
        unit = None
    if unit is not None and unit.kind == "admin" and int(unit.value) not in (dataset.levels or []):
        problems.append(FieldError("level", T_("not a level of this dataset (levels: {levels})", levels=', '.join(str(v) for v in dataset.levels or []))))
    if problems or unit is None:
        raise InvalidInput(T_("the analysis parameters are not valid"), fields=problems)
    return metric, unit


def start_run(
    session: Session, *, actor: Actor, dataset_id: str, analysis: str, parameters: Mapping[str, Any], level: str | int = 1,
    engine: str = "duckdb", threshold: int | None = None, override_reason: str | None = None,
) -> MobilityRun:
    """Validate and queue a run; the run record and its audit entries (creation, any threshold override) commit together."""
    _check_can_run(session, actor, "start_run")
    dataset = get_dataset(session, dataset_id=dataset_id)
    if engine not in ("duckdb", "spark"):
        raise InvalidInput(T_("engine must be duckdb or spark"), fields=[FieldError("engine", T_("unknown engine"))])
    metric, unit = validate_run(dataset, analysis=analysis, parameters=parameters, level=str(level))
    reason = (override_reason or "").strip() or None
    try:
        policy = PrivacyPolicy.build(threshold=threshold, override_reason=reason, actor=actor.id)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, fields=[FieldError("redaction_threshold" if f.path == "threshold" else f.path, f.message) for f in exc.fields]) from None
    described = {k: v for k, v in metric.describe().items() if k != "metric"}
    run = MobilityRun(
        dataset_id=dataset.id, analysis=analysis, parameters=described, level=str(unit), engine=engine, threshold=policy.threshold,
        override_reason=reason if policy.override else None, status="queued", progress=0.0, stage="queued", created_by_id=_user_id(actor),
    )
    session.add(run)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="mobility_run", entity_id=run.id,
                 details={"analysis": analysis, "dataset_id": dataset.id, "parameters": sorted(described), "level": run.level, "engine": engine, "threshold": policy.threshold})
    if policy.override is not None:
        record = policy.override.as_record()
        audit.record(session, actor=actor, action=record["action"], entity_type="mobility_run", entity_id=run.id,
                     details={"threshold": record["threshold"], "minimum": record["minimum"], "reason": record["reason"], "stage": "requested"})
    return run


def list_runs(session: Session, *, dataset_id: str | None = None, limit: int | None = None, offset: int = 0) -> tuple[list[MobilityRun], int]:
    query = select(MobilityRun)
    if dataset_id:
        query = query.where(MobilityRun.dataset_id == dataset_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ordered = query.order_by(MobilityRun.created_at.desc(), MobilityRun.id).offset(offset)
    if limit is not None:
        ordered = ordered.limit(limit)
    return list(session.scalars(ordered)), total


def get_run(session: Session, *, run_id: str) -> MobilityRun:
    run = session.get(MobilityRun, run_id)
    if run is None:
        raise NotFound(T_("no such run"))
    return run


def run_result(run: MobilityRun) -> dict[str, Any]:
    """The stored redacted result of a finished run: `columns`, `rows` (None = redacted), `metadata`."""
    if run.status != "succeeded" or not run.result_dir:
        raise Conflict(T_("the run has no result yet"), extra={"status": run.status})
    path = Path(run.result_dir) / "result.json"
    if not path.exists():
        raise NotFound(T_("the result files of this run are missing"))
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def result_file(run: MobilityRun, *, hxl: bool) -> Path:
    """The run's CSV (or HXL-tagged CSV) file."""
    run_result(run)
    path = Path(run.result_dir or "") / ("result.hxl.csv" if hxl else "result.csv")
    if not path.exists():
        raise NotFound(T_("the result files of this run are missing"))
    return path


def write_run_outputs(result: AnalysisResult, folder: Path) -> None:
    """`result.csv` (+ `.meta.json`), `result.hxl.csv` and `result.json`; every file holds redacted aggregates only."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(result, folder / "result.csv", hxl=False)
    write_csv(result, folder / "result.hxl.csv", hxl=True, metadata=False)
    with atomic_output(folder / "result.json") as handle:
        json.dump({"columns": result.columns, "rows": [list(r) for r in result.rows], "metadata": result.metadata}, handle, default=str)


def execute(spec: RunSpec, progress: ProgressCallback | None = None, *, spark: Any | None = None, master: str | None = None) -> AnalysisResult:
    """Run a queued run's analysis on its dataset and write its outputs (no database access)."""
    policy = PrivacyPolicy.build(threshold=spec.threshold, override_reason=spec.override_reason, actor=spec.actor_id)
    result = run_analysis(dataset=spec.dataset_path, analysis=spec.analysis, params=spec.parameters, level=spec.level, engine=spec.engine,
                          master=master or os.environ.get("PASSAGE_MOBILITY_SPARK_MASTER", "local[*]"), policy=policy, actor=spec.actor_id, progress=progress, spark=spark)
    write_run_outputs(result, Path(spec.result_dir))
    return result


@dataclass(frozen=True)
class RunSpec:
    """What the worker needs to execute a run, detached from the session."""

    run_id: str
    dataset_path: str
    analysis: str
    parameters: dict[str, Any]
    level: str
    engine: str
    threshold: int
    override_reason: str | None
    actor_id: str
    result_dir: str

    @classmethod
    def of(cls, run: MobilityRun, dataset: MobilityDataset) -> RunSpec:
        params = {k: v for k, v in (run.parameters or {}).items() if k != "metric"}
        return cls(run.id, dataset.path, run.analysis, params, run.level, run.engine, run.threshold, run.override_reason,
                   run.created_by_id or SYSTEM_ACTOR_ID, str(mobility_dir() / "runs" / run.id))


def record_success(session: Session, *, run: MobilityRun, result: AnalysisResult, result_dir: str) -> None:
    """Mark the run succeeded and write its completion and `result.audit_records()` entries in the same transaction."""
    from passage.security.models import User

    privacy = result.metadata.get("privacy", {})
    run.status, run.progress, run.stage = "succeeded", 1.0, "done"
    run.run_id = str(result.metadata.get("run_id"))
    run.result_dir = result_dir
    run.rows_published = int(privacy.get("rows_published", len(result.rows)))
    run.values_redacted = int(privacy.get("values_redacted", 0))
    run.seconds = float(result.metadata.get("seconds", 0.0))
    run.finished_at = utcnow()
    run.error = None
    actor: Actor = (session.get(User, run.created_by_id) if run.created_by_id else None) or WORKER_ACTOR
    audit.record(session, actor=actor, action="complete", entity_type="mobility_run", entity_id=run.id,
                 details={"run_id": run.run_id, "analysis": run.analysis, "rows_published": run.rows_published, "values_redacted": run.values_redacted, "threshold": run.threshold})
    for entry in result.audit_records():
        details = {k: v for k, v in entry.items() if k not in ("action", "actor")}
        audit.record(session, actor=actor, action=str(entry["action"]), entity_type="mobility_run", entity_id=run.id, details=details)


def failure_message(exc: BaseException) -> str:
    """A failure reason without data values: our own errors' one-line text, else only the exception's type."""
    if isinstance(exc, PassageError):
        return exc.one_line()[:480]
    return f"internal error ({type(exc).__name__}); see the server log"


def record_failure(session: Session, *, run: MobilityRun, reason: str) -> None:
    """Mark the run failed with a reason and audit it in the same transaction."""
    from passage.security.models import User

    run.status, run.error, run.finished_at = "failed", reason[:500], utcnow()
    actor: Actor = (session.get(User, run.created_by_id) if run.created_by_id else None) or WORKER_ACTOR
    audit.record(session, actor=actor, action="fail", entity_type="mobility_run", entity_id=run.id, outcome="failed", details={"analysis": run.analysis, "reason": reason[:200]})


def run_now(session: Session, *, run_id: str, progress: ProgressCallback | None = None) -> MobilityRun:
    """Execute a queued run synchronously in the caller's transaction (demo data, CLI); failures are recorded and re-raised."""
    run = get_run(session, run_id=run_id)
    if run.status != "queued":
        raise Conflict(T_("the run is not queued"), extra={"status": run.status})
    spec = RunSpec.of(run, get_dataset(session, dataset_id=run.dataset_id))
    run.status, run.started_at, run.stage = "running", utcnow(), "running"
    try:
        result = execute(spec, progress)
    except PassageError as exc:
        record_failure(session, run=run, reason=failure_message(exc))
        raise
    record_success(session, run=run, result=result, result_dir=spec.result_dir)
    return run


def dataset_for_path(session: Session, *, actor: Actor, path: str | Path, name: str | None = None) -> MobilityDataset:
    """The registered dataset of an ingested folder, registered on first use (every run has a dataset record)."""
    resolved = dataset_location(path)
    found = session.scalars(select(MobilityDataset).where(MobilityDataset.path == resolved)).first()
    if found is not None:
        return found
    suffix = hashlib.sha256(resolved.encode()).hexdigest()[:8]
    return register_dataset(session, actor=actor, name=f"{(name or resolved.rsplit('/', 1)[-1])[:80]} ({suffix})", path=resolved)


def run_recorded(
    *, actor: Actor, dataset_path: str | Path, analysis: str, parameters: Mapping[str, Any], level: str | int = 1, engine: str = "duckdb",
    master: str | None = None, threshold: int | None = None, override_reason: str | None = None, dataset_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[str, AnalysisResult]:
    """Run an analysis now, recorded and audited exactly like a run started from the API; returns (run id, result).

    Three transactions: the run record with its creation and threshold-override audit entries (committed before any
    data is read, so an override is audited even if the run then fails), the computation outside any transaction,
    and the outcome (`record_success` with the result's audit records, or `record_failure`)."""
    with unit_of_work() as session:
        dataset = dataset_for_path(session, actor=actor, path=dataset_path, name=dataset_name)
        run = start_run(session, actor=actor, dataset_id=dataset.id, analysis=analysis, parameters=parameters, level=level, engine=engine,
                        threshold=threshold, override_reason=override_reason)
        spec = RunSpec.of(run, dataset)
        run.status, run.started_at, run.stage = "running", utcnow(), "running"
    try:
        result = execute(spec, progress, master=master)
    except Exception as exc:
        with unit_of_work() as session:
            record_failure(session, run=get_run(session, run_id=spec.run_id), reason=failure_message(exc))
        raise
    with unit_of_work() as session:
        record_success(session, run=get_run(session, run_id=spec.run_id), result=result, result_dir=spec.result_dir)
    return spec.run_id, result


__all__ = [
    "CLI_ACTOR",
    "FINISHED",
    "dataset_for_path",
    "run_recorded",
    "RUN_STATUSES",
    "RunSpec",
    "execute",
    "get_dataset",
    "get_run",
    "ingest_and_register",
    "list_datasets",
    "list_runs",
    "record_failure",
    "record_success",
    "register_dataset",
    "run_now",
    "run_result",
    "start_run",
    "validate_run",
    "AnalysisResult",
    "DuckDBEngine",
    "SparkEngine",
    "area_geometries",
    "build_metric",
    "compute_metric",
    "hxl_tags",
    "ingest_dataset",
    "list_analyses",
    "redact",
    "run_analysis",
    "write_csv",
]
