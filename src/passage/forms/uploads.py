"""Checks on uploaded files before they reach the parsers: size (413) and sniffed type (415)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from passage.core.errors import PayloadTooLarge, UnsupportedMediaType
from passage.core.i18n import T_
from passage.core.settings import get_settings

XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
EXPORT_SUFFIXES = [".csv", ".xlsx", ".zip", ".json"]


def check_size(content: bytes) -> None:
    limit = get_settings().max_upload_bytes
    if len(content) > limit:
        raise PayloadTooLarge(T_("the file is larger than {limit} bytes", limit=limit), extra={"max_bytes": limit, "size": len(content)})


def sniff_export(content: bytes, filename: str) -> str:
    """`.xlsx`, `.zip` (ODK Central), `.json` or `.csv` from the bytes themselves (the name's extension
    must agree); 415 otherwise."""
    check_size(content)
    suffix = Path(filename).suffix.lower()
    if content.startswith(XLSX_MAGIC):
        kind = ".zip" if suffix == ".zip" else ".xlsx"
    elif suffix == ".json" and content.lstrip()[:1] in (b"{", b"["):
        kind = ".json"
    else:
        head = content[:65536]
        try:
            head.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            # A cut in the middle of a multi-byte character at the end of the sample is still text.
            if exc.start < len(head) - 3:
                raise UnsupportedMediaType(T_("the file is neither an XLSX workbook nor UTF-8 CSV text"), extra={"allowed": [".csv", ".xlsx"]}) from None
        if b"\x00" in head:
            raise UnsupportedMediaType(T_("the file is neither an XLSX workbook nor UTF-8 CSV text"), extra={"allowed": [".csv", ".xlsx"]})
        kind = ".csv"
    if suffix not in EXPORT_SUFFIXES or suffix != kind:
        raise UnsupportedMediaType(T_("the file's name ends in {suffix} but its content is {kind}", suffix=suffix or "-", kind=kind), extra={"allowed": EXPORT_SUFFIXES})
    return kind


def check_xlsform(content: bytes, filename: str) -> None:
    """An XLSForm upload must be an .xlsx or .xls workbook (by its bytes and its name); 415 otherwise."""
    check_size(content)
    suffix = Path(filename).suffix.lower()
    if not ((content.startswith(XLSX_MAGIC) and suffix == ".xlsx") or (content.startswith(XLS_MAGIC) and suffix == ".xls")):
        raise UnsupportedMediaType(T_("{file}: an XLSForm must be an .xlsx or .xls workbook", file=filename), extra={"allowed": [".xlsx", ".xls"]})


@contextmanager
def spooled(content: bytes, suffix: str) -> Iterator[Path]:
    """The upload in a private temporary file (the export reader works on paths), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="passage-forms-") as directory:
        path = Path(directory) / f"upload{suffix}"
        path.write_bytes(content)
        yield path


MEDIA_SUFFIXES = (".csv", ".xml", ".geojson")


def check_media(content: bytes, filename: str) -> None:
    """A form attachment must be a CSV, XML or GeoJSON list within the upload size; 415 otherwise."""
    check_size(content)
    if Path(filename).suffix.lower() not in MEDIA_SUFFIXES:
        raise UnsupportedMediaType(T_("{file}: a form attachment must be .csv, .xml or .geojson", file=filename), extra={"allowed": list(MEDIA_SUFFIXES)})


def inspect_upload(path: str, kind: str) -> int:
    """Read an uploaded export or XLSForm completely and return its row count; run in a limited worker
    (`passage.core.worker.run_limited`) before the request process parses it, so that a decompression bomb
    exhausts the worker, not the server. A workbook's expanded size and row count are checked while it is
    decompressed, before any parser sees it."""
    from passage.core.files import check_archive

    settings = get_settings()
    name = Path(path).name
    if kind in (".xlsx", "xlsform"):
        report = check_archive(path, max_expanded_bytes=settings.import_max_expanded_bytes, max_rows=settings.import_max_rows, name=name)
        if kind == "xlsform":
            return report.rows
    from passage.forms.exports import read_export

    raw = read_export(path, strip=False)
    rows = sum(len(sheet[2]) for sheet in raw.sheets)
    if rows > settings.import_max_rows:
        raise PayloadTooLarge(T_("{file}: the file has more than {rows} rows; split it into smaller files", file=name, rows=settings.import_max_rows), extra={"max_rows": settings.import_max_rows})
    return rows


def inspect_in_worker(path: Path, kind: str) -> int:
    """`inspect_upload` in a worker process limited in memory and time (see `passage.core.worker`).

    Only workbooks go through the worker: a CSV cannot expand, its size is already bounded by the upload limit."""
    from passage.core.worker import run_limited

    if kind == ".csv":
        return 0

    settings = get_settings()
    return run_limited(inspect_upload, str(path), kind, memory_bytes=settings.import_worker_memory_bytes, seconds=settings.import_worker_seconds, what="the uploaded file")
