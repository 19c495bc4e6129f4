"""`passage avrr ...`: the incentive calculator, scheme checks, the survey builder and demo data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from passage.avrr.rules import calculate_incentives, parse_household, result_as_json
from passage.avrr.schemes import SCHEMES_DIR, SchemeRegistry
from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_

app = typer.Typer(name="avrr", help="Assisted voluntary return and reintegration.", no_args_is_help=True)


def _read_json(path: Path, what: str) -> object:
    if not path.exists():
        raise InvalidInput(T_("{file}: file not found", file=path.name), fields=[FieldError(what, T_("file not found"))])
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(T_("{file}: not valid UTF-8", file=path.name)) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(T_("{file}: not valid JSON (line {detail}, column {detail2})", file=path.name, detail=exc.lineno, detail2=exc.colno)) from None


def _parse_date(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(T_("--date must be YYYY-MM-DD"), fields=[FieldError("date", T_("not an ISO date"))]) from None


@app.command()
def incentives(
    scheme: Annotated[str, typer.Option("--scheme", help="Scheme id, e.g. reag_garp or starthilfeplus")],
    household: Annotated[Path, typer.Option("--household", help="household.json (see docs/avrr.md)")],
    date: Annotated[str | None, typer.Option("--date", help="Calculation date YYYY-MM-DD (default: today)")] = None,
    schemes_dir: Annotated[Path, typer.Option("--schemes-dir", help="Directory of scheme files")] = SCHEMES_DIR,
) -> None:
    """Compute a household's incentives under a scheme and print them as JSON, line by line."""
    on = _parse_date(date)
    registry = SchemeRegistry.from_directory(schemes_dir)
    version = registry.in_force(scheme, on)
    parsed = parse_household(_read_json(household, "household"))
    result = calculate_incentives(version, parsed, on=on)
    typer.echo(json.dumps(result_as_json(result), ensure_ascii=False, indent=2))


@app.command("schemes")
def list_schemes(
    schemes_dir: Annotated[Path, typer.Option("--schemes-dir", help="Directory of scheme files")] = SCHEMES_DIR,
) -> None:
    """Check every scheme file and list the versions with their validity (JSON)."""
    registry = SchemeRegistry.from_directory(schemes_dir)
    out = []
    for scheme_id in registry.scheme_ids(include_templates=True):
        for v in registry.versions(scheme_id):
            out.append({
                "scheme_id": v.scheme_id, "version": v.version, "title": v.title, "template": v.template,
                "effective_from": v.effective_from.isoformat(),
                "effective_to": v.effective_to.isoformat() if v.effective_to else None,
            })
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))




@app.command("build-survey")
def build_survey(
    output: Annotated[Path | None, typer.Option("--output", help="Where to write the XLSForm")] = None,
    config: Annotated[str, typer.Option("--config", help="Scoring configuration id")] = "measure_2017_equal_v1",
) -> None:
    """Regenerate the reintegration sustainability XLSForm from the scoring configuration."""
    from passage.avrr.survey_xlsform import SURVEY_PATH, write_survey

    typer.echo(str(write_survey(output or SURVEY_PATH, config)))


@app.command("score-survey")
def score_survey_command(
    answers: Annotated[Path, typer.Option("--answers", help="JSON object {item name: choice name}")],
    config: Annotated[str, typer.Option("--config", help="Scoring configuration id")] = "measure_2017_equal_v1",
) -> None:
    """Score one monitoring survey into 0-1 per dimension and a composite (JSON)."""
    from passage.avrr.sustainability import load_scoring_config, score_survey

    data = _read_json(answers, "answers")
    if not isinstance(data, dict):
        raise InvalidInput(T_("answers must be a JSON object"), fields=[FieldError("answers", T_("not an object"))])
    result = score_survey({str(k): (None if v is None else str(v)) for k, v in data.items()}, load_scoring_config(config))
    typer.echo(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", help="Where to write the demo data (JSON)")],
    today: Annotated[str | None, typer.Option("--today", help="Reference date YYYY-MM-DD (default 2026-06-30)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed")] = 20151103,
) -> None:
    """Write deterministic demo data (about 40 cases at every stage) for wave 2 to load through the service."""
    from passage.avrr.demo import generate_demo
    from passage.core.files import atomic_output

    data = generate_demo(today=_parse_date(today) if today else dt.date(2026, 6, 30), seed=seed)
    with atomic_output(output) as handle:
        handle.write(data.model_dump_json(indent=1))
    typer.echo(f"{len(data.cases)} cases written to {output.name}")


typer_apps: list[typer.Typer] = [app]
