"""Help-request workflow, service-level timers, priority tiers and message texts."""

from __future__ import annotations

import datetime as dt

import pytest

from passage.consular import rules
from passage.core.errors import Conflict

T0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("minutes", "state"), [(10, "on_track"), (46, "due_soon"), (61, "breached")])
def test_first_contact_timer_of_a_critical_request(minutes: int, state: str) -> None:
    first, _resolution = rules.sla_state(urgency="critical", received_at=T0, first_contact_at=None, resolved_at=None, now=T0 + dt.timedelta(minutes=minutes))
    assert first.state == state and first.due_at == T0 + dt.timedelta(hours=1)
    assert first.remaining_seconds == (60 - minutes) * 60


def test_met_and_met_late_do_not_depend_on_now() -> None:
    first, resolution = rules.sla_state(urgency="low", received_at=T0, first_contact_at=T0 + dt.timedelta(hours=80),
                                        resolved_at=T0 + dt.timedelta(days=3), now=T0 + dt.timedelta(days=400))
    assert (first.state, resolution.state) == ("met_late", "met") and first.remaining_seconds is None


def test_transitions_refuse_skipping_steps_and_name_the_allowed_ones() -> None:
    rules.check_request_transition("received", "triaged")
    rules.check_request_transition("resolved", "in_progress")
    with pytest.raises(Conflict) as caught:
        rules.check_request_transition("closed", "in_progress")
    assert caught.value.extra["allowed"] == []
    with pytest.raises(Conflict):
        rules.check_request_transition("received", "resolved")


def test_priority_tiers_follow_micic_guideline_10() -> None:
    assert rules.priority_tier(["medical"]) == 0
    assert rules.priority_tier([], contact_status="needs_help") == 0
    assert rules.priority_tier(["child", "older_person"]) == 1
    assert rules.priority_tier([]) == 2


def test_messages_are_rendered_in_the_person_s_language_with_no_other_values() -> None:
    values = {"crisis_en": "Quake", "crisis_zh": "地震", "advice_en": "Stay outside.", "advice_zh": "留在室外。"}
    zh = rules.render_message("alert", "zh", **values)
    en = rules.render_message("alert", "en", **values)
    assert zh.startswith("【中国领事保护】地震") and "12308" in zh and "Quake" not in zh
    assert en.startswith("[Consular protection] Quake") and "地震" not in en
    assert rules.render_message("alert", "fr", **values) == en
    evacuation = rules.render_message("evacuation", "zh", point="Hall", report_at="2026-12-08 04:00 UTC", **values)
    assert "Hall" in evacuation and "2026-12-08 04:00 UTC" in evacuation
