from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from passage.core.db import dispose_engines, make_engine
from passage.core.models import Base
from passage.core.settings import reset_settings_cache
from passage.dialogue.cli import app


@pytest.fixture()
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    url = f"sqlite:///{tmp_path / 'var' / 'passage.db'}"
    monkeypatch.setenv("PASSAGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PASSAGE_DATABASE_URL", url)
    reset_settings_cache()
    engine = make_engine(url)
    Base.metadata.create_all(engine, tables=[t for n, t in Base.metadata.tables.items() if n.startswith("dialogue_")])
    engine.dispose()
    yield tmp_path
    dispose_engines()
    reset_settings_cache()


def test_load_seeds_then_report_html(cli_db: Path) -> None:
    runner = CliRunner()
    loaded = runner.invoke(app, ["load-seeds"])
    assert loaded.exit_code == 0, loaded.output
    assert "flag stated_total_vs_parts" in loaded.output
    assert "seed events already loaded" in runner.invoke(app, ["load-seeds"]).output
    out = cli_db / "report.html"
    result = runner.invoke(app, ["report", "2015-11-return-readmission-workshop", "--lang", "zh", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "共有55名与会者" in out.read_text(encoding="utf-8")
