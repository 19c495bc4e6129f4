"""The CLI root: domain errors become one readable line on stderr and exit code 2."""

from __future__ import annotations

import pytest
import typer

from passage.core import cli
from passage.core.errors import FieldError, InvalidInput


def test_passage_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    failing = typer.Typer(name="failing")

    @failing.command("go")
    def go() -> None:
        raise InvalidInput("queries.csv: line 7: invalid date", fields=[FieldError("line 7, column birth_date", "not a date")])

    monkeypatch.setattr(cli, "_register_module_commands", lambda *_: cli.app.add_typer(failing))
    with pytest.raises(SystemExit) as exited:
        cli.main(["failing", "go"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: queries.csv: line 7: invalid date: line 7, column birth_date: not a date")


def test_version_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["version"])
    assert exited.value.code in (0, None)
    assert capsys.readouterr().out.strip() == "0.1.0"


def test_unknown_command_exits_non_zero() -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["no-such-command"])
    assert exited.value.code == 2
