"""A persistent, incrementally updated on-disk index of a registry, with columnar comparison keys.

Layout of an index directory (format 2):
- `manifest.json`: format version, segment names, live record count;
- `model.json`: the scoring model (m, u, prior, registry size);
- per segment `seg-NNNNN`:
  - `.arrow`: the raw rows (Arrow IPC, memory-mapped; read only for the few candidates shown and for updates);
  - `.keys.npy` / `.rows.npy`: inverted postings, sorted 64-bit blocking-key hashes and their row numbers;
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
import hashlib
import json
import multiprocessing
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import atomic_output, atomic_path
from passage.identity import compare, dates, places, resident_id, scoring
from passage.identity.romanisation import compact, is_han, latin_to_pinyin_keys, pinyin_keys

REGISTRY_COLUMNS = ("person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number")
FORMAT_VERSION = 2
MAX_CANDIDATES = 200
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


def query_keys(query: compare.Query) -> list[Key]:
    """Blocking keys of a query, over every reading of its names (see `compare.name_interpretations`)."""
    keys: list[Key] = []
    years: list[int] = []
    months: list[int] = []
    day = 0
    day_keys: list[int] = []
    if query.birth_date is not None:
        b = query.birth_date
        years = [b.year + d for d in (0, -1, 1)]
        if b.month is not None:
            months = [b.year * 100 + b.month]
            if b.day is not None and b.day <= 12 and b.day != b.month:
                months.append(b.year * 100 + b.day)  # day and month swapped
        if b.precision == "day":
            assert b.month is not None and b.day is not None
            day = b.year * 10000 + b.month * 100 + b.day
            day_keys = [day] + ([b.year * 10000 + b.day * 100 + b.month] if b.day <= 12 and b.day != b.month else [])
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


def _mix_columns(kind: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`key_hashes` of keys given as three uint64 columns (kind, a, b)."""
    with np.errstate(over="ignore"):
        return _splitmix(_splitmix(_splitmix(kind) ^ a) ^ b)


def _pairs(kind: int, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns of the keys (kind, x, y) for every x in a and y in b."""
    return np.full(len(a) * len(b), kind, dtype=np.uint64), np.repeat(a, len(b)), np.tile(b, len(a))


@lru_cache(maxsize=100_000)
def _name_hash_arrays(family: str, given: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hashes of the pinyin readings of one (family, given) reading of a query, and of their initials."""
    surnames = _name_keys(family, surname=True, limit=16)
    givens = _name_keys(given, surname=False, limit=24)
    return (np.array([_sh(x) for x in surnames], dtype=np.uint64), np.array([_sh(x) for x in givens], dtype=np.uint64),
            np.array([_sh(x[:1]) for x in surnames], dtype=np.uint64), np.array([_sh(x[:1]) for x in givens], dtype=np.uint64))


def query_key_hashes(query: compare.Query) -> np.ndarray:
    """The distinct hashes of `query_keys(query)`, computed with numpy broadcasting (the search path).

    Same keys as `query_keys`, which stays the readable definition (and is what Spark uses).
    """
    years: list[int] = []
    months: list[int] = []
    day = 0
    day_keys: list[int] = []
    if query.birth_date is not None:
        b = query.birth_date
        years = [b.year + d for d in (0, -1, 1)]
        if b.month is not None:
            months = [b.year * 100 + b.month]
            if b.day is not None and b.day <= 12 and b.day != b.month:
                months.append(b.year * 100 + b.day)
        if b.precision == "day":
            assert b.month is not None and b.day is not None
            day = b.year * 10000 + b.month * 100 + b.day
            day_keys = [day] + ([b.year * 10000 + b.day * 100 + b.month] if b.day <= 12 and b.day != b.month else [])
    year_array = np.array(years, dtype=np.uint64)
    day_array = np.array([day], dtype=np.uint64)
    columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    latin: list[Key] = []
    for family, given in compare.name_interpretations(query):
        surnames, givens, s_init, g_init = _name_hash_arrays(family, given)
        columns.append(_pairs(K_NAME, surnames, givens))
        if len(year_array):
            columns.append(_pairs(K_SURNAME_YEAR, surnames[:12], year_array))
            columns.append(_pairs(K_GIVEN_YEAR, givens[:12], year_array))
        if day:
            columns.append(_pairs(K_DATE_SURNAME, day_array, s_init))
            columns.append(_pairs(K_DATE_GIVEN, day_array, g_init))
        if (family or given) and not is_han(family + given):
            latin += _latin_typo_keys(compact(family), compact(given), years or [0], months, day_keys)
    if query.id_number:
        latin += _id_keys(query.id_number)
    if latin:
        extra = np.array(latin, dtype=np.uint64).reshape(-1, 3)
        columns.append((extra[:, 0], extra[:, 1], extra[:, 2]))
    if not columns:
        return np.zeros(0, dtype=np.uint64)
    kinds, firsts, seconds = (np.concatenate(parts) for parts in zip(*columns, strict=True))
    return np.unique(_mix_columns(kinds, firsts, seconds))


def _row_hash(row: dict[str, str]) -> str:
    joined = "\x1f".join(row.get(c, "") for c in REGISTRY_COLUMNS)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=12).hexdigest()


