"""A persistent, incrementally updated on-disk index of a registry, with columnar comparison keys.

Layout of an index directory (format 2):
- `manifest.json`: format version, segment names, live record count;
- `model.json`: the scoring model (m, u, prior, registry size);
- per segment `seg-NNNNN`:
  - `.arrow`: the raw rows (Arrow IPC, memory-mapped; read only for the few candidates shown and for updates);
  - `.keys.npy` / `.rows.npy`: inverted postings, sorted 64-bit blocking-key hashes and their row numbers;
  - `.filter.npy`: a bitmap over the top bits of the key hashes (about 8 bits per posting), so that the
    search skips the binary search for keys that are certainly absent (older indexes compute it on open);
  - `.deleted.npy`: tombstones;
  - `.cols.npz`-style columns, one memory-mapped `.npy` each: `birth` (int32 YYYYMMDD, 0 missing),
    `sex` (int8: 0 missing, 1 M, 2 F), `sname`/`gname` (int32 ids into the segment's name vocabulary),
    `place` (int32 id of the place + ID-region string), `idnum` (S18, cleaned resident ID or empty),
    `tf_full`/`tf_surname`/`tf_given` (int32 ids of the term-frequency keys);
  - `.vocab.json`: the segment's vocabularies (distinct names, places, term-frequency keys).
An update reads the registry again, writes only new or changed rows into a new segment and tombstones the
rows they replace or that left the registry (the log-structured design of Lucene segments). The registry
is streamed in chunks (never held whole in memory) and the chunks are keyed on up to two processes.

Blocking (candidate generation) follows Christen (2012), "Data Matching", ch. 4: several keys per record
("multi-pass blocking") so that one wrong field still leaves a shared key: pinyin surname + given name;
surname + birth year; given name + birth year; full date of birth + surname initial; date + given-name
initial; three overlapping pieces of the ID number. Registries in Latin script also get keys that survive
typing errors in *every* field (Christen 2012, §4.3-4.5): Soundex codes of both name parts (phonetic
encoding; Russell 1918, Knuth 1973), the first two letters of both parts, the last three letters of both
parts (a typo early in a name), and Soundex of the given name + year-month. A key shared by more than
`MAX_BLOCK` rows narrows nothing and is skipped at query time.

Keys are tuples (kind, a, b) of integers; strings enter through a 64-bit BLAKE2b hash, and the tuple is
mixed to one 64-bit hash with SplitMix64 (Steele et al. 2014) in numpy, so that millions of keys are
hashed in one vectorised pass.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import hashlib
import json
import multiprocessing
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
from stdnum.cn import ric

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import atomic_output, atomic_path
from passage.identity import compare, dates, places, resident_id, scoring
from passage.identity.romanisation import compact, is_han, latin_to_pinyin_keys, pinyin_keys

REGISTRY_COLUMNS = ("person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number")
FORMAT_VERSION = 2
MAX_CANDIDATES = 200
CANDIDATE_POOL = 1000
MAX_BLOCK = 5000
CHUNK_ROWS = 50_000
COLUMN_FILES = ("birth", "sex", "sname", "gname", "place", "idnum", "tf_full", "tf_surname", "tf_given")

Key = tuple[int, int, int]
# Key kinds (the first element of a key tuple).
K_NAME, K_SURNAME_YEAR, K_GIVEN_YEAR, K_DATE_SURNAME, K_DATE_GIVEN, K_ID, K_ID_PIECE = 1, 2, 3, 4, 5, 6, 7
K_SOUNDEX, K_PREFIX, K_SUFFIX, K_GIVEN_SOUNDEX_MONTH = 8, 9, 10, 11
K_DATE_ONLY, K_SURNAME_ONLY, K_GIVEN_ONLY = 12, 13, 14


@lru_cache(maxsize=1_000_000)
def _sh(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def key_hashes(keys: Sequence[Key]) -> np.ndarray:
    """64-bit hashes of key tuples, vectorised (uint64)."""
    if not keys:
        return np.zeros(0, dtype=np.uint64)
    arr = np.array(keys, dtype=np.uint64).reshape(-1, 3)
    with np.errstate(over="ignore"):
        h = _splitmix(arr[:, 0])
        h = _splitmix(h ^ arr[:, 1])
        return _splitmix(h ^ arr[:, 2])


@lru_cache(maxsize=200_000)
def soundex(word: str) -> str:
    """American Soundex code (Russell 1918; Knuth 1973, TAOCP vol. 3) of a folded Latin word, '' if none."""
    word = "".join(ch for ch in word if "a" <= ch <= "z")
    if not word:
        return ""
    codes = {**dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"), "l": "4",
             **dict.fromkeys("mn", "5"), "r": "6"}
    out = word[0]
    last = codes.get(word[0], "")
    for ch in word[1:]:
        code = codes.get(ch, "")
        if code and code != last:
            out += code
            if len(out) == 4:
                break
        if ch not in "hw":
            last = code
    return out.ljust(4, "0")


def _latin_typo_keys(s: str, g: str, years: Sequence[int], month_keys: Sequence[int], days: Sequence[int] = ()) -> list[Key]:
    """Keys of a Latin-script name that survive a typing error in the name and in the date (Christen 2012, ch. 4).

    Also the single-field keys a careful Splink user blocks on (date of birth alone, surname alone, given
    name alone): a record whose other fields are all mistyped still shares one of them.
    """
    keys: list[Key] = [(K_DATE_ONLY, d, 0) for d in days]
    if s:
        keys.append((K_SURNAME_ONLY, _sh(s), 0))
    if g:
        keys.append((K_GIVEN_ONLY, _sh(g), 0))
    if not s or not g:
        return keys
    sx_s, sx_g = soundex(s), soundex(g)
    keys.append((K_SOUNDEX, _sh(sx_s), _sh(sx_g)))
    keys.append((K_SUFFIX, _sh(s[-3:]), _sh(g[-3:])))
    keys += [(K_PREFIX, _sh(s[:2] + "|" + g[:2]), y) for y in years]
    keys += [(K_GIVEN_SOUNDEX_MONTH, _sh(sx_g), ym) for ym in month_keys]
    return keys


@lru_cache(maxsize=500_000)
def _record_name_keys(family: str, given: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[tuple[str, str], ...]]:
    """Hashed surname keys, given keys, their initials, and the Latin (surname, given) pair for typo keys."""
    surnames = pinyin_keys(family, surname=True)[:4] if family else ()
    givens = pinyin_keys(given, surname=False)[:4] if given else ()
    latin: tuple[tuple[str, str], ...] = ()
    if (family or given) and not is_han(family + given):
        latin = ((compact(family), compact(given)),)
    return (tuple(_sh(s) for s in surnames), tuple(_sh(g) for g in givens), tuple(dict.fromkeys(_sh(s[:1]) for s in surnames)),
            tuple(dict.fromkeys(_sh(g[:1]) for g in givens)), latin)


def _date_int(date: dt.date | None) -> int:
    return date.year * 10000 + date.month * 100 + date.day if date is not None else 0


def record_keys(record: compare.Record) -> list[Key]:
    """Blocking keys of one registry record."""
    surnames, givens, s_init, g_init, latin = _record_name_keys(record.family_name, record.given_name)
    keys: list[Key] = [(K_NAME, s, g) for s in surnames for g in givens]
    day = _date_int(record.birth_date)
    if record.birth_date is not None:
        year = record.birth_date.year
        keys += [(K_SURNAME_YEAR, s, year) for s in surnames]
        keys += [(K_GIVEN_YEAR, g, year) for g in givens]
        keys += [(K_DATE_SURNAME, day, i) for i in s_init]
        # Date + given-name initial: finds a record whose surname and given name both carry a typo.
        keys += [(K_DATE_GIVEN, day, i) for i in g_init]
    for s, g in latin:
        years = [record.birth_date.year] if record.birth_date is not None else [0]
        months = [day // 100] if record.birth_date is not None else []
        keys += _latin_typo_keys(s, g, years, months, [day] if day else [])
    if record.id_number:
        keys += _id_keys(record.id_number)
    return list(dict.fromkeys(keys))


def _id_keys(number: str) -> list[Key]:
    clean = resident_id.clean(number)
    if not clean:
        return []
    return [(K_ID, _sh(clean), 0), *((K_ID_PIECE, _sh(k), 0) for k in resident_id.blocking_keys(number))]


@lru_cache(maxsize=200_000)
def _name_keys(text: str, *, surname: bool, limit: int) -> tuple[str, ...]:
    if not text:
        return ()
    if is_han(text):
        return pinyin_keys(text, surname=surname)[:limit]
    return latin_to_pinyin_keys(text, limit=limit)


def _query_date_parts(birth: dates.PartialDate | None) -> tuple[list[int], list[int], int, list[int]]:
    """The date parts of a query's keys: years (±1), year-months (also day and month swapped), the full date
    as YYYYMMDD (0 if not given to the day), and the full dates (also swapped)."""
    if birth is None:
        return [], [], 0, []
    years = [birth.year + d for d in (0, -1, 1)]
    months: list[int] = []
    if birth.month is not None:
        months = [birth.year * 100 + birth.month]
        if birth.day is not None and birth.day <= 12 and birth.day != birth.month:
            months.append(birth.year * 100 + birth.day)  # day and month swapped
    if birth.precision != "day":
        return years, months, 0, []
    assert birth.month is not None and birth.day is not None
    day = birth.year * 10000 + birth.month * 100 + birth.day
    swapped = [birth.year * 10000 + birth.day * 100 + birth.month] if birth.day <= 12 and birth.day != birth.month else []
    return years, months, day, [day, *swapped]


def query_keys(query: compare.Query) -> list[Key]:
    """Blocking keys of a query, over every reading of its names (see `compare.name_interpretations`)."""
    keys: list[Key] = []
    years, months, day, day_keys = _query_date_parts(query.birth_date)
    for family, given in compare.name_interpretations(query):
        surnames = [_sh(s) for s in _name_keys(family, surname=True, limit=16)]
        givens = [_sh(g) for g in _name_keys(given, surname=False, limit=24)]
        surname_texts = _name_keys(family, surname=True, limit=16)
        given_texts = _name_keys(given, surname=False, limit=24)
        keys += [(K_NAME, s, g) for s in surnames for g in givens]
        for year in years:
            keys += [(K_SURNAME_YEAR, s, year) for s in surnames[:12]]
            keys += [(K_GIVEN_YEAR, g, year) for g in givens[:12]]
        if day:
            keys += [(K_DATE_SURNAME, day, _sh(s[:1])) for s in surname_texts]
            keys += [(K_DATE_GIVEN, day, _sh(g[:1])) for g in given_texts]
        if (family or given) and not is_han(family + given):
            keys += _latin_typo_keys(compact(family), compact(given), years or [0], months, day_keys)
    if query.id_number:
        keys += _id_keys(query.id_number)
    return list(dict.fromkeys(keys))


def _partial_mix(kind: int, a: np.ndarray) -> np.ndarray:
    """The first two SplitMix64 rounds of `key_hashes` for keys (kind, a, ·); finish with `_splitmix(partial ^ b)`."""
    with np.errstate(over="ignore"):
        return _splitmix(_splitmix(np.full(len(a), kind, dtype=np.uint64)) ^ a)


@dataclass(frozen=True)
class _ReadingHashes:
    """Blocking-key hashes of one (family, given) reading of a query, as far as they do not depend on its date."""

    names: np.ndarray  # finished hashes of (K_NAME, surname reading, given reading)
    surname_year: np.ndarray  # partial hashes of (K_SURNAME_YEAR, surname reading, ·)
    given_year: np.ndarray  # partial hashes of (K_GIVEN_YEAR, given reading, ·)
    surname_initials: np.ndarray  # hashes of the surname readings' initials (K_DATE_SURNAME's third part)
    given_initials: np.ndarray


@lru_cache(maxsize=100_000)
def _reading_hashes(family: str, given: str) -> _ReadingHashes:
    surnames = np.array([_sh(x) for x in _name_keys(family, surname=True, limit=16)], dtype=np.uint64)
    givens = np.array([_sh(x) for x in _name_keys(given, surname=False, limit=24)], dtype=np.uint64)
    with np.errstate(over="ignore"):
        names = _splitmix(np.repeat(_partial_mix(K_NAME, surnames), len(givens)) ^ np.tile(givens, len(surnames)))
    return _ReadingHashes(names, _partial_mix(K_SURNAME_YEAR, surnames[:12]), _partial_mix(K_GIVEN_YEAR, givens[:12]),
                          np.array([_sh(x[:1]) for x in _name_keys(family, surname=True, limit=16)], dtype=np.uint64),
                          np.array([_sh(x[:1]) for x in _name_keys(given, surname=False, limit=24)], dtype=np.uint64))


def query_key_hashes(query: compare.Query) -> np.ndarray:
    """The distinct hashes of `query_keys(query)`, computed with numpy broadcasting (the search path).

    Same keys as `query_keys`, which stays the readable definition (and is what Spark uses).
    """
    years, months, day, day_keys = _query_date_parts(query.birth_date)
    year_array = np.array(years, dtype=np.uint64)
    finished: list[np.ndarray] = []
    unfinished: list[np.ndarray] = []  # (partial hash ^ last part), finished by one SplitMix64 round at the end
    latin: list[Key] = []
    with np.errstate(over="ignore"):
        if day:
            day_surname, day_given = _partial_mix(K_DATE_SURNAME, np.array([day], dtype=np.uint64)), _partial_mix(K_DATE_GIVEN, np.array([day], dtype=np.uint64))
        for family, given in compare.name_interpretations(query):
            reading = _reading_hashes(family, given)
            finished.append(reading.names)
            if len(year_array):
                unfinished.append((reading.surname_year[:, None] ^ year_array[None, :]).ravel())
                unfinished.append((reading.given_year[:, None] ^ year_array[None, :]).ravel())
            if day:
                unfinished.append(day_surname ^ reading.surname_initials)
                unfinished.append(day_given ^ reading.given_initials)
            if (family or given) and not is_han(family + given):
                latin += _latin_typo_keys(compact(family), compact(given), years or [0], months, day_keys)
        if unfinished:
            finished.append(_splitmix(np.concatenate(unfinished)))
    if query.id_number:
        latin += _id_keys(query.id_number)
    finished.append(key_hashes(latin))
    return np.unique(np.concatenate(finished))


def _row_hash(row: dict[str, str]) -> str:
    joined = "\x1f".join(row.get(c, "") for c in REGISTRY_COLUMNS)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=12).hexdigest()


@lru_cache(maxsize=500_000)
def _frequency_parts(family: str, given: str) -> tuple[str, str, str]:
    s = (pinyin_keys(family, surname=True) or ("",))[0] if family else ""
    g = (pinyin_keys(given, surname=False) or ("",))[0] if given else ""
    return f"{s}|{g}", s, g


# --- reading the registry, streamed ---------------------------------------------------------------------


def _read_registry(path: Path, *, chunk_rows: int) -> Iterator[tuple[list[str], list[int], list[list[str]]]]:
    """Stream registry.csv as chunks of (header, line numbers, raw rows); the checks of `read_csv_rows`.

    Rows are the csv module's lists, unstripped: the workers strip and transpose them (a dict per row
    and stripping here would make the reading process the bottleneck of the build).
    """
    if not path.exists():
        raise InvalidInput(f"{path.name}: file not found")
    line = 1
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise InvalidInput(f"{path.name}: the file is empty") from None
            except csv.Error as exc:
                raise InvalidInput(f"{path.name}: line 1: unreadable CSV header ({exc})") from None
            if not any(header):
                raise InvalidInput(f"{path.name}: the file is empty")
            if len(header) == 1 and (";" in header[0] or "\t" in header[0] or "|" in header[0]):
                raise InvalidInput(f"{path.name}: line 1: wrong delimiter; the file must be comma-separated")
            missing = [c for c in REGISTRY_COLUMNS if c not in header]
            if missing:
                raise InvalidInput(f"{path.name}: line 1: missing column(s) {', '.join(missing)}",
                                   fields=[FieldError(path=f"line 1, column {c}", message="required column is missing") for c in missing])
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
                        raise InvalidInput(f"{path.name}: line {line}: expected {width} fields, found {len(values)}")
                    lines.append(line)
                    rows.append(values)
                    seen_any = True
                    if len(rows) >= chunk_rows:
                        yield header, lines, rows
                        lines, rows = [], []
            except csv.Error as exc:
                raise InvalidInput(f"{path.name}: line {reader.line_num}: unreadable CSV ({exc})") from None
            if rows:
                yield header, lines, rows
            if not seen_any:
                raise InvalidInput(f"{path.name}: the file has a header but no rows")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name}: line {line + 1}: not valid UTF-8; save the file as UTF-8") from None


def iter_registry(path: Path, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[tuple[int, dict[str, str]]]]:
    """Stream registry.csv in chunks of (line, row); same checks and messages as `read_csv_rows`.

    Errors name the file, line and column, never a value. Row-level checks (dates, sex) are made when
    the chunk is keyed (`_key_chunk`); duplicate identifiers are found after the last chunk.
    """
    for header, lines, rows in _read_registry(path, chunk_rows=chunk_rows):
        yield [(line, {h: v.strip() for h, v in zip(header, values, strict=True)}) for line, values in zip(lines, rows, strict=True)]


def _check_row(name: str, line: int, row: dict[str, str]) -> None:
    if not row["person_id"]:
        raise InvalidInput(f"{name}: line {line}, column person_id: empty")
    dates.parse_full(row["birth_date"], where=f"{name}: line {line}, column birth_date")
    if row["sex"] and row["sex"].upper() not in ("M", "F"):
        raise InvalidInput(f"{name}: line {line}, column sex: expected M, F or empty")


def validate_registry(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Read and check a (small) registry.csv whole; errors name the line and column, never the value."""
    rows = [item for chunk in iter_registry(path) for item in chunk]
    seen: set[str] = set()
    for line, row in rows:
        _check_row(path.name, line, row)
        if row["person_id"] in seen:
            raise InvalidInput(f"{path.name}: line {line}, column person_id: duplicate identifier")
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


