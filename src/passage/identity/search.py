"""1:N search: blocking, comparison, Fellegi-Sunter evidence, posterior and decision for one query.

`search(index, query, top=10)` is the public entry point that wave 2 exposes over HTTP. Extra evidence
(fingerprint likelihood ratios) comes in through `extra_evidence(query, person_id) -> list[Evidence]`;
each item's log2 Bayes factor is added to the candidate's total before the posterior is computed.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from passage.identity import compare, dates, places, resident_id, scoring
from passage.identity.blocking import Narrowing
from passage.identity.index import MAX_CANDIDATES, RegistryIndex, place_of_key, query_key_hashes
from passage.identity.segments import CANDIDATE_SHARE, MAX_CANDIDATES_CAP

EM_MIN_QUERIES = 200
"""Below this many queries with candidates a batch keeps the index's m-probabilities (EM needs enough pairs);
the same for both engines."""

ExtraEvidence = Callable[[compare.Query, str], Sequence[scoring.Evidence]]


@dataclass
class Candidate:
    """One ranked candidate with its probability, decision and per-field explanation."""

    rank: int
    person_id: str
    match_probability: float
    decision: str
    log2_bf: float
    levels: compare.Levels
    explain: Callable[[], list[scoring.Evidence]] = field(repr=False, compare=False)
    _evidence: list[scoring.Evidence] | None = field(default=None, repr=False, compare=False)

    @property
    def evidence(self) -> list[scoring.Evidence]:
        """Per-field evidence, built when first asked for (a batch writing only decisions never needs it)."""
        if self._evidence is None:
            self._evidence = self.explain()
        return self._evidence

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
    tied_beyond: int = 0
    """Compared candidates left out of the list whose total equals the last listed one's: the list was cut through
    a tie (namesakes the evidence given cannot separate), so which of them are listed is arbitrary."""

    @property
    def decision(self) -> str:
        return self.candidates[0].decision if self.candidates else "no_match"


NAME_CODE = {level: i for i, level in enumerate(scoring.FIELD_LEVELS["name"])}
_NAME_COL, _DATE_COL, _SEX_COL, _PLACE_COL, _ID_COL = range(len(scoring.FIELDS))


@dataclass
class Scored:
    """Comparison levels of the retrieved candidates of one query, before the model is applied.

    Columnar: `codes` is candidates x fields of level indices into `scoring.FIELD_LEVELS` (-1 missing) and
    `frequencies` candidates x (full name, surname, given name) shares of the registry. Candidates are
    named either by `person_ids` or, from an index, by (`segments`, `rows`), resolved only for the few
    candidates that are returned (`rank(..., index=...)`).
    """

    query: compare.Query
    notes: list[str]
    codes: np.ndarray
    frequencies: np.ndarray
    person_ids: list[str] | None = None
    segments: np.ndarray | None = None
    rows: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of candidates."""
        return int(self.codes.shape[0])

    @classmethod
    def empty(cls, query: compare.Query, notes: list[str]) -> Scored:
        return cls(query, notes, np.zeros((0, len(scoring.FIELDS)), dtype=np.int8), np.zeros((0, 3)), person_ids=[])

    @classmethod
    def from_levels(cls, query: compare.Query, notes: list[str], person_ids: list[str], levels: Sequence[compare.Levels],
                    frequencies: Sequence[tuple[float, float, float]]) -> Scored:
        """From per-pair `compare.compare` levels (the Spark path compares pairs one by one)."""
        return cls(query, notes, scoring.encode(levels).astype(np.int8), np.asarray(frequencies, dtype=float).reshape(-1, 3),
                   person_ids=list(person_ids))

    def levels_at(self, i: int) -> compare.Levels:
        """The `compare.Levels` of candidate `i` (for explanations and decisions)."""
        name, birth, sex, place, number = (scoring.FIELD_LEVELS[f][int(c)] if c >= 0 else None
                                           for f, c in zip(scoring.FIELDS, self.codes[i].tolist(), strict=True))
        return compare.Levels(name, birth, sex, place, number)

    def resolve_person_ids(self, positions: np.ndarray, index: RegistryIndex | None) -> list[str]:
        """Person ids of the candidates at `positions`."""
        if self.person_ids is not None:
            return [self.person_ids[int(i)] for i in positions]
        if index is None or self.segments is None or self.rows is None:
            raise ValueError("candidates from an index need the index to be named")
        return index.person_ids(self.segments[positions], self.rows[positions])


