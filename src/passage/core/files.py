"""File helpers shared by every CLI and export: atomic outputs, checked CSV reading, the one formula-safe
CSV/XLSX writer, and limits on archives (XLSX, ZIP) checked before they are parsed."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


def decode_json_bytes(raw: bytes, *, source: str) -> Any:
    """Decode a JSON document from bytes (UTF-8, a BOM allowed); `InvalidInput` names `source` and where it
    is broken (byte offset, or line and column), never the content."""
    from passage.core.errors import InvalidInput

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source}: not valid UTF-8 (byte offset {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})") from None


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


# --- the one writer of spreadsheets and CSV files ----------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet program read a cell as a formula (OWASP, "CSV Injection")."""

_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(value: Any) -> Any:
    """A CSV cell that cannot run as a formula: text beginning with = + - @ tab or CR gets a leading single
    quote (OWASP CSV Injection). Numbers, and text that is exactly a number such as "-3.5", are left as they
    are, since no spreadsheet evaluates them as formulas."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeCsvWriter:
    """`csv.writer` with every cell neutralised; the only CSV writer exports may use."""

    def __init__(self, handle: IO[str], **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([neutralise_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class SafeCsvDictWriter:
    """`csv.DictWriter` with every cell neutralised."""

    def __init__(self, handle: IO[str], fieldnames: Sequence[str], **options: Any) -> None:
        self._writer = csv.DictWriter(handle, fieldnames=fieldnames, **options)

    def writeheader(self) -> None:
        self._writer.writeheader()

    def writerow(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: neutralise_cell(v) for k, v in row.items()})

    def writerows(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(handle: IO[str], **options: Any) -> SafeCsvWriter:
    """The shared CSV writer (formula-injection safe); use instead of `csv.writer` for any output."""
    return SafeCsvWriter(handle, **options)


def csv_text(rows: Iterable[Iterable[Any]], **options: Any) -> str:
    """Rows rendered as CSV text with the shared writer (for API downloads)."""
    buffer = io.StringIO()
    csv_writer(buffer, **options).writerows(rows)
    return buffer.getvalue()


def write_csv(path: str | os.PathLike[str], rows: Iterable[Iterable[Any]], **options: Any) -> int:
    """Write rows (header first) atomically with the shared writer; returns the number of rows written."""
    count = 0
    with atomic_output(path) as handle:
        writer = csv_writer(handle, **options)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


@dataclass
class Sheet:
    """One worksheet of an XLSX export: a title and its rows (header rows included)."""

    title: str
    rows: Iterable[Sequence[Any]]
    bold_rows: int = 1


def write_xlsx(path: str | os.PathLike[str], sheets: Sequence[Sheet]) -> int:
    """Write an XLSX workbook atomically; text cells are always stored as text, never as formulas.

    openpyxl stores a string beginning with "=" as a live formula (`<f>`); here every string cell is typed as
    a string (`t="s"`), so a value such as `=HYPERLINK(...)` is shown as the text it is and never evaluated.
    Returns the number of data rows written (header rows excluded).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    written = 0
    for sheet in sheets:
        worksheet = workbook.create_sheet(title=sheet.title[:31])
        for index, row in enumerate(sheet.rows):
            for column, value in enumerate(row, start=1):
                cell = worksheet.cell(row=index + 1, column=column)
                cell.value = value
                if isinstance(value, str):
                    cell.data_type = "s"
                if index < sheet.bold_rows:
                    cell.font = Font(bold=True)
            if index >= sheet.bold_rows:
                written += 1
    with atomic_path(path) as tmp:
        workbook.save(tmp)
    return written


# --- archives (XLSX is a ZIP) checked before any parser sees them ------------------------------------


@dataclass(frozen=True)
class ArchiveReport:
    members: int
    expanded_bytes: int
    rows: int
    """`<row>` elements over every worksheet of an XLSX (0 for another ZIP)."""


def check_archive(
    source: str | os.PathLike[str] | bytes, *, max_expanded_bytes: int, max_rows: int, max_members: int = 10_000, name: str = "the file"
) -> ArchiveReport:
    """Refuse a ZIP/XLSX that expands too much or holds too many rows, before it is parsed (decompression bombs).

    Every member is really decompressed in a stream and its bytes counted (the sizes declared in the ZIP
    directory can lie), stopping as soon as a limit is passed; worksheet rows are counted as `<row` tags on
    the way. Nothing is kept in memory beyond one chunk. Raises PayloadTooLarge naming the limit, or
    InvalidInput for a file that is not a readable ZIP.
    """
    from passage.core.errors import PayloadTooLarge

    handle: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115 - closed below
    try:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError):
            raise InvalidInput(f"{name}: not a readable .xlsx/.zip file") from None
        with archive:
            infos = archive.infolist()
            if len(infos) > max_members:
                raise PayloadTooLarge(f"{name}: the archive holds more than {max_members} files")
            expanded = 0
            rows = 0
            for info in infos:
                is_sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
                tail = b""
                try:
                    with archive.open(info) as member:
                        while chunk := member.read(1 << 20):
                            expanded += len(chunk)
                            if expanded > max_expanded_bytes:
                                raise PayloadTooLarge(
                                    f"{name}: the file expands to more than {max_expanded_bytes} bytes; split it into smaller files",
                                    extra={"max_expanded_bytes": max_expanded_bytes},
                                )
                            if is_sheet:
                                window = tail + chunk
                                rows += window.count(b"<row ") + window.count(b"<row>") - tail.count(b"<row ") - tail.count(b"<row>")
                                tail = window[-5:]
                                if rows > max_rows:
                                    raise PayloadTooLarge(
                                        f"{name}: the workbook has more than {max_rows} rows; split it into smaller files",
                                        extra={"max_rows": max_rows},
                                    )
                except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError):
                    raise InvalidInput(f"{name}: a part of the archive is damaged or encrypted ({info.filename[:80]})") from None
            return ArchiveReport(members=len(infos), expanded_bytes=expanded, rows=rows)
    finally:
        handle.close()