# --- keying a chunk, vectorised -------------------------------------------------------------------------
#
# `record_keys` is the definition of a record's blocking keys. The build computes the same keys per chunk
# without a Python tuple per key: the name keys of each distinct (family, given) pair are turned once into
# *templates* (kind, a, b, which of a/b is the row's date), and numpy fills in each row's date and mixes
# the hashes with the same SplitMix64 steps as `key_hashes`. tests/identity/test_index_build.py checks that
# the (key hash, row) postings equal `key_hashes(record_keys(...))` row by row.

_VAR_NONE, _VAR_YEAR, _VAR_YEAR_OR_0, _VAR_MONTH, _VAR_DAY = 0, 1, 2, 3, 4
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")  # as resident_id._ID_RE
_MEMO_LIMIT = 500_000  # distinct values a per-process memo keeps (as the name-key caches)


def _pair_templates(family: str, given: str) -> list[tuple[int, int, int, int]]:
    """(variable, kind, a, b) for every key `record_keys` derives from this name pair; the row's date fills
    b (year, year or 0, year-month) or a (full date) as `variable` says; _VAR_NONE keys are complete."""
    surnames, givens, s_init, g_init, latin = _record_name_keys(family, given)
    out = [(_VAR_NONE, K_NAME, s, g) for s in surnames for g in givens]
    out += [(_VAR_YEAR, K_SURNAME_YEAR, s, 0) for s in surnames]
    out += [(_VAR_YEAR, K_GIVEN_YEAR, g, 0) for g in givens]
    out += [(_VAR_DAY, K_DATE_SURNAME, 0, i) for i in s_init]
    out += [(_VAR_DAY, K_DATE_GIVEN, 0, i) for i in g_init]
    for s, g in latin:  # as _latin_typo_keys with years [year] (or [0]), months [year-month], days [date]
        out.append((_VAR_DAY, K_DATE_ONLY, 0, 0))
        if s:
            out.append((_VAR_NONE, K_SURNAME_ONLY, _sh(s), 0))
        if g:
            out.append((_VAR_NONE, K_GIVEN_ONLY, _sh(g), 0))
        if s and g:
            sx_s, sx_g = soundex(s), soundex(g)
            out.append((_VAR_NONE, K_SOUNDEX, _sh(sx_s), _sh(sx_g)))
            out.append((_VAR_NONE, K_SUFFIX, _sh(s[-3:]), _sh(g[-3:])))
            out.append((_VAR_YEAR_OR_0, K_PREFIX, _sh(s[:2] + "|" + g[:2]), 0))
            out.append((_VAR_MONTH, K_GIVEN_SOUNDEX_MONTH, _sh(sx_g), 0))
    return out


