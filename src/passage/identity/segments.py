"""The on-disk segment format of the identity index and the opened index (`RegistryIndex`).

Per segment `seg-NNNNN` (layout in `passage.identity.index`): the raw rows as Arrow IPC, the sorted
postings (`.keys.npy`/`.rows.npy`) with their key filter, tombstones, the memory-mapped comparison columns
and the vocabularies. Written by `index_build`, read here."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from passage.core.errors import InvalidInput
from passage.core.files import atomic_output
from passage.core.i18n import T_
from passage.identity import compare, scoring
from passage.identity.blocking import MAX_NARROWED_BLOCK, Key, Narrowing, key_hashes, narrow_blocks
from passage.identity.registry import REGISTRY_COLUMNS, record_from_row

FORMAT_VERSION = 2
# Rows compared in full (names) per query, chosen from the pool by `search.preselect`: a share of the pool, at
# least MAX_CANDIDATES, at most MAX_CANDIDATES_CAP (`search.candidate_count`). A fixed 200 lost 46 of 804 true
# persons at 10M (a pool ten times as full of namesakes as at 1M), 2 at 1M (bench_recall.py, session 7).
MAX_CANDIDATES = 200
CANDIDATE_SHARE = 0.05
MAX_CANDIDATES_CAP = 1_000
# Rows sharing most blocking keys whose date, sex, ID and place are compared (`search.pool_levels`). 1,000 lost
# 2.9% of true persons at 1M (ties at the cut broken by row); 20,000 loses none there (bench_recall.py, wave 6).
CANDIDATE_POOL = 20_000
# The most rows one blocking key contributes; a larger block is narrowed (`blocking.narrow_blocks`).
MAX_BLOCK = 5000
COLUMN_FILES = ("birth", "sex", "sname", "gname", "place", "idnum", "tf_full", "tf_surname", "tf_given")


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
    _packed_year_sex: np.ndarray | None = None

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

    def year_sex(self) -> np.ndarray:
        """Year of birth and sex of every row packed in one uint16 (year * 4 + sex code; year 0 when missing), built on
        first use: narrowing an oversized block (`blocking.narrow_blocks`) then reads one small array per row, not two."""
        packed = self._packed_year_sex
        if packed is None:
            packed = np.empty(len(self.deleted), dtype=np.uint16)
            for start in range(0, len(packed), 4_000_000):
                part = slice(start, start + 4_000_000)
                packed[part] = np.minimum(np.asarray(self.cols["birth"][part]) // 10000, 16_383).astype(np.uint16) * 4 + np.asarray(self.cols["sex"][part]).astype(np.uint16)
            self._packed_year_sex = packed
        return packed

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


@dataclass
class _SegmentColumns:
    """`blocking.BlockColumns` over a segment's memory-mapped columns, for postings naming `rows`."""

    seg: _Segment
    rows: np.ndarray
    _year_sex: np.ndarray | None = None

    def _packed(self, positions: np.ndarray) -> np.ndarray:
        # One gather from the segment's packed year and sex column for all postings, at the first step that needs it.
        if self._year_sex is None:
            self._year_sex = self.seg.year_sex()[self.rows]
        return self._year_sex[positions]

    def year(self, positions: np.ndarray) -> np.ndarray:
        return self._packed(positions) >> 2

    def sex(self, positions: np.ndarray) -> np.ndarray:
        return self._packed(positions) & 3

    def places(self, positions: np.ndarray) -> tuple[list[str], np.ndarray]:
        ids, of = np.unique(np.asarray(self.seg.cols["place"][self.rows[positions]]), return_inverse=True)
        return [self.seg.places[p] for p in ids.tolist()], of


def _positions(left: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Positions of every posting of the blocks starting at `left` with `sizes` postings, without a Python loop."""
    ends = np.cumsum(sizes)
    return np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(left - (ends - sizes), sizes)


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

    def candidate_pool(self, hashes: np.ndarray, *, limit: int = CANDIDATE_POOL,
                       narrowing: Narrowing | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(segment numbers, rows, shared key counts) of the `limit` live rows sharing most key hashes.

        Ordered by shared keys (most first), then (segment, row). A key of more than `MAX_BLOCK` rows (up to
        `blocking.MAX_NARROWED_BLOCK`) counts only for the rows that `narrowing` keeps of it
        (`blocking.narrow_blocks`); without `narrowing` such a key is skipped.
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
            keep = sizes <= MAX_BLOCK
            parts = [seg.rows[_positions(left[keep], sizes[keep])].astype(np.int64)] if keep.any() else []
            oversized = (sizes > MAX_BLOCK) & (sizes <= MAX_NARROWED_BLOCK)
            if narrowing is not None and not narrowing.empty and oversized.any():
                parts.append(self._narrowed_rows(seg, left[oversized], sizes[oversized], narrowing))
            if not parts:
                continue
            rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
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

    @staticmethod
    def _narrowed_rows(seg: _Segment, left: np.ndarray, sizes: np.ndarray, narrowing: Narrowing) -> np.ndarray:
        """Rows of the oversized blocks starting at postings `left` (`sizes` rows each) that `blocking.narrow_blocks`
        keeps, one entry per (block, row) kept, like the postings of a kept key."""
        rows = seg.rows[_positions(left, sizes)].astype(np.int64)
        kept = narrow_blocks(narrowing, np.repeat(np.arange(len(sizes)), sizes), len(sizes), _SegmentColumns(seg, rows), limit=MAX_BLOCK)
        return rows[kept]

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
        raise InvalidInput(T_("{name}: not an identity index (manifest.json missing); run `passage identify index` first", name=directory.name))
    manifest = json.loads(manifest_path.read_text("utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise InvalidInput(T_("{name}: index format {value} is not supported; rebuild it", name=directory.name, value=manifest.get('format')))
    segments = [_load_segment(directory, name) for name in manifest["segments"]]
    for segment in segments:
        segment.key_filter()  # computed now if the index predates `.filter.npy`, before any worker is forked
        segment.year_sex()
    model = scoring.Model.from_json((directory / "model.json").read_text("utf-8"))
    return RegistryIndex(directory, segments, model)
