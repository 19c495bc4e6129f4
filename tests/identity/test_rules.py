"""Tests of the identification engine's pure parts and its CLI contract."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from passage.core.errors import InvalidInput
from passage.identity import compare, dates, places, resident_id, scoring
from passage.identity.cli import identify_app
from passage.identity.romanisation import all_forms, latin_to_pinyin_keys, name_variants


def test_surname_readings_and_systems() -> None:
    assert "zeng" in all_forms("曾", surname=True)
    assert "shan" in all_forms("单", surname=True)
    assert "ou" in all_forms("区", surname=True)
    assert {"lyu", "lv", "lu"} <= set(name_variants("吕", surname=True)["pinyin"])
    assert "cheung" in all_forms("张", surname=True) and "teo" in all_forms("张", surname=True)
    assert "tiong" in all_forms("张", surname=True)  # Fuzhou
    assert "ouyang" in all_forms("欧阳", surname=True)
    assert "chang" in name_variants("张", surname=True)["wade_giles"]
    assert "zhang" in latin_to_pinyin_keys("Teo")
    assert "xiaoping" in latin_to_pinyin_keys("Hsiao-p'ing")


def _record(**kw: object) -> compare.Record:
    base = dict(person_id="P1", family_name="张", given_name="伟明", sex="M", birth_date=dt.date(1980, 3, 5), birth_place="福建省福州市长乐区",
                id_number="")
    base.update(kw)
    return compare.Record(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("family,given,full", [("ZHANG", "WEIMING", ""), ("Chang", "Wei-ming", ""), ("Cheung", "Wai Ming", ""),
                                               ("WEIMING", "ZHANG", ""), ("", "", "Wei Ming Zhang"), ("", "", "ZHANGWEIMING")])
def test_name_exact_across_romanisations(family: str, given: str, full: str) -> None:
    q = compare.Query(family_name=family, given_name=given, full_name=full)
    assert compare.compare_names(q, _record()) == "exact"


def test_name_levels_typo_and_disagree() -> None:
    assert compare.compare_names(compare.Query(family_name="Zhang", given_name="Weiminh"), _record()) == "surname_exact_given_close"
    assert compare.compare_names(compare.Query(family_name="Li", given_name="Qiang"), _record()) == "disagree"


def test_dates() -> None:
    rec = dt.date(1980, 3, 5)
    assert dates.compare_dates(dates.PartialDate(1980, 5, 3), rec) == "day_month_swapped"
    assert dates.compare_dates(dates.PartialDate(1980), rec) == "year_only"
    assert dates.compare_dates(dates.PartialDate(1981, 3, 5), rec) == "year_off_by_one"
    assert dates.compare_dates(dates.PartialDate(1980, 3, 9), rec) == "within_7_days"
    # Lunar 1980-01-19 is solar 1980-03-05 (Chinese calendar tables).
    assert dates.lunar_as_solar(dt.date(1980, 1, 19)) == rec
    assert dates.compare_dates(dates.PartialDate(1980, 1, 19), rec) == "lunar_as_solar"
    with pytest.raises(InvalidInput, match="line 3") as err:
        dates.parse_partial("1980-02-30", where="line 3, column birth_date")
    assert "1980" not in str(err.value)


def test_resident_id() -> None:
    first = "35018219800305123"
    number = first + resident_id.check_digit(first)
    parsed = resident_id.parse(number)
    assert parsed is not None and parsed.valid and parsed.sex == "M" and parsed.birth_date == dt.date(1980, 3, 5)
    bad = number[:-1] + ("0" if number[-1] != "0" else "1")
    assert resident_id.parse(bad) is not None and not resident_id.parse(bad).valid  # type: ignore[union-attr]
    typo = number[:10] + ("9" if number[10] != "9" else "8") + number[11:]
    assert resident_id.compare_ids(typo, number) == "one_edit"
    assert set(resident_id.blocking_keys(typo)) & set(resident_id.blocking_keys(number))
    swapped = number[:7] + number[8] + number[7] + number[9:]
    assert resident_id.compare_ids(swapped, number) == "one_edit"


def test_places() -> None:
    rec = places.resolve("福建省福州市长乐区")
    assert places.compare_places(places.resolve("Tionglok"), rec) == "county"
    assert places.compare_places(places.resolve("Foochow"), rec) == "prefecture"
    assert places.compare_places(places.resolve("Fukien"), rec) == "province"
    assert places.compare_places(places.resolve("Chekiang"), rec) == "disagree"
    # Old Changle code 350182 still agrees with the district after the 2017 change.
    assert places.compare_places(places.region_place("350182"), places.resolve("长乐")) == "county"
    # Places neither side can resolve (a Latin-script registry): the written forms are compared.
    suburb = places.resolve("north ryde vic")
    assert places.compare_places(places.resolve("northryyde vic"), suburb) == "written_close"
    assert places.compare_places(places.resolve("clayfield qld"), places.resolve("clayfield vic")) == "disagree"
    # An unresolvable query place against a registry place in characters is no evidence either way.
    assert places.compare_places(places.resolve("Nowhereville"), places.resolve("福建省福州市长乐区")) is None


def test_em_recovers_known_parameters() -> None:
    rng = np.random.default_rng(3)
    true_m = {f: dict(v) for f, v in scoring.DEFAULT_M.items()}
    true_u = {"name": {"exact": 0.002, "surname_exact_given_close": 0.003, "given_exact_surname_close": 0.003, "both_close": 0.01,
                       "surname_exact_given_weak": 0.004, "given_exact_surname_weak": 0.004, "close_and_weak": 0.006,
                       "both_weak": 0.01, "surname_only": 0.08, "given_only": 0.02, "disagree": 0.858},
              "birth_date": {"exact": 0.01, "year_month": 0.01, "year_only": 0.03, "day_month_swapped": 0.005, "lunar_as_solar": 0.005,
                             "within_7_days": 0.02, "year_off_by_one": 0.02, "digit_typo": 0.01, "disagree": 0.89},
              "sex": {"agree": 0.5, "disagree": 0.5},
              "birth_place": {"county": 0.05, "prefecture": 0.1, "province": 0.2, "written_close": 0.02, "disagree": 0.63},
              "id_number": {"exact": 0.001, "one_edit": 0.004, "disagree": 0.995}}
    n, lam = 60_000, 0.2
    is_match = rng.random(n) < lam
    matrix = np.zeros((n, len(scoring.FIELDS)), dtype=np.int16)
    for j, f in enumerate(scoring.FIELDS):
        levels = scoring.FIELD_LEVELS[f]
        pm = np.array([true_m[f][lv] for lv in levels])
        pu = np.array([true_u[f][lv] for lv in levels])
        matrix[:, j] = np.where(is_match, rng.choice(len(levels), n, p=pm / pm.sum()), rng.choice(len(levels), n, p=pu / pu.sum()))
    flat = {f: {lv: 1 / len(scoring.FIELD_LEVELS[f]) for lv in scoring.FIELD_LEVELS[f]} for f in scoring.FIELDS}
    # Start m halfway between flat and the prior (as in practice), u flat, lambda wrong: EM must find the rest.
    start_m = {f: {lv: 0.5 * flat[f][lv] + 0.5 * true_m[f][lv] / sum(true_m[f].values()) for lv in flat[f]} for f in flat}
    m, u, est_lam = scoring.em(matrix, start_m, flat, lam=0.5, fix_u=False, iterations=500, tol=1e-10, pseudo_count=0.0)
    assert abs(est_lam - lam) < 0.02
    for f in ("name", "birth_date", "birth_place"):
        for lv in scoring.FIELD_LEVELS[f]:
            assert abs(m[f][lv] - true_m[f][lv] / sum(true_m[f].values())) < 0.03, (f, lv)
            assert abs(u[f][lv] - true_u[f][lv]) < 0.03, (f, lv)


def test_posterior_namesakes_share_probability() -> None:
    probs, _ = scoring.posteriors([40.0, 40.0], registry_size=1_000_000, prior_in_registry=0.5)
    assert abs(probs[0] - probs[1]) < 1e-9 and probs[0] < 0.51
    probs, _ = scoring.posteriors([40.0, 5.0], registry_size=1_000_000, prior_in_registry=0.5)
    assert probs[0] > 0.99
    strong = compare.Levels(name="exact", birth_date="exact", sex="agree")
    assert scoring.decide([0.995, 0.004], strong) == ["match", "no_match"]
    assert scoring.decide([0.995], compare.Levels(name="disagree", birth_date="exact"))[0] != "match"


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


REG = ["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"]
QRY = ["query_id", "family_name", "given_name", "full_name", "sex", "birth_date", "birth_place", "id_number", "nationality"]


def test_batch_cli_end_to_end(tmp_path: Path, store: object) -> None:
    reg = tmp_path / "registry.csv"
    _write(reg, REG, [["P1", "张", "伟明", "M", "1980-03-05", "福建省福州市长乐区", ""], ["P2", "张", "伟明", "M", "1980-03-05", "浙江省温州市", ""],
                      ["P3", "林", "秀英", "F", "1975-07-01", "福建福清", ""], ["P4", "陈", "国强", "M", "1990-12-30", "广东台山", ""]])
    qry = tmp_path / "queries.csv"
    _write(qry, QRY, [["q1", "LIN", "XIUYING", "", "F", "1975-07-01", "Hokchia", "", "CHN"],
                      ["q2", "Cheung", "Wai Ming", "", "M", "1980-03-05", "", "", "CHN"],
                      ["q3", "", "", "", "", "", "", "", "CHN"]])
    out = tmp_path / "results.csv"
    result = CliRunner().invoke(identify_app, ["batch", "--registry", str(reg), "--queries", str(qry), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["query_id", "rank", "person_id", "match_probability", "decision", "match_weight", "log2_bayes_factor",
                             "gamma_name", "bf_name", "gamma_birth_date", "bf_birth_date", "gamma_sex", "bf_sex",
                             "gamma_birth_place", "bf_birth_place", "gamma_id_number", "bf_id_number"]
    q1 = [r for r in rows if r["query_id"] == "q1"]
    assert q1[0]["person_id"] == "P3"
    # Splink's columns: gamma 0 is disagreement, -1 missing, the highest the closest level; the field Bayes
    # factors multiply to the total (no fingerprint evidence here).
    assert q1[0]["gamma_birth_date"] == str(len(scoring.FIELD_LEVELS["birth_date"]) - 1) and q1[0]["gamma_id_number"] == "-1"
    assert q1[0]["bf_id_number"] == ""
    product = math.prod(float(q1[0][f"bf_{f}"]) for f in ("name", "birth_date", "sex", "birth_place"))
    assert abs(math.log2(product) - float(q1[0]["log2_bayes_factor"])) < 0.01
    assert float(q1[0]["match_weight"]) < float(q1[0]["log2_bayes_factor"])  # the prior odds of one pair are below 1
    q2 = [r for r in rows if r["query_id"] == "q2"]
    assert {r["person_id"] for r in q2[:2]} == {"P1", "P2"} and all(r["decision"] != "match" for r in q2)
    assert [r["decision"] for r in rows if r["query_id"] == "q3"] == ["no_match"]
    # the batch is a read of the registry: audited through the service as the CLI's system actor, counts only
    from sqlalchemy import select

    from passage.core.db import unit_of_work
    from passage.security.models import AuditEntry

    with unit_of_work() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "batch")).one()
    assert entry.actor_user_id == "system" and entry.entity_type == "identity_registry"
    assert entry.details["system_job"] == "identity.cli" and entry.details["queries"] == 3 and entry.details["result_rows"] == len(rows)


def test_batch_cli_bad_input_leaves_no_file(tmp_path: Path, store: object) -> None:
    reg = tmp_path / "registry.csv"
    _write(reg, REG, [["P1", "张", "伟", "M", "1980-13-05", "", ""]])
    qry = tmp_path / "queries.csv"
    _write(qry, QRY, [["q1", "Zhang", "Wei", "", "", "1980", "", "", ""]])
    out = tmp_path / "results.csv"
    result = CliRunner().invoke(identify_app, ["batch", "--registry", str(reg), "--queries", str(qry), "--out", str(out)])
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInput) and "line 2" in str(result.exception) and "birth_date" in str(result.exception)
    assert not out.exists() and not list(tmp_path.glob(".results*"))


def test_index_incremental(tmp_path: Path) -> None:
    from passage.identity.index import build_or_update, open_index
    from passage.identity.search import search

    reg = tmp_path / "registry.csv"
    _write(reg, REG, [["P1", "张", "伟", "M", "1980-03-05", "", ""], ["P2", "林", "芳", "F", "1981-01-01", "", ""]])
    first = build_or_update(reg, tmp_path / "idx")
    assert (first.added, first.changed, first.removed) == (2, 0, 0)
    _write(reg, REG, [["P1", "张", "伟", "M", "1980-03-06", "", ""], ["P3", "陈", "明", "M", "1970-01-01", "", ""]])
    second = build_or_update(reg, tmp_path / "idx")
    assert (second.added, second.changed, second.removed, second.unchanged) == (1, 1, 1, 0)
    index = open_index(tmp_path / "idx")
    assert index.size == 2
    res = search(index, compare.Query(family_name="Lin", given_name="Fang", birth_date=dates.PartialDate(1981, 1, 1)))
    assert all(c.person_id != "P2" for c in res.candidates)
    res = search(index, compare.Query(family_name="Zhang", given_name="Wei", birth_date=dates.PartialDate(1980, 3, 6)))
    assert res.candidates[0].person_id == "P1" and res.candidates[0].levels.birth_date == "exact"
    # The same registry bytes again: nothing is read or rewritten (the manifest keeps the file's digest).
    segments = sorted(p.name for p in (tmp_path / "idx").iterdir())
    third = build_or_update(reg, tmp_path / "idx")
    assert (third.added, third.changed, third.removed, third.unchanged, third.total) == (0, 0, 0, 2, 2)
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == segments
    # Different bytes with the same rows (a blank line appended) are checked row by row, and nothing changes.
    with reg.open("a", encoding="utf-8") as handle:
        handle.write("\n")
    fourth = build_or_update(reg, tmp_path / "idx")
    assert (fourth.added, fourth.changed, fourth.removed, fourth.unchanged) == (0, 0, 0, 2)


def test_batch_saves_a_splink_style_model_and_applies_it_again(tmp_path: Path, store: object) -> None:
    reg = tmp_path / "registry.csv"
    _write(reg, REG, [["P1", "张", "伟明", "M", "1980-03-05", "福建省福州市长乐区", ""], ["P3", "林", "秀英", "F", "1975-07-01", "福建福清", ""]])
    qry = tmp_path / "queries.csv"
    _write(qry, QRY, [["q1", "LIN", "XIUYING", "", "F", "1975-07-01", "Hokchia", "", "CHN"]])
    first, second, model = tmp_path / "first.csv", tmp_path / "second.csv", tmp_path / "model.json"
    result = CliRunner().invoke(identify_app, ["batch", "--registry", str(reg), "--queries", str(qry), "--out", str(first),
                                               "--save-model", str(model), "--prior", "0.7"])
    assert result.exit_code == 0, result.output
    saved = json.loads(model.read_text(encoding="utf-8"))
    names = [c["output_column_name"] for c in saved["comparisons"]]
    assert names == list(scoring.FIELDS) and saved["passage"]["prior_in_registry"] == 0.7
    date_levels = saved["comparisons"][1]["comparison_levels"]
    assert date_levels[0]["is_null_level"] and date_levels[1]["label_for_charts"] == "exact"
    assert date_levels[-1]["label_for_charts"] == "disagree" and date_levels[-1]["comparison_vector_value"] == 0
    # A model written by Splink's conventions is applied as it is: the same probabilities come out.
    result = CliRunner().invoke(identify_app, ["batch", "--registry", str(reg), "--queries", str(qry), "--out", str(second),
                                               "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")
    # A model for other fields is refused by name, and nothing is written.
    saved["comparisons"][0]["output_column_name"] = "surname"
    model.write_text(json.dumps(saved), encoding="utf-8")
    third = tmp_path / "third.csv"
    result = CliRunner().invoke(identify_app, ["batch", "--registry", str(reg), "--queries", str(qry), "--out", str(third),
                                               "--model", str(model)])
    assert result.exit_code != 0 and "surname" in str(result.exception) and not third.exists()
