import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passage.core.errors import Conflict
from passage.readmission import rules
from passage.readmission.agreements import get_preset, preset_agreements
from passage.readmission.calendars import WorkingCalendar
from passage.readmission.schemas import DayUnit

D = dt.date


def v(agreement_id):
    return get_preset(agreement_id).latest()


def test_russia_style_figures():
    version = v("russia-style")
    reply = rules.reply_deadline(version, D(2024, 3, 1))
    assert reply.due == D(2024, 3, 26)  # 25 calendar days
    assert "25 calendar days" in reply.rule and "Art. 12(2)" in reply.rule
    assert rules.extended_reply_deadline(version, D(2024, 3, 1)).due == D(2024, 4, 30)  # up to 60 days in total
    assert rules.transfer_deadline(version, D(2024, 3, 26)).due == D(2024, 6, 24)  # 90 days
    assert rules.travel_document_expiry(version, D(2024, 3, 26)).due == D(2024, 4, 25)  # 30 days
    assert rules.silence_means_acceptance(version)


def test_serbia_template_ordinary_extended_accelerated():
    version = v("eu-serbia-template")
    assert rules.reply_deadline(version, D(2024, 12, 20)).due == D(2024, 12, 30)
    # extension *by* 6 days on top of the ordinary date
    assert rules.extended_reply_deadline(version, D(2024, 12, 20)).due == D(2025, 1, 5)
    # accelerated: 2 working days of Serbia; Fri 20 Dec -> Mon 23, Tue 24 Dec
    acc = rules.reply_deadline(version, D(2024, 12, 20), accelerated=True)
    assert acc.due == D(2024, 12, 24) and "accelerated" in acc.rule
    assert rules.extended_reply_deadline(version, D(2024, 12, 20), accelerated=True) is None
    # Serbian New Year 1-2 Jan and Orthodox Christmas 7 Jan 2025 are not working days
    assert rules.reply_deadline(version, D(2024, 12, 31), accelerated=True).due == D(2025, 1, 6)
    # transfer within 3 months, clamped at month end
    assert rules.transfer_deadline(version, D(2024, 11, 30)).due == D(2025, 2, 28)


def test_pakistan_and_sri_lanka():
    pk = v("eu-pakistan")
    assert rules.reply_deadline(pk, D(2024, 1, 31)).due == D(2024, 3, 1)
    assert rules.transfer_deadline(pk, D(2024, 3, 1)).due == D(2024, 6, 1)
    assert rules.travel_document_expiry(pk, D(2024, 8, 31)).due == D(2025, 2, 28)
    assert rules.extended_reply_deadline(pk, D(2024, 1, 31)) is None
    with pytest.raises(Conflict):
        rules.effective_reply_deadline(pk, D(2024, 1, 31), extension_requested=True)
    lk = v("eu-sri-lanka")
    normal, latest = rules.travel_document_reissue_due(lk, D(2024, 5, 1))
    assert (normal.due, latest.due) == (D(2024, 5, 15), D(2024, 5, 31))
    assert rules.travel_document_expiry(lk, D(2024, 5, 1)).due == D(2024, 11, 1)
    with pytest.raises(Conflict, match="no \\(verified\\) reply limit"):
        rules.reply_deadline(lk, D(2024, 5, 1))


def test_transit_template():
    version = v("transit-template")
    assert rules.transit_reply_deadline(version, D(2024, 9, 28)).due == D(2024, 10, 3)
    assert rules.transit_deadline(version, D(2024, 10, 3)).due == D(2024, 11, 2)
    with pytest.raises(Conflict):
        rules.reply_deadline(version, D(2024, 9, 28))


def test_china_draft_across_national_day_hand_checked():
    version = v("eu-china-draft")
    # Fri 27 Sep 2024 + 20 Chinese working days: 29 Sep and 12 Oct worked, 1-7 Oct off -> Wed 30 Oct
    assert rules.reply_deadline(version, D(2024, 9, 27)).due == D(2024, 10, 30)
    # + 10 further working days -> Wed 13 Nov
    assert rules.extended_reply_deadline(version, D(2024, 9, 27)).due == D(2024, 11, 13)
    # accelerated 3 working days from Mon 30 Sep: 8, 9, 10 Oct
    assert rules.reply_deadline(version, D(2024, 9, 30), accelerated=True).due == D(2024, 10, 10)


