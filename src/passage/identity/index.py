"""A persistent, incrementally updated on-disk index of a registry, and 1:N search against it.

Layout of an index directory:
- `manifest.json`: format version, segment names, live record count;
- `model.json`: the scoring model (m, u, prior, registry size);
- per segment `seg-NNNNN.arrow` (records, Arrow IPC, memory-mapped), `seg-NNNNN.keys.npy` (sorted 64-bit
  blocking-key hashes) with `seg-NNNNN.rows.npy`, and `seg-NNNNN.deleted.npy` (tombstones).
An update reads the registry again, writes only new or changed rows into a new segment and tombstones the
rows they replace or that left the registry (the log-structured design of Lucene segments).

Blocking (candidate generation) uses several keys per record so that one wrong field still leaves a
shared key: pinyin surname + given name; surname + birth year; given name + birth year; full date of
birth + surname initial; and three overlapping pieces of the ID number (Christen 2012, ch. 4, "multi-pass
blocking").
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from passage.core.errors import InvalidInput
from passage.core.files import atomic_output, atomic_path, read_csv_rows
from passage.identity import compare, dates, resident_id, scoring
from passage.identity.romanisation import is_han, latin_to_pinyin_keys, pinyin_keys

REGISTRY_COLUMNS = ("person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number")
FORMAT_VERSION = 1
MAX_CANDIDATES = 200


def _h(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def _name_keys(text: str, *, surname: bool, limit: int) -> tuple[str, ...]:
    if not text:
        return ()
    if is_han(text):
        return pinyin_keys(text, surname=surname)[:limit]
    return latin_to_pinyin_keys(text, limit=limit)


def record_keys(record: compare.Record) -> list[str]:
    """Blocking keys of one registry record."""
    surnames = pinyin_keys(record.family_name, surname=True)[:4] if record.family_name else ()
    givens = pinyin_keys(record.given_name, surname=False)[:4] if record.given_name else ()
    keys = [f"n|{s}|{g}" for s in surnames for g in givens]
    if record.birth_date is not None:
        year = record.birth_date.year
        keys += [f"sy|{s}|{year}" for s in surnames]
        keys += [f"gy|{g}|{year}" for g in givens]
        iso = record.birth_date.isoformat()
        keys += list(dict.fromkeys(f"ds|{iso}|{s[:1]}" for s in surnames))
        # Date + given-name initial: finds a record whose surname and given name both carry a typo.
        keys += list(dict.fromkeys(f"dg|{iso}|{g[:1]}" for g in givens))
    if record.id_number:
        keys += [f"id|{resident_id.clean(record.id_number)}", *resident_id.blocking_keys(record.id_number)]
    return list(dict.fromkeys(keys))


def query_keys(query: compare.Query) -> list[str]:
    """Blocking keys of a query, over every reading of its names (see `compare.name_interpretations`)."""
    keys: list[str] = []
    years: list[int] = []
    iso = ""
    if query.birth_date is not None:
        years = [query.birth_date.year + d for d in (0, -1, 1)]
        if query.birth_date.precision == "day":
            assert query.birth_date.month is not None and query.birth_date.day is not None
            iso = f"{query.birth_date.year:04d}-{query.birth_date.month:02d}-{query.birth_date.day:02d}"
    for family, given in compare.name_interpretations(query):
        surnames = _name_keys(family, surname=True, limit=16)
        givens = _name_keys(given, surname=False, limit=24)
        keys += [f"n|{s}|{g}" for s in surnames for g in givens]
        for year in years:
            keys += [f"sy|{s}|{year}" for s in surnames[:12]]
            keys += [f"gy|{g}|{year}" for g in givens[:12]]
        if iso:
            keys += [f"ds|{iso}|{s[:1]}" for s in surnames]
            keys += [f"dg|{iso}|{g[:1]}" for g in givens]
    if query.id_number:
        keys += [f"id|{resident_id.clean(query.id_number)}", *resident_id.blocking_keys(query.id_number)]
    return list(dict.fromkeys(keys))


def _row_hash(row: dict[str, str]) -> str:
    joined = "\x1f".join(row.get(c, "") for c in REGISTRY_COLUMNS)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=12).hexdigest()


def _frequency_keys(record: compare.Record) -> tuple[str, str, str]:
    s = (pinyin_keys(record.family_name, surname=True) or ("",))[0] if record.family_name else ""
    g = (pinyin_keys(record.given_name, surname=False) or ("",))[0] if record.given_name else ""
    return f"{s}|{g}", s, g


def validate_registry(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Read and check registry.csv; errors name the line and column, never the value."""
    _, rows = read_csv_rows(path, required=REGISTRY_COLUMNS)
    seen: set[str] = set()
    for line, row in rows:
        if not row["person_id"]:
            raise InvalidInput(f"{path.name}: line {line}, column person_id: empty")
        if row["person_id"] in seen:
            raise InvalidInput(f"{path.name}: line {line}, column person_id: duplicate identifier")
        seen.add(row["person_id"])
        dates.parse_full(row["birth_date"], where=f"{path.name}: line {line}, column birth_date")
        if row["sex"] and row["sex"].upper() not in ("M", "F"):
            raise InvalidInput(f"{path.name}: line {line}, column sex: expected M, F or empty")
    return rows


