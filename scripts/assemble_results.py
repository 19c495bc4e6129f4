"""Assemble bench/RESULTS.md from each module's bench/results/<module>.md (run after recording figures)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["security", "readmission", "identity", "biometrics", "avrr", "forms", "dtm", "mobility", "dialogue", "consular"]

HEADER = """# Benchmark results

Every figure here was produced by a script in `bench/` that runs Passage and a named peer side by side in one
run and prints their ratio. Each section gives the exact command, the data size and the date. This machine is
shared and noisy (2 cores): figures are medians and ratios, never single runs. Benchmarks are not tests: no
test asserts a speed or an accuracy.

This file is assembled from `bench/results/<module>.md` by `scripts/assemble_results.py`.
"""


def main() -> None:
    parts = [HEADER]
    for module in ORDER:
        path = ROOT / "bench" / "results" / f"{module}.md"
        if path.exists():
            parts.append(path.read_text(encoding="utf-8").strip() + "\n")
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(parts), encoding="utf-8")
    print(f"bench/RESULTS.md: {len(parts) - 1} sections")


if __name__ == "__main__":
    main()
