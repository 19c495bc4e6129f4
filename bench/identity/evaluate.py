"""Score results.csv against truth.csv: top-1, recall@10, match precision/recall, false-match rate for outsiders, per romanisation.

Usage: python bench/identity/evaluate.py truth.csv results.csv
"""

from __future__ import annotations

import collections
import csv
import sys

from bench_accuracy import metrics, row


def main(truth_path: str, results_path: str) -> None:
    with open(truth_path, encoding="utf-8") as fh:
        truth = {r["query_id"]: (r["person_id"], r["system"]) for r in csv.DictReader(fh)}
    ranked: dict[str, list[tuple[str, float, str]]] = collections.defaultdict(list)
    with open(results_path, encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["person_id"]:
                ranked[r["query_id"]].append((r["person_id"], float(r["match_probability"]), r["decision"]))
    for key, c in sorted(metrics(truth, ranked).items()):
        top1, r10, prec, rec, fmr = row(c)
        print(f"{key:16} n={c['n']:5} top1={top1:.3f} r@10={r10:.3f} match_prec={prec:.3f} match_rec={rec:.3f} fmr_out={fmr:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
