"""The retention registry: modules contribute policies, record types are unique, the command prints them."""

from __future__ import annotations

import datetime as dt

import pytest

from passage.core.cli import main
from passage.security import retention


def test_modules_contribute_policies_and_duplicates_are_refused() -> None:
    found = retention.discover()
    assert "readmission_case" in {p.record_type for p in found}
    with pytest.raises(ValueError, match="two retention policies for readmission_case"):
        retention.discover(["readmission", "readmission"])


def test_policies_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["retention", "policies"])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "readmission_case" in out and "retention_after_closure" in out


def test_a_bad_date_is_one_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["retention", "run", "--dry-run", "--today", "2026-13-01"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --today: '2026-13-01' is not a date") and err.count("\n") == 1


def test_dry_run_calls_no_eraser() -> None:
    calls: list[str] = []
    policy = retention.RetentionPolicy(record_type="thing", module="x", erased="a", kept="b", period="c",
                                       find_expired=lambda session, today: ["2", "1"], erase=lambda *args: calls.append(args[1]))
    report = retention.run(None, today=dt.date(2026, 1, 1), dry_run=True, policies=[policy])  # type: ignore[arg-type]
    assert report.runs[0].expired == ["1", "2"] and calls == []
