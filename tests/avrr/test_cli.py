"""`passage avrr incentives` and `passage avrr schemes` through the real CLI root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passage.core.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "household.json"


def run(argv: list[str]) -> int:
    """Run the real `passage` entry point; the exit code (0 when it returns normally)."""
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_incentives_prints_lines_and_total_for_the_documented_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["avrr", "incentives", "--scheme", "starthilfeplus", "--household", str(EXAMPLE), "--date", "2017-05-02"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == "5300.00" and out["eligible"] is True
    first = out["lines"][0]
    assert {"line", "rule_id", "rule", "amount", "payment_date"} <= first.keys()
    assert sum(float(line["amount"]) for line in out["lines"]) == 5300.0


def test_incentives_under_reag_for_the_same_household(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["avrr", "incentives", "--scheme", "reag_garp", "--household", str(EXAMPLE), "--date", "2021-01-04"]) == 0
    out = json.loads(capsys.readouterr().out)
    # tickets 1450 + travel assistance 2*200 + 3*100 + start-up capped at 4000 (2*1000 + 3*500 = 3500, under cap)
    assert out["total"] == "5650.00"
    assert out["ceilings"] == "2000.00"


def test_bad_household_exits_2_with_one_line_and_field_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "h.json"
    bad.write_text(json.dumps({"nationality": "AFG", "legal_status": "asylum_seeker",
                               "members": [{"member_id": "a", "age": 30, "relationship": "spouse"}]}), encoding="utf-8")
    assert run(["avrr", "incentives", "--scheme", "reag_garp", "--household", str(bad), "--date", "2021-01-04"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: inconsistent household: members: no head of household")
    assert len(err.strip().splitlines()) == 1


def test_date_outside_validity_and_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["avrr", "incentives", "--scheme", "starthilfeplus", "--household", str(EXAMPLE), "--date", "2016-12-31"]) == 2
    assert "no version in force on 31 Dec 2016" in capsys.readouterr().err
    assert run(["avrr", "incentives", "--scheme", "starthilfeplus", "--household", str(EXAMPLE), "--date", "31/12/2017"]) == 2


def test_schemes_lists_versions(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["avrr", "schemes"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {(s["scheme_id"], s["template"]) for s in out} == {
        ("reag_garp", False), ("starthilfeplus", False), ("china_avrr_pilot", True)}


def test_score_survey_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"econ_satisfaction": "agree", "econ_work": "yes", "econ_debt": "no",
                                   "soc_housing": "good", "soc_health": "good", "soc_documents": "yes",
                                   "psy_support": "agree", "psy_safety": "agree", "psy_remigrate": "no", "psy_distress": "never"}))
    assert run(["avrr", "score-survey", "--answers", str(answers)]) == 0
    out = json.loads(capsys.readouterr().out)
    # economic 3 of 5 answered: (0.75 + 1 + 1) / 3; social 3 of 5: (0.67 + 0.67 + 1) / 3; psychosocial 4 of 6 (0.67 >= 0.6)
    assert out["dimensions"] == {"economic": 0.9167, "social": 0.78, "psychosocial": 0.875}
    assert out["composite"] == 0.8572
