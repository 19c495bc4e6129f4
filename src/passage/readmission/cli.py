"""`passage agreements list|show|load FILE`, `passage calendars list|show|load NOTICE.json` and
`passage readmission deadlines|tick`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer

from passage.core.errors import FieldError, InvalidInput, NotFound
from passage.core.i18n import N_, T_, Label, Text, localise
from passage.readmission import rules
from passage.readmission.agreements import load_agreement_file, preset_agreements, unverified_figures
from passage.readmission.jobs import due_now
from passage.readmission.schemas import Agreement, AgreementVersion

agreements_app = typer.Typer(name="agreements", help="Readmission agreements: shipped presets and loaded versions.", no_args_is_help=True)
readmission_app = typer.Typer(name="readmission", help="Readmission deadlines and the deadline job.", no_args_is_help=True)
calendars_app = typer.Typer(name="calendars", help="Official annual holiday notices of requested states (e.g. China's State Council notice).", no_args_is_help=True)
typer_apps: list[typer.Typer] = [agreements_app, readmission_app, calendars_app]


def _in_language(data: Any) -> Any:
    """Messages and labels in the output rendered in the CLI's language (`--lang`, PASSAGE_LANG or the locale)."""
    if isinstance(data, (Text, Label)):
        return localise(data)
    if isinstance(data, dict):
        return {k: _in_language(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_in_language(v) for v in data]
    return data


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(_in_language(data), ensure_ascii=False, indent=2))


def _catalogue(use_db: bool) -> dict[str, Agreement]:
    """Presets, plus the database's agreements when it is reachable (a missing DB is not an error here)."""
    from passage.readmission.store import DatabaseNotReady, all_agreements

    if not use_db:
        return all_agreements(None)
    from passage.core.db import unit_of_work

    try:
        with unit_of_work() as session:
            return all_agreements(session)
    except DatabaseNotReady as exc:
        typer.echo(localise(T_("note: {problem}; showing shipped presets only", problem=localise(exc.message))), err=True)
        return all_agreements(None)


def _find(agreement_id: str, use_db: bool) -> Agreement:
    catalogue = _catalogue(use_db)
    if agreement_id not in catalogue:
        raise NotFound(T_("no agreement with id {agreement_id}", agreement_id=agreement_id), extra={"known": sorted(catalogue)})
    return catalogue[agreement_id]


