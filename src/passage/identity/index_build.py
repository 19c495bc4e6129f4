"""Building and updating the identity index: keying chunks of the registry (vectorised, on up to two
processes), writing a segment, and the incremental update that tombstones replaced rows (the
log-structured design of Lucene segments). The on-disk format is `segments`; the keys are `blocking`."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import multiprocessing
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
from stdnum.cn import ric

from passage.core.errors import InvalidInput
from passage.core.files import atomic_output, atomic_path
from passage.core.i18n import T_
from passage.identity import dates, resident_id, scoring
from passage.identity.blocking import (
    K_DATE_GIVEN,
    K_DATE_ONLY,
    K_DATE_SURNAME,
    K_GIVEN_ONLY,
    K_GIVEN_SOUNDEX_MONTH,
    K_GIVEN_YEAR,
    K_ID,
    K_ID_PIECE,
    K_NAME,
    K_PREFIX,
    K_SOUNDEX,
    K_SUFFIX,
    K_SURNAME_ONLY,
    K_SURNAME_YEAR,
    _date_int,
    _frequency_parts,
    _record_name_keys,
    _sh,
    _splitmix,
    soundex,
)
from passage.identity.registry import CHUNK_ROWS, REGISTRY_COLUMNS, _check_row, _read_registry, _row_hash
from passage.identity.segments import COLUMN_FILES, FORMAT_VERSION, _write_postings, open_index
from passage.identity.u_estimation import estimate_u

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
        raise InvalidInput(T_("{file_name}: line {line}, column person_id: duplicate identifier", file_name=file_name, line=line))


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
            raise InvalidInput(T_("{name}: column person_id: duplicate identifier", name=registry.name))
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
