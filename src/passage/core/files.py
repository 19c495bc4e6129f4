"""File helpers shared by every CLI and export: atomic outputs and checked CSV reading."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from passage.core.errors import FieldError, InvalidInput


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = "") -> Iterator[IO]:  # type: ignore[type-arg]
    """Write to a temporary file beside `path` and rename it into place only on success.

    On any exception the temporary file is removed, so no partial output is ever left behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path` for tools that write files themselves; rename on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp_name)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def read_csv_rows(path: str | os.PathLike[str], *, required: Sequence[str], optional: Sequence[str] = (), allow_extra: bool = True) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Read a UTF-8 CSV and check its header; returns (header, [(line_number, row), ...]).

    Errors name the file, line and column: a missing column, a wrong delimiter (a header with one
    column that contains `;` or a tab), an encoding other than UTF-8, a ragged row, or an empty file.
    """
    header, rows = read_csv_table(path, required=required, optional=optional, allow_extra=allow_extra)
    return header, [(line_number, dict(zip(header, values, strict=True))) for line_number, values in rows]


def sniff_delimiter(header_line: str) -> str:
    """`,`, `;` or a tab: the one that occurs most often outside quotes in a CSV header line.

    Like `csv.Sniffer` but on the header alone, which is where exports differ: KoboToolbox writes `;`
    by default, ODK Central `,` (a header is field names, so a delimiter inside a name is unlikely).
    """
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda char: (counts[char], char == ","))
    return best if counts[best] else ","


def read_csv_table(
    path: str | os.PathLike[str], *, required: Sequence[str], optional: Sequence[str] = (), allow_extra: bool = True, strip: bool = True,
    delimiter: str = ",",
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """`read_csv_rows` with each row as a list of cells in header order (no dict per row).

    Same checks and messages as `read_csv_rows`. Cells are stripped unless `strip=False` (a bulk reader
    that strips only the cells it uses, or strips per distinct value, saves a call per cell).
    `delimiter` is `,` unless the caller detected another (`sniff_delimiter`).
    """
    file_path = Path(path)
    if not file_path.exists():
        raise InvalidInput(f"{file_path.name}: file not found")
    raw = file_path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"{file_path.name}: line {line}: not valid UTF-8 (byte offset {exc.start}); save the file as UTF-8") from None
    if not text.strip():
        raise InvalidInput(f"{file_path.name}: the file is empty")
    plain = _plain_lines(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if plain is None else None
    records: Iterator[tuple[int, list[str]]] = (
        ((reader.line_num, values) for values in reader)
        if reader is not None
        else ((n, line.split(delimiter)) for n, line in enumerate(plain or [], 1))
    )
    try:
        header = [h.strip() for h in next(records)[1]]
    except csv.Error as exc:
        raise InvalidInput(f"{file_path.name}: line 1: unreadable CSV header ({exc})") from None
    if len(header) == 1 and any(other in header[0] for other in (";", "\t", "|", ",") if other != delimiter):
        expected = {",": "comma", ";": "semicolon", "\t": "tab"}.get(delimiter, repr(delimiter))
        raise InvalidInput(f"{file_path.name}: line 1: wrong delimiter; the file must be {expected}-separated")
    missing = [c for c in required if c not in header]
    if missing:
        raise InvalidInput(
            f"{file_path.name}: line 1: missing column(s) {', '.join(missing)}",
            fields=[FieldError(path=f"line 1, column {c}", message="required column is missing") for c in missing],
        )
    if not allow_extra:
        unknown = [c for c in header if c not in required and c not in optional]
        if unknown:
            raise InvalidInput(f"{file_path.name}: line 1: unknown column(s) {', '.join(unknown)}")
    rows: list[tuple[int, list[str]]] = []
    width = len(header)
    try:
        for line_number, values in records:
            if len(values) != width:
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                raise InvalidInput(f"{file_path.name}: line {line_number}: expected {width} fields, found {len(values)}")
            if width == 1 and not values[0].strip():
                continue
            rows.append((line_number, [v.strip() for v in values] if strip else values))
    except csv.Error as exc:
        raise InvalidInput(f"{file_path.name}: line {reader.line_num if reader else 0}: unreadable CSV ({exc})") from None
    if not rows:
        raise InvalidInput(f"{file_path.name}: the file has a header but no rows")
    return header, rows


def _plain_lines(text: str) -> list[str] | None:
    """The lines of a CSV text that has nothing for the csv module to interpret, else None.

    Without quotes, NUL characters or carriage returns outside CRLF, and with no line over the field
    size limit, the csv module's records are exactly the lines split at commas (an empty line is an
    empty record, skipped like the csv module's `[]`); splitting is several times faster.
    """
    if '"' in text or "\x00" in text:
        return None
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines or not lines[0] or max(map(len, lines)) > csv.field_size_limit():
        return None
    return lines
