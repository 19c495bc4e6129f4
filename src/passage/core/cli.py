"""The `passage` command: a Typer root that gathers each module's commands.

A module contributes commands by defining, in its `cli.py`, `typer_apps: list[typer.Typer]`, each
created with a `name` (`typer.Typer(name="identify")`). Errors derived from `PassageError` print one
line on stderr and exit with code 2; nothing else is printed for them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click
import typer

from passage import MODULES
from passage.core.errors import PassageError

app = typer.Typer(name="passage", help="Passage: practical cooperation on migration.", no_args_is_help=True)


@app.callback()
def _root() -> None:
    """Passage: practical cooperation on migration between governments and IOM."""


@app.command()
def version() -> None:
    """Print the Passage version."""
    from passage import __version__

    typer.echo(__version__)


def _register_module_commands() -> None:
    for module in MODULES:
        name = f"passage.{module}.cli"
        if importlib.util.find_spec(f"passage.{module}") is None:
            continue
        if importlib.util.find_spec(name) is None:
            continue
        cli_module = importlib.import_module(name)
        for sub in getattr(cli_module, "typer_apps", []):
            app.add_typer(sub)
        for command in getattr(cli_module, "commands", []):
            app.command()(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn domain errors into one readable line and exit code 2."""
    _register_module_commands()
    try:
        app(args=argv, standalone_mode=False)
    except PassageError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except click.exceptions.ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code or 2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


def get_command() -> click.Command:
    """The fully assembled click command, for tests (`typer.testing.CliRunner`) and docs."""
    if not app.registered_groups:
        _register_module_commands()
    return typer.main.get_command(app)
