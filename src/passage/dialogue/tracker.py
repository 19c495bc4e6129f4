"""Recommendation tracker: which recommendations recur across events, and which were acted on.

Grouping method (no trained model: the machine is offline and the corpus is a few hundred short lines):

1. Normalise each recommendation: lower case, expand the Dialogue's abbreviations (ILO, AVRR, MPS, RA ...),
   drop stop words and generic policy verbs ("strengthen", "more", "establish"), fold words to a
   stem with a small suffix stripper in the spirit of Porter (1980), and map domain synonyms to one
   concept (identification / identify / ID -> `identif`; exchange / exchanges -> `exchang`). Chinese text
   without English is tokenised into character bigrams.
2. Similarity of two recommendations is 0.6 x the cosine of their TF-IDF vectors (Salton & Buckley 1988,
   IDF over all recommendations, so that words every recommendation shares weigh little) plus
   0.4 x rapidfuzz's `token_set_ratio` of the normalised strings (robust to word order and to one text
   being a longer paraphrase of the other).
3. Average-linkage agglomerative clustering (UPGMA; Sokal & Michener 1958): repeatedly merge the two groups
   with the highest mean pairwise similarity while it is at least `threshold` (0.5 by default,
   chosen on the seed recommendations plus paraphrases: "More frequent exchange opportunities" joins
   "Increase the frequency of exchanges", "network of Immigration Liaison Officers" joins "network of
   ILOs", while "Study visits to a readmission-agreement country" stays apart from "Study on the impact
   of the readmission agreements", which 0.42 wrongly merged).

A group recurs when its members come from two or more events. It was acted on when one of its
follow-up actions is `done`; it is overdue when an open follow-up's due date has passed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

if TYPE_CHECKING:  # the ORM types only annotate: a pure rule file imports no ORM at run time
    from passage.dialogue import models as m


_ABBREVIATIONS = {
    "ilo": "immigration liaison officer",
    "ilos": "immigration liaison officer",
    "avrr": "assisted voluntary return reintegration",
    "mps": "ministry public security",
    "mfa": "ministry foreign affairs",
    "iom": "international organization migration",
    "ra": "readmission agreement",
    "id": "identification",
}
_STOP = set(
    "a an the of to in on for and or with by as at from into is are be will should can may more most further "
    "strengthen strengthened strengthening establish establishment develop developing enhance enhanced improve "
    "increase increased promote support need needed its their this that these those etc e g other".split()
)
_SYNONYMS = {"identify": "identif", "identif": "identif", "exchang": "exchang", "visit": "visit", "liaison": "liaison", "frequent": "frequen", "frequenc": "frequen"}
_SUFFIXES = ("ations", "ation", "ities", "ity", "ments", "ment", "ings", "ing", "ies", "ied", "ed", "es", "s", "ly", "ic", "y")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    for prefix, concept in _SYNONYMS.items():
        if word.startswith(prefix):
            return concept
    return word


def tokens(text: str) -> list[str]:
    """Concept tokens of one recommendation (see the module docstring, step 1)."""
    lowered = text.casefold()
    if not re.search(r"[a-z]", lowered):
        han = [c for c in lowered if "\u4e00" <= c <= "\u9fff"]
        return ["".join(pair) for pair in zip(han, han[1:], strict=False)]
    words: list[str] = []
    for word in re.findall(r"[a-z]+", lowered):
        words.extend(_ABBREVIATIONS.get(word, word).split())
    return [_stem(w) for w in words if w not in _STOP and len(w) > 1]


def similarity_matrix(texts: list[str]) -> list[list[float]]:
    """Pairwise similarity in [0, 1] (step 2)."""
    docs = [tokens(t) for t in texts]
    frequency: Counter[str] = Counter(token for doc in docs for token in set(doc))
    n = len(docs)
    vectors: list[dict[str, float]] = []
    for doc in docs:
        counts = Counter(doc)
        vectors.append({t: c * (math.log((1 + n) / (1 + frequency[t])) + 1) for t, c in counts.items()})
    norms = [math.sqrt(sum(v * v for v in vec.values())) or 1.0 for vec in vectors]
    joined = [" ".join(doc) for doc in docs]
    matrix = [[1.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            cosine = sum(w * vectors[j].get(t, 0.0) for t, w in vectors[i].items()) / (norms[i] * norms[j])
            fuzzy = fuzz.token_set_ratio(joined[i], joined[j]) / 100 if joined[i] and joined[j] else 0.0
            matrix[i][j] = matrix[j][i] = 0.6 * cosine + 0.4 * fuzzy
    return matrix


def cluster(texts: list[str], *, threshold: float = 0.5) -> list[list[int]]:
    """Average-linkage groups of indices into `texts` (step 3), each sorted, in order of first member."""
    sim = similarity_matrix(texts)
    groups: list[list[int]] = [[i] for i in range(len(texts))]
    while len(groups) > 1:
        best = (-1.0, 0, 0)
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                score = sum(sim[i][j] for i in groups[a] for j in groups[b]) / (len(groups[a]) * len(groups[b]))
                if score > best[0]:
                    best = (score, a, b)
        score, a, b = best
        if score < threshold:
            break
        groups[a] = sorted(groups[a] + groups[b])
        del groups[b]
    return sorted(groups, key=lambda g: g[0])


@dataclass
class TrackedRecommendation:
    outcome_id: str
    event_id: str
    event_title: str
    event_start: dt.date
    text: str
    follow_up_statuses: list[str]


@dataclass
class RecommendationGroup:
    label: str
    """Text of the earliest member."""
    members: list[TrackedRecommendation] = field(default_factory=list)
    status: str = "no_follow_up"
    """`acted_on`, `in_progress`, `planned`, `overdue`, `dropped` or `no_follow_up`."""

    @property
    def events(self) -> list[str]:
        return sorted({member.event_id for member in self.members})

    @property
    def recurs(self) -> bool:
        return len(self.events) >= 2


def _status(outcomes: list[m.Outcome], as_of: dt.date) -> str:
    actions = [a for o in outcomes for a in o.follow_ups]
    if not actions:
        return "no_follow_up"
    statuses = {a.status for a in actions}
    if "done" in statuses:
        return "acted_on"
    if any(a.status in {"planned", "in_progress"} and a.due_date < as_of for a in actions):
        return "overdue"
    for status in ("in_progress", "planned", "dropped"):
        if status in statuses:
            return status
    return "no_follow_up"


def track(events: list[m.Event], *, as_of: dt.date, threshold: float = 0.5) -> list[RecommendationGroup]:
    """Group the recommendations of `events` and give each group its follow-up status; recurring groups first."""
    outcomes = [(event, o) for event in sorted(events, key=lambda e: e.start_date) for o in event.outcomes if o.kind == "recommendation"]
    texts = [o.text_en for _e, o in outcomes]  # grouped by the English source text, the same in every language
    result: list[RecommendationGroup] = []
    for indices in cluster(texts, threshold=threshold):
        members = [
            TrackedRecommendation(
                outcome_id=outcomes[i][1].id,
                event_id=outcomes[i][0].id,
                event_title=outcomes[i][0].title_en,
                event_start=outcomes[i][0].start_date,
                text=texts[i],
                follow_up_statuses=[a.status for a in outcomes[i][1].follow_ups],
            )
            for i in indices
        ]
        result.append(RecommendationGroup(label=members[0].text, members=members, status=_status([outcomes[i][1] for i in indices], as_of)))
    return sorted(result, key=lambda g: (not g.recurs, -len(g.members), g.members[0].event_start))