def record_from_row(row: dict[str, str]) -> compare.Record:
    birth = dates.parse_full(row["birth_date"], where="birth_date") if row["birth_date"] else None
    return compare.Record(
        person_id=row["person_id"], family_name=row["family_name"], given_name=row["given_name"],
        sex=row["sex"].upper(), birth_date=birth, birth_place=row["birth_place"], id_number=row["id_number"],
    )


@dataclass
class _Segment:
    name: str
    table: pa.Table
    keys: np.ndarray
    rows: np.ndarray
    deleted: np.ndarray
    columns: dict[str, list[str]] = field(default_factory=dict)

    def column(self, name: str) -> list[str]:
        if name not in self.columns:
            self.columns[name] = self.table.column(name).to_pylist()
        return self.columns[name]


class RegistryIndex:
    """An opened index: segments, term frequencies and the scoring model."""

    def __init__(self, directory: Path, segments: list[_Segment], model: scoring.Model):
        self.directory = directory
        self.segments = segments
        self.model = model
        self._freq_full: Counter[str] = Counter()
        self._freq_surname: Counter[str] = Counter()
        self._freq_given: Counter[str] = Counter()
        for seg in segments:
            live = ~seg.deleted
            for column, counter in (("fk_full", self._freq_full), ("fk_surname", self._freq_surname), ("fk_given", self._freq_given)):
                values = np.asarray(seg.column(column), dtype=object)[live]
                counter.update(values.tolist())

    @property
    def size(self) -> int:
        return int(sum(int((~s.deleted).sum()) for s in self.segments))

    def frequency(self, kind: str, key: str) -> float:
        counter = {"full": self._freq_full, "surname": self._freq_surname, "given": self._freq_given}[kind]
        return counter.get(key, 0) / max(self.size, 1)

    def candidates(self, keys: Sequence[str], *, limit: int = MAX_CANDIDATES) -> list[tuple[int, int, int]]:
        """(segment, row, number of shared keys) for live rows sharing any key, most shared first."""
        if not keys:
            return []
        hashes = np.array(sorted({_h(k) for k in keys}), dtype=np.uint64)
        hits: Counter[tuple[int, int]] = Counter()
        for s, seg in enumerate(self.segments):
            left = np.searchsorted(seg.keys, hashes, side="left")
            right = np.searchsorted(seg.keys, hashes, side="right")
            for lo, hi in zip(left.tolist(), right.tolist(), strict=True):
                if hi - lo > 5000:
                    continue  # a key shared by thousands (a very common name and year) narrows nothing
                for row in seg.rows[lo:hi].tolist():
                    if not seg.deleted[row]:
                        hits[(s, row)] += 1
        return [(s, r, c) for (s, r), c in hits.most_common(limit)]

    def record(self, segment: int, row: int) -> compare.Record:
        seg = self.segments[segment]
        birth = seg.column("birth_date")[row]
        return compare.Record(
            person_id=seg.column("person_id")[row], family_name=seg.column("family_name")[row],
            given_name=seg.column("given_name")[row], sex=seg.column("sex")[row],
            birth_date=dates.parse_full(birth, where="birth_date") if birth else None,
            birth_place=seg.column("birth_place")[row], id_number=seg.column("id_number")[row],
        )

    def live_records(self) -> Iterable[compare.Record]:
        for s, seg in enumerate(self.segments):
            for row in np.flatnonzero(~seg.deleted).tolist():
                yield self.record(s, row)


def default_index_dir(registry: Path) -> Path:
    return registry.with_name(registry.stem + ".index")


