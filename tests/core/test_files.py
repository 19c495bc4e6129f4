"""Atomic outputs and checked CSV reading: no partial files, errors that name line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from passage.core.errors import InvalidInput
from passage.core.files import atomic_output, read_csv_rows


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_output(target) as handle:
        handle.write("half a file")
        raise RuntimeError("crash")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with atomic_output(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"


def _write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    return path


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, b"a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="line 1: missing column\\(s\\) c"):
        read_csv_rows(path, required=["a", "c"])


def test_wrong_delimiter_is_explained(tmp_path: Path) -> None:
    path = _write(tmp_path, b"a;b\n1;2\n")
    with pytest.raises(InvalidInput, match="wrong delimiter"):
        read_csv_rows(path, required=["a"])


def test_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "a,b\n1,2\n3,\u5f20\n".encode("gb18030"))
    with pytest.raises(InvalidInput, match="line 3: not valid UTF-8"):
        read_csv_rows(path, required=["a"])


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        read_csv_rows(_write(tmp_path, b""), required=["a"])
    with pytest.raises(InvalidInput, match="no rows"):
        read_csv_rows(_write(tmp_path, b"a,b\n"), required=["a"])


def test_ragged_row_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="line 3: expected 2 fields, found 3"):
        read_csv_rows(_write(tmp_path, b"a,b\n1,2\n1,2,3\n"), required=["a"])


def test_rows_keep_their_line_numbers_and_bom_is_ignored(tmp_path: Path) -> None:
    header, rows = read_csv_rows(_write(tmp_path, "\ufeffa,b\n1,\u5f20\n\n3,4\n".encode()), required=["a", "b"])
    assert header == ["a", "b"]
    assert rows == [(2, {"a": "1", "b": "\u5f20"}), (4, {"a": "3", "b": "4"})]


def test_unknown_columns_refused_when_asked(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown column\\(s\\) z"):
        read_csv_rows(_write(tmp_path, b"a,z\n1,2\n"), required=["a"], allow_extra=False)


def test_sniff_delimiter_reads_the_header_outside_quotes() -> None:
    from passage.core.files import sniff_delimiter

    assert sniff_delimiter("_uuid;site;admin1") == ";"
    assert sniff_delimiter("_uuid,site,admin1") == ","
    assert sniff_delimiter('"a;b;c",site') == ","
    assert sniff_delimiter("a\tb\tc") == "\t"
    assert sniff_delimiter("single") == ","
