"""Annex I of seed 004 rebuilt from raw responses."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from passage.core.errors import InvalidInput
from passage.forms.evaluation import (
    LIKERT_LEGEND,
    AnnexReport,
    build_annex,
    render_annex_html,
    render_annex_pdf,
    summarise_question,
)

# Every table of Annex I (seed 004): question, {value: count}, printed percents, printed average.
ANNEX_I = [
    ("The content was well-organized and easy to follow", {3: 1, 4: 6, 5: 14}, ["4.8%", "28.6%", "66.7%"], "4.6"),
    ("The objectives of the workshop were clearly defined", {3: 4, 4: 4, 5: 13}, ["19.0%", "19.0%", "61.9%"], "4.4"),
    ("I improved my knowledge on specific topics covered in the workshop", {3: 2, 4: 3, 5: 16}, ["9.5%", "14.3%", "76.2%"], "4.7"),
    ("Participation and exchange were encouraged", {3: 1, 4: 2, 5: 18}, ["4.8%", "9.5%", "85.7%"], "4.8"),
    ("The material distributed was helpful", {3: 2, 4: 2, 5: 17}, ["9.5%", "9.5%", "81.0%"], "4.7"),
    ("The time allotted for the activity was sufficient", {3: 2, 4: 2, 5: 17}, ["9.5%", "9.5%", "81.0%"], "4.7"),
    ("The meeting room and facilities were adequate and comfortable", {3: 2, 4: 2, 5: 17}, ["9.5%", "9.5%", "81.0%"], "4.7"),
    ("The activity objectives were met", {3: 1, 4: 8, 5: 12}, ["4.8%", "38.1%", "57.1%"], "4.5"),
    ("The activity provided a platform for EU & China to share", {3: 3, 4: 1, 5: 17}, ["14.3%", "4.8%", "81.0%"], "4.7"),
    ("This activity will facilitate and enhance possible cooperation", {3: 3, 4: 4, 5: 14}, ["14.3%", "19.0%", "66.7%"], "4.5"),
    ("The content of the activity was useful and relevant to your work.", {3: 3, 4: 7, 5: 11}, ["14.3%", "33.3%", "52.4%"], "4.4"),
    ("The activity covered all issues necessary to consider", {2: 1, 3: 4, 4: 11, 5: 5}, ["4.8%", "19.0%", "52.4%", "23.8%"], "4.0"),
]


def _raw(counts: dict[int, int]) -> list[int | None]:
    answers: list[int | None] = []
    for value, count in sorted(counts.items(), reverse=True):
        answers.extend([value] * count)
    return answers


def test_first_table_of_annex_i_from_raw_responses() -> None:
    # 14 fives, 6 fours, 1 three, in an order a paper pile would have them
    raw: list[int | None] = [5, 4, 5, 5, 3, 5, 4, 5, 5, 5, 4, 5, 5, 4, 5, 5, 4, 5, 5, 4, 5]
    summary = summarise_question("q1", "The content was well-organized and easy to follow", raw)
    assert [(r.value, r.percent_text, r.count) for r in summary.rows] == [(3, "4.8%", 1), (4, "28.6%", 6), (5, "66.7%", 14)]
    assert summary.total == 21
    assert summary.sample_size == 21
    assert summary.average == Decimal("4.6")


@pytest.mark.parametrize(("text", "counts", "percents", "average"), ANNEX_I)
def test_every_table_of_annex_i(text: str, counts: dict[int, int], percents: list[str], average: str) -> None:
    summary = summarise_question("q", text, _raw(counts))
    assert [r.percent_text for r in summary.rows] == percents
    assert [r.value for r in summary.rows] == sorted(counts)
    assert summary.total == 21
    assert summary.average_text == average


def test_half_up_rounding_not_bankers() -> None:
    # 4.25 would be 4.2 with round-half-even
    summary = summarise_question("q", "t", [5, 4, 4, 4])
    assert summary.average == Decimal("4.3")
    # 1/8 = 12.5% exactly and 1/16 = 6.25% -> 6.3%
    assert summarise_question("q", "t", [1] + [5] * 15).rows[0].percent_text == "6.3%"


def test_skipped_answers_reduce_total_not_sample_size() -> None:
    summary = summarise_question("q", "t", [5, None, 3, None])
    assert summary.total == 2
    assert summary.sample_size == 4
    assert summary.average == Decimal("4.0")
    assert [r.percent_text for r in summary.rows] == ["50.0%", "50.0%"]


def test_no_answers_gives_no_average() -> None:
    summary = summarise_question("q", "t", [None, None])
    assert summary.average is None
    assert summary.rows == ()


@pytest.mark.parametrize("bad", [0, 6, True, 4.5, "5"])
def test_out_of_range_scores_are_refused_with_field_path(bad: object) -> None:
    with pytest.raises(InvalidInput) as info:
        summarise_question("content", "t", [5, bad])  # type: ignore[list-item]
    assert info.value.fields[0].path == "content.1"


def _annex() -> AnnexReport:
    questions = [(f"q{i + 1}", text) for i, (text, *_rest) in enumerate(ANNEX_I)]
    raws = [_raw(counts) for _t, counts, _p, _a in ANNEX_I]
    responses = [{f"q{q + 1}": raws[q][r] for q in range(len(ANNEX_I))} for r in range(21)]
    return build_annex(
        activity="Seminar on Global approach to Mixed Migration",
        questions=questions,
        responses=responses,
        dated=dt.date(2018, 2, 8),
    )


def test_build_annex_and_summary_table() -> None:
    report = _annex()
    assert report.sample_size == 21
    assert [str(avg) for _t, avg in report.averages()] == [a for *_x, a in ANNEX_I]


def test_unknown_question_key_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        build_annex(activity="a", questions=[("q1", "t")], responses=[{"q1": 5}, {"q2": 4}])
    assert info.value.fields[0].path == "responses.2.q2"


def test_html_contains_tables_legend_and_summary() -> None:
    html = render_annex_html(_annex(), lang="en")
    assert "Sample size: 21" in html
    assert "Date: 8 February 2018" in html
    assert html.count('class="annex-question"') == 12
    assert "<td>3</td><td>4.8%</td><td>1</td>" in html
    assert re.search(r"Average score out of 5</th><td>4.6</td>", html)
    for _value, label in LIKERT_LEGEND["en"]:
        assert label in html
    assert 'class="annex-averages"' in html


def test_html_in_chinese_uses_chinese_labels() -> None:
    html = render_annex_html(_annex(), lang="zh", standalone=False)
    assert "样本量: 21" in html
    assert "2018年2月8日" in html
    assert "非常同意" in html and "Strongly agree" not in html
    assert not html.lstrip().startswith("<!DOCTYPE")


def test_html_escapes_question_text() -> None:
    report = build_annex(activity="a", questions=[("q1", "<script>x</script>")], responses=[{"q1": 5}])
    assert "<script>x" not in render_annex_html(report)


@pytest.mark.slow
def test_pdf_is_a_pdf() -> None:
    pdf = render_annex_pdf(_annex(), lang="en")
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 5000
