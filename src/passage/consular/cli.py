"""`passage consular ...`: evacuation plans and manifests, bulk registration imports, outbox files, districts, retention.

Commands that touch personal data act as a named user (`--as USERNAME`, or `$PASSAGE_USER`), so scope and audit are
the same as on the web: a mission's officer sees the mission's district, the centre sees all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from passage.core.db import unit_of_work
from passage.core.errors import InvalidInput, NotFound
from passage.core.files import atomic_output, csv_writer
from passage.core.i18n import T_
from passage.core.progress import progress_bar
from passage.security.actors import system_actor
from passage.security.models import Organisation, User

consular_app = typer.Typer(name="consular", help="Consular protection: registrations, crises, evacuation plans, outbox.", no_args_is_help=True)
evacuation_app = typer.Typer(name="evacuation", help="Evacuation planning and manifests.", no_args_is_help=True)
registrations_app = typer.Typer(name="registrations", help="Registrations of nationals abroad.", no_args_is_help=True)
outbox_app = typer.Typer(name="outbox", help="Generated messages waiting for a gateway.", no_args_is_help=True)
district_app = typer.Typer(name="district", help="Consular districts of missions.", no_args_is_help=True)
consular_app.add_typer(evacuation_app)
consular_app.add_typer(registrations_app)
consular_app.add_typer(outbox_app)
consular_app.add_typer(district_app)
typer_apps: list[typer.Typer] = [consular_app]

AsOption = Annotated[str, typer.Option("--as", envvar="PASSAGE_USER", help="Username the command acts as (scope and audit); default $PASSAGE_USER.")]
CrisisOption = Annotated[str, typer.Option("--crisis", help="Crisis id or reference (CRI-...).")]


def _user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.is_active:
        raise InvalidInput(T_("--as: no active user {username}", username=username))
    return user


def _crisis_id(session: Session, user: User, crisis: str) -> str:
    from passage.consular.models import Crisis
    from passage.security.scope import scoped_select

    found = session.scalars(scoped_select(Crisis, user).where(or_(Crisis.id == crisis, Crisis.reference == crisis.upper()))).first()
    if found is None:
        raise NotFound(T_("--crisis: crisis {crisis} not found", crisis=crisis))
    return found.id


@evacuation_app.command("plan")
def plan_command(
    crisis: CrisisOption,
    out: Annotated[Path, typer.Option("--out", help="Plan file (JSON), written atomically.")],
    as_user: AsOption,
    apply: Annotated[bool, typer.Option("--apply", help="Also book the planned seats (all or nothing).")] = False,
    report_minutes: Annotated[int, typer.Option(help="Minutes before departure evacuees report at the assembly point.")] = 120,
    transfer_minutes: Annotated[int, typer.Option(help="Shortest connection between two legs, in minutes.")] = 90,
    nearest_points: Annotated[int, typer.Option(help="Assembly points considered per household (nearest first).")] = 3,
) -> None:
    """Plan the evacuation of everyone in the crisis area without a seat; the file holds ids and seats, no names."""
    from passage.consular import evacuation, service

    if nearest_points < 1 or report_minutes < 0 or transfer_minutes < 0:
        raise InvalidInput(T_("--nearest-points must be at least 1 and minutes must not be negative"))
    with unit_of_work() as session:
        user = _user(session, as_user)
        crisis_id = _crisis_id(session, user, crisis)
        plan = service.plan_for_crisis(session, actor=user, crisis_id=crisis_id,
                                       parameters=evacuation.Parameters(report_minutes, transfer_minutes, nearest_points))
        booked = service.apply_plan(session, actor=user, crisis_id=crisis_id, plan=plan) if apply else 0
        # The file is written inside the transaction: if writing fails, the booking rolls back too.
        with atomic_output(out) as handle:
            json.dump(plan, handle, ensure_ascii=False, indent=1)
    summary = plan["summary"]
    typer.echo(f"{summary['placed']} of {summary['people']} people placed, {summary['unplaced']} unplaced, {summary['seats_empty']} seats empty"
               + (f", {booked} seats booked" if apply else "") + f" -> {out}", err=True)


@evacuation_app.command("manifest")
def manifest_command(
    crisis: CrisisOption,
    leg: Annotated[str, typer.Option("--leg", help="Leg id or code.")],
    out: Annotated[Path, typer.Option("--out", help="Manifest CSV, written atomically.")],
    as_user: AsOption,
) -> None:
    """A leg's passenger list (names, passport numbers) as CSV for the carrier; the export is audited."""
    from passage.consular import service
    from passage.consular.models import TransportLeg

    with unit_of_work() as session:
        user = _user(session, as_user)
        crisis_id = _crisis_id(session, user, crisis)
        leg_row = session.scalars(select(TransportLeg).where(TransportLeg.crisis_id == crisis_id, or_(TransportLeg.id == leg, TransportLeg.code == leg))).first()
        if leg_row is None:
            raise NotFound(T_("--leg: leg {leg} not found in the crisis", leg=leg))
        _leg, people = service.manifest(session, actor=user, crisis_id=crisis_id, leg_id=leg_row.id)
        with atomic_output(out) as handle:
            writer = csv_writer(handle)
            writer.writerow(["seat", "reference", "family_name", "given_name", "passport_number", "priority_tier", "status"])
            for p in people:
                # A leading =, +, - or @ would run as a formula in a spreadsheet (CWE-1236); quote it as text.
                cells = [p["seat"], p["reference"], p["family_name"], p["given_name"], p["passport_number"], p["priority_tier"], p["status"]]
                writer.writerow([f"'{c}" if isinstance(c, str) and c[:1] in ("=", "+", "-", "@") else c for c in cells])
    typer.echo(f"{len(people)} passengers -> {out}", err=True)