class _NameTemplates:
    """Per-process table of the key templates of every (family, given) pair seen, as numpy arrays.

    For a template, `c1` is the finished hash (_VAR_NONE), the hash state after kind and a (variables in
    b), or after the kind alone (_VAR_DAY, whose date is a); `c2` is b. Cleared when it grows past
    `_MEMO_LIMIT` pairs, so that memory stays bounded on registries with millions of distinct names.
    """

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], int] = {}
        self.start = np.zeros(0, dtype=np.int64)
        self.count = np.zeros(0, dtype=np.int64)
        self.var = np.zeros(0, dtype=np.int8)
        self.c1 = np.zeros(0, dtype=np.uint64)
        self.c2 = np.zeros(0, dtype=np.uint64)

    def lookup(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """Table ids of the pairs, adding the new ones."""
        if len(self.ids) + len(pairs) > _MEMO_LIMIT:
            self.__init__()  # type: ignore[misc]
        ids = self.ids
        new = [p for p in pairs if p not in ids]
        if new:
            templates = [_pair_templates(f, g) for f, g in new]
            counts = np.array([len(t) for t in templates], dtype=np.int64)
            flat = [t for ts in templates for t in ts]
            arr = np.array(flat, dtype=np.uint64).reshape(-1, 4)
            var = arr[:, 0].astype(np.int8)
            with np.errstate(over="ignore"):
                h0 = _splitmix(arr[:, 1])
                h1 = _splitmix(h0 ^ arr[:, 2])
                full = _splitmix(h1 ^ arr[:, 3])
            c1 = np.where(var == _VAR_NONE, full, np.where(var == _VAR_DAY, h0, h1))
            base = int(self.start[-1] + self.count[-1]) if len(self.start) else 0
            starts = base + np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
            for k, pair in enumerate(new, start=len(ids)):
                ids[pair] = k
            self.start = np.concatenate((self.start, starts))
            self.count = np.concatenate((self.count, counts))
            self.var = np.concatenate((self.var, var))
            self.c1 = np.concatenate((self.c1, c1))
            self.c2 = np.concatenate((self.c2, arr[:, 3]))
        return np.array([ids[p] for p in pairs], dtype=np.int64)


_TEMPLATES = _NameTemplates()
_BIRTH_MEMO: dict[str, int] = {}
_SEX_MEMO: dict[str, int] = {}
_ID_DATE_MEMO: dict[str, bool] = {}


def _memo_codes(values: list[str], memo: dict[str, int], code: Callable[[str], int]) -> np.ndarray:
    """code(value) per value, computed once per distinct value (the memo is per process, bounded)."""
    if len(memo) > _MEMO_LIMIT:
        memo.clear()
    for value in set(values).difference(memo):
        memo[value] = code(value)
    return np.array([memo[v] for v in values], dtype=np.int64)


def _birth_code(text: str) -> int:
    """YYYYMMDD of a registry date, 0 when empty, -1 when `_check_row` would reject it."""
    try:
        return _date_int(dates.parse_full(text, where="birth_date") if text else None)
    except InvalidInput:
        return -1


def _sex_code(text: str) -> int:
    """1 M, 2 F, 0 empty (as the `sex` column), -1 when `_check_row` would reject it."""
    upper = text.upper()
    if text and upper not in ("M", "F"):
        return -1
    return {"M": 1, "F": 2}.get(upper, 0)


def _id_date_valid(digits: str) -> bool:
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    return True


def _blake64_array(texts: list[str]) -> np.ndarray:
    """`_sh` of each text as uint64, uncached (for values that rarely repeat: ID numbers, person ids)."""
    blake = hashlib.blake2b
    return np.frombuffer(b"".join([blake(t.encode("utf-8"), digest_size=8).digest() for t in texts]), dtype="<u8").astype(np.uint64)


def _id_facts(numbers: list[str]) -> tuple[list[bytes], list[str], list[int], list[int], list[str]]:
    """Per row: the `idnum` column value and the region of a valid number (as `_place_key`); and the ID
    postings of `_id_keys` as (rows, kinds, strings whose `_sh` is a)."""
    idnum: list[bytes] = []
    regions: list[str] = []
    rows: list[int] = []
    kinds: list[int] = []
    texts: list[str] = []
    date_ok = _ID_DATE_MEMO
    if len(date_ok) > _MEMO_LIMIT:
        date_ok.clear()
    shape = _ID_SHAPE.match
    check_digit = ric.calc_check_digit
    piece_kinds = (K_ID, K_ID_PIECE, K_ID_PIECE, K_ID_PIECE)
    for i, raw in enumerate(numbers):
        # resident_id.clean removes whitespace and dashes, which an ASCII alphanumeric string has none of.
        clean = (raw.upper() if raw.isascii() and raw.isalnum() else resident_id.clean(raw)) if raw else ""
        if not clean:
            idnum.append(b"")
            regions.append("")
            continue
        idnum.append(clean.encode("ascii", "replace")[:18])
        if not shape(clean):
            rows.append(i)
            kinds.append(K_ID)
            texts.append(clean)
            regions.append("")
            continue
        a, b, c = clean[:6], clean[6:12], clean[12:]
        rows += (i, i, i, i)
        kinds += piece_kinds
        texts += (clean, f"ia|{a}{b}", f"ib|{a}{c}", f"ic|{b}{c}")
        digits = clean[6:14]
        valid = date_ok.get(digits)
        if valid is None:
            valid = date_ok[digits] = _id_date_valid(digits)
        regions.append(a if valid and check_digit(clean[:17]) == clean[17] else "")  # exactly resident_id.parse's test
    return idnum, regions, rows, kinds, texts


def _chunk_postings(pair_ids: np.ndarray, birth: np.ndarray, id_rows: list[int], id_kinds: list[int],
                    id_texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(key hashes, rows) of a chunk, sorted by hash then row, one posting per distinct key of a row."""
    n = len(pair_ids)
    counts = _TEMPLATES.count[pair_ids]
    row_of = np.repeat(np.arange(n, dtype=np.int64), counts)
    ends = np.cumsum(counts)
    template = np.arange(len(row_of), dtype=np.int64) - np.repeat(ends - counts, counts) + np.repeat(_TEMPLATES.start[pair_ids], counts)
    var = _TEMPLATES.var[template]
    day = birth[row_of].astype(np.uint64)
    keep = (var == _VAR_NONE) | (var == _VAR_YEAR_OR_0) | (day != 0)
    row_of, template, var, day = row_of[keep], template[keep], var[keep], day[keep]
    c1 = _TEMPLATES.c1[template]
    hashes = c1.copy()
    with np.errstate(over="ignore"):
        for which, value in ((_VAR_YEAR, day // np.uint64(10000)), (_VAR_YEAR_OR_0, day // np.uint64(10000)),
                             (_VAR_MONTH, day // np.uint64(100))):
            mask = var == which
            hashes[mask] = _splitmix(c1[mask] ^ value[mask])
        mask = var == _VAR_DAY
        hashes[mask] = _splitmix(_splitmix(c1[mask] ^ day[mask]) ^ _TEMPLATES.c2[template[mask]])
        if id_rows:
            kinds = np.array(id_kinds, dtype=np.uint64)
            id_hashes = _splitmix(_splitmix(_splitmix(kinds) ^ _blake64_array(id_texts)) ^ np.uint64(0))
            hashes = np.concatenate((hashes, id_hashes))
            row_of = np.concatenate((row_of, np.array(id_rows, dtype=np.int64)))
    # Postings were made in row order within the name keys and within the ID keys, and a name key never
    # equals an ID key (their kinds differ), so a stable sort by hash is a sort by (hash, row); checked,
    # with lexsort as the fallback should two different keys ever share a 64-bit hash.
    order = np.argsort(hashes, kind="stable")
    hashes, row_of = hashes[order], row_of[order]
    same = hashes[1:] == hashes[:-1]
    if np.any(row_of[1:][same] < row_of[:-1][same]):  # pragma: no cover - needs a hash collision
        order = np.lexsort((row_of, hashes))
        hashes, row_of = hashes[order], row_of[order]
    rows = row_of.astype(np.uint32)
    if len(hashes) > 1:  # `record_keys` keeps a key once per record
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = (hashes[1:] != hashes[:-1]) | (rows[1:] != rows[:-1])
        if not first.all():
            hashes, rows = hashes[first], rows[first]
    return hashes, rows


@dataclass
class _Chunk:
    """One keyed chunk: sorted postings, columns (ids into the chunk's own vocabularies), raw Arrow rows."""

    error: str
    key_hashes: np.ndarray
    key_rows: np.ndarray
    columns: dict[str, np.ndarray]
    vocab: dict[str, list[str]]
    batch: pa.RecordBatch | None
    pid_hashes: np.ndarray
    lines: np.ndarray


class _Vocab:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.items: list[str] = []

    def id(self, text: str) -> int:
        found = self.ids.get(text)
        if found is None:
            found = self.ids[text] = len(self.items)
            self.items.append(text)
        return found


_RAW_SCHEMA = pa.schema([(c, pa.string()) for c in (*REGISTRY_COLUMNS, "row_hash")])


def _key_chunk(args: tuple[str, list[str], list[int], list[list[str]]]) -> _Chunk:
    """Validate and key one chunk of raw rows (runs in a worker process).

    Gives what keying each row with `_check_row`, `record_from_row`, `record_keys`, `_place_key` and
    `_frequency_parts` gives, with Python work per distinct name, date and sex value and per ID number only.
    """
    file_name, header, line_list, raw_rows = args
    n = len(raw_rows)
    lines = np.array(line_list, dtype=np.int64)
    position = {h: i for i, h in enumerate(header)}  # a repeated column name: the last one, as a dict row
    transposed = list(zip(*raw_rows, strict=True))
    del raw_rows
    values = {c: [v.strip() for v in transposed[position[c]]] for c in REGISTRY_COLUMNS}
    del transposed
    birth = _memo_codes(values["birth_date"], _BIRTH_MEMO, _birth_code)
    sex = _memo_codes(values["sex"], _SEX_MEMO, _sex_code)
    pids = values["person_id"]
    bad = np.flatnonzero((birth < 0) | (sex < 0))
    first_bad = min(pids.index("") if "" in pids else n, int(bad[0]) if len(bad) else n)
    if first_bad < n:
        try:
            _check_row(file_name, line_list[first_bad], {c: values[c][first_bad] for c in REGISTRY_COLUMNS})
        except InvalidInput as exc:
            empty = np.zeros(0, dtype=np.uint64)
            return _Chunk(str(exc), empty, np.zeros(0, dtype=np.uint32), {}, {}, None, empty, lines)
        raise AssertionError("a row flagged as invalid passed _check_row")  # the codes above mirror _check_row

    local: dict[tuple[str, str], int] = {}
    pair_of_row = np.array([local.setdefault(p, len(local)) for p in zip(values["family_name"], values["given_name"], strict=True)],
                           dtype=np.int64)
    pairs = list(local)
    # Vocabularies in first-appearance order over the rows, as the per-row loop built them: a repeated
    # pair adds nothing new, so walking the distinct pairs in order of appearance gives the same lists.
    name_ids: dict[str, int] = {}
    fkey_ids: dict[str, int] = {}
    pair_values: list[tuple[int, int, int, int, int]] = []
    for family, given in pairs:
        full, s, g = _frequency_parts(family, given)
        pair_values.append((name_ids.setdefault(family, len(name_ids)), name_ids.setdefault(given, len(name_ids)),
                            fkey_ids.setdefault(full, len(fkey_ids)), fkey_ids.setdefault(s, len(fkey_ids)), fkey_ids.setdefault(g, len(fkey_ids))))
    pair_cols = np.array(pair_values, dtype=np.int32).reshape(-1, 5)
    idnum, regions, id_rows, id_kinds, id_texts = _id_facts(values["id_number"])
    place_vocab = _Vocab()
    place_ids = [place_vocab.id(f"{p}\x1f{r}") for p, r in zip(values["birth_place"], regions, strict=True)]
    hashes, rows = _chunk_postings(_TEMPLATES.lookup(pairs)[pair_of_row], birth, id_rows, id_kinds, id_texts)
    per_row = pair_cols[pair_of_row]
    cols: dict[str, np.ndarray] = {
        "birth": birth.astype(np.int32), "sex": sex.astype(np.int8), "sname": per_row[:, 0].copy(), "gname": per_row[:, 1].copy(),
        "place": np.array(place_ids, dtype=np.int32), "idnum": np.array(idnum, dtype="S18"),
        "tf_full": per_row[:, 2].copy(), "tf_surname": per_row[:, 3].copy(), "tf_given": per_row[:, 4].copy(),
    }
    blake = hashlib.blake2b
    row_hashes = [blake("\x1f".join(r).encode("utf-8"), digest_size=12).hexdigest() for r in zip(*(values[c] for c in REGISTRY_COLUMNS), strict=True)]
    pid_hashes = _blake64_array(pids)
    batch = pa.record_batch([pa.array(values[c], type=pa.string()) for c in REGISTRY_COLUMNS] + [pa.array(row_hashes, type=pa.string())],
                            schema=_RAW_SCHEMA)
    return _Chunk("", hashes, rows, cols, {"names": list(name_ids), "places": place_vocab.items, "fkeys": list(fkey_ids)}, batch, pid_hashes, lines)


def _worker_count(workers: int | None) -> int:
    return max(1, min(workers if workers is not None else 2, multiprocessing.cpu_count()))


def _npy_header(handle: IO[bytes], dtype: np.dtype, length: int) -> None:
    """The header `np.save` writes for a 1-d array, so the data can follow in pieces."""
    np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)})


