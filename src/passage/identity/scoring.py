"""Fellegi-Sunter scoring, EM estimation, term frequencies, calibrated probabilities and decisions.

Method:
- Fellegi & Sunter (1969), "A theory for record linkage", JASA 64: each field's comparison level
  contributes log2(m/u), m = P(level | same person), u = P(level | different people).
- m estimated by expectation-maximisation on candidate pairs (Winkler 1988, "Using the EM algorithm for
  weight computation in the Fellegi-Sunter model"), u by random sampling of the registry, as Splink does.
- Term-frequency adjustment (Winkler 1989; Splink's tf adjustment): for an exact name agreement u is the
  frequency of that name's reading in the registry, so 张伟 counts far less than a rare name.
- The match probability is a posterior over the candidates *and* the hypothesis "not in the registry":
  P(i) = BF_i * pi/N / ((1 - pi) + pi/N * sum_j BF_j), with pi the prior that the person is in a registry
  of N records. Two namesakes with equal evidence therefore share the probability and neither can reach
  a `match`, which is the issue's rule "match only when no namesake competes".
- Other evidence (fingerprints from the biometrics module) enters as extra `Evidence` items whose
  `log2_bf` is added to the candidate's total; it must be conditionally independent of the fields here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from passage.core.i18n import T_, Label, localise
from passage.identity import messages as _messages  # noqa: F401 - defines the label domains used below
from passage.identity.compare import NAME_LEVELS, Levels
from passage.identity.dates import DATE_LEVELS
from passage.identity.places import PLACE_LEVELS
from passage.identity.resident_id import ID_LEVELS

FIELD_LEVELS: dict[str, tuple[str, ...]] = {
    "name": NAME_LEVELS,
    "birth_date": DATE_LEVELS,
    "sex": ("agree", "disagree"),
    "birth_place": PLACE_LEVELS,
    "id_number": ID_LEVELS,
}
FIELDS: tuple[str, ...] = tuple(FIELD_LEVELS)

# Prior m probabilities (before EM): judgement informed by Christen (2012) ch. 5 error rates for
# transcribed identity data; the date levels assume 80% of queries give a full date, 10% year-month, 10% year.
DEFAULT_M: dict[str, dict[str, float]] = {
    "name": {"exact": 0.6, "surname_exact_given_close": 0.1, "given_exact_surname_close": 0.07, "both_close": 0.05,
             "surname_exact_given_weak": 0.008, "given_exact_surname_weak": 0.006, "close_and_weak": 0.004, "both_weak": 0.002,
             "surname_only": 0.06, "given_only": 0.04, "disagree": 0.06},
    "birth_date": {"exact": 0.56, "year_month": 0.09, "year_only": 0.09, "day_month_swapped": 0.04, "lunar_as_solar": 0.05,
                   "within_7_days": 0.05, "year_off_by_one": 0.05, "digit_typo": 0.03, "disagree": 0.04},
    "sex": {"agree": 0.97, "disagree": 0.03},
    "birth_place": {"county": 0.45, "prefecture": 0.2, "province": 0.22, "written_close": 0.03, "disagree": 0.1},
    "id_number": {"exact": 0.88, "one_edit": 0.08, "disagree": 0.04},
}
# Fallback u probabilities when the registry is too small to sample.
DEFAULT_U: dict[str, dict[str, float]] = {
    "name": {"exact": 1e-4, "surname_exact_given_close": 2e-4, "given_exact_surname_close": 2e-4, "both_close": 1e-3,
             "surname_exact_given_weak": 5e-4, "given_exact_surname_weak": 5e-4, "close_and_weak": 1e-3, "both_weak": 2e-3,
             "surname_only": 0.02, "given_only": 1e-3, "disagree": 0.9724},
    "birth_date": {"exact": 4e-5, "year_month": 1.5e-3, "year_only": 2e-3, "day_month_swapped": 1e-5, "lunar_as_solar": 4e-5,
                   "within_7_days": 6e-4, "year_off_by_one": 1e-4, "digit_typo": 3e-3, "disagree": 0.9927},
    "sex": {"agree": 0.5, "disagree": 0.5},
    "birth_place": {"county": 0.01, "prefecture": 0.03, "province": 0.1, "written_close": 0.003, "disagree": 0.857},
    "id_number": {"exact": 1e-9, "one_edit": 1e-7, "disagree": 0.9999999},
}
U_FLOOR = 1e-9
# The Bayes factor of a registry record that candidate selection did not retrieve: P(not retrieved | same
# person) / P(not retrieved | different person) = (1 - pair completeness) / (1 - reduction ratio) ~ 1 - pair
# completeness (Christen 2012, "Data Matching", ch. 4, for the two blocking measures). The identity
# benchmarks (bench/identity/bench_recall.py) measure the true person lost at candidate selection (keys,
# pool and pre-score cuts) at 5 of 791 in-registry queries at 1M (0.6%; 95% upper confidence bound 1.5%)
# and 0.8% on FEBRL 4 (not among the first five), so 0.02 is an upper bound: it keeps the posterior
# conservative (an unretrieved person is never ruled out) without treating every unretrieved record as if
# nothing were known about it (a factor of 1). It was 0.05 while 3.9% were lost at 1M (wave 4). An index
# keeps the factor it was built with (model.json); rebuild it to take the new one.
UNRETRIEVED_BF = 0.02
MATCH_THRESHOLD = 0.99
POSSIBLE_THRESHOLD = 0.01


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence about one candidate: a log2 Bayes factor and why (never a personal value)."""

    kind: str
    level: str | None
    log2_bf: float
    explanation: str
    """A message (`i18n.T_`): English as a `str`; `as_dict` gives it in the reader's language."""

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "level": self.level, "log2_bf": round(self.log2_bf, 3), "explanation": localise(self.explanation)}


