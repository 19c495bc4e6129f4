"""Load a corpus of real public XLSForms: Passage's loader vs pyxform (the reference converter).

Run: .venv/bin/python bench/forms/bench_corpus.py [--fetched /work/.mirror] [--json out.json]

The corpus is listed in `tests/forms/corpus/MANIFEST.csv` (repository, path, commit, licence of each
form). Forms whose licence allows it are kept there as fixtures; the others are read from a fetched
copy of their repository (`--fetched DIR` holding `owner+name/repo` git directories) when one is given,
and skipped otherwise. For every form the benchmark runs pyxform alone (the peer: its verdict decides
validity) and Passage's `load_xlsform` (pyxform plus Passage's reading, checks and compilation), and
reports:

- the share of the forms pyxform accepts that Passage loads (target: at least 95%);
- for the forms pyxform rejects: how many Passage refuses with the sheet and row named, and none with
  an unexpected exception (a traceback);
- the warnings by cause (checks Passage loads but does not evaluate);
- median load times and the ratio Passage/pyxform.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import re
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "forms" / "corpus"

from passage.core.errors import InvalidInput  # noqa: E402
from passage.forms.definition import load_xlsform, workbook_kind  # noqa: E402

_ROW = re.compile(r"\brow \d+")


def cause(reason: str) -> str:
    """A warning's reason reduced to its cause (function names kept, field names and offsets dropped)."""
    text = re.sub(r" at offset \d+", "", reason)
    text = re.sub(r"\(offset \d+\)", "", text)
    text = re.sub(r"unknown question\(s\) .*", "unknown question", text)
    text = re.sub(r"attachment \S+", "attachment", text)
    text = re.sub(r"count\(\) of \S+", "count() of", text)
    text = re.sub(r"bare name '[^']+'", "bare name", text)
    text = re.sub(r"unexpected '[^']*'", "syntax error", text)
    text = re.sub(r"unexpected character .*", "syntax error", text)
    text = re.sub(r"instance\('[^']+'\)", "instance()", text)
    text = re.sub(r"type '[^']+' is stored", "an unknown type is stored", text)
    return text.strip()


def forms(fetched: Path | None) -> list[tuple[dict[str, str], bytes | None]]:
    found: list[tuple[dict[str, str], bytes | None]] = []
    with (CORPUS / "MANIFEST.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            content: bytes | None = None
            if row["file"]:
                content = (CORPUS / row["file"]).read_bytes()
            elif fetched is not None:
                git_dir = fetched / row["repository"].replace("/", "+") / "repo"
                if git_dir.exists():
                    content = subprocess.run(
                        ["git", "-C", str(git_dir), "show", f"{row['commit']}:{row['path']}"], capture_output=True, check=False
                    ).stdout or None
            found.append((row, content))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetched", type=Path, default=None, help="directory of fetched repositories (owner+name/repo)")
    parser.add_argument("--json", type=Path, default=None, help="write per-form outcomes here")
    args = parser.parse_args()
    from pyxform.xls2xform import convert

    outcomes: list[dict[str, object]] = []
    causes: collections.Counter[str] = collections.Counter()
    forms_with_warnings = 0
    skipped = 0
    peer_times: list[float] = []
    our_times: list[float] = []
    for row, content in forms(args.fetched):
        if content is None:
            skipped += 1
            continue
        name = Path(row["path"]).name
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                convert(xlsform=content, file_type=workbook_kind(content, name), warnings=[])
            accepted, peer_error = True, ""
        except Exception as exc:  # noqa: BLE001 - any pyxform failure is its refusal
            accepted, peer_error = False, f"{type(exc).__name__}: {str(exc)[:120]}"
        peer_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        outcome: dict[str, object] = {"repository": row["repository"], "path": row["path"], "pyxform": "accepts" if accepted else "rejects"}
        try:
            definition = load_xlsform(content, filename=name)
            outcome["passage"] = "loads"
            outcome["warnings"] = len(definition.unevaluated)
            if definition.unevaluated:
                forms_with_warnings += 1
            for entry in definition.unevaluated:
                causes[cause(str(entry["reason"]))] += 1
        except InvalidInput as exc:
            line = exc.one_line()
            outcome["passage"] = "refuses"
            outcome["row_named"] = bool(_ROW.search(line))
            outcome["message"] = line[:300]
        except Exception as exc:  # noqa: BLE001 - counted as a crash: the target is none
            outcome["passage"] = "crashes"
            outcome["message"] = f"{type(exc).__name__}: {exc}"[:300]
        our_times.append(time.perf_counter() - started)
        outcome["seconds"] = round(our_times[-1], 3)
        outcome["pyxform_seconds"] = round(peer_times[-1], 3)
        outcome["peer_error"] = peer_error
        outcomes.append(outcome)

    accepted_forms = [o for o in outcomes if o["pyxform"] == "accepts"]
    rejected_forms = [o for o in outcomes if o["pyxform"] == "rejects"]
    loaded = [o for o in accepted_forms if o["passage"] == "loads"]
    refused_named = [o for o in rejected_forms if o["passage"] == "refuses" and o.get("row_named")]
    refused_unnamed = [o for o in rejected_forms if o["passage"] == "refuses" and not o.get("row_named")]
    crashes = [o for o in outcomes if o["passage"] == "crashes"]
    wrongly_loaded = [o for o in rejected_forms if o["passage"] == "loads"]
    print(f"forms read: {len(outcomes)} (skipped, not kept and not fetched: {skipped})")
    print(f"pyxform accepts {len(accepted_forms)}: Passage loads {len(loaded)} = {100 * len(loaded) / max(1, len(accepted_forms)):.1f}%")
    for o in accepted_forms:
        if o["passage"] != "loads":
            print(f"  not loaded: {o['repository']} {o['path']}: {o.get('message')}")
    print(f"pyxform rejects {len(rejected_forms)}: Passage refuses {len(refused_named) + len(refused_unnamed)} "
          f"({len(refused_named)} with sheet and row named, {len(refused_unnamed)} without a row), loads {len(wrongly_loaded)}")
    for o in refused_unnamed:
        print(f"  no row named: {o['repository']} {o['path']}: {o.get('message')}")
    print(f"unexpected exceptions (tracebacks): {len(crashes)}")
    for o in crashes:
        print(f"  crash: {o['repository']} {o['path']}: {o.get('message')}")
    print(f"forms loaded with warnings: {forms_with_warnings}; warnings by cause:")
    for reason, count in causes.most_common():
        print(f"  {count:4d}  {reason}")
    print(f"median time per form: pyxform {statistics.median(peer_times) * 1000:.0f} ms, "
          f"Passage load {statistics.median(our_times) * 1000:.0f} ms (ratio {statistics.median(our_times) / statistics.median(peer_times):.2f}); "
          f"slowest Passage load {max(our_times):.2f} s; total pyxform {sum(peer_times):.1f} s, Passage {sum(our_times):.1f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(outcomes, indent=1, ensure_ascii=False), encoding="utf-8")
    sys.exit(0)


if __name__ == "__main__":
    main()
