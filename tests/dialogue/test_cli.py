from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from passage.core.cli import main
from passage.core.db import unit_of_work
from passage.dialogue.cli import app
from passage.security.models import AuditEntry


@pytest.fixture()
def cli_db(store: Engine, tmp_path: Path) -> Path:
    """The shared migrated store is *the* database the CLI opens."""
    return tmp_path


def test_load_seeds_then_report_html(cli_db: Path) -> None:
    runner = CliRunner()
    loaded = runner.invoke(app, ["load-seeds"])
    assert loaded.exit_code == 0, loaded.output
    assert "A stated total differs from the sum of its parts: " in loaded.output
    assert "seed events already loaded" in runner.invoke(app, ["load-seeds"]).output
    out = cli_db / "report.html"
    result = runner.invoke(app, ["report", "2015-11-return-readmission-workshop", "--lang", "zh", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "共有55名与会者" in out.read_text(encoding="utf-8")
    with unit_of_work() as session:
        # every record the CLI loaded was audited (system actor), in the same transactions
        entries = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type.like("dialogue_%")))
        assert entries is not None and entries > 100


def test_report_of_unknown_event_exits_2(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["dialogue", "report", "no-such-event", "--out", str(cli_db / "r.pdf")])
    assert info.value.code == 2
    assert "event not found" in capsys.readouterr().err
    assert not (cli_db / "r.pdf").exists()
