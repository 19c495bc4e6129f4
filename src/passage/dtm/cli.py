"""`passage geo ...` (boundaries) and `passage dtm ...` (rounds, processing, aggregates, exports, reports, maps)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from passage.core.db import unit_of_work
from passage.core.errors import InvalidInput
from passage.core.files import atomic_output
from passage.core.i18n import T_
from passage.core.progress import progress_bar
from passage.security.actors import system_actor

if TYPE_CHECKING:
    from passage.dtm.aggregate import AggregateResult
    from passage.dtm.models import AssessmentRound
    from passage.dtm.publication import Publication
    from passage.dtm.rules import Component


CLI_ACTOR = system_actor("dtm.cli")
"""The server operator running the command: the services check and audit it like any actor."""

geo_app = typer.Typer(name="geo", help="Administrative boundaries (COD-AB GeoJSON with P-codes).", no_args_is_help=True)
dtm_app = typer.Typer(name="dtm", help="Displacement tracking: rounds, checks, aggregates, HXL exports, reports, maps.", no_args_is_help=True)
typer_apps: list[typer.Typer] = [geo_app, dtm_app]

RoundOption = Annotated[int, typer.Option("--round", help="Round number.")]
LevelOption = Annotated[int, typer.Option("--level", help="Admin level 0-3 of the table.")]
OperationOption = Annotated[str | None, typer.Option("--operation", help="Operation, when several have this round number.")]
ComponentOption = Annotated[str, typer.Option("--component", help="baseline or site.")]


def _level(level: int) -> int:
    if level not in (0, 1, 2, 3):
        raise InvalidInput(T_("--level must be 0, 1, 2 or 3"))
    return level


def _component(component: str) -> Component:
    if component not in ("baseline", "site"):
        raise InvalidInput(T_("--component must be baseline or site"))
    return cast("Component", component)


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(T_("{option}: expected a date as YYYY-MM-DD", option=option)) from None


@geo_app.command("load")
def geo_load(
    path: Annotated[Path, typer.Argument(help="COD-AB style GeoJSON FeatureCollection.")],
    variants: Annotated[Path | None, typer.Option("--variants", help="CSV of known name variants: pcode,name[,language].")] = None,
    allow_flat_pcodes: Annotated[bool, typer.Option("--allow-flat-pcodes", help="Accept child P-codes that do not extend their parent's.")] = False,
) -> None:
    """Load admin boundaries (levels 0-3); the whole file is refused on any problem, with feature indexes."""
    from passage.dtm import service
    from passage.dtm.geography import load_cod_ab_file, read_name_variants

    variant_rows = read_name_variants(variants) if variants else []
    with unit_of_work() as session:
        areas = load_cod_ab_file(path, known_parents=service.known_area_levels(session), require_hierarchical_pcodes=not allow_flat_pcodes)
        with progress_bar() as progress:
            task = progress.add_task("loading areas", total=len(areas))
            result = service.load_areas(session, actor=CLI_ACTOR, areas=areas, source=path.name, variants=variant_rows, on_progress=lambda n: progress.advance(task, n))
    levels = ", ".join(f"admin{level}: {count}" for level, count in sorted(result.by_level.items()))
    typer.echo(f"loaded {result.created + result.updated} areas ({levels}); created {result.created}, updated {result.updated}; name variants added {result.variants_added}")


@geo_app.command("check-name")
def geo_check_name(pcode: str, name: str) -> None:
    """Check a name against a P-code (official name, known variants); exits 1 on a mismatch."""
    from passage.dtm import service

    with unit_of_work() as session:
        result = service.get_gazetteer(session).check_name(pcode, name)
    typer.echo(json.dumps({"status": result.status, "pcode": result.pcode, "expected_name": result.expected_name, "suggested_pcodes": list(result.suggested_pcodes)}, ensure_ascii=False))
    if not result.ok:
        raise typer.Exit(1)


@dtm_app.command("new-round")
def new_round(
    operation: Annotated[str, typer.Option("--operation")],
    number: Annotated[int, typer.Option("--number")],
    reporting_date: Annotated[str, typer.Option("--reporting-date", help="YYYY-MM-DD")],
    period_start: Annotated[str | None, typer.Option("--start", help="First assessment date of the round.")] = None,
    period_end: Annotated[str | None, typer.Option("--end", help="Last assessment date of the round.")] = None,
) -> None:
    """Open a numbered assessment round."""
    from passage.dtm import service

    with unit_of_work() as session:
        record = service.create_round(
            session,
            actor=CLI_ACTOR,
            operation=operation,
            number=number,
            reporting_date=_date(reporting_date, "--reporting-date"),
            period_start=_date(period_start, "--start") if period_start else None,
            period_end=_date(period_end, "--end") if period_end else None,
        )
        typer.echo(f"round {record.number} of {record.operation} created (id {record.id})")


@dtm_app.command("process")
def process(
    round_number: RoundOption,
    component: ComponentOption = "baseline",
    form: Annotated[str | None, typer.Option("--form", help="Form id; defaults to the shipped DTM form of the component.")] = None,
    operation: OperationOption = None,
    household_size: Annotated[float | None, typer.Option("--household-size", help="Operation default household size.")] = None,
) -> None:
    """Check the forms engine's accepted submissions and record their figures for the round; prints issues per row."""
    from passage.dtm import service

    with unit_of_work() as session:
        round_ = service.get_round(session, number=round_number, operation=operation)
        result = service.process_form_submissions(session, actor=CLI_ACTOR, round_id=round_.id, component=_component(component), form_ref=form, default_household_size=household_size)
    typer.echo(f"recorded {result.recorded}; already recorded {result.already_recorded}; not stored {result.not_stored}")
    for check, count in sorted(result.counts().items()):
        typer.echo(f"  {check}: {count}")
    for issue in result.issues:
        typer.echo(f"row {issue.row}: {issue.check} [{issue.severity}] {issue.field}: {issue.message}", err=True)