def test_china_draft_across_spring_festival_hand_checked():
    version = v("eu-china-draft")
    # Travel document issue limit 10 working days from Thu 23 Jan 2025:
    # Fri 24, Sun 26 (make-up), Mon 27, Wed 5 Feb, Thu 6, Fri 7, Sat 8 (make-up), Mon 10, Tue 11, Wed 12
    assert rules.travel_document_issue_due(version, D(2025, 1, 23)).due == D(2025, 2, 12)


def test_cli_shape_deadlines_on_receipt():
    out = rules.deadlines_on_receipt(v("russia-style"), D(2024, 3, 1), extension_requested=True)
    assert out["reply_due"]["due"] == "2024-03-26"
    assert out["latest_extended_due"]["due"] == "2024-04-30"
    # accepted on the last (extended) day -> transfer 90 days later
    assert out["transfer_deadline_if_accepted_on_last_day"]["due"] == "2024-07-29"
    assert out["reply_due"]["citation"]["verified"] is True
    with pytest.raises(Conflict):
        rules.deadlines_on_receipt(v("eu-pakistan"), D(2024, 3, 1), extension_requested=True)


def test_case_deadlines_follow_the_case():
    version = v("russia-style")
    dates = rules.CaseDates(submitted_on=D(2024, 3, 1))
    assert rules.case_deadlines(version, dates) == []  # clock starts at confirmed receipt
    dates = rules.CaseDates(submitted_on=D(2024, 3, 1), acknowledged_on=D(2024, 3, 4))
    kinds = {d.kind: d.due for d in rules.case_deadlines(version, dates)}
    assert kinds == {"reply_due": D(2024, 3, 29), "extended_reply_due": D(2024, 5, 3)}
    dates = rules.CaseDates(submitted_on=D(2024, 3, 1), acknowledged_on=D(2024, 3, 4), extension_requested_on=D(2024, 3, 20))
    assert [d.kind for d in rules.case_deadlines(version, dates)] == ["extended_reply_due"]
    dates = rules.CaseDates(acknowledged_on=D(2024, 3, 4), accepted_on=D(2024, 3, 10), travel_document_issued_on=D(2024, 3, 12))
    kinds = {d.kind: d.due for d in rules.case_deadlines(version, dates)}
    assert kinds == {"transfer_due": D(2024, 6, 8), "travel_document_expiry": D(2024, 4, 11)}
    transit = rules.CaseDates(procedure="transit", submitted_on=D(2024, 3, 1))
    assert [d.kind for d in rules.case_deadlines(v("transit-template"), transit)] == ["transit_reply_due"]


def test_deadline_status_and_days_left():
    d = rules.reply_deadline(v("eu-pakistan"), D(2024, 1, 1))
    assert d.days_left(D(2024, 1, 31)) == 0 and d.status(D(2024, 1, 31)) == "due_soon"
    assert d.status(D(2024, 2, 1)) == "overdue" and d.status(D(2024, 1, 2)) == "ok"
    assert d.as_dict(D(2024, 1, 30))["days_left"] == 1


WORKING_DAY_FIGURES = [
    (agreement.id, path, figure)
    for agreement in preset_agreements().values()
    for version in agreement.versions
    for path, figure in [
        ("reply", version.readmission.reply_limit if version.readmission else None),
        ("extension", version.readmission.extension.limit if version.readmission and version.readmission.extension else None),
        ("accelerated", version.readmission.accelerated.reply_limit if version.readmission and version.readmission.accelerated else None),
        ("issue", version.travel_document.issue_limit if version.travel_document else None),
        ("reissue", version.travel_document.reissue_normal_limit if version.travel_document else None),
        ("transit", version.transit.reply_limit if version.transit else None),
    ]
    if figure is not None and figure.unit is DayUnit.working_days
]


def test_every_preset_has_some_working_day_figure_covered():
    assert {a for a, _, _ in WORKING_DAY_FIGURES} >= {"eu-serbia-template", "eu-china-draft"}


@settings(max_examples=150, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(WORKING_DAY_FIGURES) - 1), start=st.dates(min_value=D(2020, 1, 1), max_value=D(2026, 6, 30)))
def test_working_day_deadlines_never_fall_on_a_non_working_day(index, start):
    agreement_id, _, figure = WORKING_DAY_FIGURES[index]
    version = get_preset(agreement_id).latest()
    cal = WorkingCalendar(version.calendar)
    due = rules.add_span(cal, start, figure)
    assert cal.is_working_day(due)
    assert cal.working_days_between(start, due) == figure.value


