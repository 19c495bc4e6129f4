"""One-to-one EM (scoring.em_one_to_one): recovers known m and in-registry share from simulated 1:N searches."""

from __future__ import annotations

import numpy as np

from passage.identity import scoring


def _simulate(true_m: dict[str, dict[str, float]], model: scoring.Model, *, queries: int, k: int, share_in: float,
              seed: int) -> list[scoring.CandidateSet]:
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(queries):
        inside = rng.random() < share_in
        rows = np.zeros((k, len(scoring.FIELDS)), dtype=np.int16)
        for j, f in enumerate(scoring.FIELDS):
            levels = scoring.FIELD_LEVELS[f]
            pu = np.array([model.u[f][lv] for lv in levels])
            rows[:, j] = rng.choice(len(levels), k, p=pu / pu.sum())
            if inside:
                pm = np.array([true_m[f][lv] for lv in levels])
                rows[0, j] = rng.choice(len(levels), p=pm / pm.sum())
        log2_u = np.array([sum(np.log2(model.u[f][scoring.FIELD_LEVELS[f][int(rows[i, j])]]) for j, f in enumerate(scoring.FIELDS))
                           for i in range(k)])
        sets.append(scoring.CandidateSet(rows, log2_u))
    return sets


def test_em_one_to_one_recovers_known_m_and_share() -> None:
    model = scoring.Model(registry_size=5)
    model.u["sex"] = {"agree": 0.5, "disagree": 0.5}
    model.u["birth_place"] = {"county": 0.05, "prefecture": 0.1, "province": 0.2, "written_close": 0.02, "disagree": 0.63}
    true_m = {f: dict(v) for f, v in scoring.DEFAULT_M.items()}
    # The truth differs from the starting m: more date errors, fewer exact names (as in a messier batch).
    true_m["birth_date"] = {"exact": 0.35, "year_month": 0.05, "year_only": 0.05, "day_month_swapped": 0.05, "lunar_as_solar": 0.05,
                            "within_7_days": 0.1, "year_off_by_one": 0.1, "digit_typo": 0.05, "disagree": 0.2 * 0.99}
    true_m["name"] = {"exact": 0.4, "surname_exact_given_close": 0.25, "given_exact_surname_close": 0.1, "both_close": 0.08,
                      "surname_exact_given_weak": 0.01, "given_exact_surname_weak": 0.01, "close_and_weak": 0.0,
                      "both_weak": 0.0, "surname_only": 0.05, "given_only": 0.05, "disagree": 0.05}
    sets = _simulate(true_m, model, queries=4000, k=5, share_in=0.7, seed=3)
    fitted, info = scoring.em_one_to_one(sets, model, registry_size=5, prior_strength=1.0, prior_in_strength=1.0, iterations=200,
                                         tol=1e-7)
    assert abs(info["prior_in_registry"] - 0.7) < 0.03
    for f in ("name", "birth_date"):
        total = sum(true_m[f].values())
        for lv in scoring.FIELD_LEVELS[f]:
            assert abs(fitted.m[f][lv] - true_m[f][lv] / total) < 0.03, (f, lv)


def test_em_one_to_one_never_makes_disagreement_evidence_for_a_match() -> None:
    model = scoring.Model(registry_size=5)
    true_m = {f: dict(v) for f, v in scoring.DEFAULT_M.items()}
    true_m["sex"] = {"agree": 0.2, "disagree": 0.8}  # a pathological batch: disagreement more common among matches
    sets = _simulate(true_m, model, queries=1500, k=5, share_in=0.8, seed=4)
    fitted, _ = scoring.em_one_to_one(sets, model, registry_size=5, prior_strength=1.0)
    assert fitted.m["sex"]["disagree"] <= model.u["sex"]["disagree"] + 1e-9
    assert abs(sum(fitted.m["sex"].values()) - 1.0) < 1e-9


def test_em_one_to_one_with_strong_prior_stays_near_prior() -> None:
    model = scoring.Model(registry_size=5)
    sets = _simulate(scoring.DEFAULT_M, model, queries=20, k=5, share_in=0.5, seed=5)
    fitted, _ = scoring.em_one_to_one(sets, model, registry_size=5, prior_strength=10_000.0)
    for f in scoring.FIELDS:
        for lv in scoring.FIELD_LEVELS[f]:
            assert abs(fitted.m[f][lv] - model.m[f][lv]) < 0.01