def _write_segment(directory: Path, name: str, rows: list[dict[str, str]], progress: Callable[[int], None] | None) -> int:
    records = [record_from_row(r) for r in rows]
    key_hashes: list[int] = []
    key_rows: list[int] = []
    fk_full, fk_s, fk_g = [], [], []
    for i, record in enumerate(records):
        for key in record_keys(record):
            key_hashes.append(_h(key))
            key_rows.append(i)
        full, s, g = _frequency_keys(record)
        fk_full.append(full)
        fk_s.append(s)
        fk_g.append(g)
        if progress is not None and i % 1000 == 999:
            progress(1000)
    if progress is not None:
        progress(len(records) % 1000)
    keys = np.array(key_hashes, dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    arrays = {c: pa.array([r[c] for r in rows], type=pa.string()) for c in REGISTRY_COLUMNS}
    arrays["row_hash"] = pa.array([_row_hash(r) for r in rows], type=pa.string())
    arrays["fk_full"] = pa.array(fk_full, type=pa.string())
    arrays["fk_surname"] = pa.array(fk_s, type=pa.string())
    arrays["fk_given"] = pa.array(fk_g, type=pa.string())
    table = pa.table(arrays)
    with atomic_path(directory / f"{name}.arrow") as tmp, pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    for suffix, array in ((".keys.npy", keys[order]), (".rows.npy", np.array(key_rows, dtype=np.uint32)[order]), (".deleted.npy", np.zeros(len(rows), dtype=bool))):
        with atomic_output(directory / f"{name}{suffix}", mode="wb") as handle:
            np.save(handle, array)
    return len(rows)


def open_index(directory: Path) -> RegistryIndex:
    """Open an index directory written by `build_or_update`."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise InvalidInput(f"{directory.name}: not an identity index (manifest.json missing); run `passage identify index` first")
    manifest = json.loads(manifest_path.read_text("utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise InvalidInput(f"{directory.name}: index format {manifest.get('format')} is not supported; rebuild it")
    segments: list[_Segment] = []
    for name in manifest["segments"]:
        source = pa.memory_map(str(directory / f"{name}.arrow"), "r")
        table = ipc.open_file(source).read_all()
        segments.append(_Segment(name, table, np.load(directory / f"{name}.keys.npy"), np.load(directory / f"{name}.rows.npy"),
                                 np.load(directory / f"{name}.deleted.npy")))
    model = scoring.Model.from_json((directory / "model.json").read_text("utf-8"))
    return RegistryIndex(directory, segments, model)


@dataclass
class UpdateReport:
    added: int
    changed: int
    removed: int
    unchanged: int
    total: int


def build_or_update(registry: Path, directory: Path, *, progress: Callable[[int], None] | None = None, seed: int = 0) -> UpdateReport:
    """Build the index, or bring an existing one up to date with the registry file (incrementally)."""
    rows = validate_registry(registry)
    directory.mkdir(parents=True, exist_ok=True)
    existing: dict[str, tuple[int, int, str]] = {}
    segment_names: list[str] = []
    deleted: list[np.ndarray] = []
    if (directory / "manifest.json").exists():
        index = open_index(directory)
        for s, seg in enumerate(index.segments):
            segment_names.append(seg.name)
            deleted.append(seg.deleted.copy())
            for row, (pid, row_hash) in enumerate(zip(seg.column("person_id"), seg.column("row_hash"), strict=True)):
                if not seg.deleted[row]:
                    existing[pid] = (s, row, row_hash)
    incoming = {item["person_id"]: item for _, item in rows}
    fresh: list[dict[str, str]] = []
    added = changed = unchanged = 0
    for pid, item in incoming.items():
        old = existing.get(pid)
        if old is None:
            added += 1
            fresh.append(item)
        elif old[2] != _row_hash(item):
            changed += 1
            deleted[old[0]][old[1]] = True
            fresh.append(item)
        else:
            unchanged += 1
    removed = 0
    for pid, (seg_no, row_no, _) in existing.items():
        if pid not in incoming:
            deleted[seg_no][row_no] = True
            removed += 1
    if fresh:
        name = f"seg-{len(segment_names):05d}"
        _write_segment(directory, name, fresh, progress)
        segment_names.append(name)
    for name, mask in zip(segment_names, deleted, strict=False):
        with atomic_output(directory / f"{name}.deleted.npy", mode="wb") as handle:
            np.save(handle, mask)
    manifest = {"format": FORMAT_VERSION, "segments": segment_names, "records": len(incoming)}
    # The model needs the new segments in place; write a provisional manifest first, then the model.
    with atomic_output(directory / "model.json") as handle:
        handle.write(scoring.Model(registry_size=len(incoming)).to_json())
    with atomic_output(directory / "manifest.json") as handle:
        json.dump(manifest, handle)
    index = open_index(directory)
    model = estimate_u(index, seed=seed)
    with atomic_output(directory / "model.json") as handle:
        handle.write(model.to_json())
    return UpdateReport(added=added, changed=changed, removed=removed, unchanged=unchanged, total=len(incoming))


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
    live = [(s, r) for s, seg in enumerate(index.segments) for r in np.flatnonzero(~seg.deleted).tolist()]
    if len(live) < 50:
        return model
    rng = random.Random(seed)
    counts: dict[str, Counter[str]] = {f: Counter() for f in scoring.FIELDS}
    for _ in range(pairs):
        a, b = rng.sample(live, 2)
        rec_a, rec_b = index.record(*a), index.record(*b)
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
