"""Issue 17 items 4 and 7: the one CSV/XLSX writer neutralises formulas; archives are limited before parsing."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from passage.core.errors import InvalidInput, PayloadTooLarge
from passage.core.files import Sheet, check_archive, csv_text, neutralise_cell, write_csv, write_xlsx

ATTACKS = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("value", ATTACKS)
def test_formula_cells_are_neutralised_in_csv(value: str) -> None:
    text = csv_text([["header"], [value]])
    cell = next(iter(csv.reader(io.StringIO(text))))
    assert cell == ["header"]
    read_back = list(csv.reader(io.StringIO(text)))[1][0]
    assert read_back == "'" + value


@pytest.mark.parametrize("value", ["-3.5", "+7", "-12", "1e-3", "plain", "", "a=b", 42, -1.5, None])
def test_numbers_and_plain_text_are_left_alone(value: object) -> None:
    assert neutralise_cell(value) == value


def test_xlsx_cells_are_text_never_formulas(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    write_xlsx(path, [Sheet("data", [["operation", "count"], *[[attack, 3] for attack in ATTACKS]])])
    with zipfile.ZipFile(path) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml
    workbook = load_workbook(path)
    values = [row[0] for row in workbook.active.iter_rows(min_row=2, values_only=True)]  # type: ignore[union-attr]
    assert values == [a.replace("\r", "\n") for a in ATTACKS]  # XML normalises CR to LF
    assert [row[1] for row in workbook.active.iter_rows(min_row=2, values_only=True)] == [3] * len(ATTACKS)  # type: ignore[union-attr]


def test_write_csv_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"

    def rows() -> object:
        yield ["a"]
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_csv(target, rows())  # type: ignore[arg-type]
    assert not target.exists() and not list(tmp_path.iterdir())


def test_no_export_writes_csv_or_xlsx_around_the_shared_writer() -> None:
    """Every CSV/XLSX output goes through core/files.py. The exceptions write our own shipped XLSForm
    definitions and a demo *input* file for the import, never exported user data."""
    allowed = {"core/files.py", "forms/demo.py", "dtm/xlsforms.py", "avrr/survey_xlsform.py"}
    root = Path(__file__).resolve().parents[2] / "src" / "passage"
    offenders = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root).as_posix()
        if relative in allowed:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"csv\.(writer|DictWriter)\(|\bWorkbook\(|xlsxwriter", text):
            offenders.append(relative)
    assert offenders == []


def _bomb(rows: int) -> bytes:
    buffer = io.BytesIO()
    row_xml = "".join(f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>x</t></is></c></row>' for n in range(1, rows + 1))
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", f"<worksheet><sheetData>{row_xml}</sheetData></worksheet>")
    return buffer.getvalue()


def test_archive_rows_are_counted_before_parsing() -> None:
    content = _bomb(2000)
    assert check_archive(content, max_expanded_bytes=10**8, max_rows=5000).rows == 2000
    with pytest.raises(PayloadTooLarge, match="more than 1000 rows"):
        check_archive(content, max_expanded_bytes=10**8, max_rows=1000)


def test_archive_expansion_is_limited_while_decompressing() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.bin", b"\0" * (20 * 1024 * 1024))
    content = buffer.getvalue()
    assert len(content) < 100_000
    with pytest.raises(PayloadTooLarge, match="expands to more than"):
        check_archive(content, max_expanded_bytes=5 * 1024 * 1024, max_rows=10)


def test_a_damaged_archive_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        check_archive(b"PK\x03\x04 not really a zip", max_expanded_bytes=10**6, max_rows=10)