def _key_filter_shift(postings: int) -> int:
    """How far a key hash is shifted right to index the key filter: about 8 bits per posting, 2^16-2^33 bits."""
    bits = int(min(max(int(postings).bit_length() + 3, 16), 33))
    return 64 - bits


def _set_key_filter_bits(bitmap: np.ndarray, sorted_keys: np.ndarray, shift: int) -> None:
    """Set the bits of `sorted_keys` (ascending) in the key filter."""
    if not len(sorted_keys):
        return
    top = sorted_keys >> np.uint64(shift)
    byte = (top >> np.uint64(3)).astype(np.int64)
    bit = np.left_shift(np.uint8(1), (top & np.uint64(7)).astype(np.uint8))
    starts = np.flatnonzero(np.concatenate([[True], byte[1:] != byte[:-1]]))
    bitmap[byte[starts]] |= np.bitwise_or.reduceat(bit, starts)


def _write_postings(directory: Path, name: str, key_parts: list[np.ndarray], row_parts: list[np.ndarray]) -> None:
    """Merge the chunks' sorted postings into `.keys.npy` / `.rows.npy`, sorted by hash then row.

    The hashes are uniform, so the merge goes bucket by bucket of their top bits (about a million
    postings each); memory beyond the chunks' own postings is one bucket, not an argsort of them all.
    """
    total = sum(len(k) for k in key_parts)
    bits = max(0, int(np.ceil(np.log2(max(total, 1) / 2**20))))
    edges = (np.arange(1, 2**bits, dtype=np.uint64) << np.uint64(64 - bits)) if bits else np.zeros(0, dtype=np.uint64)
    bounds = [np.concatenate(([0], np.searchsorted(k, edges), [len(k)])) for k in key_parts]
    shift = _key_filter_shift(total)
    key_filter = np.zeros(1 << (64 - shift - 3), dtype=np.uint8)
    with atomic_output(directory / f"{name}.keys.npy", mode="wb") as keys_out, atomic_output(directory / f"{name}.rows.npy", mode="wb") as rows_out:
        _npy_header(keys_out, np.dtype(np.uint64), total)
        _npy_header(rows_out, np.dtype(np.uint32), total)
        for b in range(2**bits):
            keys = np.concatenate([k[lo[b]:lo[b + 1]] for k, lo in zip(key_parts, bounds, strict=True)])
            rows = np.concatenate([r[lo[b]:lo[b + 1]] for r, lo in zip(row_parts, bounds, strict=True)])
            # Runs arrive in chunk order, each sorted by (hash, row) with rows rising from chunk to chunk,
            # so a stable sort by hash alone gives (hash, row) order.
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            keys_out.write(np.ascontiguousarray(keys).data)
            rows_out.write(np.ascontiguousarray(rows[order]).data)
            _set_key_filter_bits(key_filter, keys, shift)
    with atomic_output(directory / f"{name}.filter.npy", mode="wb") as handle:
        np.save(handle, key_filter)