@dataclass
class Model:
    """m and u per field level, the prior that a query's person is in the registry, and the registry size."""

    m: dict[str, dict[str, float]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_M.items()})
    u: dict[str, dict[str, float]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_U.items()})
    prior_in_registry: float = 0.5
    registry_size: int = 1
    unretrieved_bf: float = UNRETRIEVED_BF

    def to_json(self) -> str:
        return json.dumps({"m": self.m, "u": self.u, "prior_in_registry": self.prior_in_registry, "registry_size": self.registry_size,
                           "unretrieved_bf": self.unretrieved_bf})

    @classmethod
    def from_json(cls, text: str) -> Model:
        data = json.loads(text)

        def complete(stored: dict[str, dict[str, float]], defaults: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
            # A model saved before a level existed gets the default for it (and the index stays usable).
            return {f: {lv: float(stored.get(f, {}).get(lv, defaults[f][lv])) for lv in FIELD_LEVELS[f]} for f in FIELDS}

        return cls(m=complete(data["m"], DEFAULT_M), u=complete(data["u"], DEFAULT_U), prior_in_registry=data["prior_in_registry"],
                   registry_size=data["registry_size"], unretrieved_bf=float(data.get("unretrieved_bf", UNRETRIEVED_BF)))

    def to_splink_json(self) -> str:
        """The model as a Splink-style settings document (docs/identity.md, "Model files").

        Each field is a comparison whose levels carry Splink's `comparison_vector_value` (gamma: the number
        of levels minus one for the closest agreement down to 0 for `disagree`; -1 is the null level),
        `m_probability` and `u_probability`; `probability_two_random_records_match` is the prior
        in-registry share over the registry size. Passage's own parameters sit under `passage`."""
        comparisons = []
        for f in FIELDS:
            levels = FIELD_LEVELS[f]
            comparison_levels: list[dict[str, object]] = [{"label_for_charts": "null", "comparison_vector_value": -1, "is_null_level": True}]
            comparison_levels += [{"label_for_charts": lv, "comparison_vector_value": gamma(f, lv), "m_probability": self.m[f][lv],
                                   "u_probability": self.u[f][lv]} for lv in levels]
            comparisons.append({"output_column_name": f, "comparison_levels": comparison_levels})
        return json.dumps({
            "link_type": "link_only",
            "probability_two_random_records_match": self.prior_in_registry / max(self.registry_size, 1),
            "comparisons": comparisons,
            "passage": {"format": 1, "prior_in_registry": self.prior_in_registry, "registry_size": self.registry_size,
                        "unretrieved_bf": self.unretrieved_bf},
        }, indent=2)

    @classmethod
    def from_any_json(cls, text: str) -> Model:
        """A model from Passage's own JSON or from `to_splink_json`; unknown fields or levels are refused by name."""
        data = json.loads(text)
        if "comparisons" not in data:
            return cls.from_json(text)
        m: dict[str, dict[str, float]] = {}
        u: dict[str, dict[str, float]] = {}
        for comparison in data["comparisons"]:
            name = comparison.get("output_column_name")
            if name not in FIELD_LEVELS:
                raise ValueError(f"comparison {name!r}: not one of {', '.join(FIELDS)}")
            for level in comparison.get("comparison_levels", []):
                if level.get("is_null_level"):
                    continue
                label = level.get("label_for_charts")
                if label not in FIELD_LEVELS[name]:
                    raise ValueError(f"comparison {name}: level {label!r} is not one of {', '.join(FIELD_LEVELS[name])}")
                m.setdefault(name, {})[label] = float(level["m_probability"])
                u.setdefault(name, {})[label] = float(level["u_probability"])
        own = data.get("passage", {})
        size = int(own.get("registry_size", 1))
        prior = float(own.get("prior_in_registry", float(data.get("probability_two_random_records_match", 0.5 / size)) * size))
        return cls.from_json(json.dumps({"m": m, "u": u, "prior_in_registry": prior, "registry_size": size,
                                         "unretrieved_bf": float(own.get("unretrieved_bf", UNRETRIEVED_BF))}))

    def log2_bf(self, field_name: str, level: str, *, u_override: float | None = None) -> float:
        m = max(self.m[field_name][level], U_FLOOR)
        u = max(u_override if u_override is not None else self.u[field_name][level], U_FLOOR)
        return math.log2(m / u)


def gamma(field_name: str, level: str | None) -> int:
    """Splink's comparison vector value of a level: -1 missing, 0 `disagree`, higher for closer agreement."""
    if level is None:
        return -1
    levels = FIELD_LEVELS[field_name]
    return len(levels) - 1 - levels.index(level)


def evidence_for(model: Model, levels: Levels, *, name_frequency: float | None = None, surname_frequency: float | None = None,
                 given_frequency: float | None = None) -> list[Evidence]:
    """Turn comparison levels into Evidence items, with term-frequency-adjusted u for name agreement.

    When the ID numbers agree, date of birth and sex are not scored again: the number encodes both, and
    counting them twice would break the conditional independence the model assumes.
    """
    items: list[Evidence] = []
    id_agrees = levels.id_number in ("exact", "one_edit")
    for name, level in zip(FIELDS, levels.as_tuple(), strict=True):
        label = Label("identity.field", name)
        if level is None:
            items.append(Evidence(name, None, 0.0, T_("{field}: missing on one side, no evidence", field=label)))
            continue
        worded = Label(f"identity.level.{name}", level)
        if id_agrees and name in ("birth_date", "sex"):
            items.append(Evidence(name, level, 0.0, T_("{field}: {level}; already counted in the ID number", field=label, level=worded)))
            continue
        u_override = None
        explanation = T_("{field}: {level}", field=label, level=worded)
        if name == "name":
            freq = {"exact": name_frequency, "surname_only": surname_frequency, "given_only": given_frequency}.get(level)
            if freq is not None:
                u_override = max(freq, model.u["name"][level] if level != "exact" else 0.0, U_FLOOR)
                explanation = T_("{field}: {level} (name frequency 1 in {n})", field=label, level=worded, n=max(1, round(1 / max(u_override, 1e-12))))
        bf = model.log2_bf(name, level, u_override=u_override)
        items.append(Evidence(name, level, bf, explanation))
    return items


def total_log2_bf(evidence: Sequence[Evidence]) -> float:
    return float(sum(e.log2_bf for e in evidence))


def posterior_array(log2_bfs: np.ndarray, *, registry_size: int, prior_in_registry: float,
                    unretrieved_bf: float = UNRETRIEVED_BF) -> tuple[np.ndarray, float]:
    """Posterior probability of each candidate (same order as `log2_bfs`) and of "none of them", in log space.

    P(i) = BF_i * pi/N / ((1 - pi) + (N - k) * pi/N * BF_rest + pi/N * sum_j BF_j): the records candidate
    selection did not retrieve still carry prior mass, with the Bayes factor of not being retrieved
    (`UNRETRIEVED_BF`).
    """
    log2_bfs = np.asarray(log2_bfs, dtype=float)
    n = max(registry_size, 1)
    prior_in = min(max(prior_in_registry, 1e-6), 1 - 1e-6)
    log_none = math.log2(1 - prior_in)
    terms = math.log2(prior_in / n) + log2_bfs
    rest = max(n - len(log2_bfs), 0)
    log_rest = math.log2(rest * prior_in / n * unretrieved_bf) if rest and unretrieved_bf > 0 else -math.inf
    top = max(log_none, log_rest, float(terms.max()) if len(terms) else -math.inf)
    weights = np.exp2(terms - top)
    denom = 2 ** (log_none - top) + (2 ** (log_rest - top) if rest else 0.0) + float(weights.sum())
    return weights / denom, 2 ** (log_none - top) / denom


def posteriors(log2_bfs: Sequence[float], *, registry_size: int, prior_in_registry: float,
               unretrieved_bf: float = UNRETRIEVED_BF) -> tuple[list[float], float]:
    """`posterior_array` for a list of log2 Bayes factors."""
    probs, p_none = posterior_array(np.asarray(log2_bfs, dtype=float), registry_size=registry_size, prior_in_registry=prior_in_registry,
                                    unretrieved_bf=unretrieved_bf)
    return probs.tolist(), p_none


STRONG_NAME = ("exact", "surname_exact_given_close", "given_exact_surname_close", "both_close")
PARTIAL_NAME = ("surname_exact_given_weak", "given_exact_surname_weak", "close_and_weak", "both_weak", "surname_only", "given_only")


def decide(probabilities: Sequence[float], top_levels: Levels | None, *, match_threshold: float = MATCH_THRESHOLD,
           possible_threshold: float = POSSIBLE_THRESHOLD) -> list[str]:
    """Decision per ranked candidate; at most one `match`, only for the first and only with identity evidence.

    A `match` also needs the name to agree (or the ID number to agree) and a date or ID number that agrees,
    so that a high probability built from weak fields alone cannot send someone to the wrong country. A
    name that agrees only in part (one part exact, or graded Jaro-Winkler bands; or one part missing)
    qualifies only with an *exactly* agreeing full date of birth and no disagreeing ID number: two
    independent identity fields, and namesakes born that day are retrieved and compete in the posterior.
    """
    out: list[str] = []
    for rank, p in enumerate(probabilities):
        if rank == 0 and p >= match_threshold and top_levels is not None and strong_evidence(top_levels):
            out.append("match")
        elif p >= possible_threshold:
            out.append("possible")
        else:
            out.append("no_match")
    return out


# Places specific enough to be the second identifying field beside the name: the same county (or district),
# or a written place that neither side can resolve within two edits (a suburb with a typo).
SPECIFIC_PLACE = ("county", "written_close")


def strong_evidence(levels: Levels) -> bool:
    """Whether the top candidate carries enough independent identity evidence to be decided `match`.

    The posterior alone measures how rare the agreeing combination is in this registry; this rule only
    refuses a `match` built from fields that cannot identify anyone by themselves. Accepted:
    - an agreeing name with a date that does not disagree (exact, partial, swapped, lunar, one typo...)
      or an agreeing ID number;
    - an agreeing ID number with a name that does not disagree;
    - a partly agreeing name with the exact full date and no disagreeing ID number;
    - an agreeing name with a specific place (county or a close unresolved written place) when the date is
      missing on one side, and no date, sex or ID number disagrees: two independent identifying fields
      agree. Christen (2012, "Data Matching", ch. 6) on deciding by the combined weight of the fields that
      are present. The posterior then requires the name-and-place combination to be rare in the registry
      (term frequencies; every namesake in the county is kept by the pre-score and competes), which is the
      issue's "a full name ... and a place should be enough where that combination is rare".
    Never accepted: a `match` on a name that disagrees outright unless the ID number agrees; on a disagreeing
    sex or ID number with only name and place; or on name and place against a disagreeing date. The last is
    kept as a veto although Fellegi & Sunter (1969) would only weigh it: a father and son, or a cousin named
    after an elder, share a full name and a home town and differ exactly in the date (a false `match` there
    hands one person's case to another), and no benchmark here has such relatives to calibrate against.
    """
    id_ok = levels.id_number in ("exact", "one_edit")
    name_ok = levels.name in STRONG_NAME
    date_ok = levels.birth_date not in (None, "disagree")
    partial_ok = levels.name in PARTIAL_NAME and levels.birth_date == "exact" and levels.id_number != "disagree"
    place_ok = (name_ok and levels.birth_place in SPECIFIC_PLACE and levels.birth_date != "disagree"
                and levels.id_number != "disagree" and levels.sex != "disagree")
    return (name_ok and (date_ok or id_ok)) or (id_ok and levels.name not in (None, "disagree")) or partial_ok or place_ok


# --- EM ------------------------------------------------------------------------------------------------


def encode(levels_list: Sequence[Levels]) -> np.ndarray:
    """Pairs x fields matrix of level indices; -1 where missing."""
    out = np.full((len(levels_list), len(FIELDS)), -1, dtype=np.int16)
    for i, levels in enumerate(levels_list):
        for j, (name, level) in enumerate(zip(FIELDS, levels.as_tuple(), strict=True)):
            if level is not None:
                out[i, j] = FIELD_LEVELS[name].index(level)
    return out


def em(matrix: np.ndarray, m: dict[str, dict[str, float]], u: dict[str, dict[str, float]], *, lam: float = 0.1,
       fix_u: bool = True, iterations: int = 50, tol: float = 1e-6, pseudo_count: float = 1.0) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], float]:
    """Expectation-maximisation for the two-class Fellegi-Sunter mixture (Winkler 1988).

    Returns (m, u, lambda). Missing levels (-1) contribute nothing. A small pseudo-count keeps levels
    that never occur away from zero. With `fix_u`, u stays as given (estimated by random sampling).
    """
    n_pairs, n_fields = matrix.shape
    m_arr = [np.array([m[f][lv] for lv in FIELD_LEVELS[f]], dtype=float) for f in FIELDS]
    u_arr = [np.array([u[f][lv] for lv in FIELD_LEVELS[f]], dtype=float) for f in FIELDS]
    prev = -math.inf
    for _ in range(iterations):
        log_m = np.full(n_pairs, math.log(lam))
        log_u = np.full(n_pairs, math.log(1 - lam))
        for j in range(n_fields):
            col = matrix[:, j]
            present = col >= 0
            log_m[present] += np.log(np.maximum(m_arr[j][col[present]], 1e-300))
            log_u[present] += np.log(np.maximum(u_arr[j][col[present]], 1e-300))
        top = np.maximum(log_m, log_u)
        weights = np.exp(log_m - top) / (np.exp(log_m - top) + np.exp(log_u - top))
        loglik = float(np.sum(top + np.log(np.exp(log_m - top) + np.exp(log_u - top))))
        lam = float(np.clip(weights.mean(), 1e-6, 1 - 1e-6))
        for j in range(n_fields):
            col = matrix[:, j]
            present = col >= 0
            k = len(m_arr[j])
            counts_m = np.bincount(col[present], weights=weights[present], minlength=k) + pseudo_count / k
            m_arr[j] = counts_m / counts_m.sum()
            if not fix_u:
                counts_u = np.bincount(col[present], weights=1 - weights[present], minlength=k) + pseudo_count / k
                u_arr[j] = counts_u / counts_u.sum()
        if abs(loglik - prev) < tol * max(1.0, abs(loglik)):
            break
        prev = loglik
    m_out = {f: {lv: float(m_arr[j][i]) for i, lv in enumerate(FIELD_LEVELS[f])} for j, f in enumerate(FIELDS)}
    u_out = {f: {lv: float(u_arr[j][i]) for i, lv in enumerate(FIELD_LEVELS[f])} for j, f in enumerate(FIELDS)}
    return m_out, u_out, lam


