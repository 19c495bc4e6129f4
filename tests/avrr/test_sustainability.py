"""Survey scoring against hand-computed scores, configuration checks, and cohort reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passage.avrr.sustainability import ScoredRound, cohort_reports, load_scoring_config, score_survey
from passage.core.errors import InvalidInput

CONFIG = load_scoring_config()

ANSWERS = {
    # economic: 0.75 + 0.67 + 1 + 1 + 0 = 3.42 / 5 = 0.684
    "econ_satisfaction": "agree", "econ_borrowing": "rarely", "econ_food": "never", "econ_work": "yes", "econ_debt": "yes",
    # social: education not applicable (left out): 0.67 + 0.33 + 1 + 0.67 = 2.67 / 4 = 0.6675
    "soc_housing": "good", "soc_education": "not_applicable", "soc_health": "poor", "soc_documents": "yes", "soc_services": "good",
    # psychosocial: 0.5 + 1 + 0.33 + 0.25 + 0 + 1 = 3.08 / 6 = 0.5133
    "psy_participation": "neutral", "psy_support": "strongly_agree", "psy_discrimination": "sometimes",
    "psy_safety": "disagree", "psy_distress": "often", "psy_remigrate": "no",
}


def test_equal_weights_hand_computed() -> None:
    score = score_survey(ANSWERS, CONFIG)
    assert score.dimensions == {"economic": 0.684, "social": 0.6675, "psychosocial": 0.5133}
    # (0.684 + 0.6675 + 0.5133) / 3 = 0.6216
    assert score.composite == 0.6216
    assert score.above_threshold is True
    assert score.answered == {"economic": 5, "social": 4, "psychosocial": 6}
    assert score.provisional is True


def test_dimension_weights_change_the_composite(tmp_path: Path) -> None:
    data = json.loads((Path(__file__).resolve().parents[2] / "src/passage/avrr/data/sustainability/measure_2017_equal_v1.json").read_text())
    data["config_id"] = "weighted"
    data["dimension_weights"] = {"economic": 2, "social": 1, "psychosocial": 1}
    data["items"][0]["weight"] = 3  # econ_satisfaction 0.75 weighs 3: (2.25 + 0.67 + 1 + 1 + 0) / 7 = 0.7029
    (tmp_path / "weighted.json").write_text(json.dumps(data))
    score = score_survey(ANSWERS, load_scoring_config("weighted", tmp_path))
    assert score.dimensions["economic"] == 0.7029
    # (2 * 0.7029 + 0.6675 + 0.5133) / 4 = 0.6466
    assert score.composite == 0.6466


def test_too_few_answers_leave_dimension_and_composite_unscored() -> None:
    partial = dict(ANSWERS, soc_housing="not_applicable", soc_health=None, soc_services="")
    score = score_survey(partial, CONFIG)
    assert score.dimensions["social"] is None  # 2 of 5 answered < 60 %
    assert score.composite is None and score.above_threshold is None
    three_of_five = dict(ANSWERS, soc_housing=None)  # 3 of 5 = 60 %: (0.33 + 1 + 0.67) / 3 = 0.6667
    assert score_survey(three_of_five, CONFIG).dimensions["social"] == 0.6667


def test_below_threshold_and_bad_answers() -> None:
    low = {name: "strongly_disagree" for name in ("econ_satisfaction", "psy_participation", "psy_support", "psy_safety")}
    low |= {"econ_borrowing": "often", "econ_food": "often", "econ_work": "no", "econ_debt": "yes", "soc_housing": "very_poor",
            "soc_education": "poor", "soc_health": "poor", "soc_documents": "no", "soc_services": "very_poor",
            "psy_discrimination": "often", "psy_distress": "often", "psy_remigrate": "yes"}
    score = score_survey(low, CONFIG)
    assert score.dimensions["economic"] == 0.0 and score.composite == 0.044  # social (0 + .33 + .33 + 0 + 0) / 5 = 0.132; 0.132 / 3
    assert score.above_threshold is False
    with pytest.raises(InvalidInput) as info:
        score_survey(dict(ANSWERS, econ_work="maybe", psy_safety="often"), CONFIG)
    assert [f.path for f in info.value.fields] == ["answers.econ_work", "answers.psy_safety"]


def test_config_refuses_missing_dimension_weight(tmp_path: Path) -> None:
    data = CONFIG.model_dump(mode="json")
    data["dimension_weights"] = {"economic": 1, "social": 1}
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(InvalidInput, match="invalid scoring configuration"):
        load_scoring_config("bad", tmp_path)


def row(case: str, rnd: int, composite: float | None, *, country: str = "NGA", kinds: list[str] | None = None) -> ScoredRound:
    return ScoredRound(case_id=case, country_of_return=country, year=2023, programme_id="p1",
                       assistance_kinds=kinds or ["cash"], round_number=rnd, economic=composite, social=composite,
                       psychosocial=composite, composite=composite)


def test_cohort_report_distribution_share_and_trend() -> None:
    rows = [row("a", 1, 0.4), row("b", 1, 0.6), row("c", 1, 0.8), row("a", 2, 0.7), row("b", 2, 0.9), row("c", 2, None),
            row("d", 1, 0.2, country="GHA")]
    reports = cohort_reports(rows, by=["country_of_return", "year"], threshold=0.5)
    assert [r.cohort for r in reports] == [{"country_of_return": "GHA", "year": 2023}, {"country_of_return": "NGA", "year": 2023}]
    nga = reports[1]
    first = nga.rounds[0]
    assert first.n == 3
    assert first.distributions["composite"].model_dump() == {"n": 3, "mean": 0.6, "min": 0.4, "q1": 0.5, "median": 0.6, "q3": 0.7, "max": 0.8}
    assert first.share_above_threshold == 0.6667
    assert nga.rounds[1].n == 3 and nga.rounds[1].distributions["economic"].n == 2
    assert nga.composite_median_trend == [(1, 0.6), (2, 0.8)]
    assert nga.change_first_to_last == 0.2
    assert reports[0].change_first_to_last is None and reports[0].rounds[0].share_above_threshold == 0.0


def test_case_with_two_kinds_of_assistance_counts_in_both_cohorts() -> None:
    rows = [row("a", 1, 0.6, kinds=["cash", "housing"]), row("b", 1, 0.3, kinds=["housing"])]
    reports = {r.cohort["assistance_kind"]: r for r in cohort_reports(rows, by=["assistance_kind"], threshold=0.5)}
    assert reports["cash"].rounds[0].n == 1 and reports["housing"].rounds[0].n == 2
    assert reports["housing"].rounds[0].share_above_threshold == 0.5
    # a key repeated in `by` counts once (it multiplied the cohorts: kinds ** repeats per case; found by fuzzing)
    repeated = cohort_reports(rows, by=["assistance_kind"] * 30 + ["year"], threshold=0.5)
    assert repeated == cohort_reports(rows, by=["assistance_kind", "year"], threshold=0.5)
    assert [r.rounds[0].n for r in repeated] == [1, 2]


def test_shipped_configuration_is_named_as_passages_own_alternative_not_iom_rss() -> None:
    """Issue 20: IOM's Reintegration Sustainability Survey items and weights (Samuel Hall / IOM 2017; IOM
    Reintegration Handbook 2019, annex) could not be read here, so none is shipped or invented; the only
    configuration says plainly that it is Passage's own alternative and that its scores do not compare with IOM's."""
    from passage.avrr.sustainability import SUSTAINABILITY_DIR, load_scoring_config

    assert sorted(p.stem for p in SUSTAINABILITY_DIR.glob("*.json")) == ["measure_2017_equal_v1"]
    config = load_scoring_config("measure_2017_equal_v1")
    assert "NOT IOM's Reintegration Sustainability Survey" in config.title and config.provisional
    assert "no item or weight was invented" in (config.provisional_note or "")
