"""EER, FMR100 and FMR1000 of MINDTCT + Bozorth3 on an FVC-format database, by the FVC protocol.

Layout (FVC2000-2004, e.g. FVC2002 DB1_A): one directory of `NNN_M.tif` (also .bmp/.png) files,
NNN the finger, M the impression (1-8). Protocol (Maio et al., "FVC2002: Second Fingerprint
Verification Competition", ICPR 2002): genuine attempts compare every impression of a finger with
every later impression of the same finger; impostor attempts compare the first impression of each
finger with the first impression of every later finger. Images the extractor refuses are counted
as failures to enrol and reported, not hidden.

    .venv/bin/python -m bench.biometrics.bench_fvc /path/to/FVC2002/DB1_A [--ppi 500]
"""

from __future__ import annotations

import argparse
import re
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

from passage.biometrics.extract import extract
from passage.biometrics.matching import bozorth3, bozorth_template, fit_calibration
from passage.core.errors import PassageError

NAME = re.compile(r"^(\d+)_(\d+)\.(tif|tiff|bmp|png)$", re.IGNORECASE)


def load_fvc(directory: Path) -> dict[tuple[int, int], Path]:
    """Map (finger, impression) to the image path; refuses a directory without FVC-named files."""
    files = {}
    for path in sorted(directory.iterdir()):
        match = NAME.match(path.name)
        if match:
            files[(int(match.group(1)), int(match.group(2)))] = path
    if not files:
        raise SystemExit(f"{directory}: no files named NNN_M.tif/.bmp/.png")
    return files


def error_rates(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, float]:
    """EER and FNMR at FMR <= 1% and 0.1% (FMR100, FMR1000 as FVC reports them), by threshold sweep."""
    thresholds = np.unique(np.concatenate([genuine, impostor, [np.inf]]))
    fmr = np.array([(impostor >= t).mean() for t in thresholds])
    fnmr = np.array([(genuine < t).mean() for t in thresholds])
    i = int(np.argmin(np.abs(fmr - fnmr)))
    return {"EER": float((fmr[i] + fnmr[i]) / 2), "FMR100": float(fnmr[fmr <= 0.01].min()), "FMR1000": float(fnmr[fmr <= 0.001].min())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--ppi", type=float, default=None, help="resolution to assume when the files declare none")
    args = parser.parse_args(argv)
    files = load_fvc(args.directory)
    templates = {}
    refused = 0
    for key, path in files.items():
        try:
            record = extract(path.read_bytes(), ppi=args.ppi).record
            templates[key] = bozorth_template(record, record.views[0])
        except PassageError as exc:
            refused += 1
            print(f"refused {path.name}: {exc.message}", file=sys.stderr)
    fingers = sorted({f for f, _ in files})
    genuine, impostor = [], []
    for finger in fingers:
        impressions = sorted(m for f, m in files if f == finger)
        for a, b in combinations(impressions, 2):
            if (finger, a) in templates and (finger, b) in templates:
                genuine.append(bozorth3(templates[(finger, a)], templates[(finger, b)]))
    for fa, fb in combinations(fingers, 2):
        if (fa, 1) in templates and (fb, 1) in templates:
            impostor.append(bozorth3(templates[(fa, 1)], templates[(fb, 1)]))
    print(f"images {len(files)}, refused {refused}, genuine pairs {len(genuine)}, impostor pairs {len(impostor)}")
    if len(genuine) < 100 or len(impostor) < 1000:
        print("too few pairs for error rates (need >= 100 genuine and >= 1000 impostor); scores only:")
        print("genuine", sorted(genuine), "impostor max", max(impostor, default=None))
        return
    rates = error_rates(np.asarray(genuine, float), np.asarray(impostor, float))
    print(" ".join(f"{k} {v:.2%}" for k, v in rates.items()))
    print("calibration fitted on these scores:", fit_calibration(genuine, impostor))


if __name__ == "__main__":
    main()
