"""Index build: the vectorised chunk keying gives exactly the postings, columns and vocabularies of the
per-row definition (`record_keys`, `_place_key`, `_frequency_parts`), and bad input fails as before."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from passage.core.errors import InvalidInput
from passage.identity import index_build as index_module
from passage.identity import resident_id
from passage.identity.index import (
    REGISTRY_COLUMNS,
    _frequency_parts,
    _place_key,
    build_or_update,
    iter_registry,
    key_hashes,
    open_index,
    record_from_row,
    record_keys,
)


def _id(region: str, birth: str, seq: str) -> str:
    first = region + birth + seq
    return first + resident_id.check_digit(first)


VALID_ID = _id("350182", "19800305", "123")
OTHER_VALID_ID = _id("440781", "19751201", "456")
BAD_CHECK_ID = VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1")
BAD_DATE_ID = _id("350182", "19801340", "123")  # right check digit, no such date

# Han names (double surnames, heteronym surnames 曾 单 区 解 and 仇, popular namesakes), Latin names (spaces,
# apostrophes, accents, one part only), missing dates, sexes and IDs, invalid IDs (check digit, date,
# length, letters), IDs written with spaces, dashes and a lower-case x, padding around values.
ROWS = [
    ["P01", "张", "伟", "M", "1980-03-05", "福建省福州市长乐区", VALID_ID],
    ["P02", "张", "伟", "M", "1980-03-05", "浙江省温州市", ""],
    ["P03", "欧阳", "娜", "F", "1975-07-01", "福建福清", OTHER_VALID_ID],
    ["P04", "司马", "光", "", "", "", ""],
    ["P05", "曾", "秀英", "f", "1990-12-30", "广东台山", BAD_CHECK_ID],
    ["P06", "单", "国强", "m", "1962-02-28", "", BAD_DATE_ID],
    ["P07", "区", "家明", "", "2001-01-01", "香港", "12345"],
    ["P08", "解", "放", "M", "1949-10-01", "", f" {VALID_ID[:6]} {VALID_ID[6:14]}-{VALID_ID[14:]} "],
    ["P09", "仇", "敏", "F", "", "福州", OTHER_VALID_ID.lower()],
    ["P10", "Smith", "John", "M", "1970-01-02", "London", ""],
    ["P11", "O'Brien", "Mary Ann", "F", "", "", ""],
    ["P12", "Müller", "Jürgen", "", "1985-05-05", "", "ABCDEFGHIJKLMNOPQR"],
    ["P13", "", "Ahmed", "M", "1991-11-11", "", ""],
    ["P14", "Nguyen", "", "", "", "", ""],
    ["P15", "de la Cruz", "Ana-Maria", "F", "1999-09-09", "", VALID_ID],
    ["P16", "CHEN", "Wei Ming", "M", "1980-03-05", "Hokchia", ""],
    ["P17", "陈", "Wei", "M", "1980-03-05", "", ""],
    ["P18", "", "", "", "", "", ""],
    ["P19", "  林  ", " 芳 ", " F ", " 1981-01-01 ", " 福清 ", ""],
    ["P20", "张", "伟", "F", "1980-03-06", "福建省福州市长乐区", _id("350182", "19800306", "124")],
    ["P21", "李", "秀英", "F", "1975-07-01", "福建福清", ""],
    ["P22", "林", "芳", "F", "1981-01-01", "福清", ""],
]
HEADER = list(REGISTRY_COLUMNS)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _first_appearance(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


@pytest.mark.parametrize("workers,chunk_rows,memo_limit", [(1, 1000, None), (1, 4, None), (2, 3, None), (2, 4, 3)])
def test_vectorised_build_equals_per_row_definition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, chunk_rows: int,
                                                    memo_limit: int | None) -> None:
    if memo_limit is not None:  # the per-process memos and name-key templates are cleared when they grow past the limit
        monkeypatch.setattr(index_module, "_MEMO_LIMIT", memo_limit)
    registry = tmp_path / "registry.csv"
    # Extra and reordered columns: the build reads columns by name.
    header = ["note", *reversed(HEADER)]
    _write(registry, header, [["x", *reversed(r)] for r in ROWS])
    report = build_or_update(registry, tmp_path / "idx", workers=workers, chunk_rows=chunk_rows)
    assert report.total == len(ROWS)
    index = open_index(tmp_path / "idx")
    (seg,) = index.segments
    rows = [row for chunk in iter_registry(registry) for _, row in chunk]
    assert [r["person_id"] for r in rows] == seg.column("person_id")

    keys, key_rows = np.asarray(seg.keys), np.asarray(seg.rows)
    # Sorted by hash, then row.
    assert np.all((keys[1:] > keys[:-1]) | ((keys[1:] == keys[:-1]) & (key_rows[1:] > key_rows[:-1])))
    built: dict[int, set[int]] = {i: set() for i in range(len(rows))}
    for h, r in zip(keys.tolist(), key_rows.tolist(), strict=True):
        built[r].add(h)
    for i, row in enumerate(rows):
        expected = record_keys(record_from_row(row))
        assert len(expected) == len(set(expected))
        assert built[i] == set(key_hashes(expected).tolist()), row["person_id"]
    assert len(keys) == sum(len(record_keys(record_from_row(r))) for r in rows)

    cols = {c: np.asarray(seg.cols[c]) for c in seg.cols}
    for i, row in enumerate(rows):
        record = record_from_row(row)
        birth = record.birth_date
        assert cols["birth"][i] == (birth.year * 10000 + birth.month * 100 + birth.day if birth else 0)
        assert cols["sex"][i] == {"M": 1, "F": 2}.get(record.sex, 0)
        assert seg.names[cols["sname"][i]] == record.family_name and seg.names[cols["gname"][i]] == record.given_name
        assert seg.places[cols["place"][i]] == _place_key(row)
        clean = resident_id.clean(record.id_number)
        assert cols["idnum"][i] == (clean.encode("ascii", "replace")[:18] if clean else b"")
        full, s, g = _frequency_parts(record.family_name, record.given_name)
        assert (seg.fkeys[cols["tf_full"][i]], seg.fkeys[cols["tf_surname"][i]], seg.fkeys[cols["tf_given"][i]]) == (full, s, g)
    # Vocabularies list each value once, in order of first appearance over the rows.
    assert seg.names == _first_appearance([v for r in rows for v in (r["family_name"], r["given_name"])])
    assert seg.places == _first_appearance([_place_key(r) for r in rows])
    assert seg.fkeys == _first_appearance([v for r in rows for v in _frequency_parts(r["family_name"], r["given_name"])])
    # The valid ID's region joins the place; the invalid ones do not.
    assert seg.places[cols["place"][0]].endswith("\x1f350182") and seg.places[cols["place"][4]].endswith("\x1f")


def test_incremental_update_keys_only_new_and_changed_rows(tmp_path: Path) -> None:
    registry = tmp_path / "registry.csv"
    _write(registry, HEADER, ROWS)
    build_or_update(registry, tmp_path / "idx", workers=2, chunk_rows=5)
    changed = [list(r) for r in ROWS[1:]]  # P01 removed
    changed[0][4] = "1980-03-06"  # P02 changed
    changed.append(["P99", "Lee", "Ann", "F", "1966-06-06", "", ""])
    _write(registry, HEADER, changed)
    report = build_or_update(registry, tmp_path / "idx", workers=2, chunk_rows=5)
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, len(ROWS) - 2)
    index = open_index(tmp_path / "idx")
    assert index.size == len(ROWS)
    new = index.segments[1]
    assert new.column("person_id") == ["P02", "P99"]
    rows = {r["person_id"]: r for chunk in iter_registry(registry) for _, r in chunk}
    for i, pid in enumerate(new.column("person_id")):
        got = set(np.asarray(new.keys)[np.asarray(new.rows) == i].tolist())
        assert got == set(key_hashes(record_keys(record_from_row(rows[pid]))).tolist())
    old = index.segments[0]
    assert [p for p, d in zip(old.column("person_id"), old.deleted.tolist(), strict=True) if d] == ["P01", "P02"]


H = ",".join(REGISTRY_COLUMNS) + "\n"
GOOD = "P1,张,伟,M,1980-03-05,,\n"
BAD_INPUT = [
    ("person_id,family_name,given_name,sex,birth_date,id_number\nP1,张,伟,M,1980-03-05,\n",
     "line 1: missing column(s) birth_place"),
    (H.replace(",", ";") + GOOD.replace(",", ";"), "line 1: wrong delimiter; the file must be comma-separated"),
    ("", "the file is empty"),
    (H, "the file has a header but no rows"),
    (H + GOOD + "P2,李,娜,F,1980-02-30,,\n", "line 3, column birth_date: invalid date, no such day"),
    (H + GOOD + "P2,李,娜,F,1980-03,,\n", "line 3, column birth_date: invalid date, the registry needs YYYY-MM-DD"),
    (H + GOOD + "P2,李,娜,X,1980-02-03,,\n", "line 3, column sex: expected M, F or empty"),
    (H + GOOD + " ,李,娜,F,1980-02-03,,\n", "line 3, column person_id: empty"),
    (H + GOOD + "P2,李,娜,F,1980-02-03,,\nP1,王,芳,F,1981-02-03,,\n", "line 4, column person_id: duplicate identifier"),
    (H + GOOD + "P2,李,娜,F,1980-02-03,\n", "line 3: expected 7 fields, found 6"),
    # The first problem in file order wins, within a row in the order person_id, birth_date, sex ...
    (H + GOOD + "P2,李,娜,Q,1980-13-03,,\n", "line 3, column birth_date: invalid date, month out of range"),
    (H + GOOD + "P2,李,娜,F,1980-13-03,,\nP3,李,娜,F,1980-02-03,,\nP4,李,娜,F,1980-02-03,,\nP5,李\n",
     "line 3, column birth_date: invalid date, month out of range"),
    # ... except that a malformed line is found while its chunk (3 rows here) is read, before the chunk's rows are checked.
    (H + GOOD + "P2,李,娜,F,1980-13-03,,\nP3,李,娜,F,1980-02-03\n", "line 4: expected 7 fields, found 5"),
]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("text,message", BAD_INPUT)
def test_bad_input_names_line_and_column_and_keeps_previous_index(tmp_path: Path, text: str, message: str, workers: int) -> None:
    registry = tmp_path / "registry.csv"
    _write(registry, HEADER, ROWS)
    target = tmp_path / "idx"
    build_or_update(registry, target, workers=workers, chunk_rows=3)
    before = {p.name: p.read_bytes() for p in target.iterdir() if not p.name.startswith(".")}
    registry.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        build_or_update(registry, target, workers=workers, chunk_rows=3)
    assert str(caught.value) == f"registry.csv: {message}"
    for value in ("1980-02-30", "1980-13-03", "X", "Q", "李", "娜"):
        assert value not in str(caught.value)
    for name, content in before.items():
        assert (target / name).read_bytes() == content, name
    assert open_index(target).size == len(ROWS)


def test_bad_encoding_names_a_line(tmp_path: Path) -> None:
    registry = tmp_path / "registry.csv"
    registry.write_bytes((H + GOOD).encode("utf-8") + "P2,李,娜,F,1980-02-03,,\n".encode("gb18030"))
    with pytest.raises(InvalidInput, match=r"^registry\.csv: line 2: not valid UTF-8; save the file as UTF-8$"):
        build_or_update(registry, tmp_path / "idx")