def _aggregate(round_number: int, level: int, operation: str | None, component: str) -> tuple[AssessmentRound, AggregateResult, dict[str, int], Publication]:
    """The round's published table at one level (`service.published_round`: disclosure control applied)."""
    from passage.dtm import service

    with unit_of_work() as session:
        round_ = service.get_round(session, number=round_number, operation=operation)
        shown = service.published_round(session, round_=round_, component=_component(component))
        result = shown.level(_level(level))
        counts = service.issue_counts(session, round_id=round_.id, component=component)
        return round_, result, counts, shown


def _report_skipped(result: AggregateResult) -> None:
    if result.not_rollable:
        typer.echo(f"note: {result.not_rollable} figure(s) assessed above this level are not in the table", err=True)


@dtm_app.command("aggregate")
def aggregate_command(round_number: RoundOption, level: LevelOption, out: Annotated[Path, typer.Option("--out", help="CSV file to write.")], operation: OperationOption = None, component: ComponentOption = "baseline") -> None:
    """Aggregate a round to one admin level and write it as CSV (one level per table)."""
    from passage.dtm.hxl import write_plain_csv

    _round, result, _counts, _shown = _aggregate(round_number, level, operation, component)
    written = write_plain_csv(result.rows, level, out)
    _report_skipped(result)
    typer.echo(f"wrote {written} admin{level} rows to {out}")


@dtm_app.command("export-hxl")
def export_hxl(round_number: RoundOption, level: LevelOption, out: Annotated[Path, typer.Option("--out", help="CSV or XLSX file to write.")], operation: OperationOption = None, component: ComponentOption = "baseline") -> None:
    """Write a round's table at one admin level with HXL hashtags (.csv or .xlsx by the file name)."""
    from passage.dtm.hxl import write_hxl_csv, write_hxl_xlsx

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InvalidInput(T_("--out must end in .csv or .xlsx"))
    _round, result, _counts, _shown = _aggregate(round_number, level, operation, component)
    written = (write_hxl_xlsx if suffix == ".xlsx" else write_hxl_csv)(result.rows, level, out)
    _report_skipped(result)
    typer.echo(f"wrote {written} HXL-tagged admin{level} rows to {out}")


