"""Deduplication benchmark: a registry with planted duplicates under every romanisation, Passage beside Splink.

The registry of a generated data set (`generate.py`, names in characters) gets one extra row for every
in-registry query that names the person by family and given name: the same person as the foreign authority
wrote them (Wade-Giles, Yale, Jyutping, Hokkien, Hakka, Fuzhou, Hong Kong Cantonese, pinyin), with a new id.
The true clusters are {registry person, their planted rows}. Both systems run in this one process run:

- Passage through the command a user runs, `passage identify dedupe` (process start-up included);
- Splink 5 `dedupe_only` on DuckDB with the same fields (names folded to pinyin where in characters), its
  connected components at the same threshold (`cluster_pairwise_predictions_at_threshold`).

Usage: .venv/bin/python bench/identity/bench_dedupe.py bench/data/identity-small [--threshold 0.99]
"""

from __future__ import annotations

import argparse
import csv
import logging
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_accuracy import _fold, _py, _strip_place_suffix  # noqa: E402

from passage.identity.clusters import Member, pairwise_scores  # noqa: E402


def planted_registry(data: Path, target: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Write registry + planted duplicates to `target`; return truth (row id -> true person) and each row's system."""
    truth: dict[str, str] = {}
    system: dict[str, str] = {}
    truth_rows = {r["query_id"]: r for r in csv.DictReader((data / "truth.csv").open(encoding="utf-8"))}
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        reader = csv.DictReader((data / "registry.csv").open(encoding="utf-8"))
        columns = list(reader.fieldnames or [])
        writer.writerow(columns)
        for row in reader:
            writer.writerow([row[c] for c in columns])
            truth[row["person_id"]] = row["person_id"]
            system[row["person_id"]] = "registry"
        for q in csv.DictReader((data / "queries.csv").open(encoding="utf-8")):
            t = truth_rows.get(q["query_id"])
            if not t or not t["person_id"] or not (q["family_name"] and q["given_name"]):
                continue
            birth = q["birth_date"] if len(q["birth_date"]) == 10 else ""
            writer.writerow([q["query_id"], q["family_name"], q["given_name"], q["sex"], birth, q["birth_place"], q["id_number"]])
            truth[q["query_id"]] = t["person_id"]
            system[q["query_id"]] = t["system"]
    return truth, system


def run_passage(registry: Path, threshold: float, tmp: Path) -> tuple[list[Member], float]:
    out = tmp / "clusters.csv"
    passage = Path(sys.executable).parent / "passage"
    t0 = time.perf_counter()
    subprocess.run([str(passage), "identify", "dedupe", "--registry", str(registry), "--out", str(out), "--threshold", str(threshold)],
                   check=True, stdout=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    members = [Member(r["cluster_id"], r["person_id"], int(r["cluster_size"]), r["linked_to"], None, int(r["missing_links"]),
                      r["review"] == "yes") for r in csv.DictReader(out.open(encoding="utf-8"))]
    return members, elapsed


def run_splink(registry: Path, threshold: float) -> tuple[list[Member], float]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    reg = pd.read_csv(registry, dtype=str, keep_default_na=False)
    t0 = time.perf_counter()
    frame = pd.DataFrame({
        "unique_id": reg["person_id"],
        "surname": [(_py(s) if s and ord(s[0]) > 0x2E80 else _fold(s)) or None for s in reg["family_name"]],
        "given": [(_py(g) if g and ord(g[0]) > 0x2E80 else _fold(g)) or None for g in reg["given_name"]],
        "sex": reg["sex"].replace("", None),
        "dob": reg["birth_date"].replace("", None),
        "place": [_strip_place_suffix(_py(p) if p and ord(p[0]) > 0x2E80 else _fold(p.split(",")[0])) or None for p in reg["birth_place"]],
        "id_number": reg["id_number"].replace("", None),
    })
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[cl.ForenameSurnameComparison("given", "surname"), cl.DateOfBirthComparison("dob", input_is_string=True),
                     cl.LevenshteinAtThresholds("place", [1, 2]), cl.ExactMatch("sex"), cl.LevenshteinAtThresholds("id_number", [1, 2])],
        blocking_rules_to_generate_predictions=[block_on("surname", "given"), block_on("surname", "dob"), block_on("given", "dob"),
                                                block_on("id_number"), block_on("dob", "sex")],
        retain_intermediate_calculation_columns=False,
    )
    db = DuckDBAPI()
    linker = Linker(db.register(frame, dataset_display_name="registry"), settings)
    linker.training.estimate_probability_two_random_records_match([block_on("surname", "given", "dob")], recall=0.6)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in (["surname", "given"], ["dob"]):
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule))
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold_match_probability=threshold).as_pandas_dataframe()
    elapsed = time.perf_counter() - t0
    sizes = clusters.groupby("cluster_id")["unique_id"].transform("size")
    members = [Member(str(c), str(u), int(s), "", None, 0, False)
               for c, u, s in zip(clusters["cluster_id"], clusters["unique_id"], sizes, strict=True) if s > 1]
    return members, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--threshold", type=float, default=0.99)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        registry = tmp / "registry-with-duplicates.csv"
        truth, system = planted_registry(args.data, registry)
        planted = sum(1 for k, v in truth.items() if k != v)
        print(f"## dedupe: {len(truth):,} rows, {planted:,} planted duplicates, threshold {args.threshold}")
        ours, t_ours = run_passage(registry, args.threshold, tmp)
        theirs, t_theirs = run_splink(registry, args.threshold)
    print(f"passage (CLI, end to end) {t_ours:.1f} s; splink (train + predict + cluster) {t_theirs:.1f} s; ratio {t_ours / t_theirs:.2f}")
    print("| system | pairwise precision | recall | F1 | clusters | flagged for review |")
    print("|---|---|---|---|---|---|")
    for name, members in (("passage", ours), ("splink", theirs)):
        p, r, f = pairwise_scores(members, truth)
        print(f"| {name} | {p:.3f} | {r:.3f} | {f:.3f} | {len({m.cluster_id for m in members}):,} | "
              f"{len({m.cluster_id for m in members if m.review}):,} |")
    found: dict[str, set[str]] = defaultdict(set)
    for m in ours:
        found[m.cluster_id].add(m.person_id)
    cluster_of = {pid: cid for cid, group in found.items() for pid in group}
    per_system: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row_id, person in truth.items():
        if row_id == person:
            continue
        per_system[system[row_id]][1] += 1
        per_system[system[row_id]][0] += int(row_id in cluster_of and cluster_of.get(person) == cluster_of[row_id])
    print("| romanisation | planted rows clustered with their person (Passage) |")
    print("|---|---|")
    for key in sorted(per_system):
        hit, total = per_system[key]
        print(f"| {key} | {hit}/{total} = {hit / max(total, 1):.3f} |")


if __name__ == "__main__":
    main()