def gather(index: RegistryIndex, query: compare.Query) -> Scored:
    """Blocking and comparison (the expensive part); independent of m and u.

    Candidates come from the inverted postings in two stages: a pool of the rows sharing most blocking
    keys (`RegistryIndex.candidate_pool`, at most `CANDIDATE_POOL`), whose date, sex, ID number and place
    are compared in numpy (`dates.compare_date_codes`, `resident_id.compare_id_codes`; places once per
    distinct place); then the `candidate_count(pool)` best of the pool by a pre-score (`preselect`) get their
    names compared, once per *distinct* name among them. Each candidate gets exactly the levels
    `compare.compare` gives the pair.
    """
    effective, notes = compare.effective_query(query)
    if not effective.usable():
        return Scored.empty(effective, [*notes, "nothing usable in the query (no name, date of birth or ID number)"])
    segs, rows, shared, pool_codes = pool_levels(index, effective)
    if not len(rows):
        return Scored.empty(effective, notes)
    single = len(index.segments) == 1
    if len(rows) > MAX_CANDIDATES:
        chosen = preselect(pool_codes, shared, segs, rows, index.model)
        segs, rows, pool_codes = segs[chosen], rows[chosen], pool_codes[chosen]
    # Stage 2: names and term frequencies for the chosen candidates.
    n = len(rows)
    names = compare.QueryNames(effective)
    codes = pool_codes
    freqs = np.zeros((n, 3), dtype=float)
    for s in np.unique(segs).tolist():
        seg = index.segments[s]
        tf = index.tf[s]
        where = slice(None) if single else np.flatnonzero(segs == s)
        r = rows if single else rows[where]
        family_ids, family_of = np.unique(np.asarray(seg.cols["sname"][r]), return_inverse=True)
        given_ids, given_of = np.unique(np.asarray(seg.cols["gname"][r]), return_inverse=True)
        codes[where, _NAME_COL] = name_codes(names, [seg.names[i] for i in family_ids.tolist()], [seg.names[i] for i in given_ids.tolist()],
                                             family_of, given_of)
        freqs[where, 0] = tf["tf_full"][np.asarray(seg.cols["tf_full"][r])]
        freqs[where, 1] = tf["tf_surname"][np.asarray(seg.cols["tf_surname"][r])]
        freqs[where, 2] = tf["tf_given"][np.asarray(seg.cols["tf_given"][r])]
    return Scored(effective, notes, codes, freqs, segments=segs, rows=rows)


