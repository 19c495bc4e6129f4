"""The `passage` command: a Typer root that gathers each module's commands.

A module contributes commands by defining, in its `cli.py`, `typer_apps: list[typer.Typer]`, each
created with a `name` (`typer.Typer(name="identify")`); `passage demo load` is the security module's. The root
imports no module: it finds their commands through `passage.MODULES`. Errors derived from `PassageError` print one
line on stderr and exit with code 2; nothing else is printed for them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import typer

from passage import MODULES
from passage.core.errors import PassageError

app = typer.Typer(
    name="passage", help="Passage: practical cooperation on migration.", no_args_is_help=True, pretty_exceptions_enable=False
)


@app.callback()
def _root(
    lang: str = typer.Option(
        None, "--lang", help="Language of messages and outputs: en or zh_Hans (default: PASSAGE_LANG, then the locale)."
    ),
) -> None:
    """Passage: practical cooperation on migration between governments and IOM."""
    import os

    from passage.core import i18n

    chosen = lang or i18n.locale_from_environment(os.environ)
    if chosen not in i18n.LOCALES:
        raise typer.BadParameter(f"{chosen!r} is not a language of Passage; use one of: {', '.join(i18n.LOCALES)}", param_hint="--lang")
    i18n.set_locale(chosen)


@app.command()
def version() -> None:
    """Print the Passage version."""
    from passage import __version__

    typer.echo(__version__)


db_app = typer.Typer(name="db", help="Database schema.", no_args_is_help=True)
app.add_typer(db_app)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the database to the latest schema (SQLite by default, PASSAGE_DATABASE_URL otherwise)."""
    from passage.core.schema import upgrade_database
    from passage.core.settings import get_settings

    upgrade_database(url=get_settings().database_url, revision=revision)
    typer.echo(f"database at {revision}")


def uvicorn_options(settings: Any) -> dict[str, Any]:
    """How the server runs: our own access log (no query values) instead of the server's, and X-Forwarded-For
    believed only from the configured `trusted_proxies` (otherwise any client could pick its own address and
    step around the per-address sign-in limits)."""
    trusted = [str(p) for p in settings.trusted_proxies]
    return {
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": ",".join(trusted) if trusted else None,
        "access_log": False,
        "log_config": LOG_CONFIG,
    }


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "passage": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
"""Logging of `passage serve`: the server's messages, Passage's access and incident lines, nothing else."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port."),
    workers: int | None = typer.Option(None, min=1, help="Worker processes (default: PASSAGE_WORKERS, else 1)."),
) -> None:
    """Serve the web application and the API."""
    import uvicorn

    from passage.core.settings import get_settings

    settings = get_settings()
    uvicorn.run("passage.core.app:create_app", factory=True, host=host, port=port, workers=workers or settings.workers, log_level="info", **uvicorn_options(settings))


_registered_modules: set[str] = set()

COMMAND_MODULES: dict[str, str] = {
    "users": "security", "audit": "security", "keys": "security", "demo": "security", "retention": "security",
    "backup": "security", "restore": "security",
    "agreements": "readmission", "readmission": "readmission", "calendars": "readmission",
    "identify": "identity", "biometrics": "biometrics", "avrr": "avrr", "forms": "forms",
    "geo": "dtm", "dtm": "dtm", "mobility": "mobility", "dialogue": "dialogue",
    "consular": "consular",
}
"""Which module provides each top-level command, so that one command imports only its own module (start-up
time); any other word (``--help``, a new command) imports every module."""


def _register_module_commands(command: str | None = None) -> None:
    if command in ("db", "serve", "version"):
        return
    selected = (COMMAND_MODULES[command],) if command in COMMAND_MODULES else MODULES
    for module in selected:
        if module in _registered_modules:
            continue
        _registered_modules.add(module)
        name = f"passage.{module}.cli"
        if importlib.util.find_spec(f"passage.{module}") is None:
            continue
        if importlib.util.find_spec(name) is None:
            continue
        cli_module = importlib.import_module(name)
        for sub in getattr(cli_module, "typer_apps", []):
            app.add_typer(sub)
        for function in getattr(cli_module, "commands", []):
            app.command()(function)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn domain errors into one readable line and exit code 2."""
    arguments = sys.argv[1:] if argv is None else argv
    _register_module_commands(next((a for a in arguments if not a.startswith("-")), None))
    try:
        app(args=arguments)
    except PassageError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(2)


def assembled_app() -> typer.Typer:
    """The root app with every module's commands, for tests (`typer.testing.CliRunner`) and docs."""
    _register_module_commands()
    return app