# --- EM with the one-to-one constraint (wave 2) ---------------------------------------------------------


@dataclass
class CandidateSet:
    """The retrieved candidates of one query, encoded for EM: level indices and the fixed log2 u per pair.

    `levels` is candidates x fields (-1 = missing or not scored, e.g. date and sex when the ID agrees);
    `log2_u` is the sum over scored fields of log2 u, with the term-frequency u for name agreement.
    """

    levels: np.ndarray
    log2_u: np.ndarray


def encode_candidates(model: Model, codes: np.ndarray, name_u: np.ndarray) -> CandidateSet:
    """Encode one query's candidates from their level codes (candidates x fields, -1 missing).

    `name_u[i]` overrides u for the name level (term frequency) or is NaN. Date and sex are not scored
    when the ID number agrees (the number encodes both).
    """
    matrix = np.array(codes, dtype=np.int16, copy=True).reshape(-1, len(FIELDS))
    id_col = FIELDS.index("id_number")
    id_levels = FIELD_LEVELS["id_number"]
    id_agrees = (matrix[:, id_col] == id_levels.index("exact")) | (matrix[:, id_col] == id_levels.index("one_edit"))
    matrix[id_agrees, FIELDS.index("birth_date")] = -1
    matrix[id_agrees, FIELDS.index("sex")] = -1
    log2_u = np.zeros(len(matrix), dtype=float)
    for j, f in enumerate(FIELDS):
        table = np.array([model.u[f][lv] for lv in FIELD_LEVELS[f]], dtype=float)
        col = matrix[:, j]
        u = table[np.maximum(col, 0)]
        if f == "name":
            override = np.asarray(name_u, dtype=float)
            u = np.where(np.isnan(override), u, override) if len(override) else u
        log2_u += np.where(col >= 0, np.log2(np.maximum(u, U_FLOOR)), 0.0)
    return CandidateSet(matrix, log2_u)