@registrations_app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="CSV of registrations (columns in docs/consular.md).")],
    as_user: AsOption,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, import nothing.")] = False,
) -> None:
    """Import a mission's CSV; any row error refuses the whole file, listing each line and column."""
    from passage.consular import service

    with unit_of_work() as session, progress_bar() as progress:
        user = _user(session, as_user)
        task = progress.add_task("importing", total=None)
        result = service.import_registrations(session, actor=user, path=path, dry_run=dry_run,
                                              on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    verb = "checked" if dry_run else "imported"
    typer.echo(f"{result.rows} rows {verb}, {result.created} created, {result.possible_duplicates} possible duplicates", err=True)


@outbox_app.command("export")
def outbox_export(
    batch: Annotated[str, typer.Option("--batch", help="Batch id from message generation.")],
    out: Annotated[Path, typer.Option("--out", help="JSON-lines file, written atomically.")],
    as_user: AsOption,
) -> None:
    """Write a message batch to a file a gateway can send from (one JSON object per line)."""
    from passage.consular import service

    with unit_of_work() as session:
        user = _user(session, as_user)
        count = service.write_outbox_file(session, actor=user, batch_id=batch, path=out)
    typer.echo(f"{count} messages -> {out}", err=True)


@district_app.command("add")
def district_add(
    mission: Annotated[str, typer.Option("--mission", help="Mission organisation id or exact name.")],
    country: Annotated[str, typer.Option("--country", help="Host country, ISO 3166-1 alpha-2.")],
    bbox: Annotated[str | None, typer.Option("--bbox", help="min_lon,min_lat,max_lon,max_lat of the part of the country covered.")] = None,
) -> None:
    """Record that a mission covers a country (or the part of it within a box)."""
    from passage.consular import service

    if len(country) != 2 or not country.isalpha():
        raise InvalidInput(T_("--country: an ISO 3166-1 alpha-2 code"))
    box = None
    if bbox:
        try:
            box = [float(v) for v in bbox.split(",")]
        except ValueError:
            raise InvalidInput(T_("--bbox: four numbers separated by commas")) from None
    with unit_of_work() as session:
        organisation = session.scalars(select(Organisation).where(or_(Organisation.id == mission, Organisation.name == mission))).first()
        if organisation is None:
            raise NotFound(T_("--mission: no organisation {mission}", mission=mission))
        service.set_district(session, actor=system_actor("consular.cli"), mission_id=organisation.id, country=country.upper(), bbox=box)
    typer.echo(f"district recorded: {country.upper()}", err=True)


@consular_app.command("retention")
def retention_command() -> None:
    """Erase location history past the retention policy (see docs/consular.md); prints counts only."""
    from passage.consular import service

    with unit_of_work() as session:
        erased = service.erase_location_history(session, actor=system_actor("consular.retention"))
    typer.echo(f"{erased} location history entries erased ({service.RETENTION_POLICY['description']})")