@dtm_app.command("report")
def report_command(round_number: RoundOption, level: LevelOption, out: Annotated[Path, typer.Option("--out", help="PDF (or .html) file to write.")], operation: OperationOption = None, component: ComponentOption = "baseline", language: Annotated[str, typer.Option("--language", help="en or zh")] = "en") -> None:
    """Write the round report as PDF (WeasyPrint) or HTML."""
    from passage.dtm.report import build_report, render_html, write_pdf

    round_, result, counts, shown = _aggregate(round_number, level, operation, component)
    report = build_report(result.rows, level=level, operation=round_.operation, round_number=round_.number, reporting_date=round_.reporting_date, assessment_type=component, issue_counts=counts, language=language,
                          totals=shown.totals.get(level, {}), threshold=shown.protection.threshold)
    if out.suffix.lower() == ".html":
        with atomic_output(out) as handle:
            handle.write(render_html(report, language=language))
        typer.echo(f"wrote {out}")
        return
    pages = write_pdf(report, out, language=language)
    typer.echo(f"wrote {out} ({pages} page(s))")


@dtm_app.command("map")
def map_command(round_number: RoundOption, level: LevelOption, out: Annotated[Path, typer.Option("--out", help="GeoJSON file to write.")], operation: OperationOption = None, component: ComponentOption = "baseline", value: Annotated[str, typer.Option("--value")] = "idp_individuals", simplify: Annotated[float, typer.Option("--simplify", help="Simplification tolerance in degrees.")] = 0.0, sites_out: Annotated[Path | None, typer.Option("--sites-out", help="Also write the round's sites as GeoJSON points.")] = None) -> None:
    """Write a choropleth-ready GeoJSON of the round at one admin level (and optionally site points)."""
    from passage.dtm import service
    from passage.dtm.choropleth import choropleth, site_points

    with unit_of_work() as session:
        round_ = service.get_round(session, number=round_number, operation=operation)
        gazetteer = service.get_gazetteer(session, with_geometry=True)
        result = service.published_round(session, round_=round_, component=_component(component), gazetteer=gazetteer).level(_level(level))
        collection = choropleth(result.rows, gazetteer.areas(level), level=level, value_field=value, simplify_tolerance=simplify)
        sites = site_points(service.published_sites(session, round_=round_)) if sites_out else None
    with atomic_output(out) as handle:
        json.dump(collection, handle, ensure_ascii=False)
    if sites_out and sites is not None:
        with atomic_output(sites_out) as handle:
            json.dump(sites, handle, ensure_ascii=False)
    typer.echo(f"wrote {len(collection['features'])} admin{level} areas to {out}")


@dtm_app.command("api")
def api_command(level: LevelOption, out: Annotated[Path, typer.Option("--out", help="JSON file to write.")], round_number: Annotated[int, typer.Option("--round")], operation: OperationOption = None) -> None:
    """Write a round's admin 0/1/2 baseline table in the DTM API v3 response shape."""
    from passage.dtm import service
    from passage.dtm.dtm_api import dtm_api_v3_response

    if level not in (0, 1, 2):
        raise InvalidInput(T_("the DTM API has admin 0, 1 and 2 displacement endpoints only"))
    with unit_of_work() as session:
        round_ = service.get_round(session, number=round_number, operation=operation)
        gazetteer = service.get_gazetteer(session)
        result = service.published_round(session, round_=round_, component="baseline", gazetteer=gazetteer).level(level)
        body = dtm_api_v3_response(result.rows, level=level, gazetteer=gazetteer)
    with atomic_output(out) as handle:
        json.dump(body, handle, ensure_ascii=False, indent=1)
    typer.echo(f"wrote {len(body['result'])} DTM API v3 admin{level} records to {out}")