@settings(max_examples=150, deadline=None)
@given(agreement_id=st.sampled_from(["russia-style", "eu-serbia-template", "eu-pakistan", "eu-china-draft"]), start=st.dates(min_value=D(2020, 1, 1), max_value=D(2026, 6, 30)), accelerated=st.booleans())
def test_reply_due_is_after_start_and_extension_never_earlier(agreement_id, start, accelerated):
    version = get_preset(agreement_id).latest()
    if accelerated and version.readmission.accelerated is None:
        accelerated = False
    reply = rules.reply_deadline(version, start, accelerated=accelerated)
    assert reply.due > start
    extended = rules.extended_reply_deadline(version, start, accelerated=accelerated)
    if extended is not None:
        assert extended.due >= reply.due
    assert rules.transfer_deadline(version, reply.due).due > reply.due


@given(day=st.dates(min_value=D(2000, 1, 1), max_value=D(2030, 12, 31)), months=st.integers(min_value=0, max_value=24))
def test_add_months_never_overflows_month(day, months):
    result = rules.add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day <= day.day


def test_transfer_date_checked_against_document_and_window():
    version = v("russia-style")  # travel document 30 days, window 90 days
    dates = rules.CaseDates(accepted_on=D(2024, 3, 1), travel_document_issued_on=D(2024, 3, 5))
    checked = rules.check_transfer_date(version, dates, D(2024, 4, 4), today=D(2024, 3, 6))
    assert {d.kind for d in checked} == {"travel_document_expiry", "transfer_due"}
    with pytest.raises(Conflict) as err:
        rules.check_transfer_date(version, dates, D(2024, 4, 5), today=D(2024, 3, 6))
    assert err.value.extra["travel_document_expiry"] == "2024-04-04"
    later = rules.CaseDates(accepted_on=D(2024, 3, 1), travel_document_issued_on=D(2024, 5, 25))
    with pytest.raises(Conflict) as err:
        rules.check_transfer_date(version, later, D(2024, 6, 1), today=D(2024, 5, 26))
    assert err.value.extra["transfer_due"] == "2024-05-30"
    with pytest.raises(Conflict, match="past"):
        rules.check_transfer_date(version, dates, D(2024, 3, 5), today=D(2024, 3, 6))


def test_the_rule_is_a_message_in_the_readers_language_with_the_agreements_chinese_text():
    """Issue 16: the rule is stored language-neutral and reads in Chinese, citation included."""
    from passage.core.i18n import Text, localise

    reply = rules.reply_deadline(v("eu-china-draft"), D(2026, 12, 1))
    chinese = localise(reply.rule, locale="zh_Hans")
    assert chinese.startswith("答复期限：自2026年12月1日确认收到起20个工作日") and "第8条第1款" in chinese
    assert "Art." not in chinese and "working" not in chinese
    stored = Text.from_stored(reply.rule.as_stored())
    assert stored == reply.rule and localise(stored, locale="zh_Hans") == chinese


def test_every_shipped_preset_has_chinese_for_its_published_text_and_translations_leave_the_checksum_alone():
    from pydantic import BaseModel

    from passage.core.i18n import missing_translations
    from passage.readmission.agreements import agreement_checksum
    from passage.readmission.schemas import Translated

    missing = []

    def walk(node, path):
        if isinstance(node, Translated):
            fields = {name: getattr(node, name) for name in ("source", "article", "note", "label", "issue_rule", "border_region_definition", "description")
                      if isinstance(getattr(node, name, None), str)}
            missing.extend(f"{path}.{f}" for f in missing_translations(fields, node.translations, locale="zh_Hans"))
        if isinstance(node, BaseModel):
            for key in type(node).model_fields:
                walk(getattr(node, key), f"{path}.{key}")
        elif isinstance(node, (list, tuple)):
            for index, value in enumerate(node):
                walk(value, f"{path}.{index}")

    for agreement in preset_agreements().values():
        walk(agreement, agreement.id)
        assert agreement.name_zh and agreement.published("name").render("zh_Hans") == agreement.name_zh
    assert missing == []
    agreement = get_preset("eu-pakistan")
    assert agreement_checksum(agreement) == agreement_checksum(agreement.model_copy(update={"translations": {"description": {"zh_Hans": "另一译文"}}}))