def _parse_date(value: str, field_name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(T_("--{field_name} must be a date as YYYY-MM-DD", field_name=field_name), fields=[FieldError(field_name, N_("not an ISO date"))]) from None


@agreements_app.command("list")
def list_agreements(db: bool = typer.Option(True, "--db/--no-db", help="Include agreements loaded into the database.")) -> None:
    """List agreements as JSON: id, name, kind, versions and the number of unverified figures."""
    presets = preset_agreements()
    rows = []
    for agreement in _catalogue(db).values():
        rows.append(
            {
                "id": agreement.id,
                "name": agreement.name,
                "name_zh": agreement.name_zh,
                "kind": agreement.kind,
                "editable": agreement.editable,
                "source": "preset" if presets.get(agreement.id) == agreement else "database",
                "versions": [{"version": v.version, "label": v.label, "effective_from": v.effective_from.isoformat(), "effective_to": v.effective_to.isoformat() if v.effective_to else None} for v in agreement.versions],
                "unverified_figures": len(unverified_figures(agreement)),
            }
        )
    _echo_json(rows)


@agreements_app.command("show")
def show_agreement(agreement_id: str = typer.Argument(..., help="Agreement id, e.g. eu-serbia-template."), db: bool = typer.Option(True, "--db/--no-db")) -> None:
    """Print one agreement with all versions and the paths of its unverified figures."""
    agreement = _find(agreement_id, db)
    body = agreement.model_dump(mode="json")
    body["unverified_figures"] = unverified_figures(agreement)
    _echo_json(body)


@agreements_app.command("load")
def load_agreement_command(file: Path = typer.Argument(..., help="Agreement JSON file (same format as the presets)."), loaded_by: str = typer.Option(None, help="User id recorded on the new versions.")) -> None:
    """Validate an agreement file and store its new versions in the database."""
    from passage.core.db import unit_of_work
    from passage.readmission.store import load_agreement

    agreement = load_agreement_file(file)
    with unit_of_work() as session:
        result = load_agreement(session, agreement=agreement, loaded_by=loaded_by)
    _echo_json(result)


@calendars_app.command("list")
def list_calendars(db: bool = typer.Option(True, "--db/--no-db", help="Include notices loaded into the database.")) -> None:
    """List the official notices (shipped and loaded) and, per notice-based state, the provisional years around today."""
    from passage.readmission.calendars import NOTICE_REGIMES
    from passage.readmission.notices import shipped_notices

    notices = list(shipped_notices())
    if db:
        from passage.core.db import unit_of_work
        from passage.readmission.store import DatabaseNotReady, all_notices

        try:
            with unit_of_work() as session:
                notices = all_notices(session)
        except DatabaseNotReady as exc:
            typer.echo(localise(T_("note: {problem}; showing shipped notices only", problem=localise(exc.message))), err=True)
    this_year = dt.date.today().year
    rows = [{"notice": n.key, "country": n.country, "year": n.year, "version": n.version, "issued_on": n.issued_on.isoformat(),
             "title": n.title, "source": n.source, "url": n.url, "holidays": len(n.holidays), "workdays": len(n.workdays)} for n in notices]
    provisional = {country: [y for y in range(this_year - 1, this_year + 3) if not any(n.country == country and n.year == y for n in notices)]
                   for country in NOTICE_REGIMES}
    _echo_json({"notices": rows, "provisional_years": provisional})


@calendars_app.command("load")
def load_calendar_command(
    file: Path = typer.Argument(..., help="Notice JSON file: country, year, version, title, issued_on, source, url, holidays, workdays."),
    today: str = typer.Option(None, help="Date the recomputation is recorded on (YYYY-MM-DD; default today)."),
) -> None:
    """Add one year's official holiday notice, then recompute the open cases' deadlines it moves (audited, system actor)."""
    from passage.core.db import unit_of_work
    from passage.readmission.notices import parse_notice_bytes
    from passage.readmission.service import load_calendar_notice

    if not file.is_file():
        raise InvalidInput(T_("{name}: file not found", name=file.name))
    notice = parse_notice_bytes(file.read_bytes(), source=file.name)
    day = _parse_date(today, "today") if today else None
    with unit_of_work() as session:
        result = load_calendar_notice(session, notice=notice, today=day)
    _echo_json(result)


def _version(agreement: Agreement, on: dt.date, number: int | None) -> AgreementVersion:
    if number is not None:
        for version in agreement.versions:
            if version.version == number:
                return version
        raise NotFound(T_("{id} has no version {number}", id=agreement.id, number=number))
    in_force = agreement.version_on(on)
    if in_force is None:
        raise InvalidInput(T_("no version of {id} is in force on {value}", id=agreement.id, value=on.isoformat()), fields=[FieldError("received", N_("outside every version's effective dates"))])
    return in_force


@readmission_app.command("deadlines")
def deadlines(
    agreement: str = typer.Option(..., "--agreement", help="Agreement id."),
    received: str = typer.Option(..., "--received", help="Date the reply clock starts (YYYY-MM-DD)."),
    accelerated: bool = typer.Option(False, "--accelerated", help="Accelerated (border) procedure."),
    extension_requested: bool = typer.Option(False, "--extension-requested", help="The requested state asked for the extension."),
    version: int = typer.Option(None, "--version", help="Agreement version (default: the one in force on --received)."),
    db: bool = typer.Option(True, "--db/--no-db"),
) -> None:
    """Print JSON: reply due, latest extended due, transfer deadline if accepted on the last day, each with its rule."""
    received_on = _parse_date(received, "received")
    found = _find(agreement, db)
    chosen = _version(found, received_on, version)
    body = {"agreement": found.id, **rules.deadlines_on_receipt(chosen, received_on, accelerated=accelerated, extension_requested=extension_requested)}
    _echo_json(body)


@readmission_app.command("tick")
def tick(
    today: str = typer.Option(None, "--today", help="Run as of this date (default: today, UTC)."),
    input_file: Path = typer.Option(None, "--input", help="JSON list of case snapshots instead of the database."),
    apply: bool = typer.Option(False, "--apply", help="Apply deemed acceptances through the service (audited, as the system actor)."),
) -> None:
    """The deadline job: print what is due now (deemed acceptances, overdue and soon-due flags) as JSON.

    Without --apply it is read-only. With --apply each deemed acceptance is an audited transition taken
    by the system actor in the same transaction; a second run finds nothing left to apply.
    """
    run_on = _parse_date(today, "today") if today else dt.datetime.now(dt.UTC).date()
    if apply:
        if input_file is not None:
            raise InvalidInput(N_("--apply works on the database, not on --input"), fields=[FieldError("--input", N_("not allowed with --apply"))])
        from passage.core.db import unit_of_work
        from passage.readmission import service

        with unit_of_work() as session:
            applied = service.run_deadline_job(session, today=run_on, apply=True)
        _echo_json({"today": run_on.isoformat(), "applied": [a.as_dict() for a in applied if a.action == "deem_accepted"], "flags": [a.as_dict() for a in applied if a.action != "deem_accepted"]})
        return
    from passage.readmission.store import snapshot_from_dict

    if input_file is not None:
        try:
            raw = json.loads(Path(input_file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(T_("{value}: cannot read JSON ({value2})", value=Path(input_file).name, value2=type(exc).__name__)) from None
        if not isinstance(raw, list):
            raise InvalidInput(T_("{value}: expected a JSON list of case snapshots", value=Path(input_file).name))
        snapshots = [snapshot_from_dict(item, index=i) for i, item in enumerate(raw)]
        catalogue = _catalogue(use_db=False)
    else:
        from passage.core.db import unit_of_work
        from passage.readmission.store import all_agreements, case_snapshots

        with unit_of_work() as session:
            snapshots = case_snapshots(session)
            catalogue = all_agreements(session)

    def version_of(agreement_id: str, number: int) -> AgreementVersion:
        if agreement_id not in catalogue:
            raise NotFound(T_("case refers to unknown agreement {agreement_id}", agreement_id=agreement_id))
        return _version(catalogue[agreement_id], dt.date.min, number)

    actions = due_now(snapshots, today=run_on, version_of=version_of)
    _echo_json({"today": run_on.isoformat(), "cases": len(snapshots), "actions": [a.as_dict() for a in actions]})

