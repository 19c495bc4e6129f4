"""`passage mobility ...`: synth, ingest, home-locations, flows-above-normal, run.

The two metric commands keep the issue's stable contracts: they take raw events, cells and
boundaries, ingest them into a throw-away pseudonymised dataset (a random key unless the data owner's
key is given), run the metric on DuckDB or Spark and write only redacted aggregates, atomically,
with `<out>.meta.json` beside the CSV.

Every analysis run from the CLI goes through `service.run_recorded` as the system actor `mobility.cli`: it gets a
run record (and a dataset record for its dataset folder) and the same audit entries as a run started in the web
application or the API, a threshold override included. The database must therefore be set up (`passage db upgrade`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_
from passage.core.progress import progress_bar
from passage.mobility import service
from passage.mobility.ingest import ProgressCallback
from passage.mobility.privacy import PrivacyPolicy
from passage.mobility.pseudonymise import KEY_ENV, PseudonymKey
from passage.mobility.synth import SynthConfig, generate
from passage.mobility.windows import (
    check_disjoint,
    flowkit_columns,
    level_from_aggregation_unit,
    parse_window,
    window_from_flowkit,
)

app = typer.Typer(name="mobility", help="Mobility analytics from de-identified operator data (Flowminder methods).", no_args_is_help=True)
typer_apps: list[typer.Typer] = [app]

EventsOpt = Annotated[str, typer.Option("--events", help="Events: a Parquet/CSV file, folder or glob (subscriber,timestamp,cell_id[,event_type]); with --engine spark also an s3a:// URL")]
CellsOpt = Annotated[Path, typer.Option("--cells", help="cells.csv: cell_id,lon,lat[,valid_from,valid_to]")]
AreasOpt = Annotated[Path, typer.Option("--areas", help="GeoJSON polygons with pcode,name,level,parent_pcode")]
RawEventsOpt = Annotated[str | None, typer.Option("--events", help="Raw events: a Parquet/CSV file, folder or glob (subscriber,timestamp,cell_id[,event_type]); or give --dataset")]
RawCellsOpt = Annotated[Path | None, typer.Option("--cells", help="cells.csv: cell_id,lon,lat[,valid_from,valid_to] (with --events)")]
RawAreasOpt = Annotated[Path | None, typer.Option("--areas", help="GeoJSON polygons with pcode,name,level,parent_pcode (with --events)")]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="A dataset made by `passage mobility ingest` (instead of --events/--cells/--areas)")]
SaveOpt = Annotated[Path | None, typer.Option("--save-dataset", help="With --events: keep the ingested, pseudonymised dataset in this new folder for later runs with --dataset")]
LevelOpt = Annotated[str, typer.Option("--level", help="Admin level N, grid:1km or h3:R")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output CSV (written atomically, plus <out>.meta.json)")]
EngineOpt = Annotated[str, typer.Option("--engine", help="duckdb or spark")]
MasterOpt = Annotated[str, typer.Option("--master", help="Spark master URL (with --engine spark)")]
MethodOpt = Annotated[str, typer.Option("--method", help="Daily location: last or most-common")]
ThresholdOpt = Annotated[int | None, typer.Option("--redaction-threshold", help="Counts <= this are redacted (default and minimum without override: PASSAGE_REDACTION_THRESHOLD, 15)")]
OverrideOpt = Annotated[str | None, typer.Option("--override-reason", help="Required to set the threshold below the setting; recorded in the metadata")]
KeyOpt = Annotated[Path | None, typer.Option("--key-file", help=f"Data owner's HMAC key (hex or bytes); else ${KEY_ENV}; else a random key")]
TzOpt = Annotated[str, typer.Option("--timezone", help="IANA zone that defines days")]
ShareOpt = Annotated[float, typer.Option("--max-rejected-share", help="Refuse when more than this share of rows is rejected")]
HxlOpt = Annotated[bool, typer.Option("--hxl", help="Add an HXL hashtag row under the header")]
UnitOpt = Annotated[str | None, typer.Option("--aggregation-unit", help="FlowKit alias of --level: admin0, admin1, admin2 or admin3")]
ColumnsOpt = Annotated[str, typer.Option("--columns", help="passage (pcode, subscribers) or flowkit (pcod, pcod_from, pcod_to, value)")]


@contextmanager
def _progress(description: str) -> Iterator[ProgressCallback]:
    with progress_bar() as bar:
        task = bar.add_task(description, total=100)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, completed=round(100 * fraction), description=f"{description}: {stage}")

        yield update


def _key(key_file: Path | None, *, required: bool) -> PseudonymKey:
    if key_file is not None:
        return PseudonymKey.from_file(key_file)
    key = PseudonymKey.from_env()
    if key is not None:
        return key
    if required:
        raise InvalidInput(T_("give the data owner's key with --key-file or ${KEY_ENV}", KEY_ENV=KEY_ENV), fields=[FieldError("key_file", T_("required"))])
    return PseudonymKey.random()


def _level(level: str | None, aggregation_unit: str | None) -> str:
    if aggregation_unit is not None:
        converted = level_from_aggregation_unit(aggregation_unit)
        if level is not None and level != converted:
            raise InvalidInput(T_("--level and --aggregation-unit disagree; give one"), fields=[FieldError("aggregation_unit", T_("conflicts with --level"))])
        return converted
    if level is None:
        raise InvalidInput(T_("give --level (or FlowKit's --aggregation-unit)"), fields=[FieldError("level", T_("required"))])
    return level


def _columns(style: str) -> bool:
    if style not in ("passage", "flowkit"):
        raise InvalidInput(T_("--columns must be passage or flowkit"), fields=[FieldError("columns", T_("unknown"))])
    return style == "flowkit"


def _write(result: service.AnalysisResult, out: Path, *, hxl: bool, flowkit: bool) -> None:
    if flowkit:
        result = dataclasses.replace(result, columns=flowkit_columns(result.columns), metadata={**result.metadata, "column_names": "flowkit"})
    service.write_csv(result, out, hxl=hxl)


def _run_metric(
    *, events: str | None, cells: Path | None, areas: Path | None, dataset: str | None, save_dataset: Path | None, out: Path, analysis: str,
    params: dict[str, Any], level: str, engine: str, master: str, threshold: int | None, override_reason: str | None, key_file: Path | None,
    timezone: str, max_rejected_share: float, hxl: bool, flowkit: bool = False,
) -> None:
    """Run `analysis` on an ingested dataset, or ingest raw events first (one pseudonymisation, one spatial join per cell set)."""
    # the threshold and the windows are checked before any data is read; the run record repeats the check
    PrivacyPolicy.build(threshold=threshold, override_reason=override_reason, actor=service.CLI_ACTOR.id)
    service.build_metric(analysis, params)
    if engine not in ("duckdb", "spark"):
        raise InvalidInput(T_("--engine must be duckdb or spark"), fields=[FieldError("engine", T_("unknown"))])
    raw = [name for name, value in (("events", events), ("cells", cells), ("areas", areas)) if value is not None]
    if dataset is not None:
        if raw or save_dataset is not None:
            raise InvalidInput("give --dataset, or --events with --cells and --areas, not both", fields=[FieldError("dataset", "conflicts with --events")])
        with _progress(analysis) as update:
            run_id, result = service.run_recorded(actor=service.CLI_ACTOR, dataset_path=dataset, analysis=analysis, parameters=params, level=level,
                                                  engine=engine, master=master, threshold=threshold, override_reason=override_reason, progress=update)
        _write(result, out, hxl=hxl, flowkit=flowkit)
        typer.echo(f"{analysis}: {len(result.rows)} rows, {result.metadata['privacy']['values_redacted']} values redacted -> {out} (run {run_id})", err=True)
        return
    if len(raw) < 3:
        missing = [name for name in ("events", "cells", "areas") if name not in raw]
        raise InvalidInput("give --events, --cells and --areas (raw data), or --dataset (an ingested dataset)", fields=[FieldError(m, "required") for m in missing])
    assert events is not None and cells is not None and areas is not None  # noqa: S101 - narrowed by the check above
    if save_dataset is not None and save_dataset.exists() and any(save_dataset.iterdir()):
        raise InvalidInput(f"{save_dataset.name}: the --save-dataset folder exists and is not empty", fields=[FieldError("save_dataset", "exists")])
    key = _key(key_file, required=False)
    scratch_root = os.environ.get("PASSAGE_MOBILITY_TEMP_DIR")
    with tempfile.TemporaryDirectory(prefix="passage-mobility-", dir=scratch_root) as scratch, _progress(analysis) as update:
        target = save_dataset if save_dataset is not None else Path(scratch) / "dataset"

        def ingest_progress(stage: str, fraction: float) -> None:
            update(stage, 0.7 * fraction)

        def run_progress(stage: str, fraction: float) -> None:
            update(stage, 0.7 + 0.3 * fraction)

        report = service.ingest_dataset(events=events, cells=cells, areas=areas, out_dir=target, key=key, timezone=timezone, max_rejected_share=max_rejected_share,
                                        progress=ingest_progress, engine=engine, master=master)
        run_id, result = service.run_recorded(actor=service.CLI_ACTOR, dataset_path=target, analysis=analysis, parameters=params, level=level,
                                              engine=engine, master=master, threshold=threshold, override_reason=override_reason,
                                              dataset_name=f"cli {analysis} (raw events)", progress=run_progress)
        _write(result, out, hxl=hxl, flowkit=flowkit)
    typer.echo(f"ingest: {report.summary()}", err=True)
    if save_dataset is not None:
        typer.echo(f"dataset kept in {save_dataset} (key {report_key(key)})", err=True)
    typer.echo(f"{analysis}: {len(result.rows)} rows, {result.metadata['privacy']['values_redacted']} values redacted -> {out} (run {run_id})", err=True)


def report_key(key: PseudonymKey) -> str:
    """How the CLI names a key: its public fingerprint only."""
    return f"fingerprint {key.fingerprint()}"


@app.command("home-locations")
def home_locations(
    out: OutOpt, events: RawEventsOpt = None, cells: RawCellsOpt = None, areas: RawAreasOpt = None, dataset: DatasetOpt = None, save_dataset: SaveOpt = None,
    level: Annotated[str | None, typer.Option("--level", help="Admin level N, grid:1km or h3:R")] = None,
    window: Annotated[str | None, typer.Option("--window", help="YYYY-MM-DD..YYYY-MM-DD, both days included")] = None,
    start_date: Annotated[str | None, typer.Option("--start-date", help="FlowKit alias: first day YYYY-MM-DD (with --end-date)")] = None,
    end_date: Annotated[str | None, typer.Option("--end-date", help="FlowKit alias: the day AFTER the last day (exclusive, as in FlowKit)")] = None,
    aggregation_unit: UnitOpt = None, columns: ColumnsOpt = "passage",
    engine: EngineOpt = "duckdb", master: MasterOpt = "local[*]", method: MethodOpt = "last",
    redaction_threshold: ThresholdOpt = None, override_reason: OverrideOpt = None, key_file: KeyOpt = None,
    timezone: TzOpt = "UTC", max_rejected_share: ShareOpt = 0.0, hxl: HxlOpt = False,
) -> None:
    """Subscribers per home area (modal daily location over the window; FlowKit `ModalLocation` + `SpatialAggregate`): pcode,subscribers."""
    if (start_date is None) != (end_date is None):
        raise InvalidInput(T_("give both --start-date and --end-date"), fields=[FieldError("end_date" if end_date is None else "start_date", T_("required"))])
    if start_date is not None and end_date is not None:
        if window is not None:
            raise InvalidInput(T_("give --window or --start-date/--end-date, not both"), fields=[FieldError("window", T_("conflicts with --start-date"))])
        window = str(window_from_flowkit(start_date, end_date))
    if window is None:
        raise InvalidInput("give --window A..B (inclusive) or FlowKit's --start-date/--end-date (end exclusive)", fields=[FieldError("window", "required")])
    _run_metric(events=events, cells=cells, areas=areas, dataset=dataset, save_dataset=save_dataset, out=out, analysis="home_locations", params={"window": window, "method": method}, level=_level(level, aggregation_unit), engine=engine, master=master, threshold=redaction_threshold, override_reason=override_reason, key_file=key_file, timezone=timezone, max_rejected_share=max_rejected_share, hxl=hxl, flowkit=_columns(columns))


@app.command("flows-above-normal")
def flows_above_normal(
    benchmark: Annotated[str, typer.Option("--benchmark", help="Pre-crisis home window A..B")],
    comparison: Annotated[str, typer.Option("--comparison", help="Pre-crisis window C..D giving normal flows")],
    focal: Annotated[str, typer.Option("--focal", help="Post-crisis window E..F")],
    out: OutOpt, events: RawEventsOpt = None, cells: RawCellsOpt = None, areas: RawAreasOpt = None, dataset: DatasetOpt = None, save_dataset: SaveOpt = None,
    level: Annotated[str | None, typer.Option("--level", help="Admin level N, grid:1km or h3:R")] = None,
    aggregation_unit: UnitOpt = None, columns: ColumnsOpt = "passage",
    engine: EngineOpt = "duckdb", master: MasterOpt = "local[*]", method: MethodOpt = "last",
    redaction_threshold: ThresholdOpt = None, override_reason: OverrideOpt = None, key_file: KeyOpt = None,
    timezone: TzOpt = "UTC", max_rejected_share: ShareOpt = 0.0, hxl: HxlOpt = False,
) -> None:
    """Flows above normal (Wilson et al. 2016): origin_pcode,destination_pcode,subscribers_benchmark_comparison,subscribers_benchmark_focal,above_normal."""
    windows = {"benchmark": parse_window(benchmark, field="benchmark"), "comparison": parse_window(comparison, field="comparison"), "focal": parse_window(focal, field="focal")}
    check_disjoint(windows)
    _run_metric(events=events, cells=cells, areas=areas, dataset=dataset, save_dataset=save_dataset, out=out, analysis="flows_above_normal", params={"benchmark": benchmark, "comparison": comparison, "focal": focal, "method": method}, level=_level(level, aggregation_unit), engine=engine, master=master, threshold=redaction_threshold, override_reason=override_reason, key_file=key_file, timezone=timezone, max_rejected_share=max_rejected_share, hxl=hxl, flowkit=_columns(columns))


@app.command("ingest")
def ingest_command(
    events: EventsOpt, cells: CellsOpt, areas: AreasOpt,
    out: Annotated[str, typer.Option("--out", help="Dataset folder to create (with --engine spark also an s3a:// URL)")],
    key_file: KeyOpt = None, engine: EngineOpt = "duckdb", master: MasterOpt = "local[*]",
    period: Annotated[str | None, typer.Option("--period", help="Keep only days A..B; others are rejected as outside the period")] = None,
    timezone: TzOpt = "UTC", max_rejected_share: ShareOpt = 0.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset folder")] = False,
) -> None:
    """Pseudonymise (HMAC-SHA256 under the data owner's key), validate and store events by date; print the report as JSON."""
    key = _key(key_file, required=True)
    with _progress("ingest") as update:
        report = service.ingest_dataset(events=events, cells=cells, areas=areas, out_dir=out, key=key, period=period, timezone=timezone, max_rejected_share=max_rejected_share,
                                        overwrite=overwrite, progress=update, engine=engine, master=master)
    typer.echo(json.dumps(report.as_dict(), indent=2))


@app.command("run")
def run_command(
    dataset: Annotated[str, typer.Option("--dataset", help="Folder made by `passage mobility ingest` (with --engine spark also an s3a:// URL)")],
    analysis: Annotated[str, typer.Option("--analysis", help="One of: " + ", ".join(service.list_analyses()))],
    out: OutOpt,
    param: Annotated[list[str] | None, typer.Option("--param", help="name=value, e.g. window=2024-03-01..2024-03-14 (repeat)")] = None,
    level: LevelOpt = "1", engine: EngineOpt = "duckdb", master: MasterOpt = "local[*]",
    redaction_threshold: ThresholdOpt = None, override_reason: OverrideOpt = None, hxl: HxlOpt = False, columns: ColumnsOpt = "passage",
) -> None:
    """Run any named analysis on an ingested dataset; writes redacted aggregates only.

    FlowKit's parameter names are accepted too: start_date/end_date (end exclusive) and aggregation_unit=admin2."""
    params: dict[str, Any] = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(T_("--param must be name=value"), fields=[FieldError("param", T_("malformed"))])
        params[name.strip()] = value.strip()
    if "start_date" in params or "end_date" in params:
        # FlowKit's names: end_date is the day after the last day
        if "window" in params:
            raise InvalidInput(T_("give window=A..B or start_date/end_date, not both"), fields=[FieldError("param", T_("window conflicts with start_date"))])
        params["window"] = str(window_from_flowkit(params.pop("start_date", ""), params.pop("end_date", "")))
    if "aggregation_unit" in params:
        level = level_from_aggregation_unit(params.pop("aggregation_unit"))
    flowkit = _columns(columns)
    PrivacyPolicy.build(threshold=redaction_threshold, override_reason=override_reason, actor=service.CLI_ACTOR.id)
    service.build_metric(analysis, params)
    with _progress(analysis) as update:
        run_id, result = service.run_recorded(actor=service.CLI_ACTOR, dataset_path=dataset, analysis=analysis, parameters=params, level=level,
                                              engine=engine, master=master, threshold=redaction_threshold, override_reason=override_reason,
                                              progress=update)
    _write(result, out, hxl=hxl, flowkit=flowkit)
    typer.echo(f"{analysis}: {len(result.rows)} rows -> {out} (run {run_id})", err=True)


@app.command("synth")
def synth_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for events/, cells.csv, areas.geojson, truth.json")],
    subscribers: int = 20_000, days: int = 42, areas: int = 12, regions: int = 3, cells_per_area: int = 4,
    start: Annotated[str, typer.Option(help="First day YYYY-MM-DD")] = "2024-03-01",
    crisis_date: Annotated[str | None, typer.Option(help="Crisis day YYYY-MM-DD (default: start + 2 windows)")] = None,
    affected_area: str = "D01", displaced_share: float = 0.4,
    destinations: Annotated[str, typer.Option(help="P-code:share,... summing to 1")] = "D02:0.5,D05:0.3,D09:0.2",
    background_migration: Annotated[float, typer.Option(help="Share of subscribers who move home once during the period")] = 0.05,
    events_per_day: Annotated[float, typer.Option(help="Mean events per subscriber per day")] = 1.67,
    window_days: int = 14, seed: int = 7,
) -> None:
    """Synthetic events with a planted crisis, and the true flows above normal (truth.json)."""
    try:
        first = dt.date.fromisoformat(start)
        crisis = dt.date.fromisoformat(crisis_date) if crisis_date else first + dt.timedelta(days=2 * window_days)
        dest = {k.strip(): float(v) for k, v in (pair.split(":") for pair in destinations.split(","))}
    except ValueError:
        raise InvalidInput(T_("synth: start/crisis-date must be YYYY-MM-DD and destinations P-code:share,...")) from None
    config = SynthConfig(subscribers=subscribers, days=days, areas=areas, regions=regions, cells_per_area=cells_per_area, start=first, crisis_day=(crisis - first).days, affected_area=affected_area, displaced_share=displaced_share, destinations=dest, background_migration=background_migration, events_per_day=events_per_day, window_days=window_days, seed=seed)
    with _progress("synth") as update:
        truth = generate(config, out, progress=update)
    typer.echo(json.dumps({"events": truth["events"], "windows": truth["windows"], "planted_displaced": truth["planted_displaced"], "out": str(out)}, indent=2))
