"""The kept corpus of real public XLSForms: every form pyxform accepts loads; every form it rejects is
refused with the sheet and row named, never with an unexpected exception (`tests/forms/corpus/MANIFEST.csv`
records pyxform 4.5's verdict for each form; `bench/forms/bench_corpus.py` re-derives it and times both)."""

from __future__ import annotations

import csv
from pathlib import Path

from passage.core.errors import InvalidInput
from passage.forms.definition import load_xlsform

CORPUS = Path(__file__).parent / "corpus"


def test_corpus_forms_load_or_are_refused_with_their_location() -> None:
    with (CORPUS / "MANIFEST.csv").open(newline="", encoding="utf-8") as handle:
        kept = [row for row in csv.DictReader(handle) if row["file"]]
    assert len(kept) >= 100
    not_loaded: list[str] = []
    unplaced: list[str] = []
    for row in kept:
        content = (CORPUS / row["file"]).read_bytes()
        try:
            load_xlsform(content, filename=Path(row["path"]).name)
        except InvalidInput as exc:
            if row["pyxform_4_5"] == "accepts":
                not_loaded.append(f"{row['file']}: {exc.one_line()}")
            elif "sheet " not in exc.one_line() or "row " not in exc.one_line():
                unplaced.append(f"{row['file']}: {exc.one_line()}")
        else:
            assert row["pyxform_4_5"] == "accepts", f"{row['file']} loaded although pyxform rejects it"
    assert not_loaded == []
    assert unplaced == []
