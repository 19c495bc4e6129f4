from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from passage.core.errors import InvalidInput
from passage.dialogue.attendance import summarise_attendance
from passage.dialogue.report import (
    attendance_text,
    date_range,
    render_report_html,
    translation_status,
    write_report,
)
from passage.dialogue.service import get_event

W2015 = "2015-11-return-readmission-workshop"
S2018 = "2018-02-mixed-migration-seminar"


def test_2015_attendance_matches_seed_000(seeded: Session) -> None:
    event = get_event(seeded, event_ref=W2015)
    summary = summarise_attendance(event)
    assert summary.total == 55
    assert len(summary.provinces) == 14
    assert len(summary.member_states) == 2
    assert len(summary.embassies) == 7
    sentences, notes = attendance_text(event, summary, lang="en")
    paragraph = " ".join(sentences)
    assert "attended by 55 participants" in paragraph
    assert "14 provinces" in paragraph and "2 EU Member States" in paragraph and "7 embassies" in paragraph
    assert notes[0] == "Hebei, Shanxi, Liaoning, Jilin, Jiangsu, Zhejiang, Anhui, Fujian, Jiangxi, Shandong, Henan, Hubei, Hunan, and Guangdong."
    assert notes[1] == "France and the Netherlands."
    assert notes[2] == "France, Germany, Hungary, Malta, the Netherlands, Spain, and Norway."


def test_2015_attendance_in_chinese(seeded: Session) -> None:
    event = get_event(seeded, event_ref=W2015)
    sentences, notes = attendance_text(event, summarise_attendance(event), lang="zh")
    assert "共有55名与会者" in " ".join(sentences)
    assert notes[0].startswith("河北、山西、辽宁") and notes[0].endswith("湖南和广东。")
    assert "挪威" in notes[2]


def test_2018_member_states_exclude_a_swedish_university(seeded: Session) -> None:
    summary = summarise_attendance(get_event(seeded, event_ref=S2018))
    assert summary.member_states == ["BE", "BG", "CY", "DE", "HU", "ES"]
    assert summary.province_headcounts["CN-BJ"] == 3
    assert sum(v or 0 for v in summary.province_headcounts.values()) == 16


def test_report_sections_in_english(seeded: Session) -> None:
    html = render_report_html(get_event(seeded, event_ref=W2015), lang="en")
    for heading in ("Opening Remarks", "Final Findings/Recommendations", "Challenges", "Annex 1: Agenda", "Annex 2: List of participants", "Annex 3: Evaluation report"):
        assert heading in html
    assert "Partnership Instrument (PI) of the European Union (EU)" in html
    assert "3-4 November 2015" in html
    assert html.count('class="session"') == 10
    assert "China’s new ID card is biometric but not in full use until 2025" in html
    assert "No evaluation questionnaire was recorded" in html


def test_report_in_chinese_is_chinese_to_the_running_header(seeded: Session) -> None:
    html = render_report_html(get_event(seeded, event_ref=S2018), lang="zh")
    assert "混合移民的全球应对方法研讨会" in html
    assert "2018年2月6日至7日" in html
    assert "附件3：评估报告" in html and "样本量: 21" in html
    assert "Final Findings" not in html and "Annex 1" not in html
    assert '<li><span lang="zh-Hans">防范准备是管理流动人群的关键要素。</span></li>' in html  # a key observation
    assert "混合移民是指由多种因素引发" in html  # the summary
    assert "内容组织有序，易于理解" in html  # an evaluation question, in the annex
    assert '@top-center { content: "支持中欧人员往来和移民领域对话项目"' in html  # the running header
    assert 'class="fallback"' not in html and "尚未翻译" not in html  # everything has its Chinese text
    assert "Preparedness is a key element" not in html


def test_a_missing_translation_is_marked_and_listed_at_the_end(seeded: Session) -> None:
    event = get_event(seeded, event_ref=S2018)
    session = event.sessions[0]
    session.set_translations({"title": session.translations["title"]})  # the abstract has no Chinese any more
    observation = session.observations[1]
    observation.set_translations({})
    html = render_report_html(event, lang="zh")
    assert re.search(r'<p class="fallback"><span class="fallback" lang="en"><span class="fallback-marker" lang="zh-Hans">［尚未翻译］</span> Definition of mixed migration', html)
    assert re.search(r'<li class="fallback"><span class="fallback" lang="en">.*Each crisis is different', html)
    end = html.split('<section class="not-translated">')[1]
    assert "<li>第1场：摘要</li>" in end and "<li>第1场，要点2：正文</li>" in end
    status = translation_status(event)
    assert status["en"].complete and not status["zh_Hans"].complete
    assert status["zh_Hans"].total - status["zh_Hans"].translated == 2 == len(status["zh_Hans"].missing)
    english = render_report_html(event, lang="en")
    assert 'class="fallback"' not in english and "not-translated" not in english.split("</style>")[1]


def test_report_dates_and_numbers_follow_the_language(seeded: Session) -> None:
    event = get_event(seeded, event_ref=W2015)
    assert date_range(event.start_date, event.end_date, "zh") == "2015年11月3日至4日"
    assert date_range(event.start_date, event.end_date, "en") == "3-4 November 2015"
    assert date_range(dt.date(2026, 12, 7), dt.date(2026, 12, 7), "zh") == "2026年12月7日"
    assert date_range(dt.date(2026, 12, 30), dt.date(2027, 1, 2), "zh") == "2026年12月30日至2027年1月2日"
    sentences, _notes = attendance_text(event, summarise_attendance(event), lang="zh")
    assert "本次研讨会共有55名与会者参加。" in " ".join(sentences)


def test_report_annex_reproduces_annex_i(seeded: Session) -> None:
    html = render_report_html(get_event(seeded, event_ref=S2018), lang="en")
    assert html.count('class="annex-question"') == 12
    assert "<td>3</td><td>4.8%</td><td>1</td>" in html
    averages = re.findall(r"Average score out of 5</th><td>([0-9.]+)</td>", html)
    assert averages == ["4.6", "4.4", "4.7", "4.8", "4.7", "4.7", "4.7", "4.5", "4.7", "4.5", "4.4", "4.0"]


def test_write_report_refuses_unknown_suffix_and_leaves_nothing(seeded: Session, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    with pytest.raises(InvalidInput):
        write_report(get_event(seeded, event_ref=W2015), lang="en", out=out_dir / "r.docx")
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


@pytest.mark.slow
def test_pdf_in_both_languages(seeded: Session, tmp_path: Path) -> None:
    event = get_event(seeded, event_ref=W2015)
    for lang in ("en", "zh"):
        out = write_report(event, lang=lang, out=tmp_path / "out" / f"r-{lang}.pdf")  # type: ignore[arg-type]
        assert out.read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r-en.pdf", "r-zh.pdf"]
