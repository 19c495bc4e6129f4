from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from passage.dialogue.service import (
    SYSTEM,
    add_follow_up,
    add_outcome,
    create_event,
    get_event,
    recommendation_tracker,
)
from passage.dialogue.tracker import cluster, tokens


def test_tokens_expand_abbreviations_and_fold_synonyms() -> None:
    assert "liaison" in tokens("Set up a network of ILOs")
    assert tokens("identify migrants")[0] == tokens("identification of migrants")[0] == "identif"


def test_paraphrases_group_and_unrelated_stay_apart() -> None:
    texts = [
        "More frequent exchange opportunities",
        "Study visits to an readmission agreement -implementing country",
        "Study on the impact of the readmission agreements, numbers and reintegration",
        "Establishment of the network of Immigration Liaison Officers",
        "Increase the frequency of exchanges between EU and Chinese officials",
        "Set up a network of ILOs in EU member states",
        "Organise a study visit to a member state that implements a readmission agreement",
    ]
    groups = [sorted(g) for g in cluster(texts) if len(g) > 1]
    assert sorted(groups) == [[0, 4], [1, 6], [3, 5]]


def test_tracker_over_seed_and_a_later_event(seeded: Session) -> None:
    later = create_event(seeded, actor=SYSTEM, data={
        "title_en": "Study visit on readmission", "event_type": "study_visit", "start_date": dt.date(2019, 5, 6),
        "end_date": dt.date(2019, 5, 10), "venue_en": "The Hague", "project_en": "EU-China Dialogue",
    })
    rec = add_outcome(seeded, actor=SYSTEM, event_id=later.id, data={"kind": "recommendation", "text_en": "Set up a network of ILOs in EU member states"})
    owner = get_event(seeded, event_ref="2015-11-return-readmission-workshop").organisers[0].institution_id
    add_follow_up(seeded, actor=SYSTEM, outcome_id=rec.id, data={"title": "Nominate ILOs", "owner_institution_id": owner, "due_date": dt.date(2019, 12, 31)})
    groups = recommendation_tracker(seeded, as_of=dt.date(2020, 6, 1))
    recurring = [g for g in groups if g.recurs]
    assert len(recurring) == 1
    assert recurring[0].label == "Establishment of the network of Immigration Liaison Officers"
    assert recurring[0].status == "overdue"
    exchange = next(g for g in groups if g.label == "More frequent exchange opportunities")
    assert exchange.status == "acted_on" and not exchange.recurs
    assert next(g for g in groups if g.label.startswith("Study visits")).status == "no_follow_up"
