"""1:N search: blocking, comparison, Fellegi-Sunter evidence, posterior and decision for one query.

`search(index, query, top=10)` is the public entry point that wave 2 exposes over HTTP. Extra evidence
(fingerprint likelihood ratios) comes in through `extra_evidence(query, person_id) -> list[Evidence]`;
each item's log2 Bayes factor is added to the candidate's total before the posterior is computed.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from passage.identity import compare, dates, places, resident_id, scoring
from passage.identity.index import RegistryIndex, key_hashes, place_of_key, query_keys

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
    person_ids: list[str]
    levels: list[compare.Levels]
    frequencies: list[tuple[float, float, float]]

    @property
    def records(self) -> list[str]:
        """The candidates' person ids (kept under the wave-2 name so `if scored.records` still reads)."""
        return self.person_ids


def _date_from_int(value: int) -> dt.date:
    return dt.date(value // 10000, value // 100 % 100, value % 100)


def gather(index: RegistryIndex, query: compare.Query) -> Scored:
    """Blocking and comparison (the expensive part); independent of m and u.

    Candidates come from the inverted postings (`RegistryIndex.candidate_arrays`); levels are computed
    from the precomputed columns once per *distinct* value among the candidates (name pair, date, place,
    ID number), which gives the same levels as `compare.compare` pair by pair at a fraction of the cost.
    """
    effective, notes = compare.effective_query(query)
    if not effective.usable():
        return Scored(effective, [*notes, "nothing usable in the query (no name, date of birth or ID number)"], [], [], [])
    segs, rows = index.candidate_arrays(key_hashes(query_keys(effective)))
    if not len(rows):
        return Scored(effective, notes, [], [], [])
    names = compare.QueryNames(effective)
    q_place = compare.query_place(effective)
    q_sex = effective.sex.strip().upper()[:1]
    q_sex_code = {"M": 1, "F": 2}.get(q_sex, 0)
    date_memo: dict[int, str | None] = {}
    n = len(rows)
    name_lv: list[str | None] = [None] * n
    date_lv: list[str | None] = [None] * n
    sex_lv: list[str | None] = [None] * n
    place_lv: list[str | None] = [None] * n
    id_lv: list[str | None] = [None] * n
    person_ids: list[str] = [""] * n
    freqs: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * n
    for s in np.unique(segs).tolist():
        seg = index.segments[s]
        tf = index.tf[s]
        where = np.flatnonzero(segs == s)
        r = rows[where]
        positions = where.tolist()
        sname = np.asarray(seg.cols["sname"][r])
        gname = np.asarray(seg.cols["gname"][r])
        pair_memo: dict[tuple[int, int], str | None] = {}
        for pos, a, b in zip(positions, sname.tolist(), gname.tolist(), strict=True):
            if (a, b) not in pair_memo:
                pair_memo[(a, b)] = names.level(seg.names[a], seg.names[b])
            name_lv[pos] = pair_memo[(a, b)]
        if effective.birth_date is not None:
            for pos, value in zip(positions, np.asarray(seg.cols["birth"][r]).tolist(), strict=True):
                if value and value not in date_memo:
                    date_memo[value] = dates.compare_dates(effective.birth_date, _date_from_int(value))
                date_lv[pos] = date_memo[value] if value else None
        if q_sex_code:
            for pos, code in zip(positions, np.asarray(seg.cols["sex"][r]).tolist(), strict=True):
                if code:
                    sex_lv[pos] = "agree" if code == q_sex_code else "disagree"
        place_memo: dict[int, str | None] = {}
        for pos, pid in zip(positions, np.asarray(seg.cols["place"][r]).tolist(), strict=True):
            if pid not in place_memo:
                place_memo[pid] = places.compare_places(q_place, place_of_key(seg.places[pid]))
            place_lv[pos] = place_memo[pid]
        if effective.id_number:
            for pos, number in zip(positions, np.asarray(seg.cols["idnum"][r]).tolist(), strict=True):
                if number:
                    id_lv[pos] = resident_id.compare_ids(effective.id_number, number.decode("ascii"))
        f_full = tf["tf_full"][np.asarray(seg.cols["tf_full"][r])].tolist()
        f_s = tf["tf_surname"][np.asarray(seg.cols["tf_surname"][r])].tolist()
        f_g = tf["tf_given"][np.asarray(seg.cols["tf_given"][r])].tolist()
        for k, pos in enumerate(positions):
            freqs[pos] = (f_full[k], f_s[k], f_g[k])
        for pos, pid in zip(positions, seg.values("person_id", r), strict=True):
            person_ids[pos] = pid
    levels = [compare.Levels(name_lv[i], date_lv[i], sex_lv[i], place_lv[i], id_lv[i]) for i in range(n)]
    return Scored(effective, notes, person_ids, levels, freqs)


def _level_matrix(levels: Sequence[compare.Levels]) -> np.ndarray:
    return scoring.encode(levels)


def log2_bayes_factors(scored: Scored, model: scoring.Model, *, registry_size: int) -> np.ndarray:
    """Total log2 Bayes factor of every candidate in one vectorised pass (lookup tables level -> log2 m/u).

    Identical to summing `scoring.evidence_for` per candidate: term-frequency u for name agreement
    (Winkler 1989), and date and sex not scored again when the ID number agrees.
    """
    matrix = _level_matrix(scored.levels)
    n = len(scored.levels)
    total = np.zeros(n, dtype=float)
    id_col = scoring.FIELDS.index("id_number")
    id_levels = scoring.FIELD_LEVELS["id_number"]
    id_agrees = np.isin(matrix[:, id_col], [id_levels.index("exact"), id_levels.index("one_edit")])
    for j, f in enumerate(scoring.FIELDS):
        table = np.array([model.log2_bf(f, lv) for lv in scoring.FIELD_LEVELS[f]], dtype=float)
        col = matrix[:, j]
        present = col >= 0
        if f in ("birth_date", "sex"):
            present &= ~id_agrees
        contrib = np.where(present, table[np.maximum(col, 0)], 0.0)
        if f == "name":
            overrides = name_u_overrides(scored, model, registry_size=registry_size)
            for i, u in enumerate(overrides):
                if u is not None:
                    level = scoring.FIELD_LEVELS["name"][int(col[i])]
                    contrib[i] = model.log2_bf("name", level, u_override=u)
        total += contrib
    return total


def rank(scored: Scored, model: scoring.Model, *, registry_size: int, top: int = 10,
         extra_evidence: ExtraEvidence | None = None) -> SearchResult:
    """Apply the model to gathered candidates: evidence, posterior, ranking, decisions.

    Totals for all candidates come from one vectorised pass; the per-field explanation (`Evidence`) is
    built only for the `top` candidates that are returned.
    """
    if not scored.person_ids:
        return SearchResult([], 1.0, scored.notes)
    totals = log2_bayes_factors(scored, model, registry_size=registry_size)
    extras: list[list[scoring.Evidence]] = [[] for _ in scored.person_ids]
    if extra_evidence is not None:
        for i, pid in enumerate(scored.person_ids):
            extras[i] = list(extra_evidence(scored.query, pid))
            totals[i] += scoring.total_log2_bf(extras[i])
    order = sorted(range(len(totals)), key=lambda i: (-float(totals[i]), scored.person_ids[i]))
    probs, p_none = scoring.posteriors([float(totals[i]) for i in order], registry_size=registry_size,
                                       prior_in_registry=model.prior_in_registry)
    kept = order[:top]
    decisions = scoring.decide(probs[:top], scored.levels[kept[0]] if kept else None)
    exact_count = sum(1 for lv in scored.levels if lv.name == "exact")
    candidates = []
    for r, i in enumerate(kept):
        f_full, f_s, f_g = scored.frequencies[i]
        evidence = scoring.evidence_for(model, scored.levels[i], name_frequency=max(f_full, exact_count / max(registry_size, 1)),
                                        surname_frequency=f_s or None, given_frequency=f_g or None)
        evidence.extend(extras[i])
        candidates.append(Candidate(rank=r + 1, person_id=scored.person_ids[i], match_probability=probs[r], decision=decisions[r],
                                    log2_bf=scoring.total_log2_bf(evidence), evidence=evidence, levels=scored.levels[i]))
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
            for g in gathered if g.person_ids]
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


_WORKER_INDEX: RegistryIndex | None = None


def _gather_chunk(queries: list[compare.Query]) -> list[Scored]:
    assert _WORKER_INDEX is not None
    return [gather(_WORKER_INDEX, q) for q in queries]


def gather_many(index: RegistryIndex, queries: Sequence[compare.Query], *, workers: int = 2, chunk: int = 64,
                progress: Callable[[int], None] | None = None) -> list[Scored]:
    """`gather` for a batch, on `workers` processes that share the memory-mapped index (fork), in input order."""
    global _WORKER_INDEX
    workers = max(1, min(workers, multiprocessing.cpu_count()))
    pieces = [list(queries[i:i + chunk]) for i in range(0, len(queries), chunk)]
    out: list[Scored] = []
    if workers == 1 or len(pieces) < 2:
        for piece in pieces:
            out.extend(gather(index, q) for q in piece)
            if progress is not None:
                progress(len(piece))
        return out
    _WORKER_INDEX = index
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for result in pool.imap(_gather_chunk, pieces):
                out.extend(result)
                if progress is not None:
                    progress(len(result))
    finally:
        _WORKER_INDEX = None
    return out