_RawChunks = Iterable[tuple[list[str], list[int], list[list[str]]]]


def _write_segment(directory: Path, name: str, chunks: _RawChunks, file_name: str, *,
                   progress: Callable[[int], None] | None, workers: int | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """Key the chunks (on up to `workers` processes) and write one segment; returns (rows, pid hashes, lines)."""
    vocabs = {"names": _Vocab(), "places": _Vocab(), "fkeys": _Vocab()}
    remap_cols = {"sname": "names", "gname": "names", "place": "places", "tf_full": "fkeys", "tf_surname": "fkeys", "tf_given": "fkeys"}
    key_parts: list[np.ndarray] = []
    row_parts: list[np.ndarray] = []
    col_parts: dict[str, list[np.ndarray]] = {c: [] for c in COLUMN_FILES}
    pid_parts: list[np.ndarray] = []
    line_parts: list[np.ndarray] = []
    offset = 0
    n_workers = _worker_count(workers)
    arrow_path = directory / f"{name}.arrow"
    jobs = ((file_name, header, lines, rows) for header, lines, rows in chunks)
    # In the workers the cyclic garbage collector would walk the pinyin tables and caches again and again
    # while millions of row lists come and go (about a fifth of their time); chunks and results hold no
    # reference cycles, so reference counting frees them. The workers live for this one build only.
    pool = multiprocessing.get_context("fork").Pool(n_workers, initializer=gc.disable) if n_workers > 1 else None
    try:
        results: Iterable[_Chunk] = pool.imap(_key_chunk, jobs) if pool is not None else map(_key_chunk, jobs)
        with atomic_path(arrow_path) as tmp, pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, _RAW_SCHEMA) as writer:
            for part in results:
                if part.error:
                    raise InvalidInput(part.error)
                assert part.batch is not None
                n = part.batch.num_rows
                key_parts.append(part.key_hashes)
                row_parts.append(part.key_rows + np.uint32(offset))
                for col in COLUMN_FILES:
                    values = part.columns[col]
                    if col in remap_cols:
                        vocab = vocabs[remap_cols[col]]
                        mapping = np.array([vocab.id(t) for t in part.vocab[remap_cols[col]]], dtype=np.int32)
                        values = mapping[values] if len(mapping) else values
                    col_parts[col].append(values)
                pid_parts.append(part.pid_hashes)
                line_parts.append(part.lines)
                writer.write_batch(part.batch)
                offset += n
                if progress is not None:
                    progress(n)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    if offset == 0:
        arrow_path.unlink(missing_ok=True)
        return 0, np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    _write_postings(directory, name, key_parts, row_parts)
    del key_parts, row_parts
    with atomic_output(directory / f"{name}.deleted.npy", mode="wb") as handle:
        np.save(handle, np.zeros(offset, dtype=bool))
    for col in COLUMN_FILES:
        column = np.concatenate(col_parts.pop(col))
        with atomic_output(directory / f"{name}.{col}.npy", mode="wb") as handle:
            np.save(handle, column)
        del column
    with atomic_output(directory / f"{name}.vocab.json") as handle:
        json.dump({k: v.items for k, v in vocabs.items()}, handle, ensure_ascii=False)
    return offset, np.concatenate(pid_parts), np.concatenate(line_parts)