@lru_cache(maxsize=500_000)
def _frequency_parts(family: str, given: str) -> tuple[str, str, str]:
    s = (pinyin_keys(family, surname=True) or ("",))[0] if family else ""
    g = (pinyin_keys(given, surname=False) or ("",))[0] if given else ""
    return f"{s}|{g}", s, g


def _frequency_keys(record: compare.Record) -> tuple[str, str, str]:
    return _frequency_parts(record.family_name, record.given_name)


# --- reading the registry, streamed ---------------------------------------------------------------------


def iter_registry(path: Path, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[tuple[int, dict[str, str]]]]:
    """Stream registry.csv in chunks of (line, row); same checks and messages as `read_csv_rows`.

    Errors name the file, line and column, never a value. Row-level checks (dates, sex) are made when
    the chunk is keyed (`_key_chunk`); duplicate identifiers are found after the last chunk.
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
            chunk: list[tuple[int, dict[str, str]]] = []
            seen_any = False
            try:
                for values in reader:
                    line = reader.line_num
                    if not values or (len(values) == 1 and not values[0].strip()):
                        continue
                    if len(values) != len(header):
                        raise InvalidInput(f"{path.name}: line {line}: expected {len(header)} fields, found {len(values)}")
                    chunk.append((line, {h: v.strip() for h, v in zip(header, values, strict=True)}))
                    seen_any = True
                    if len(chunk) >= chunk_rows:
                        yield chunk
                        chunk = []
            except csv.Error as exc:
                raise InvalidInput(f"{path.name}: line {reader.line_num}: unreadable CSV ({exc})") from None
            if chunk:
                yield chunk
            if not seen_any:
                raise InvalidInput(f"{path.name}: the file has a header but no rows")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name}: line {line + 1}: not valid UTF-8; save the file as UTF-8") from None


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


@dataclass
class _Chunk:
    """One keyed chunk: postings, columns (ids into the chunk's own vocabularies) and Arrow arrays."""

    error: str
    key_hashes: np.ndarray
    key_rows: np.ndarray
    columns: dict[str, np.ndarray]
    vocab: dict[str, list[str]]
    raw: dict[str, list[str]]
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


def _key_chunk(args: tuple[str, list[tuple[int, dict[str, str]]]]) -> _Chunk:
    """Validate and key one chunk of rows (runs in a worker process)."""
    file_name, rows = args
    n = len(rows)
    names, place_vocab, fk = _Vocab(), _Vocab(), _Vocab()
    cols: dict[str, np.ndarray] = {
        "birth": np.zeros(n, dtype=np.int32), "sex": np.zeros(n, dtype=np.int8), "sname": np.zeros(n, dtype=np.int32),
        "gname": np.zeros(n, dtype=np.int32), "place": np.zeros(n, dtype=np.int32), "idnum": np.zeros(n, dtype="S18"),
        "tf_full": np.zeros(n, dtype=np.int32), "tf_surname": np.zeros(n, dtype=np.int32), "tf_given": np.zeros(n, dtype=np.int32),
    }
    all_keys: list[Key] = []
    key_rows: list[int] = []
    lines = np.zeros(n, dtype=np.int64)
    try:
        for i, (line, row) in enumerate(rows):
            _check_row(file_name, line, row)
            lines[i] = line
            record = record_from_row(row)
            keys = record_keys(record)
            all_keys += keys
            key_rows += [i] * len(keys)
            cols["birth"][i] = _date_int(record.birth_date)
            cols["sex"][i] = {"M": 1, "F": 2}.get(record.sex, 0)
            cols["sname"][i] = names.id(record.family_name)
            cols["gname"][i] = names.id(record.given_name)
            cols["place"][i] = place_vocab.id(_place_key(row))
            clean = resident_id.clean(record.id_number)
            cols["idnum"][i] = clean.encode("ascii", "replace")[:18] if clean else b""
            full, s, g = _frequency_parts(record.family_name, record.given_name)
            cols["tf_full"][i], cols["tf_surname"][i], cols["tf_given"][i] = fk.id(full), fk.id(s), fk.id(g)
    except InvalidInput as exc:
        empty = np.zeros(0, dtype=np.uint64)
        return _Chunk(str(exc), empty, np.zeros(0, dtype=np.uint32), {}, {}, {}, empty, lines)
    raw = {c: [r[c] for _, r in rows] for c in REGISTRY_COLUMNS}
    raw["row_hash"] = [_row_hash(r) for _, r in rows]
    pid_hashes = np.array([_sh(p) for p in raw["person_id"]], dtype=np.uint64)
    return _Chunk("", key_hashes(all_keys), np.array(key_rows, dtype=np.uint32), cols,
                  {"names": names.items, "places": place_vocab.items, "fkeys": fk.items}, raw, pid_hashes, lines)


def _worker_count(workers: int | None) -> int:
    return max(1, min(workers if workers is not None else 2, multiprocessing.cpu_count()))


def _write_segment(directory: Path, name: str, chunks: Iterable[list[tuple[int, dict[str, str]]]], file_name: str, *,
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
    schema = pa.schema([(c, pa.string()) for c in (*REGISTRY_COLUMNS, "row_hash")])
    jobs = ((file_name, chunk) for chunk in chunks)
    pool = multiprocessing.get_context("fork").Pool(n_workers) if n_workers > 1 else None
    try:
        results: Iterable[_Chunk] = pool.imap(_key_chunk, jobs) if pool is not None else map(_key_chunk, jobs)
        with atomic_path(arrow_path) as tmp, pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, schema) as writer:
            for part in results:
                if part.error:
                    raise InvalidInput(part.error)
                n = len(part.raw["person_id"])
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
                writer.write_batch(pa.record_batch([pa.array(part.raw[c], type=pa.string()) for c in schema.names], schema=schema))
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
    keys = np.concatenate(key_parts)
    key_rows = np.concatenate(row_parts)
    order = np.argsort(keys, kind="stable")
    arrays = {".keys.npy": keys[order], ".rows.npy": key_rows[order], ".deleted.npy": np.zeros(offset, dtype=bool)}
    del keys, key_rows, order
    for col in COLUMN_FILES:
        arrays[f".{col}.npy"] = np.concatenate(col_parts[col])
    for suffix, array in arrays.items():
        with atomic_output(directory / f"{name}{suffix}", mode="wb") as handle:
            np.save(handle, array)
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
    return _Segment(name, table, mapped("keys"), mapped("rows"), np.load(directory / f"{name}.deleted.npy"), cols, vocab["names"],
                    vocab["places"], vocab["fkeys"])


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
        hashes = np.unique(hashes)
        seg_parts: list[np.ndarray] = []
        row_parts: list[np.ndarray] = []
        for s, seg in enumerate(self.segments):
            left = np.searchsorted(seg.keys, hashes, side="left")
            right = np.searchsorted(seg.keys, hashes, side="right")
            sizes = right - left
            keep = (sizes > 0) & (sizes <= MAX_BLOCK)  # a key shared by thousands narrows nothing
            if not keep.any():
                continue
            left, sizes = left[keep], sizes[keep]
            # Positions of every posting of the kept keys, without a Python loop over the keys.
            ends = np.cumsum(sizes)
            positions = np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(left - (ends - sizes), sizes)
            rows = seg.rows[positions].astype(np.int64)
            rows = rows[~seg.deleted[rows]]
            seg_parts.append(np.full(len(rows), s, dtype=np.int64))
            row_parts.append(rows)
        if not row_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        combined = row_parts[0] if len(row_parts) == 1 and not seg_parts[0].any() else np.concatenate(seg_parts) << np.int64(32) | np.concatenate(row_parts)
        unique, counts = np.unique(combined, return_counts=True)
        if len(unique) > limit:
            # The `limit` best by (-shared keys, id): everything above the cut-off count, then the lowest ids at it.
            # Counts are small integers: the cut-off is the largest c with at least `limit` rows sharing >= c keys.
            at_least = np.cumsum(np.bincount(counts)[::-1])[::-1]
            cut = int(np.flatnonzero(at_least >= limit)[-1])
            above = np.flatnonzero(counts > cut)
            at = np.flatnonzero(counts == cut)[:limit - len(above)]
            chosen_at = np.concatenate([above, at])
            unique, counts = unique[chosen_at], counts[chosen_at]
        order = np.lexsort((unique, -counts))[:limit]
        chosen = unique[order]
        return chosen >> np.int64(32), chosen & np.int64(0xFFFFFFFF)

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


def build_or_update(registry: Path, directory: Path, *, progress: Callable[[int], None] | None = None, seed: int = 0,
                    workers: int | None = None, chunk_rows: int = CHUNK_ROWS) -> UpdateReport:
    """Build the index, or bring an existing one up to date with the registry file (incrementally).

    The registry is streamed in chunks of `chunk_rows`; chunks are validated and keyed on `workers`
    processes (default 2). Nothing is written into the manifest until every row has been read, so a bad
    row leaves the previous index in place.
    """
    directory.mkdir(parents=True, exist_ok=True)
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

    def fresh_chunks() -> Iterator[list[tuple[int, dict[str, str]]]]:
        for chunk in iter_registry(registry, chunk_rows=chunk_rows):
            if not existing:
                counts["added"] += len(chunk)
                yield chunk
                continue
            fresh = []
            for line, item in chunk:
                pid = item["person_id"]
                incoming_ids.add(pid)
                old = existing.get(pid)
                if old is None:
                    counts["added"] += 1
                    fresh.append((line, item))
                elif old[2] != _row_hash(item):
                    counts["changed"] += 1
                    deleted[old[0]][old[1]] = True
                    fresh.append((line, item))
                else:
                    counts["unchanged"] += 1
            if fresh:
                yield fresh

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
    manifest = {"format": FORMAT_VERSION, "segments": segment_names, "records": total}
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
