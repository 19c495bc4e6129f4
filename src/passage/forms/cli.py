"""`passage forms …`: load XLSForms and import Kobo/ODK exports (contracts in docs/forms.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from passage.core.db import unit_of_work
from passage.core.errors import InvalidInput
from passage.core.progress import progress_bar

forms_app = typer.Typer(name="forms", help="XLSForm questionnaires: load forms, import exports.", no_args_is_help=True)


@forms_app.command("load")
def load(form_file: Path = typer.Argument(..., help="The XLSForm workbook (.xlsx).")) -> None:
    """Load an XLSForm and store it as a new version of its form."""
    from passage.forms import service

    if not form_file.exists():
        raise InvalidInput(f"{form_file.name}: file not found")
    with unit_of_work() as session:
        result = service.load_form(session, actor=None, content=form_file.read_bytes(), filename=form_file.name)
        state = "stored" if result.created else "already stored"
        typer.echo(
            f"form {result.form.form_key} version {result.version.version_label} (#{result.version.number}) {state}: "
            f"{sum(1 for f in result.definition.walk() if f.holds_value)} fields, "
            f"{len(result.definition.choices)} choice lists, languages {', '.join(result.definition.languages) or 'default'}"
        )
        for warning in result.definition.warnings:
            typer.echo(f"warning: {warning}", err=True)


@forms_app.command("import")
def import_data(
    data_file: Path = typer.Argument(..., help="A KoboToolbox/ODK export: .csv or .xlsx."),
    form: str = typer.Option(..., "--form", help="The form's XLSForm form_id (or its Passage id)."),
) -> None:
    """Import an export: validate every row, store it, quarantine the wrong ones, skip duplicates."""
    from passage.forms import service

    with unit_of_work() as session, progress_bar(transient=True) as bar:
        task = bar.add_task("validating", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = service.import_export(session, actor=None, form_ref=form, path=data_file, progress=advance)
    typer.echo(f"rows read: {report.rows_read}")
    typer.echo(f"accepted: {report.accepted}")
    typer.echo(f"quarantined: {report.quarantined}")
    for reason, count in sorted(report.quarantined_by_reason.items(), key=lambda item: (-item[1], item[0])):
        typer.echo(f"  {reason}: {count}")
    typer.echo(f"duplicates skipped: {report.duplicates}")
    typer.echo(f"batch: {report.batch_id}")


typer_apps: list[typer.Typer] = [forms_app]
