"""Mobility service API: ingest a dataset, run a named analysis on it, export CSV or HXL.

This is what the CLI calls and what the web layer (wave 2) should call. Only redacted aggregates
leave `run_analysis`: counts <= the policy threshold become None (empty in files) and rows whose
every count is redacted are dropped, as FlowKit's redaction does.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import atomic_output
from passage.mobility.engines import DuckDBEngine, Engine, SparkEngine, make_engine, sorted_rows
from passage.mobility.ingest import IngestReport, ProgressCallback, ingest, read_manifest
from passage.mobility.metrics import METRICS, Metric
from passage.mobility.privacy import PrivacyPolicy, above_normal_from_published
from passage.mobility.pseudonymise import PseudonymKey
from passage.mobility.units import SpatialUnit, cell_units, parse_unit
from passage.mobility.windows import Window, parse_window

WINDOW_PARAMETERS = ("window", "from_window", "to_window", "benchmark", "comparison", "focal")


def _noop(_stage: str, _fraction: float) -> None:
    return None


def list_analyses() -> dict[str, dict[str, Any]]:
    """Named analyses with their parameters and output columns (for forms and API schemas)."""
    out: dict[str, dict[str, Any]] = {}
    for name, cls in METRICS.items():
        fields = [f for f in cls.__dataclass_fields__ if not f.startswith("_")]
        out[name] = {"parameters": fields, "columns": list(cls.keys + cls.counts) + (["above_normal"] if name == "flows_above_normal" else []), "doc": (cls.__doc__ or "").strip().splitlines()[0]}
    return out


def build_metric(analysis: str, params: Mapping[str, Any]) -> Metric:
    """A metric from its name and string parameters (windows as `YYYY-MM-DD..YYYY-MM-DD`)."""
    cls = METRICS.get(analysis)
    if cls is None:
        raise InvalidInput(f"unknown analysis {analysis!r}", fields=[FieldError("analysis", "unknown")])
    allowed = set(cls.__dataclass_fields__)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidInput(f"unknown parameter(s) for {analysis}: {', '.join(unknown)}", fields=[FieldError(u, "unknown parameter") for u in unknown])
    values: dict[str, Any] = {}
    for key, value in params.items():
        if key in WINDOW_PARAMETERS and not isinstance(value, Window):
            values[key] = parse_window(str(value), field=key)
        elif key == "min_active_days":
            try:
                values[key] = int(value)
            except (TypeError, ValueError):
                raise InvalidInput("min_active_days must be an integer", fields=[FieldError(key, "not an integer")]) from None
        else:
            values[key] = value
    try:
        metric = cls(**values)
    except TypeError:
        missing = [f for f, d in cls.__dataclass_fields__.items() if f not in values and d.default is d.default_factory]  # type: ignore[misc]
        raise InvalidInput(f"missing parameter(s) for {analysis}: {', '.join(missing)}", fields=[FieldError(m, "required") for m in missing]) from None
    if getattr(metric, "method", "last") not in ("last", "most-common"):
        raise InvalidInput("method must be last or most-common", fields=[FieldError("method", "unknown")])
    metric.windows()  # checks overlaps now, before any engine starts
    return metric


def compute_metric(
    *,
    dataset: Path,
    metric: Metric,
    unit: SpatialUnit,
    engine: Engine,
    progress: ProgressCallback | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Unredacted aggregate rows, sorted. Internal to the engine boundary: call `run_analysis` for outputs."""
    report = progress or _noop
    dataset = Path(dataset)
    read_manifest(dataset)
    report("mapping cells to spatial units", 0.05)
    units = cell_units(dataset, unit)
    engine.register_table("cell_units", units)
    engine.register_events(dataset / "events")
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
    """Apply the policy: counts <= threshold -> None, all-redacted rows dropped; returns (columns, rows, values redacted)."""
    count_index = [columns.index(c) for c in metric.counts]
    out_columns = list(columns) + (["above_normal"] if metric.name == "flows_above_normal" else [])
    out: list[tuple[Any, ...]] = []
    redacted = 0
    for row in rows:
        values = list(row)
        for i in count_index:
            published = policy.redact(values[i])
            redacted += published is None
            values[i] = published
        if all(values[i] is None for i in count_index):
            continue
        if metric.name == "flows_above_normal":
            values.append(above_normal_from_published(values[count_index[1]], values[count_index[0]]))
        out.append(tuple(values))
    return out_columns, out, redacted


def run_analysis(
    *,
    dataset: Path,
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
    manifest = read_manifest(Path(dataset))
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    runner = make_engine(engine, master=master, spark=spark)
    try:
        columns, raw_rows = compute_metric(dataset=Path(dataset), metric=metric, unit=unit, engine=runner, progress=report)
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
    out_dir: Path,
    key: PseudonymKey,
    period: str | None = None,
    timezone: str = "UTC",
    max_rejected_share: float = 0.0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Ingest raw events into a dataset folder (see `ingest.ingest`)."""
    window = parse_window(period, field="period") if period else None
    return ingest(events=events, cells=Path(cells), areas=Path(areas), out_dir=Path(out_dir), key=key, period=window, timezone=timezone, max_rejected_share=max_rejected_share, overwrite=overwrite, progress=progress)


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
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(result.columns)
        if hxl:
            writer.writerow(hxl_tags(result.columns, result.metadata.get("level", "1")))
        writer.writerows([_csv_value(v) for v in row] for row in result.rows)
    if metadata:
        with atomic_output(Path(str(path) + ".meta.json")) as handle:
            json.dump(result.metadata, handle, indent=2, default=str)


def area_geometries(dataset: Path, level: int) -> dict[str, Any]:
    """GeoJSON FeatureCollection of one admin level's areas, for maps (join results on `pcode`)."""
    table = pq.read_table(Path(dataset) / "areas.parquet").to_pylist()
    features = [
        {"type": "Feature", "properties": {"pcode": a["pcode"], "name": a["name"], "level": a["level"], "parent_pcode": a["parent_pcode"]}, "geometry": json.loads(a["geometry"])}
        for a in table
        if a["level"] == level
    ]
    return {"type": "FeatureCollection", "features": features}


__all__ = [
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
