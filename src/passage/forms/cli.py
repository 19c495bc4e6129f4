"""`passage forms …`: load XLSForms and import Kobo/ODK exports (contracts in docs/forms.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passage.core.db import unit_of_work
from passage.core.errors import InvalidInput, NotFound
from passage.core.i18n import T_, label, localise
from passage.core.progress import progress_bar
from passage.security.actors import system_actor

CLI_ACTOR = system_actor("forms.cli")
"""The server operator running the command: the services check and audit it like any actor."""

forms_app = typer.Typer(name="forms", help="XLSForm questionnaires: load forms, import exports.", no_args_is_help=True)


ORGANISATION_HELP = "Owning organisation (id or exact name); needed when the store holds several organisations."


def _organisation_id(session: Session, organisation: str | None, *, for_new_form: bool) -> str | None:
    """The organisation named on the command line; when none is named and exactly one exists, that one."""
    from passage.security.models import Organisation

    if organisation:
        found = session.get(Organisation, organisation) or session.scalars(select(Organisation).where(Organisation.name == organisation)).first()
        if found is None:
            raise NotFound(T_("organisation {organisation} not found", organisation=organisation))
        return found.id
    if not for_new_form:
        return None
    count = session.scalar(select(func.count()).select_from(Organisation)) or 0
    if count == 0:
        return None
    if count == 1:
        return session.scalars(select(Organisation.id)).one()
    raise InvalidInput(T_("the store holds several organisations; name the form's owner with --organisation"))


@forms_app.command("load")
def load(
    form_file: Path = typer.Argument(..., help="The XLSForm workbook (.xlsx or .xls)."),
    media: list[Path] = typer.Option([], "--media", "-m", help="A form attachment (CSV, XML or GeoJSON list); repeat for several."),
    organisation: str | None = typer.Option(None, "--organisation", "-o", help=ORGANISATION_HELP),
) -> None:
    """Load an XLSForm and store it as a new version of its form (as the system actor, audited)."""
    from passage.forms import service

    if not form_file.exists():
        raise InvalidInput(T_("{file}: file not found", file=form_file.name))
    with unit_of_work() as session:
        owner = _organisation_id(session, organisation, for_new_form=True)
        for attachment in media:
            if not attachment.exists():
                raise InvalidInput(T_("{file}: file not found", file=attachment.name))
        attachments = {attachment.name: attachment.read_bytes() for attachment in media}
        result = service.load_form(session, actor=CLI_ACTOR, content=form_file.read_bytes(), filename=form_file.name, organisation_id=owner,
                                   attachments=attachments)
        definition = result.definition
        fields = sum(1 for f in definition.walk() if f.holds_value)
        languages = ", ".join(definition.languages) or localise(T_("default"))
        if result.created:
            line = T_("form {form} version {version} (#{number}) stored: {fields} fields, {lists} choice lists, languages {languages}",
                      form=result.form.form_key, version=result.version.version_label, number=str(result.version.number),
                      fields=fields, lists=len(definition.choices), languages=languages)
        else:
            line = T_("form {form} version {version} (#{number}) already stored: {fields} fields, {lists} choice lists, languages {languages}",
                      form=result.form.form_key, version=result.version.version_label, number=str(result.version.number),
                      fields=fields, lists=len(definition.choices), languages=languages)
        typer.echo(localise(line))
        for warning in definition.warning_lines():
            typer.echo(localise(T_("warning: {warning}", warning=warning)), err=True)


@forms_app.command("import")
def import_data(
    data_file: Path = typer.Argument(..., help="A KoboToolbox/ODK export: .csv (`,` or `;`), .xlsx, ODK Central CSV .zip, or .json."),
    form: str = typer.Option(..., "--form", help="The form's XLSForm form_id (or its Passage id)."),
    organisation: str | None = typer.Option(None, "--organisation", "-o", help=ORGANISATION_HELP),
) -> None:
    """Import an export: validate every row, store it, quarantine the wrong ones, skip duplicates."""
    from passage.forms import service

    if not data_file.exists():
        raise InvalidInput(T_("{file}: file not found", file=data_file.name))
    with unit_of_work() as session, progress_bar(transient=True) as bar:
        owner = _organisation_id(session, organisation, for_new_form=False)
        task = bar.add_task(localise(T_("validating")), total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = service.import_export(session, actor=CLI_ACTOR, form_ref=form, path=data_file, progress=advance, organisation_id=owner)
    _summary(report)
    if report.attachments:
        typer.echo(localise(T_("attachments in the export: {count}", count=report.attachments)))
    from passage.forms.definition import not_evaluated_warning

    for entry in report.not_evaluated:
        typer.echo(localise(T_("not evaluated: {warning}", warning=not_evaluated_warning(entry))))
    typer.echo(localise(T_("batch: {batch}", batch=report.batch_id)))


def _summary(report: Any) -> None:
    """The counts of an import, in the reader's language (quarantine reasons by their labels)."""
    from passage.forms import messages  # noqa: F401 - defines the forms.reason labels
    typer.echo(localise(T_("rows read: {count}", count=report.rows_read)))
    typer.echo(localise(T_("accepted: {count}", count=report.accepted)))
    typer.echo(localise(T_("quarantined: {count}", count=report.quarantined)))
    for reason, count in sorted(report.quarantined_by_reason.items(), key=lambda item: (-item[1], item[0])):
        typer.echo(f"  {label('forms.reason', reason)} ({reason}): {localise(count)}")
    typer.echo(localise(T_("duplicates skipped: {count}", count=report.duplicates)))


@forms_app.command("pull")
def pull(
    form: str = typer.Option(..., "--form", help="The form's XLSForm form_id (or its Passage id)."),
    url: str = typer.Option(..., "--url", help="The ODK Central server, e.g. https://central.example.org"),
    project: int = typer.Option(..., "--project", help="The Central project id."),
    central_form: str | None = typer.Option(None, "--central-form", help="The form's id on Central (default: the form_id)."),
    organisation: str | None = typer.Option(None, "--organisation", "-o", help=ORGANISATION_HELP),
) -> None:
    """Pull submissions from ODK Central (pyodk) and import them; the API token is read from PASSAGE_CENTRAL_TOKEN."""
    import os

    from passage.forms import service

    token = os.environ.get("PASSAGE_CENTRAL_TOKEN", "").strip()
    if not token:
        raise InvalidInput(T_("set PASSAGE_CENTRAL_TOKEN to an ODK Central API token (it is never taken on the command line)"))
    with unit_of_work() as session:
        owner = _organisation_id(session, organisation, for_new_form=False)
        report = service.pull_from_central(session, actor=CLI_ACTOR, form_ref=form, base_url=url, project_id=project, token=token,
                                           central_form_id=central_form, organisation_id=owner)
    _summary(report)
    typer.echo(localise(T_("batch: {batch}", batch=report.batch_id)))


typer_apps: list[typer.Typer] = [forms_app]
