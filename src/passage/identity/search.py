"""1:N search: blocking, comparison, Fellegi-Sunter evidence, posterior and decision for one query.

`search(index, query, top=10)` is the public entry point that wave 2 exposes over HTTP. Extra evidence
(fingerprint likelihood ratios) comes in through `extra_evidence(query, person_id) -> list[Evidence]`;
each item's log2 Bayes factor is added to the candidate's total before the posterior is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from passage.identity import compare, scoring
from passage.identity.index import RegistryIndex, _frequency_keys, query_keys

ExtraEvidence = Callable[[compare.Query, str], Sequence[scoring.Evidence]]


@dataclass
class Candidate:
    """One ranked candidate with its probability, decision and per-field explanation."""

    rank: int
    person_id: str
    match_probability: float
    decision: str
    log2_bf: float
    evidence: list[scoring.Evidence]
    levels: compare.Levels

    def as_dict(self) -> dict[str, object]:
        return {"rank": self.rank, "person_id": self.person_id, "match_probability": self.match_probability,
                "decision": self.decision, "log2_bayes_factor": round(self.log2_bf, 3),
                "evidence": [e.as_dict() for e in self.evidence]}


@dataclass
class SearchResult:
    """Ranked candidates, the probability that the person is not among them, and notes (no personal values)."""

    candidates: list[Candidate]
    probability_not_in_registry: float
    notes: list[str] = field(default_factory=list)

    @property
    def decision(self) -> str:
        return self.candidates[0].decision if self.candidates else "no_match"


@dataclass
class Scored:
    """Comparison levels for the retrieved candidates of one query, before the model is applied."""

    query: compare.Query
    notes: list[str]
    records: list[compare.Record]
    levels: list[compare.Levels]
    frequencies: list[tuple[float, float, float]]


def gather(index: RegistryIndex, query: compare.Query) -> Scored:
    """Blocking and comparison (the expensive part); independent of m and u."""
    effective, notes = compare.effective_query(query)
    if not effective.usable():
        return Scored(effective, [*notes, "nothing usable in the query (no name, date of birth or ID number)"], [], [], [])
    hits = index.candidates(query_keys(effective))
    records = [index.record(s, r) for s, r, _ in hits]
    levels = [compare.compare(effective, rec) for rec in records]
    freqs = []
    for rec in records:
        full, s, g = _frequency_keys(rec)
        freqs.append((index.frequency("full", full), index.frequency("surname", s), index.frequency("given", g)))
    return Scored(effective, notes, records, levels, freqs)


def rank(scored: Scored, model: scoring.Model, *, registry_size: int, top: int = 10,
         extra_evidence: ExtraEvidence | None = None) -> SearchResult:
    """Apply the model to gathered candidates: evidence, posterior, ranking, decisions."""
    if not scored.records:
        return SearchResult([], 1.0, scored.notes)
    exact_count = sum(1 for lv in scored.levels if lv.name == "exact")
    items: list[tuple[float, int, list[scoring.Evidence]]] = []
    for i, (rec, levels, (f_full, f_s, f_g)) in enumerate(zip(scored.records, scored.levels, scored.frequencies, strict=True)):
        # Homophones and cross-romanisation ambiguity: every retrieved candidate whose name agrees exactly
        # is a namesake in the query's script, so the name can be no rarer than their share of the registry.
        name_freq = max(f_full, exact_count / max(registry_size, 1))
        evidence = scoring.evidence_for(model, levels, name_frequency=name_freq, surname_frequency=f_s or None, given_frequency=f_g or None)
        if extra_evidence is not None:
            evidence.extend(extra_evidence(scored.query, rec.person_id))
        items.append((scoring.total_log2_bf(evidence), i, evidence))
    items.sort(key=lambda t: (-t[0], scored.records[t[1]].person_id))
    probs, p_none = scoring.posteriors([t[0] for t in items], registry_size=registry_size, prior_in_registry=model.prior_in_registry)
    kept = items[:top]
    decisions = scoring.decide(probs[:top], scored.levels[kept[0][1]] if kept else None)
    candidates = [
        Candidate(rank=r + 1, person_id=scored.records[i].person_id, match_probability=probs[r], decision=decisions[r], log2_bf=bf,
                  evidence=ev, levels=scored.levels[i])
        for r, (bf, i, ev) in enumerate(kept)
    ]
    return SearchResult(candidates, p_none, scored.notes)


def name_u_overrides(scored: Scored, model: scoring.Model, *, registry_size: int) -> list[float | None]:
    """The term-frequency u that `evidence_for` uses for each candidate's name level (None: the model's u)."""
    exact_count = sum(1 for lv in scored.levels if lv.name == "exact")
    out: list[float | None] = []
    for levels, (f_full, f_s, f_g) in zip(scored.levels, scored.frequencies, strict=True):
        level = levels.name
        if level == "exact":
            out.append(max(f_full, exact_count / max(registry_size, 1), scoring.U_FLOOR))
        elif level == "surname_only" and f_s:
            out.append(max(f_s, model.u["name"][level], scoring.U_FLOOR))
        elif level == "given_only" and f_g:
            out.append(max(f_g, model.u["name"][level], scoring.U_FLOOR))
        else:
            out.append(None)
    return out


def fit_model(gathered: Sequence[Scored], model: scoring.Model, *, registry_size: int,
              fit_prior_in_registry: bool = True) -> tuple[scoring.Model, dict[str, float]]:
    """Estimate m (and the in-registry prior) from a batch by one-to-one EM (`scoring.em_one_to_one`)."""
    sets = [scoring.encode_candidates(model, g.levels, name_u_overrides(g, model, registry_size=registry_size))
            for g in gathered if g.records]
    return scoring.em_one_to_one(sets, model, registry_size=registry_size, fit_prior_in_registry=fit_prior_in_registry)


def expected_false_match_share(results: Sequence[SearchResult]) -> float | None:
    """The model's own estimate of the share of wrong `match` decisions: mean of (1 - p) over them.

    If the posterior is calibrated this is the expected error rate of `match` decisions (the quantity
    the 0.99 threshold bounds); reported by the batch CLI so a user sees it on their own data.
    """
    probs = [r.candidates[0].match_probability for r in results if r.candidates and r.candidates[0].decision == "match"]
    return float(sum(1 - p for p in probs) / len(probs)) if probs else None


def search(index: RegistryIndex, query: compare.Query, top: int = 10, *, extra_evidence: ExtraEvidence | None = None) -> SearchResult:
    """Find the person of `query` in the indexed registry: ranked candidates with explanations."""
    return rank(gather(index, query), index.model, registry_size=index.size, top=top, extra_evidence=extra_evidence)
