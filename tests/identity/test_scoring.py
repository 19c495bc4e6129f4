"""One-to-one EM (scoring.em_one_to_one): recovers known m and in-registry share from simulated 1:N searches."""

from __future__ import annotations

import numpy as np

from passage.identity import scoring
from passage.identity.compare import Levels


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


def _levels(**kw: str) -> Levels:
    return Levels(**{"name": None, "birth_date": None, "sex": None, "birth_place": None, "id_number": None, **kw})


def test_a_full_name_and_county_decide_a_match_when_the_posterior_is_high_and_no_sex_or_id_disagrees() -> None:
    # Issue 19: strong non-date evidence may decide when the posterior says the combination is rare.
    assert scoring.decide([0.995], _levels(name="exact", birth_place="county")) == ["match"]
    assert scoring.decide([0.995], _levels(name="both_close", birth_place="written_close", sex="agree")) == ["match"]
    # A date with a typo is not a disagreement: full name, a date within one typo and the county decide.
    assert scoring.decide([0.995], _levels(name="exact", birth_place="county", birth_date="digit_typo")) == ["match"]
    # A date that disagrees outright stays a veto against name and place alone (a father and son of one name
    # and one town): it goes to a human however high the posterior.
    assert scoring.decide([0.9999], _levels(name="exact", birth_place="county", birth_date="disagree")) == ["possible"]
    # ... but never below the threshold, never with only a province, and never against a disagreeing sex or ID.
    assert scoring.decide([0.98], _levels(name="exact", birth_place="county")) == ["possible"]
    assert scoring.decide([0.995], _levels(name="exact", birth_place="province")) == ["possible"]
    assert scoring.decide([0.995], _levels(name="exact", birth_place="province", birth_date="disagree")) == ["possible"]
    assert scoring.decide([0.995], _levels(name="exact", birth_place="county", sex="disagree")) == ["possible"]
    assert scoring.decide([0.995], _levels(name="exact", birth_place="county", id_number="disagree")) == ["possible"]
    assert scoring.decide([0.995], _levels(name="surname_only", birth_place="county")) == ["possible"]
    # A name that disagrees outright never rests a `match` on date and place alone.
    assert scoring.decide([0.999], _levels(name="disagree", birth_place="county", birth_date="exact")) == ["possible"]


def test_unretrieved_records_weigh_by_the_bayes_factor_of_not_being_retrieved() -> None:
    bfs = np.array([20.0, 3.0])
    plain, none_plain = scoring.posterior_array(bfs, registry_size=100_000, prior_in_registry=0.8, unretrieved_bf=1.0)
    # With a factor of 1 this is the formula P(i) = BF_i pi/N / ((1 - pi) + (N - k) pi/N + pi/N sum BF_j).
    n, pi = 100_000, 0.8
    denom = (1 - pi) + (n - 2) * pi / n + pi / n * (2 ** 20 + 2 ** 3)
    assert abs(plain[0] - 2 ** 20 * pi / n / denom) < 1e-9
    assert abs(none_plain - (1 - pi) / denom) < 1e-9
    sharper, _ = scoring.posterior_array(bfs, registry_size=100_000, prior_in_registry=0.8, unretrieved_bf=0.05)
    assert sharper[0] > plain[0] and sharper[0] < 1.0
    # With nothing left unretrieved the factor changes nothing.
    a, _ = scoring.posterior_array(bfs, registry_size=2, prior_in_registry=0.8, unretrieved_bf=1.0)
    b, _ = scoring.posterior_array(bfs, registry_size=2, prior_in_registry=0.8, unretrieved_bf=0.05)
    assert np.allclose(a, b)


def test_model_json_keeps_the_unretrieved_factor_and_old_models_load_the_default() -> None:
    model = scoring.Model(registry_size=10, unretrieved_bf=0.02)
    assert scoring.Model.from_json(model.to_json()).unretrieved_bf == 0.02
    import json

    old = json.loads(model.to_json())
    del old["unretrieved_bf"]
    assert scoring.Model.from_json(json.dumps(old)).unretrieved_bf == scoring.UNRETRIEVED_BF


def test_explanations_are_messages_that_read_in_chinese() -> None:
    """Issue 16: "birth_date: exact" / "name: surname_exact_given_close" become words in the reader's language."""
    from passage.core.i18n import localise
    from passage.identity.places import in_characters

    items = scoring.evidence_for(scoring.Model(), Levels(name="surname_exact_given_close", birth_date="exact", sex=None, birth_place="county", id_number=None))
    by_kind = {e.kind: e for e in items}
    assert localise(by_kind["birth_date"].explanation, locale="zh_Hans").startswith("出生日期：")
    assert "_" not in localise(by_kind["name"].explanation, locale="en") and "surname_exact" not in str(by_kind["name"].as_dict()["explanation"])
    assert localise(by_kind["sex"].explanation, locale="zh_Hans") == "性别：一方缺失，不构成证据"
    assert in_characters("Changle, Fuzhou, Fujian") == "福建福州长乐" and in_characters("Wenchow") == "温州"
    assert in_characters("Fuzhou, Guangdong") is None and in_characters("Paris") is None  # different branches, unknown place
