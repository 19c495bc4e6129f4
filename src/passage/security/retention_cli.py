"""`passage retention run [--dry-run] [--today DATE]` and `passage retention policies`."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from passage.core.errors import InvalidInput
from passage.core.i18n import T_

retention_app = typer.Typer(name="retention", help="Erase personal data whose retention period has ended.", no_args_is_help=True)


def _console(*, stderr: bool) -> Console:
    """A console that does not wrap the table at 80 columns when the output goes to a log file (cron)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 200)


def _print_policies(rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Retention policies", show_lines=True)
    for column in ("record type", "module", "expires", "erased", "kept", "expired", "erased now"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["record_type"], row["module"], row["period"], row["erased"], row["kept"],
                      str(row.get("expired", "")), str(row.get("erased_now", "")))
    console.print(table)


@retention_app.command("policies")
def policies() -> None:
    """Print the retention policy of every record type the installed modules contribute."""
    from passage.security.retention import discover

    _print_policies([p.row() for p in discover()], _console(stderr=False))


@retention_app.command("run")
def run(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the policy table and what would be erased; change nothing."),
    today: str = typer.Option(None, "--today", help="Run as of this date, YYYY-MM-DD (default: today, UTC)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout instead of a table."),
) -> None:
    """Erase what each record type's policy says is expired, in one audited transaction, as the system actor."""
    from passage.core.db import unit_of_work
    from passage.security import retention

    try:
        day = dt.date.fromisoformat(today) if today else dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise InvalidInput(T_("--today: '{today}' is not a date (YYYY-MM-DD)", today=today)) from None
    console = _console(stderr=as_json)
    with unit_of_work() as session:
        with console.status("erasing expired records") if not dry_run and not as_json else contextlib.nullcontext():
            report = retention.run(session, today=day, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    _print_policies([r.policy.row() | {"expired": len(r.expired), "erased_now": "-" if dry_run else len(r.erased)} for r in report.runs], console)
    verb = "would be erased" if dry_run else "erased"
    console.print(f"{day.isoformat()}: {sum(len(r.expired if dry_run else r.erased) for r in report.runs)} record(s) {verb}.")