@dtm_app.command("process-flows")
def process_flows(form: Annotated[str, typer.Option("--form", help="Flow monitoring form id.")] = "dtm_flow_monitoring", round_number: Annotated[int | None, typer.Option("--round", help="Attach the counts to this round.")] = None, operation: OperationOption = None) -> None:
    """Store the count lines of the forms engine's accepted flow monitoring submissions."""
    from passage.dtm import service
    from passage.forms import service as forms_service

    with unit_of_work() as session:
        round_id = service.get_round(session, number=round_number, operation=operation).id if round_number is not None else None
        submissions = [(s.source_row or index, s.uuid, s.data) for index, s in enumerate(forms_service.iter_submissions(session, form_ref=form, actor=CLI_ACTOR), start=1)]
        result = service.record_flow_submissions(session, actor=CLI_ACTOR, submissions=submissions, round_id=round_id)
    typer.echo(f"count lines stored {result.lines}; already recorded {result.already_recorded}; not stored {result.not_stored}")
    for issue in result.issues:
        typer.echo(f"row {issue.row}: {issue.check} [{issue.severity}] {issue.field}: {issue.message}", err=True)


@dtm_app.command("flows")
def flows_command(out: Annotated[Path, typer.Option("--out", help="CSV file to write.")], by: Annotated[str, typer.Option("--by", help="Comma-separated: fmp_id, observed_on, direction, nationality, transport_mode.")] = "direction,nationality,transport_mode", date_from: Annotated[str | None, typer.Option("--from")] = None, date_to: Annotated[str | None, typer.Option("--to")] = None) -> None:
    """Write flow counts summed by the chosen dimensions."""
    from passage.core.files import SafeCsvDictWriter
    from passage.dtm import service

    dimensions = tuple(d.strip() for d in by.split(",") if d.strip())
    allowed = ("fmp_id", "observed_on", "direction", "nationality", "transport_mode")
    unknown = [d for d in dimensions if d not in allowed]
    if unknown or not dimensions:
        raise InvalidInput(T_("--by accepts {allowed}", allowed=', '.join(allowed)))
    with unit_of_work() as session:
        rows = service.flow_summary(session, date_from=_date(date_from, "--from") if date_from else None, date_to=_date(date_to, "--to") if date_to else None, by=dimensions)
    with atomic_output(out) as handle:
        writer = SafeCsvDictWriter(handle, fieldnames=[*dimensions, "adult_males", "adult_females", "boys", "girls", "total"])
        writer.writeheader()
        writer.writerows(rows)
    typer.echo(f"wrote {len(rows)} rows to {out}")


@dtm_app.command("changes")
def changes_command(round_number: RoundOption, level: LevelOption, out: Annotated[Path, typer.Option("--out", help="CSV file to write.")], operation: OperationOption = None, component: ComponentOption = "baseline") -> None:
    """Write the change in IDP individuals per area from the previous round to this one."""
    from passage.core.files import csv_writer
    from passage.dtm import service

    with unit_of_work() as session:
        round_ = service.get_round(session, number=round_number, operation=operation)
        found, changes = service.changes_from_previous(session, round_=round_, level=_level(level), component=_component(component))
        if found is None:
            raise InvalidInput(T_("round {number} has no previous round in operation {operation}", number=round_.number, operation=round_.operation))
        before = found
    with atomic_output(out) as handle:
        writer = csv_writer(handle)
        writer.writerow([f"admin{level}Pcode", "previousRound", "previousIdpInd", "currentRound", "currentIdpInd", "change", "changePercent", "status"])
        for change in changes:
            writer.writerow([change.key, before.number, change.previous if change.previous is not None else "", round_.number, change.current if change.current is not None else "", "" if change.change is None else change.change, "" if change.percent is None else f"{change.percent:.1f}", change.status])
    typer.echo(f"wrote {len(changes)} admin{level} changes to {out}")
