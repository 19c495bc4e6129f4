"""`passage avrr incentives` and `passage avrr schemes` through the real CLI root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passage.core.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "household.json"


def test_incentives_prints_lines_and_total_for_the_documented_example(capsys: pytest.CaptureFixture[str]) -> None:
    main(["avrr", "incentives", "--scheme", "starthilfeplus", "--household", str(EXAMPLE), "--date", "2017-05-02"])
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == "5300.00" and out["eligible"] is True
    first = out["lines"][0]
    assert {"line", "rule_id", "rule", "amount", "payment_date"} <= first.keys()
    assert sum(float(line["amount"]) for line in out["lines"]) == 5300.0


def test_incentives_under_reag_for_the_same_household(capsys: pytest.CaptureFixture[str]) -> None:
    main(["avrr", "incentives", "--scheme", "reag_garp", "--household", str(EXAMPLE), "--date", "2021-01-04"])
    out = json.loads(capsys.readouterr().out)
    # tickets 1450 + travel assistance 2*200 + 3*100 + start-up capped at 4000 (2*1000 + 3*500 = 3500, under cap)
    assert out["total"] == "5650.00"
    assert out["ceilings"] == "2000.00"


def test_bad_household_exits_2_with_one_line_and_field_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "h.json"
    bad.write_text(json.dumps({"nationality": "AFG", "legal_status": "asylum_seeker",
                               "members": [{"member_id": "a", "age": 30, "relationship": "spouse"}]}), encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["avrr", "incentives", "--scheme", "reag_garp", "--household", str(bad), "--date", "2021-01-04"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: inconsistent household: members: no head of household")
    assert len(err.strip().splitlines()) == 1


def test_date_outside_validity_and_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["avrr", "incentives", "--scheme", "starthilfeplus", "--household", str(EXAMPLE), "--date", "2016-12-31"])
    assert exit_info.value.code == 2
    assert "no version in force on 2016-12-31" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["avrr", "incentives", "--scheme", "starthilfeplus", "--household", str(EXAMPLE), "--date", "31/12/2017"])
    assert exit_info.value.code == 2


def test_schemes_lists_versions(capsys: pytest.CaptureFixture[str]) -> None:
    main(["avrr", "schemes"])
    out = json.loads(capsys.readouterr().out)
    assert {(s["scheme_id"], s["template"]) for s in out} == {
        ("reag_garp", False), ("starthilfeplus", False), ("china_avrr_pilot", True)}
