"""`passage dialogue ...`: summary reports and the seed events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from passage.core.db import unit_of_work
from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_

app = typer.Typer(name="dialogue", help="EU-China Dialogue: events, reports, recommendations.", no_args_is_help=True)


@app.command("report")
def report(
    event_id: Annotated[str, typer.Argument(help="Event id or key, e.g. 2015-11-return-readmission-workshop")],
    out: Annotated[Path, typer.Option("--out", help="Output file; .pdf gives PDF, .html gives HTML")],
    lang: Annotated[str | None, typer.Option("--lang", help="en or zh; default: the CLI's language (passage --lang, PASSAGE_LANG, LANG)")] = None,
) -> None:
    """Write an event's summary report (written atomically: a failed run leaves no file)."""
    from passage.core.i18n import get_locale
    from passage.dialogue.report import write_report
    from passage.dialogue.service import get_event

    if lang is None:
        lang = "zh" if get_locale() == "zh_Hans" else "en"
    if lang not in ("en", "zh"):
        raise InvalidInput(T_("Unsupported report language"), fields=[FieldError(path="--lang", message=T_("must be en or zh"))])
    with unit_of_work() as session:
        event = get_event(session, event_ref=event_id)
        write_report(event, lang=lang, out=out)  # type: ignore[arg-type]
    typer.echo(str(out))


@app.command("load-seeds")
def load_seeds() -> None:
    """Load the 2015 workshop and the 2018 seminar of the seed documents (skips events already loaded)."""
    from passage.core.i18n import label, localise
    from passage.dialogue.checks import check_event
    from passage.dialogue.service import SYSTEM, get_event, load_seed_events

    with unit_of_work() as session:
        loaded = load_seed_events(session, actor=SYSTEM)
        for key in loaded:
            event = get_event(session, event_ref=key)
            typer.echo(localise(T_("loaded {key} ({id})", key=key, id=event.id)))
            for flag in check_event(event):
                typer.echo(f"  {label('dialogue.flag', flag.code)}: {localise(flag.message)}")
    if not loaded:
        typer.echo(localise(T_("seed events already loaded")))


typer_apps: list[typer.Typer] = [app]
