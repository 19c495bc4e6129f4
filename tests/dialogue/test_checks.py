from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from passage.dialogue.checks import check_event
from passage.dialogue.service import SYSTEM, get_event, record_evaluation


def test_seed_2018_flags_the_three_contradictions_of_the_document(seeded: Session) -> None:
    flags = check_event(get_event(seeded, event_ref="2018-02-mixed-migration-seminar"))
    by_code = {(f.code, f.stated, f.found) for f in flags}
    assert ("stated_total_vs_parts", 26, 27) in by_code
    assert ("stated_count_vs_named", 6, 5) in by_code
    assert ("evaluation_outside_event", "2018-02-08", "2018-02-06/2018-02-07") in by_code
    assert len(flags) == 3, [f.message for f in flags]


def test_seed_2015_is_consistent(seeded: Session) -> None:
    assert check_event(get_event(seeded, event_ref="2015-11-return-readmission-workshop")) == []


def test_speaker_without_session_and_sample_size(seeded: Session) -> None:
    event = get_event(seeded, event_ref="2015-11-return-readmission-workshop")
    # the chair of group discussions also speaks in session 9; take him off that session
    session_nine = next(s for s in event.sessions if s.number == 9)
    session_nine.speakers.clear()
    event.opening_remarks[2].speaker_id = None
    record_evaluation(seeded, actor=SYSTEM, event_id=event.id, data={
        "activity_en": "Workshop", "dated": dt.date(2015, 11, 4), "stated_sample_size": 3,
        "questions": [{"key": "q1", "text_en": "Useful"}], "responses": [{"q1": 5}, {"q1": 4}],
    })
    seeded.flush()
    codes = sorted(f.code for f in check_event(event))
    assert codes == ["sample_size_vs_responses", "speaker_without_session"]
