"""`passage forms load` and `passage forms import` through the real CLI root, on the migrated store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from passage.core.cli import main
from passage.core.db import unit_of_work
from passage.security.models import AuditEntry
from tests.forms.test_service import HEADER, good
from tests.forms.xlsform_factory import CHOICES, SETTINGS, SURVEY, write_csv, write_xlsform


def run(args: list[str]) -> None:
    """A successful command: the CLI root exits with status 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code in (0, None)


def test_load_then_import_prints_the_counts_and_is_audited(store: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    form = write_xlsform(tmp_path / "site_check.xlsx", SURVEY, CHOICES, SETTINGS)
    run(["forms", "load", str(form)])
    assert "form site_check version 2024.1 (#1) stored" in capsys.readouterr().out
    data = write_csv(tmp_path / "export.csv", HEADER, [good("u1"), good("u2", admin2="s1"), good("u3", **{"pop/households": "-1"})])
    run(["forms", "import", "--form", "site_check", str(data)])
    out = capsys.readouterr().out
    assert "rows read: 3\naccepted: 1\nquarantined: 2\n  Not an allowed choice (choice): 1\n  Constraint broken (constraint): 1\nduplicates skipped: 0" in out
    run(["forms", "import", "--form", "site_check", str(data)])
    assert "duplicates skipped: 3" in capsys.readouterr().out
    with unit_of_work() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type.in_(["form_version", "forms_import_batch"]))))
        assert actions == ["create", "import", "import"]
        # the CLI acts as the named system actor of its job, the same one everywhere
        entries = session.scalars(select(AuditEntry)).all()
        assert {(e.actor_user_id, e.details.get("system_job")) for e in entries} == {("system", "forms.cli")}


def test_cli_errors_are_one_line_and_exit_2(store: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["forms", "import", "--form", "nope", str(tmp_path / "missing.csv")])
    assert exit_info.value.code == 2 and "missing.csv: file not found" in capsys.readouterr().err
    data = write_csv(tmp_path / "export.csv", HEADER, [good("u1")])
    with pytest.raises(SystemExit):
        main(["forms", "import", "--form", "nope", str(data)])
    assert "no form 'nope'" in capsys.readouterr().err
    broken = write_xlsform(tmp_path / "broken.xlsx", [SURVEY[0], ["integr", "age", "Age", "", "", "", "", "", "", "", ""]], None, SETTINGS)
    with pytest.raises(SystemExit):
        main(["forms", "load", str(broken)])
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "survey" in err and err.count("\n") == 1


def test_load_needs_an_organisation_when_there_are_several(demo_people: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    form = write_xlsform(tmp_path / "site_check.xlsx", SURVEY, CHOICES, SETTINGS)
    with pytest.raises(SystemExit):
        main(["forms", "load", str(form)])
    assert "--organisation" in capsys.readouterr().err
    run(["forms", "load", str(form), "--organisation", "IOM China"])
    assert "stored" in capsys.readouterr().out


@pytest.fixture
def english_afterwards() -> Iterator[None]:
    """`--lang` sets the process's language for the rest of the run: put English back for the next tests."""
    from passage.core import i18n

    yield
    i18n.set_locale("en")


def test_load_and_import_summaries_and_warnings_in_chinese(
    store: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str], english_afterwards: None
) -> None:
    """`--lang zh_Hans`: the load line, every not-evaluated warning (sheet, row, column and reason) and the import
    counts render in Chinese; refusals too, with the sheet and row still named."""
    survey = [list(row) for row in SURVEY]
    relevant = survey[0].index("relevant")
    survey[1][relevant] = "selected(${admin1}, PP)"  # a bare name: loaded, not evaluated, warned about
    form = write_xlsform(tmp_path / "site_check.xlsx", survey, CHOICES, SETTINGS)
    run(["--lang", "zh_Hans", "forms", "load", str(form)])
    captured = capsys.readouterr()
    assert "表单 site_check 版本 2024.1（#1）已保存" in captured.out
    assert "警告：工作表 survey，第 2 行，列 relevant" in captured.err
    assert "位置 20 的裸名称“PP”：请以 ${PP} 引用问题（未评估）" in captured.err
    assert "工作表 survey，第 2 行，列 required：未评估，因为其所依赖的相关性条件未被评估" in captured.err  # names stay as written
    assert "not evaluated" not in captured.err and "sheet" not in captured.err
    data = write_csv(tmp_path / "export.csv", HEADER, [good("u1"), good("u2", admin2="s1"), good("u3", **{"pop/households": "-1"})])
    run(["--lang", "zh_Hans", "forms", "import", "--form", "site_check", str(data)])
    out = capsys.readouterr().out
    assert "读取行数：3\n已接受：1\n已隔离：2\n" in out and "跳过的重复记录：0" in out and "批次：" in out
    assert "未评估：工作表 survey，第 2 行，列 relevant：位置 20 的裸名称“PP”" in out
    assert "rows read" not in out and "not evaluated" not in out
    broken = write_xlsform(tmp_path / "broken.xlsx", [SURVEY[0], ["integr", "age", "Age", "", "", "", "", "", "", "", ""]], None, SETTINGS)
    with pytest.raises(SystemExit):
        main(["--lang", "zh_Hans", "forms", "load", str(broken)])
    err = capsys.readouterr().err
    assert "broken.xlsx：XLSForm 无效" in err and "工作表 survey，第 2 行" in err and err.count("\n") == 1
