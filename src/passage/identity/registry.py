"""Reading a registry CSV for the identity index: streamed in chunks, validated row by row, and turned into
`compare.Record`s; the row hash that tells an update which rows changed."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import N_, T_
from passage.identity import compare, dates, places, resident_id

REGISTRY_COLUMNS = ("person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number")
CHUNK_ROWS = 50_000


def _row_hash(row: dict[str, str]) -> str:
    joined = "\x1f".join(row.get(c, "") for c in REGISTRY_COLUMNS)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=12).hexdigest()



# --- reading the registry, streamed ---------------------------------------------------------------------


def _read_registry(path: Path, *, chunk_rows: int) -> Iterator[tuple[list[str], list[int], list[list[str]]]]:
    """Stream registry.csv as chunks of (header, line numbers, raw rows); the checks of `read_csv_rows`.

    Rows are the csv module's lists, unstripped: the workers strip and transpose them (a dict per row
    and stripping here would make the reading process the bottleneck of the build).
    """
    if not path.exists():
        raise InvalidInput(T_("{name}: file not found", name=path.name))
    line = 1
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise InvalidInput(T_("{name}: the file is empty", name=path.name)) from None
            except csv.Error as exc:
                raise InvalidInput(T_("{name}: line 1: unreadable CSV header ({exc})", name=path.name, exc=exc)) from None
            if not any(header):
                raise InvalidInput(T_("{name}: the file is empty", name=path.name))
            if len(header) == 1 and (";" in header[0] or "\t" in header[0] or "|" in header[0]):
                raise InvalidInput(T_("{name}: line 1: wrong delimiter; the file must be comma-separated", name=path.name))
            missing = [c for c in REGISTRY_COLUMNS if c not in header]
            if missing:
                raise InvalidInput(T_("{name}: line 1: missing column(s) {items}", name=path.name, items=', '.join(missing)),
                                   fields=[FieldError(path=f"line 1, column {c}", message=N_("required column is missing")) for c in missing])
            width = len(header)
            lines: list[int] = []
            rows: list[list[str]] = []
            seen_any = False
            try:
                for values in reader:
                    line = reader.line_num
                    if not values or (len(values) == 1 and not values[0].strip()):
                        continue
                    if len(values) != width:
                        raise InvalidInput(T_("{name}: line {line}: expected {width} fields, found {count}", name=path.name, line=line, width=width, count=len(values)))
                    lines.append(line)
                    rows.append(values)
                    seen_any = True
                    if len(rows) >= chunk_rows:
                        yield header, lines, rows
                        lines, rows = [], []
            except csv.Error as exc:
                raise InvalidInput(T_("{name}: line {line_num}: unreadable CSV ({exc})", name=path.name, line_num=reader.line_num, exc=exc)) from None
            if rows:
                yield header, lines, rows
            if not seen_any:
                raise InvalidInput(T_("{name}: the file has a header but no rows", name=path.name))
    except UnicodeDecodeError:
        raise InvalidInput(T_("{name}: line {value}: not valid UTF-8; save the file as UTF-8", name=path.name, value=line + 1)) from None


def iter_registry(path: Path, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[tuple[int, dict[str, str]]]]:
    """Stream registry.csv in chunks of (line, row); same checks and messages as `read_csv_rows`.

    Errors name the file, line and column, never a value. Row-level checks (dates, sex) are made when
    the chunk is keyed (`_key_chunk`); duplicate identifiers are found after the last chunk.
    """
    for header, lines, rows in _read_registry(path, chunk_rows=chunk_rows):
        yield [(line, {h: v.strip() for h, v in zip(header, values, strict=True)}) for line, values in zip(lines, rows, strict=True)]


def _check_row(name: str, line: int, row: dict[str, str]) -> None:
    if not row["person_id"]:
        raise InvalidInput(T_("{name}: line {line}, column person_id: empty", name=name, line=line))
    dates.parse_full(row["birth_date"], where=f"{name}: line {line}, column birth_date")
    if row["sex"] and row["sex"].upper() not in ("M", "F"):
        raise InvalidInput(T_("{name}: line {line}, column sex: expected M, F or empty", name=name, line=line))


def validate_registry(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Read and check a (small) registry.csv whole; errors name the line and column, never the value."""
    rows = [item for chunk in iter_registry(path) for item in chunk]
    seen: set[str] = set()
    for line, row in rows:
        _check_row(path.name, line, row)
        if row["person_id"] in seen:
            raise InvalidInput(T_("{name}: line {line}, column person_id: duplicate identifier", name=path.name, line=line))
        seen.add(row["person_id"])
    return rows


def record_from_row(row: dict[str, str]) -> compare.Record:
    birth = dates.parse_full(row["birth_date"], where="birth_date") if row["birth_date"] else None
    return compare.Record(
        person_id=row["person_id"], family_name=row["family_name"], given_name=row["given_name"],
        sex=row["sex"].upper(), birth_date=birth, birth_place=row["birth_place"], id_number=row["id_number"],
    )


def _place_key(row: dict[str, str]) -> str:
    """The record's place string plus the region of a valid resident ID (what `compare.record_place` uses)."""
    parsed = resident_id.parse(row["id_number"]) if row["id_number"] else None
    region = parsed.region if parsed is not None and parsed.valid else ""
    return f"{row['birth_place']}\x1f{region}"


@lru_cache(maxsize=200_000)
def place_of_key(key: str) -> places.Place:
    """The resolved registry place of a `_place_key` string (as `compare.record_place`)."""
    text, _, region = key.partition("\x1f")
    place = places.resolve(text)
    if region:
        return places.Place(place.codes | places.region_place(region).codes, place.fallback)
    return place