# --- the opened index -----------------------------------------------------------------------------------


@dataclass
class _Segment:
    name: str
    table: pa.Table
    keys: np.ndarray
    rows: np.ndarray
    deleted: np.ndarray
    cols: dict[str, np.ndarray]
    names: list[str]
    places: list[str]
    fkeys: list[str]
    chunk_offsets: dict[str, np.ndarray] = field(default_factory=dict)
    filter_bits: np.ndarray | None = None
    has_deleted: bool = False
    _scratch: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self.has_deleted = bool(self.deleted.any())

    def key_filter(self) -> tuple[np.ndarray, int]:
        """A bitmap over the top bits of the key hashes (about 8 bits per posting; `.filter.npy`).

        A query key whose bit is clear is certainly absent, so its binary search is skipped; most of a
        query's keys (readings no one has) are absent. A set bit may be a false positive, which the
        binary search then settles. Written with the postings; computed here for an index without it.
        """
        shift = _key_filter_shift(len(self.keys))
        if self.filter_bits is None or len(self.filter_bits) != 1 << (64 - shift - 3):
            bitmap = np.zeros(1 << (64 - shift - 3), dtype=np.uint8)
            for start in range(0, len(self.keys), 4_000_000):
                _set_key_filter_bits(bitmap, self.keys[start:start + 4_000_000], shift)
            self.filter_bits = bitmap
        return self.filter_bits, shift

    def shared_key_counts(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distinct rows of `rows` (which may repeat) and how often each occurs, in no particular order.

        Without sorting: each occurrence writes its position into a per-thread scratch array indexed by
        row; the occurrence whose position survives represents the row, and counting the surviving
        positions counts the occurrences. The scratch array is never cleared (only written cells are read).
        """
        scratch = getattr(self._scratch, "positions", None)
        if scratch is None:
            scratch = self._scratch.positions = np.zeros(len(self.deleted), dtype=np.int32)
        at = np.arange(len(rows), dtype=np.int32)
        scratch[rows] = at
        winner = scratch[rows]
        representative = winner == at
        counts = np.bincount(winner, minlength=len(rows))
        return rows[representative], counts[representative].astype(np.int64)

    def column(self, name: str) -> list[str]:
        """A whole raw column as Python strings (for updates; avoid on large segments at query time)."""
        return self.table.column(name).to_pylist()

    def values(self, name: str, rows: np.ndarray) -> list[str]:
        """Raw values of `rows` in their given order."""
        column = self.table.column(name)
        rows = np.asarray(rows, dtype=np.int64)
        # Scalar access per value: a `take` would load pyarrow.compute (about a second per process) and,
        # across a chunked column, first concatenate the whole column.
        offsets = self.chunk_offsets.get(name)
        if offsets is None:
            offsets = self.chunk_offsets[name] = np.cumsum([0, *(len(c) for c in column.chunks)])
        chunk_of = (np.searchsorted(offsets, rows, side="right") - 1).tolist()
        chunks = column.chunks
        return [chunks[c][r - int(offsets[c])].as_py() for c, r in zip(chunk_of, rows.tolist(), strict=True)]


def _load_segment(directory: Path, name: str) -> _Segment:
    """Open one segment; the .npy files are memory-mapped and seen as plain arrays (cheaper to slice)."""
    source = pa.memory_map(str(directory / f"{name}.arrow"), "r")
    table = ipc.open_file(source).read_all()

    def mapped(suffix: str) -> np.ndarray:
        return np.load(directory / f"{name}.{suffix}.npy", mmap_mode="r").view(np.ndarray)

    cols = {c: mapped(c) for c in COLUMN_FILES}
    vocab = json.loads((directory / f"{name}.vocab.json").read_text("utf-8"))
    filter_path = directory / f"{name}.filter.npy"
    key_filter = np.load(filter_path, mmap_mode="r").view(np.ndarray) if filter_path.exists() else None
    return _Segment(name, table, mapped("keys"), mapped("rows"), np.load(directory / f"{name}.deleted.npy"), cols, vocab["names"],
                    vocab["places"], vocab["fkeys"], filter_bits=key_filter)


class RegistryIndex:
    """An opened index: memory-mapped segments, term frequencies and the scoring model."""

    def __init__(self, directory: Path, segments: list[_Segment], model: scoring.Model):
        self.directory = directory
        self.segments = segments
        self.model = model
        self._size = int(sum(int((~s.deleted).sum()) for s in segments))
        # Term frequencies: counts of each key over live rows, merged across segments by key string.
        totals: Counter[str] = Counter()
        per_segment = []
        for seg in segments:
            live = ~seg.deleted
            counts = {c: np.bincount(np.asarray(seg.cols[c])[live], minlength=len(seg.fkeys)) for c in ("tf_full", "tf_surname", "tf_given")}
            per_segment.append(counts)
            for c in ("tf_full", "tf_surname", "tf_given"):
                nz = np.flatnonzero(counts[c])
                if len(segments) > 1:
                    totals.update({f"{c}\x1f{seg.fkeys[k]}": int(counts[c][k]) for k in nz.tolist()})
        size = max(self._size, 1)
        self.tf: list[dict[str, np.ndarray]] = []
        for seg, counts in zip(segments, per_segment, strict=True):
            if len(segments) == 1:
                self.tf.append({c: counts[c] / size for c in counts})
            else:
                self.tf.append({c: np.array([totals.get(f"{c}\x1f{k}", 0) for k in seg.fkeys], dtype=float) / size for c in counts})
        self._freq_lookup: dict[str, dict[str, float]] | None = None

    @property
    def size(self) -> int:
        return self._size

    def frequency(self, kind: str, key: str) -> float:
        """Share of live records whose term-frequency key of `kind` (full, surname, given) is `key`."""
        return self.frequency_tables()[kind].get(key, 0.0)

    def frequency_tables(self) -> dict[str, dict[str, float]]:
        """{kind: {term-frequency key: share of live records}} for kinds full, surname, given."""
        if self._freq_lookup is None:
            lookup: dict[str, dict[str, float]] = {"full": {}, "surname": {}, "given": {}}
            for seg, tf in zip(self.segments, self.tf, strict=True):
                for kind_name, col in (("full", "tf_full"), ("surname", "tf_surname"), ("given", "tf_given")):
                    for k, text in enumerate(seg.fkeys):
                        if tf[col][k] > 0:
                            lookup[kind_name][text] = float(tf[col][k])
            self._freq_lookup = lookup
        return self._freq_lookup

    def candidate_arrays(self, hashes: np.ndarray, *, limit: int = MAX_CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
        """(segment numbers, rows) of live rows sharing any key hash, most shared keys first, at most `limit`.

        Ties in the number of shared keys are broken by (segment, row), so the choice is deterministic.
        """
        segs, rows, _ = self.candidate_pool(hashes, limit=limit)
        return segs, rows

    def candidate_pool(self, hashes: np.ndarray, *, limit: int = CANDIDATE_POOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(segment numbers, rows, shared key counts) of the `limit` live rows sharing most key hashes.

        Ordered by shared keys (most first), then (segment, row).
        """
        hashes = np.unique(hashes)
        seg_parts: list[np.ndarray] = []
        row_parts: list[np.ndarray] = []
        for s, seg in enumerate(self.segments):
            # Most of a query's keys (readings that no one has) are absent: the bitmap drops most of them
            # before any binary search, and block ends are looked for only for keys that are there.
            bitmap, shift = seg.key_filter()
            top = hashes >> np.uint64(shift)
            candidates = hashes[(bitmap[(top >> np.uint64(3)).astype(np.int64)] >> (top & np.uint64(7)).astype(np.uint8)) & 1 == 1]
            left = np.searchsorted(seg.keys, candidates, side="left")
            present = left < len(seg.keys)
            present[present] = seg.keys[left[present]] == candidates[present]
            if not present.any():
                continue
            left = left[present]
            sizes = np.searchsorted(seg.keys, candidates[present], side="right") - left
            keep = sizes <= MAX_BLOCK  # a key shared by thousands narrows nothing
            if not keep.any():
                continue
            left, sizes = left[keep], sizes[keep]
            # Positions of every posting of the kept keys, without a Python loop over the keys.
            ends = np.cumsum(sizes)
            positions = np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(left - (ends - sizes), sizes)
            rows = seg.rows[positions].astype(np.int64)
            if seg.has_deleted:
                rows = rows[~seg.deleted[rows]]
            seg_parts.append(np.full(len(rows), s, dtype=np.int64))
            row_parts.append(rows)
        if not row_parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        if len(row_parts) == 1:
            unique, counts = self.segments[int(seg_parts[0][0]) if len(seg_parts[0]) else 0].shared_key_counts(row_parts[0])
            unique = seg_parts[0][:len(unique)] << np.int64(32) | unique
        else:
            unique, counts = np.unique(np.concatenate(seg_parts) << np.int64(32) | np.concatenate(row_parts), return_counts=True)
        if len(unique) > limit:
            # The `limit` best by (-shared keys, id): everything above the cut-off count, then the lowest ids at it.
            # Counts are small integers: the cut-off is the largest c with at least `limit` rows sharing >= c keys.
            at_least = np.cumsum(np.bincount(counts)[::-1])[::-1]
            cut = int(np.flatnonzero(at_least >= limit)[-1])
            above = np.flatnonzero(counts > cut)
            at = np.flatnonzero(counts == cut)
            need = limit - len(above)
            if need < len(at):
                at = at[np.argpartition(unique[at], need - 1)[:need]] if need > 0 else at[:0]
            chosen_at = np.concatenate([above, at])
            unique, counts = unique[chosen_at], counts[chosen_at]
        order = np.lexsort((unique, -counts))[:limit]
        chosen = unique[order]
        return chosen >> np.int64(32), chosen & np.int64(0xFFFFFFFF), counts[order].astype(np.int64)

    def candidates(self, keys: Sequence[Key], *, limit: int = MAX_CANDIDATES) -> list[tuple[int, int]]:
        """(segment, row) for live rows sharing any key, most shared first."""
        segs, rows = self.candidate_arrays(key_hashes(keys), limit=limit)
        return list(zip(segs.tolist(), rows.tolist(), strict=True))

    def person_ids(self, segments: np.ndarray, rows: np.ndarray) -> list[str]:
        """Person ids of (segment, row) pairs, in their order."""
        out: list[str] = [""] * len(rows)
        for s in np.unique(segments).tolist():
            at = np.flatnonzero(segments == s)
            for position, pid in zip(at.tolist(), self.segments[s].values("person_id", rows[at]), strict=True):
                out[position] = pid
        return out

    def record(self, segment: int, row: int) -> compare.Record:
        seg = self.segments[segment]
        values = {c: seg.table.column(c)[row].as_py() for c in REGISTRY_COLUMNS}
        return record_from_row(values)

    def live_records(self) -> Iterable[compare.Record]:
        for s, seg in enumerate(self.segments):
            for row in np.flatnonzero(~seg.deleted).tolist():
                yield self.record(s, row)


def default_index_dir(registry: Path) -> Path:
    return registry.with_name(registry.stem + ".index")


def open_index(directory: Path) -> RegistryIndex:
    """Open an index directory written by `build_or_update` (columns and postings memory-mapped)."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise InvalidInput(f"{directory.name}: not an identity index (manifest.json missing); run `passage identify index` first")
    manifest = json.loads(manifest_path.read_text("utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise InvalidInput(f"{directory.name}: index format {manifest.get('format')} is not supported; rebuild it")
    segments = [_load_segment(directory, name) for name in manifest["segments"]]
    for segment in segments:
        segment.key_filter()  # computed now if the index predates `.filter.npy`, before any worker is forked
    model = scoring.Model.from_json((directory / "model.json").read_text("utf-8"))
    return RegistryIndex(directory, segments, model)


@dataclass
class UpdateReport:
    added: int
    changed: int
    removed: int
    unchanged: int
    total: int


def _check_duplicates(file_name: str, pid_hashes: np.ndarray, lines: np.ndarray) -> None:
    if len(pid_hashes) < 2:
        return
    order = np.argsort(pid_hashes, kind="stable")
    sorted_h = pid_hashes[order]
    dup = np.flatnonzero(sorted_h[1:] == sorted_h[:-1])
    if len(dup):
        line = int(np.min(lines[order[dup + 1]]))
        raise InvalidInput(f"{file_name}: line {line}, column person_id: duplicate identifier")


def _file_digest(path: Path) -> str:
    """BLAKE2b of a file's bytes ('' when it cannot be read: the full reader then reports the problem)."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=20)).hexdigest()
    except OSError:
        return ""


def _unchanged_registry(directory: Path, digest: str) -> int | None:
    """The record count if the index was built from exactly these registry bytes (nothing to update), else None."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not digest or manifest.get("format") != FORMAT_VERSION or manifest.get("registry_digest") != digest:
        return None
    if not all((directory / f"{name}.keys.npy").exists() for name in manifest.get("segments", [])):
        return None
    return int(manifest["records"])


def build_or_update(registry: Path, directory: Path, *, progress: Callable[[int], None] | None = None, seed: int = 0,
                    workers: int | None = None, chunk_rows: int = CHUNK_ROWS) -> UpdateReport:
    """Build the index, or bring an existing one up to date with the registry file (incrementally).

    The registry is streamed in chunks of `chunk_rows`; chunks are validated and keyed on `workers`
    processes (default 2). Nothing is written into the manifest until every row has been read, so a bad
    row leaves the previous index in place. When the registry file is byte for byte the one the index
    was last built from (its BLAKE2b digest is kept in the manifest), nothing is read or rewritten.
    """
    directory.mkdir(parents=True, exist_ok=True)
    digest = _file_digest(registry)
    unchanged = _unchanged_registry(directory, digest)
    if unchanged is not None:
        return UpdateReport(added=0, changed=0, removed=0, unchanged=unchanged, total=unchanged)
    existing: dict[str, tuple[int, int, str]] = {}
    segment_names: list[str] = []
    deleted: list[np.ndarray] = []
    if (directory / "manifest.json").exists():
        try:
            index = open_index(directory)
        except InvalidInput:
            index = None  # an index of an older format is rebuilt from scratch
        if index is not None:
            for s, seg in enumerate(index.segments):
                segment_names.append(seg.name)
                deleted.append(seg.deleted.copy())
                for row, (pid, row_hash) in enumerate(zip(seg.column("person_id"), seg.column("row_hash"), strict=True)):
                    if not seg.deleted[row]:
                        existing[pid] = (s, row, row_hash)
    counts = {"added": 0, "changed": 0, "unchanged": 0}
    incoming_ids: set[str] = set()

    def fresh_chunks() -> Iterator[tuple[list[str], list[int], list[list[str]]]]:
        for header, lines, rows in _read_registry(registry, chunk_rows=chunk_rows):
            if not existing:
                counts["added"] += len(rows)
                yield header, lines, rows
                continue
            position = {h: i for i, h in enumerate(header)}
            columns = [position[c] for c in REGISTRY_COLUMNS]
            fresh_lines, fresh_rows = [], []
            for line, values in zip(lines, rows, strict=True):
                item = {c: values[i].strip() for c, i in zip(REGISTRY_COLUMNS, columns, strict=True)}
                pid = item["person_id"]
                incoming_ids.add(pid)
                old = existing.get(pid)
                if old is None:
                    counts["added"] += 1
                elif old[2] != _row_hash(item):
                    counts["changed"] += 1
                    deleted[old[0]][old[1]] = True
                else:
                    counts["unchanged"] += 1
                    continue
                fresh_lines.append(line)
                fresh_rows.append(values)
            if fresh_rows:
                yield header, fresh_lines, fresh_rows

    name = f"seg-{len(segment_names):05d}"
    written, pid_hashes, lines = _write_segment(directory, name, fresh_chunks(), registry.name, progress=progress, workers=workers)
    _check_duplicates(registry.name, pid_hashes, lines)
    removed = 0
    if existing:
        if len(incoming_ids) != counts["added"] + counts["changed"] + counts["unchanged"]:
            raise InvalidInput(f"{registry.name}: column person_id: duplicate identifier")
        for pid, (seg_no, row_no, _) in existing.items():
            if pid not in incoming_ids:
                deleted[seg_no][row_no] = True
                removed += 1
    if written:
        segment_names.append(name)
        deleted.append(np.zeros(written, dtype=bool))
    for seg_name, mask in zip(segment_names, deleted, strict=True):
        with atomic_output(directory / f"{seg_name}.deleted.npy", mode="wb") as handle:
            np.save(handle, mask)
    total = counts["added"] + counts["changed"] + counts["unchanged"]
    manifest = {"format": FORMAT_VERSION, "segments": segment_names, "records": total, "registry_digest": digest}
    # The model needs the new segments in place; write a provisional manifest first, then the model.
    with atomic_output(directory / "model.json") as handle:
        handle.write(scoring.Model(registry_size=total).to_json())
    with atomic_output(directory / "manifest.json") as handle:
        json.dump(manifest, handle)
    index = open_index(directory)
    model = estimate_u(index, seed=seed)
    with atomic_output(directory / "model.json") as handle:
        handle.write(model.to_json())
    return UpdateReport(added=counts["added"], changed=counts["changed"], removed=removed, unchanged=counts["unchanged"], total=total)


def _pseudo_query(record: compare.Record, rng: random.Random) -> compare.Query:
    """A registry record written as a foreign authority would (pinyin, mixed date precision), for u sampling."""
    family = (pinyin_keys(record.family_name, surname=True) or ("",))[0] if is_han(record.family_name) else record.family_name
    given = (pinyin_keys(record.given_name, surname=False) or ("",))[0] if is_han(record.given_name) else record.given_name
    birth = None
    if record.birth_date is not None:
        roll = rng.random()
        b = record.birth_date
        birth = dates.PartialDate(b.year, b.month, b.day) if roll < 0.8 else (dates.PartialDate(b.year, b.month) if roll < 0.9 else dates.PartialDate(b.year))
    return compare.Query(family_name=family, given_name=given, sex=record.sex, birth_date=birth, birth_place=record.birth_place,
                         id_number=record.id_number)


def estimate_u(index: RegistryIndex, *, pairs: int = 20_000, seed: int = 0) -> scoring.Model:
    """u probabilities by comparing random pairs of distinct registry records (Splink's random sampling)."""
    model = scoring.Model(registry_size=index.size)
    live = [np.flatnonzero(~seg.deleted) for seg in index.segments]
    offsets = np.cumsum([0, *(len(x) for x in live)])
    total_live = int(offsets[-1])
    if total_live < 50:
        return model
    rng = random.Random(seed)

    def locate(k: int) -> tuple[int, int]:
        s = int(np.searchsorted(offsets, k, side="right") - 1)
        return s, int(live[s][k - offsets[s]])

    counts: dict[str, Counter[str]] = {f: Counter() for f in scoring.FIELDS}
    for _ in range(pairs):
        a, b = rng.sample(range(total_live), 2)
        rec_a, rec_b = index.record(*locate(a)), index.record(*locate(b))
        levels = compare.compare(_pseudo_query(rec_b, rng), rec_a)
        for f, level in zip(scoring.FIELDS, levels.as_tuple(), strict=True):
            if level is not None:
                counts[f][level] += 1
    for f in scoring.FIELDS:
        total = sum(counts[f].values())
        if total < 100:
            continue
        k = len(scoring.FIELD_LEVELS[f])
        # Half a pseudo-count per level, then never below the default floor for rare levels.
        model.u[f] = {lv: max((counts[f][lv] + 0.5) / (total + 0.5 * k), scoring.DEFAULT_U[f][lv] * 0.1) for lv in scoring.FIELD_LEVELS[f]}
    return model