def pool_levels(index: RegistryIndex, effective: compare.Query) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stage 1 of `gather`: the candidate pool (segments, rows, shared keys) and its cheap levels (`cheap_codes`)."""
    segs, rows, shared = index.candidate_pool(query_key_hashes(effective), narrowing=Narrowing.of(effective))
    pool_codes = np.full((len(rows), len(scoring.FIELDS)), -1, dtype=np.int8)
    if not len(rows):
        return segs, rows, shared, pool_codes
    q_place = compare.query_place(effective)
    single = len(index.segments) == 1
    for s in np.unique(segs).tolist():
        seg = index.segments[s]
        where = slice(None) if single else np.flatnonzero(segs == s)
        r = rows if single else rows[where]
        # Only the columns of fields the query gives are read (random reads from the memory-mapped columns of a pool
        # of up to CANDIDATE_POOL rows); `cheap_codes` leaves the others at -1 whatever it is given for them.
        n = len(r)
        if q_place.empty:
            place_keys, place_of = [], np.zeros(n, dtype=np.int64)
        else:
            place_ids, place_of = np.unique(np.asarray(seg.cols["place"][r]), return_inverse=True)
            place_keys = [seg.places[p] for p in place_ids.tolist()]
        birth = np.asarray(seg.cols["birth"][r]) if effective.birth_date is not None else np.zeros(n, dtype=np.int32)
        sex = np.asarray(seg.cols["sex"][r]) if effective.sex_code else np.zeros(n, dtype=np.int8)
        idnum = np.asarray(seg.cols["idnum"][r]) if effective.id_number else np.zeros(n, dtype="S18")
        pool_codes[where] = cheap_codes(effective, birth, sex, idnum, q_place, place_keys, place_of)
    return segs, rows, shared, pool_codes


def cheap_codes(query: compare.Query, birth: np.ndarray, sex: np.ndarray, idnum: np.ndarray, q_place: places.Place, place_keys: list[str],
                place_of: np.ndarray) -> np.ndarray:
    """Stage 1 of `gather`, for both engines (`spark_link` calls it per query): level codes (candidates x fields) of
    date of birth, sex, ID number and place of birth for candidate columns (`birth` YYYYMMDD, `sex` 0/1/2, `idnum`
    cleaned numbers, places as distinct keys (`registry._place_key`) and each candidate's position among them),
    vectorised, each distinct place compared once. The name column stays -1: names are compared in stage 2
    (`name_codes`), for the pre-selected rows only."""
    codes = np.full((len(birth), len(scoring.FIELDS)), -1, dtype=np.int8)
    codes[:, _DATE_COL] = dates.compare_date_codes(query.birth_date, birth)
    q_sex_code = query.sex_code
    if q_sex_code:
        agree, disagree = scoring.FIELD_LEVELS["sex"].index("agree"), scoring.FIELD_LEVELS["sex"].index("disagree")
        codes[:, _SEX_COL] = np.where(sex == 0, -1, np.where(sex == q_sex_code, agree, disagree))
    if query.id_number:
        codes[:, _ID_COL] = resident_id.compare_id_codes(query.id_number, idnum)
    if not q_place.empty and len(place_keys):
        place_code = {level: i for i, level in enumerate(scoring.FIELD_LEVELS["birth_place"])}
        place_levels = [places.compare_places(q_place, place_of_key(p)) for p in place_keys]
        codes[:, _PLACE_COL] = np.array([-1 if lv is None else place_code[lv] for lv in place_levels], dtype=np.int8)[place_of]
    return codes


def name_codes(names: compare.QueryNames, families: list[str], givens: list[str], family_of: np.ndarray, given_of: np.ndarray) -> np.ndarray:
    """Stage 2 of `gather`, for both engines: name level codes of candidates given as distinct family and given
    names and, per candidate, the position of its names among them (each distinct name compared once)."""
    return names.level_codes(families, givens, family_of, given_of)


# The fields of the pre-score beside the shared keys: those compared in stage 1 (no name comparison).
PRESCORE_FIELDS = ("birth_date", "sex", "id_number", "birth_place")


def candidate_count(pool: int) -> int:
    """How many of a pool of `pool` rows `preselect` keeps at least: `CANDIDATE_SHARE` of the pool, between
    `MAX_CANDIDATES` and `MAX_CANDIDATES_CAP`.

    Scale-aware: the pool holds the rows sharing most keys with the query, and in a larger registry more of them
    are namesakes the pre-score cannot tell apart (they differ only in the name, which it does not compare); a
    fixed count cut the true person off at 10M for 46 of 804 queries, where pools are full (20,000 rows) far more
    often than at 1M. The share keeps the cut at the same depth of the pool at every scale (bench_recall.py).
    """
    return int(min(MAX_CANDIDATES_CAP, max(MAX_CANDIDATES, int(np.ceil(pool * CANDIDATE_SHARE)))))


def preselect(codes: np.ndarray, shared: np.ndarray, segs: np.ndarray, rows: np.ndarray, model: scoring.Model) -> np.ndarray:
    """Positions of the pool rows to compare in full (`candidate_count`, plus rows tied at the cut), best first.

    A pre-score ranks the pool: the number of blocking keys shared (about one bit each; they stand in
    for the name, not yet compared) plus the log2 Bayes factors of date of birth, sex, ID number and
    place of birth under the index's model (a field left at -1 in `codes` adds nothing). Among
    namesakes, who share the same name keys, the one whose date, sex, number or county agrees is kept;
    a record whose name is misspelt (few shared keys) but whose date and place agree is not crowded out
    by namesakes. This is the cheap first pass of a two-pass comparison (Christen 2012, "Data
    Matching", ch. 4, on candidate-set reduction by a cheap similarity before the full comparison).
    Rows tied with the last one kept are kept too, up to `MAX_CANDIDATES_CAP` in all: a cut through a tie would
    choose among equal pre-scores by row number, i.e. arbitrarily; beyond the cap, ties by (segment, row).
    """
    score = prescore(codes, shared, model)
    keep = candidate_count(len(score))
    if len(score) <= keep:
        return np.lexsort((rows, segs, -score))
    # Only rows scoring at least the keep-th best can be kept: sort those (ties included).
    cut = np.partition(score, len(score) - keep)[len(score) - keep]
    contenders = np.flatnonzero(score >= cut)
    keep = min(max(keep, len(contenders)), MAX_CANDIDATES_CAP)
    return contenders[np.lexsort((rows[contenders], segs[contenders], -score[contenders]))][:keep]


def prescore(codes: np.ndarray, shared: np.ndarray, model: scoring.Model) -> np.ndarray:
    """The pre-score of `preselect`: shared keys + log2 Bayes factors of the `PRESCORE_FIELDS` present."""
    score = shared.astype(float)
    for field_name in PRESCORE_FIELDS:
        column = scoring.FIELDS.index(field_name)
        table = np.array([model.log2_bf(field_name, level) for level in scoring.FIELD_LEVELS[field_name]], dtype=float)
        col = codes[:, column]
        score += np.where(col >= 0, table[np.maximum(col, 0)], 0.0)
    return score


def name_u_overrides(scored: Scored, model: scoring.Model, *, registry_size: int) -> np.ndarray:
    """The term-frequency u that `evidence_for` uses for each candidate's name level (NaN: the model's u).

    Exact agreement: the share of the registry with that name's reading, at least the share of exactly
    agreeing candidates (Winkler 1989); one part only: that part's share, at least the model's u.
    """
    name = scored.codes[:, _NAME_COL]
    f_full, f_s, f_g = scored.frequencies[:, 0], scored.frequencies[:, 1], scored.frequencies[:, 2]
    exact = name == NAME_CODE["exact"]
    exact_share = float(exact.sum()) / max(registry_size, 1)
    out = np.full(scored.size, np.nan)
    out[exact] = np.maximum(np.maximum(f_full[exact], exact_share), scoring.U_FLOOR)
    for level, freq in (("surname_only", f_s), ("given_only", f_g)):
        chosen = (name == NAME_CODE[level]) & (freq > 0)
        out[chosen] = np.maximum(np.maximum(freq[chosen], model.u["name"][level]), scoring.U_FLOOR)
    return out


def log2_bayes_factors(scored: Scored, model: scoring.Model, *, registry_size: int) -> np.ndarray:
    """Total log2 Bayes factor of every candidate in one vectorised pass (lookup tables level -> log2 m/u).

    Identical to summing `scoring.evidence_for` per candidate: term-frequency u for name agreement
    (Winkler 1989), and date and sex not scored again when the ID number agrees.
    """
    encoded = scoring.encode_candidates(model, scored.codes, name_u_overrides(scored, model, registry_size=registry_size))
    total = -encoded.log2_u
    for j, f in enumerate(scoring.FIELDS):
        log2_m = np.log2(np.maximum(np.array([model.m[f][lv] for lv in scoring.FIELD_LEVELS[f]], dtype=float), scoring.U_FLOOR))
        col = encoded.levels[:, j]
        total = total + np.where(col >= 0, log2_m[np.maximum(col, 0)], 0.0)
    return total


def rank(scored: Scored, model: scoring.Model, *, registry_size: int, top: int = 10,
         extra_evidence: ExtraEvidence | None = None, index: RegistryIndex | None = None) -> SearchResult:
    """Apply the model to gathered candidates: evidence, posterior, ranking, decisions.

    Totals for all candidates come from one vectorised pass; ties are broken by person id, and only the
    candidates that can reach the first `top` are named (`index` resolves candidates gathered from it).
    The per-field explanation (`Evidence`) is built only for the `top` candidates that are returned.
    """
    if not scored.size:
        return SearchResult([], 1.0, scored.notes)
    totals = log2_bayes_factors(scored, model, registry_size=registry_size)
    extras: dict[int, list[scoring.Evidence]] = {}
    if extra_evidence is not None:
        all_ids = scored.resolve_person_ids(np.arange(scored.size), index)
        for i, pid in enumerate(all_ids):
            extras[i] = list(extra_evidence(scored.query, pid))
            totals[i] += scoring.total_log2_bf(extras[i])
    if scored.size > top:
        cutoff = np.partition(-totals, top - 1)[top - 1]
        contenders = np.flatnonzero(-totals <= cutoff)
    else:
        contenders = np.arange(scored.size)
    contender_ids = scored.resolve_person_ids(contenders, index)
    ranked = sorted(zip(contenders.tolist(), contender_ids, strict=True), key=lambda item: (-float(totals[item[0]]), item[1]))[:top]
    tied_beyond = 0
    if len(contenders) > len(ranked) and ranked:
        last = totals[ranked[-1][0]]
        tied_beyond = int((totals == last).sum()) - sum(1 for i, _ in ranked if totals[i] == last)
    probs_all, p_none = scoring.posterior_array(totals, registry_size=registry_size, prior_in_registry=model.prior_in_registry,
                                                   unretrieved_bf=model.unretrieved_bf)
    probs = [float(probs_all[i]) for i, _ in ranked]
    decisions = scoring.decide(probs, scored.levels_at(ranked[0][0]) if ranked else None)
    exact_share = float((scored.codes[:, _NAME_COL] == NAME_CODE["exact"]).sum()) / max(registry_size, 1)
    candidates = []
    for r, (i, pid) in enumerate(ranked):
        f_full, f_s, f_g = scored.frequencies[i].tolist()
        levels = scored.levels_at(i)
        explain = partial(_explain, model, levels, max(f_full, exact_share), f_s or None, f_g or None, extras.get(i, []))
        candidates.append(Candidate(rank=r + 1, person_id=pid, match_probability=probs[r], decision=decisions[r],
                                    log2_bf=float(totals[i]), levels=levels, explain=explain))
    return SearchResult(candidates, p_none, scored.notes, tied_beyond=tied_beyond)


def _explain(model: scoring.Model, levels: compare.Levels, name_frequency: float, surname_frequency: float | None,
             given_frequency: float | None, extras: list[scoring.Evidence]) -> list[scoring.Evidence]:
    """The evidence items of one candidate; their log2 Bayes factors sum to the candidate's total."""
    evidence = scoring.evidence_for(model, levels, name_frequency=name_frequency, surname_frequency=surname_frequency,
                                    given_frequency=given_frequency)
    return [*evidence, *extras]


def fit_model(gathered: Sequence[Scored], model: scoring.Model, *, registry_size: int,
              fit_prior_in_registry: bool = True) -> tuple[scoring.Model, dict[str, float]]:
    """Estimate m (and the in-registry prior) from a batch by one-to-one EM (`scoring.em_one_to_one`)."""
    sets = [scoring.encode_candidates(model, g.codes, name_u_overrides(g, model, registry_size=registry_size))
            for g in gathered if g.size]
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
    return rank(gather(index, query), index.model, registry_size=index.size, top=top, extra_evidence=extra_evidence, index=index)


_WORKER_INDEX: RegistryIndex | None = None


def _gather_chunk(queries: list[compare.Query]) -> list[Scored]:
    assert _WORKER_INDEX is not None
    return [gather(_WORKER_INDEX, q) for q in queries]


def gather_many(index: RegistryIndex, queries: Sequence[compare.Query], *, workers: int = 2, chunk: int = 32,
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