class OneToOneExpectation:
    """The E-step of `em_one_to_one` over a fixed list of candidate sets (one per query).

    Called with the current m (per field, an array over its levels) and in-registry prior, it returns the
    expected count of each field level among true matches and the expected number of queries in the registry.
    Counts add up over disjoint sets of queries, so a distributed engine runs this on each part of a batch and
    sums (the Spark engine does). `queries` is the number of sets with candidates.
    """

    def __init__(self, sets: Sequence[CandidateSet], *, registry_size: int, unretrieved_bf: float) -> None:
        usable = [s for s in sets if len(s.log2_u)]
        self.queries = len(usable)
        self.registry_size = max(registry_size, 1)
        # All queries' candidates in one matrix; `starts` marks where each query's candidates begin, so that
        # the per-query posterior (one-to-one constraint) is a segmented log-sum-exp (np.*.reduceat).
        sizes = np.array([len(s.log2_u) for s in usable], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if usable else np.zeros(0, dtype=np.int64)
        levels = np.concatenate([s.levels for s in usable]) if usable else np.zeros((0, len(FIELDS)), dtype=np.int16)
        self.log2_u = np.concatenate([s.log2_u for s in usable]) if usable else np.zeros(0)
        # Pairs share few distinct level patterns (Splink's comparison vectors): the m part of each pair's
        # Bayes factor is computed per pattern, and the M-step counts patterns, not pairs.
        # Each row of level codes (-1..15) packed into one integer, 5 bits per field.
        packed = np.zeros(len(levels), dtype=np.int64)
        for j in range(len(FIELDS)):
            packed |= (levels[:, j].astype(np.int64) + 1) << np.int64(5 * j)
        unique_packed, pattern_of = np.unique(packed, return_inverse=True)
        self.patterns = np.stack([(unique_packed >> np.int64(5 * j) & 31) - 1 for j in range(len(FIELDS))], axis=1)
        self.pattern_of = pattern_of.reshape(-1)
        self.present = self.patterns >= 0
        self.safe_levels = np.maximum(self.patterns, 0)
        self.group = np.repeat(np.arange(len(usable)), sizes)
        self.unretrieved = np.maximum(self.registry_size - sizes, 0).astype(float) * unretrieved_bf

    def __call__(self, m_arr: Sequence[np.ndarray], prior_in: float) -> tuple[list[np.ndarray], float]:
        counts = [np.zeros(len(FIELD_LEVELS[f])) for f in FIELDS]
        if not self.queries:
            return counts, 0.0
        n, starts, group = self.registry_size, self.starts, self.group
        pattern_m = np.zeros(len(self.patterns))
        for j in range(len(FIELDS)):
            log2_m = np.log2(np.maximum(m_arr[j], 1e-300))
            pattern_m += np.where(self.present[:, j], log2_m[self.safe_levels[:, j]], 0.0)
        bf = pattern_m[self.pattern_of] - self.log2_u
        prior = min(max(prior_in, 1e-6), 1 - 1e-6)
        log_none = math.log2(1 - prior)
        terms = math.log2(prior / n) + bf
        with np.errstate(divide="ignore"):
            log_rest = np.where(self.unretrieved > 0, np.log2(self.unretrieved * prior / n), -np.inf)
        top = np.maximum(np.maximum(np.maximum.reduceat(terms, starts), log_none), log_rest)
        weights = np.exp2(terms - top[group])
        denom = np.exp2(log_none - top) + np.where(self.unretrieved > 0, np.exp2(log_rest - top), 0.0) + np.add.reduceat(weights, starts)
        w = weights / denom[group]
        p_none = np.exp2(log_none - top) / denom
        pattern_weight = np.bincount(self.pattern_of, weights=w, minlength=len(self.patterns))
        for j in range(len(FIELDS)):
            col = self.present[:, j]
            counts[j] += np.bincount(self.patterns[col, j], weights=pattern_weight[col], minlength=len(counts[j]))
        return counts, float(np.sum(1.0 - p_none))


class Expectation(Protocol):
    """What `em_one_to_one` needs of an E-step: `OneToOneExpectation`, or one summed over an engine's partitions."""

    queries: int

    def __call__(self, m_arr: Sequence[np.ndarray], prior_in: float) -> tuple[list[np.ndarray], float]: ...


def em_one_to_one(sets: Sequence[CandidateSet], model: Model, *, registry_size: int, prior_strength: float = 50.0,
                  prior_in_strength: float = 20.0, iterations: int = 30, tol: float = 1e-5,
                  fit_prior_in_registry: bool = True, expectation: Expectation | None = None) -> tuple[Model, dict[str, float]]:
    """Estimate m (and the prior that a queried person is in the registry) on a batch of 1:N searches.

    This is EM for the Fellegi-Sunter mixture (Winkler 1988) with two changes that stop the drift seen
    when EM is run on independent blocked pairs:
    - u stays fixed at its random-sampling estimate (Splink's practice; Winkler 1988 §3), so only the
      matched class is learnt;
    - the E-step uses the one-to-one constraint of 1:N search: each query is at most one registry person,
      so the weights of a query's candidates and of "not in the registry" sum to one (the posterior of
      `posteriors`). This is the bipartite-matching restriction of Jaro (1989) and Sadinle (2017,
      "Bayesian estimation of bipartite matchings for record linkage", JASA 112). Without it, a cluster of
      namesakes sharing name and date forms a second "match" class and EM drifts to it.
    - the M-step is a maximum a posteriori update with a Dirichlet prior centred on the current m
      (pseudo-count `prior_strength` per field) and a Beta prior on the in-registry share, so a small or
      unusual batch moves the model only as far as its evidence supports (Gelman et al., BDA, ch. 5).
    - monotonicity: disagreement can never be evidence *for* a match; m(disagree) is capped at u(disagree).

    The E-step is `OneToOneExpectation` over `sets`, or `expectation` (e.g. the Spark engine's, which sums
    `OneToOneExpectation` over partitions of the batch; `sets` is then ignored). The M-step is here only.
    Returns the new model and diagnostics (iterations, expected share of wrong `match` decisions).
    """
    expect = expectation or OneToOneExpectation(sets, registry_size=registry_size, unretrieved_bf=model.unretrieved_bf)
    prior_m = [np.array([model.m[f][lv] for lv in FIELD_LEVELS[f]], dtype=float) for f in FIELDS]
    m_arr = [p.copy() for p in prior_m]
    prior_in = model.prior_in_registry
    prev = math.inf
    done = 0
    for _ in range(iterations):
        done += 1
        counts, expected_in = expect(m_arr, prior_in)
        change = 0.0
        for j, f in enumerate(FIELDS):
            post = counts[j] + prior_strength * prior_m[j]
            new = post / post.sum()
            disagree = FIELD_LEVELS[f].index("disagree") if "disagree" in FIELD_LEVELS[f] else -1
            if disagree >= 0:
                cap = model.u[f]["disagree"]
                if new[disagree] > cap:
                    rest = 1.0 - new[disagree]
                    new = new * ((1.0 - cap) / max(rest, 1e-12))
                    new[disagree] = cap
            change = max(change, float(np.max(np.abs(new - m_arr[j]))))
            m_arr[j] = new
        if fit_prior_in_registry and expect.queries:
            a = prior_in_strength * model.prior_in_registry
            prior_in = float(np.clip((expected_in + a) / (expect.queries + prior_in_strength), 0.02, 0.98))
        if change < tol or abs(prev - change) < tol * 0.1:
            break
        prev = change
    m_out = {f: {lv: float(m_arr[j][i]) for i, lv in enumerate(FIELD_LEVELS[f])} for j, f in enumerate(FIELDS)}
    fitted = Model(m=m_out, u=model.u, prior_in_registry=prior_in, registry_size=model.registry_size,
                   unretrieved_bf=model.unretrieved_bf)
    return fitted, {"iterations": float(done), "prior_in_registry": prior_in}
