"""1:N prefilter: binary Minutia Cylinder-Code vectors hashed into inverted files (MCC + LSH).

Each minutia gets a cylinder (Cappelli, Ferrara and Maltoni, "Minutia Cylinder-Code: a new
representation and matching technique for fingerprint recognition", IEEE TPAMI 32(12), 2010): a
local, rotation-invariant grid of NS x NS spatial cells times ND directional cells in the minutia's
own frame, where each cell sums the spatial Gaussian contribution of neighbouring minutiae times
the probability mass of their relative direction in the cell's angular bin (eqs. 3-8 of the paper),
binarised at mu_psi (the bit-based variant, section 4). Indexing follows the same authors'
"Fingerprint indexing based on Minutia Cylinder-Code" (IEEE TPAMI 33(5), 2011): L hash functions,
each projecting a cylinder onto H of its bits, so that similar cylinders collide; a gallery
template's candidate score is the number of collisions of its cylinders with the probe's.

Our variant, chosen for speed in NumPy on 2 cores: NS=8 (coarser than the paper's 16), ND=6,
inverted files stored as one sorted array per hash function (CSR layout, O(1) bucket lookup), keys
with fewer than MIN_KEY_BITS set bits are not indexed (near-empty projections collide with
everything), and each template's collision count is normalised by the square root of its number of
indexed cylinders so large templates are not favoured. The index only shortlists; Bozorth3 decides.

Wave 2 (recall): two stages. Stage 1 weights each bucket collision by its inverse bucket frequency,
log(1 + N / bucket size) (the tf-idf weighting of inverted files; Sivic and Zisserman, "Video Google",
ICCV 2003), because near-empty or very common projections collide with synthetic and real
impostors alike; it keeps a wide candidate set (`stage_one`). Stage 2 scores those candidates with
the bit-based MCC Local Similarity Sort (Cappelli et al. 2010, section 5.1: similarity
1 - ||a xor b|| / (||a|| + ||b||) with norms as square roots of bit counts, mean of the n_P best
local similarities, n_P from the paper's sigmoid with min 4, max 12, mu 20, tau 2/5), vectorised as
one matrix product per chunk, and returns the `top` best. Bozorth3 then re-ranks those.

Wave 3 (speed at 100,000): cylinders are computed for many templates at once in float32 (one
sparse neighbour-pair list per batch of templates, reduced per centre); hash keys for every table
come from one gather on the packed bits; the inverted files of all tables share one CSR array
(global key = table * 2**HASH_BITS + key) so a probe's buckets are gathered in one step; the LSS
stage counts common bits with a hardware popcount (`np.bitwise_count`) on 64-bit words instead of a
float matrix product (||a xor b|| = ||a|| + ||b|| - 2 popcount(a and b)), two threads when the work
is large. The index is made of segments (CSR over a range of entries): templates added after a
freeze go into a small delta segment, merged into the main one when it grows, so enrolling one
template does not re-sort 100,000. `to_arrays`/`from_arrays` serialise it (the caller encrypts).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from passage.biometrics.codec import MinutiaeRecord, angle_unit

RADIUS = 70.0
NS = 8
ND = 6
SIGMA_S = 28.0 / 3.0
SIGMA_D = 2.0 * math.pi / 9.0
MU_PSI = 0.01
MIN_NEIGHBOURS = 2
HASH_BITS = 12
HASH_TABLES = 24
MIN_KEY_BITS = 3
SEED = 20100101
LSS_MIN_NP, LSS_MAX_NP, LSS_MU, LSS_TAU = 4, 12, 20.0, 0.4
LSS_CHUNK_CYLINDERS = 8192
LSS_PARALLEL_CYLINDERS = 40000
CYLINDER_BATCH_PAIRS = 60000
DELTA_MERGE_FRACTION = 0.1
TABLE_SIZE = 1 << HASH_BITS

_cell = 2.0 * RADIUS / NS
_offsets = (np.arange(NS) - (NS - 1) / 2.0) * _cell
_grid_x, _grid_y = np.meshgrid(_offsets, _offsets, indexing="xy")
_inside = (_grid_x**2 + _grid_y**2) <= RADIUS**2
CELL_X = _grid_x[_inside]
CELL_Y = _grid_y[_inside]
N_CELLS = int(CELL_X.size)
N_BITS = N_CELLS * ND
PACKED_BYTES = (N_BITS + 7) // 8
WORDS = (N_BITS + 63) // 64
_dir_centres = -math.pi + (np.arange(ND) + 0.5) * (2.0 * math.pi / ND)
_CELL_X32 = CELL_X.astype(np.float32)
_CELL_Y32 = CELL_Y.astype(np.float32)
_DIR_CENTRES32 = _dir_centres.astype(np.float32)


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7): avoids a SciPy import on the hot path.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def minutiae_array(record: MinutiaeRecord, view_index: int = 0) -> np.ndarray:
    """(n, 3) float array of x, y, angle in radians for one view."""
    view = record.views[view_index]
    unit = angle_unit(record.format)
    return np.array([(m.x, m.y, math.radians(m.angle * unit)) for m in view.minutiae], dtype=np.float64).reshape(-1, 3)


def _cylinder_batch(points_list: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Packed cylinders of several templates at once and how many each template has."""
    sizes = np.array([len(p) for p in points_list], dtype=np.int64)
    total = int(sizes.sum())
    if total == 0:
        return np.zeros((0, PACKED_BYTES), dtype=np.uint8), np.zeros(len(points_list), dtype=np.int64)
    firsts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    everything = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in points_list])
    reach2 = (RADIUS + 3.0 * SIGMA_S) ** 2
    centres, others = [], []
    for points, first in zip(points_list, firsts, strict=True):
        if len(points) < 2:
            continue
        dx = points[:, None, 0] - points[None, :, 0]
        dy = points[:, None, 1] - points[None, :, 1]
        neighbour = dx * dx + dy * dy <= reach2
        np.fill_diagonal(neighbour, False)
        # Row-major nonzero: pairs come sorted by centre, so each centre's rows are contiguous.
        c, o = np.nonzero(neighbour)
        centres.append(c + first)
        others.append(o + first)
    centre = np.concatenate(centres) if centres else np.zeros(0, dtype=np.int64)
    other = np.concatenate(others) if others else np.zeros(0, dtype=np.int64)
    valid = np.bincount(centre, minlength=total) >= MIN_NEIGHBOURS
    values = np.zeros((total, N_BITS), dtype=np.float32)
    if len(centre):
        x = everything[:, 0].astype(np.float32)
        y = everything[:, 1].astype(np.float32)
        theta = everything[:, 2]
        cos_t = np.cos(theta[centre]).astype(np.float32)[:, None]
        sin_t = np.sin(theta[centre]).astype(np.float32)[:, None]
        # Cell centres in the image frame, minus the neighbour's position (eq. 3 of the paper).
        ddx = x[centre, None] - x[other, None] + cos_t * _CELL_X32[None, :] - sin_t * _CELL_Y32[None, :]
        ddy = y[centre, None] - y[other, None] + sin_t * _CELL_X32[None, :] + cos_t * _CELL_Y32[None, :]
        ddx *= ddx
        ddy *= ddy
        ddx += ddy
        ddx *= np.float32(-1.0 / (2.0 * SIGMA_S**2))
        gauss = np.exp(ddx, out=ddx)
        gauss *= np.float32(1.0 / (SIGMA_S * math.sqrt(2.0 * math.pi)))
        dtheta = _wrap(theta[other] - theta[centre])
        diff = _wrap(_dir_centres[None, :] - dtheta[:, None])
        half = math.pi / ND
        scale = SIGMA_D * math.sqrt(2.0)
        mass = (0.5 * (_erf((diff + half) / scale) - _erf((diff - half) / scale))).astype(np.float32)
        # Per centre, cell values = sum over its neighbours of gauss (cells) x mass (ND): a (cells x k) @ (k x ND)
        # product, batched by padding every centre to the largest neighbour count k.
        rows, starts, per_centre = np.unique(centre, return_index=True, return_counts=True)
        slot = np.arange(len(centre)) - np.repeat(starts, per_centre)
        row_of = np.repeat(np.arange(len(rows)), per_centre)
        width = int(per_centre.max())
        padded_gauss = np.zeros((len(rows), width, N_CELLS), dtype=np.float32)
        padded_mass = np.zeros((len(rows), width, ND), dtype=np.float32)
        padded_gauss[row_of, slot] = gauss
        padded_mass[row_of, slot] = mass
        values[rows] = np.matmul(padded_gauss.transpose(0, 2, 1), padded_mass).reshape(len(rows), N_BITS)
    packed = np.packbits(values[valid] > MU_PSI, axis=1)
    owner = np.repeat(np.arange(len(points_list)), sizes)
    return packed, np.bincount(owner[valid], minlength=len(points_list)).astype(np.int64)


def cylinders_many(points_list: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Bit-based MCC cylinders of many templates, vectorised in batches: (packed rows, count per template).

    Same cylinders as `cylinders` applied to each template in turn (Cappelli et al. 2010, eqs. 3-8),
    computed in float32 over one neighbour-pair list per batch of about CYLINDER_BATCH_PAIRS pairs.
    """
    packed_parts: list[np.ndarray] = []
    count_parts: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    pairs = 0
    for points in points_list:
        batch.append(points)
        pairs += len(points) * min(len(points), 24)
        if pairs >= CYLINDER_BATCH_PAIRS:
            packed, counts = _cylinder_batch(batch)
            packed_parts.append(packed)
            count_parts.append(counts)
            batch, pairs = [], 0
    if batch or not packed_parts:
        packed, counts = _cylinder_batch(batch)
        packed_parts.append(packed)
        count_parts.append(counts)
    return np.concatenate(packed_parts), np.concatenate(count_parts)


def cylinders(points: np.ndarray) -> np.ndarray:
    """Bit-based MCC cylinders, one packed row (uint8) per valid minutia (Cappelli et al. 2010, eqs. 3-8)."""
    return _cylinder_batch([points])[0]


def _hash_positions() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return np.stack([rng.choice(N_BITS, size=HASH_BITS, replace=False) for _ in range(HASH_TABLES)])


HASH_POSITIONS = _hash_positions()
_HASH_BYTES = (HASH_POSITIONS // 8).ravel()
_HASH_SHIFTS = (7 - HASH_POSITIONS % 8).ravel().astype(np.uint8)
_weights = (1 << np.arange(HASH_BITS)).astype(np.int16)
_HASH_CHUNK = 65536


def hash_keys(packed: np.ndarray) -> np.ndarray:
    """(cylinders, HASH_TABLES) int16 keys; -1 marks a projection with too few set bits to index.

    Bit i of a cylinder is bit 7 - i % 8 of byte i // 8 (`np.packbits` order); all tables' bits are
    gathered at once.
    """
    keys = np.empty((len(packed), HASH_TABLES), dtype=np.int16)
    for start in range(0, len(packed), _HASH_CHUNK):
        chunk = packed[start:start + _HASH_CHUNK, :PACKED_BYTES]
        bits = ((chunk[:, _HASH_BYTES] >> _HASH_SHIFTS) & 1).reshape(len(chunk), HASH_TABLES, HASH_BITS)
        part = (bits.astype(np.int16) * _weights).sum(axis=2, dtype=np.int16)
        part[bits.sum(axis=2) < MIN_KEY_BITS] = -1
        keys[start:start + len(chunk)] = part
    return keys


def to_words(packed: np.ndarray) -> np.ndarray:
    """Packed cylinder bytes as (rows, WORDS) uint64 for popcount (zero padded)."""
    padded = np.zeros((len(packed), WORDS * 8), dtype=np.uint8)
    padded[:, :packed.shape[1]] = packed
    return padded.view(np.uint64)


def _words_to_packed(words: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(words).view(np.uint8).reshape(len(words), WORDS * 8)[:, :PACKED_BYTES]


@dataclass(frozen=True)
class Shortlisted:
    entry: int
    score: float


@dataclass(frozen=True)
class _Segment:
    """Inverted files of entries [first, end): CSR over global keys table * TABLE_SIZE + key."""

    first: int
    end: int
    offsets: np.ndarray
    entries: np.ndarray

    @classmethod
    def build(cls, keys: np.ndarray, owner: np.ndarray, first: int, end: int) -> _Segment:
        counts, parts = [], []
        for table in range(HASH_TABLES):
            column = keys[:, table]
            keep = column >= 0
            kept = column[keep]
            # int16 keys: NumPy's stable argsort is a radix sort, linear in the number of cylinders.
            parts.append(owner[keep][np.argsort(kept, kind="stable")].astype(np.int32))
            counts.append(np.bincount(kept, minlength=TABLE_SIZE))
        offsets = np.concatenate(([0], np.cumsum(np.concatenate(counts)))).astype(np.int64)
        entries = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        return cls(first, end, offsets, entries)

    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.entries.nbytes)


class _Rows:
    """A growable 2-D array (capacity doubling), so appending a few rows does not copy the whole gallery."""

    def __init__(self, width: int, dtype: type[np.generic]) -> None:
        self._data = np.zeros((0, width), dtype=dtype)
        self.size = 0

    def extend(self, rows: np.ndarray) -> None:
        need = self.size + len(rows)
        if need > len(self._data):
            grown = np.zeros((max(need, 2 * len(self._data), 1024), self._data.shape[1]), dtype=self._data.dtype)
            grown[:self.size] = self._data[:self.size]
            self._data = grown
        self._data[self.size:need] = rows
        self.size = need

    @property
    def array(self) -> np.ndarray:
        return self._data[:self.size]


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mcc-lss")
        return _pool


class CylinderIndex:
    """Append-only inverted files over hashed MCC cylinders; `entry` numbers are positions in insertion order.

    Build with `add`/`add_many` then `freeze` (or `build`); searching a frozen index is vectorised
    NumPy. Deleting is done by masking (`remove`), so revocation takes effect at once without a
    rebuild. Entries added after a freeze go into a delta segment (see module docstring).
    """

    def __init__(self) -> None:
        self._words = _Rows(WORDS, np.uint64)
        self._counts: list[int] = []
        self._alive = np.zeros(0, dtype=bool)
        self._segments: list[_Segment] = []
        self._cylinder_offsets = np.zeros(1, dtype=np.int64)
        self._norm = np.zeros(0)
        self._frozen_size = 0
        self._pending_keys: list[np.ndarray] = []
        self._removed_early: set[int] = set()

    def __len__(self) -> int:
        return len(self._counts)

    def _append(self, packed: np.ndarray, counts: np.ndarray) -> range:
        first = len(self._counts)
        self._words.extend(to_words(packed))
        self._counts.extend(int(c) for c in counts)
        self._pending_keys.append(hash_keys(packed))
        return range(first, len(self._counts))

    def add(self, points: np.ndarray) -> int:
        return self._append(*_cylinder_batch([points]))[0]

    def add_many(self, many: Iterable[np.ndarray]) -> range:
        """Add templates in vectorised batches; returns their entry numbers."""
        return self._append(*cylinders_many(list(many)))

    def remove(self, entry: int) -> None:
        if entry < len(self._alive):
            self._alive[entry] = False
        else:
            self._removed_early.add(entry)

    def freeze(self) -> None:
        """Index every template added since the last freeze (a delta segment, merged when large)."""
        size = len(self._counts)
        if size == self._frozen_size and self._segments:
            return
        counts = np.asarray(self._counts, dtype=np.int64)
        self._cylinder_offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        alive = np.ones(size, dtype=bool)
        alive[:len(self._alive)] = self._alive
        for entry in self._removed_early:
            if entry < size:
                alive[entry] = False
        self._removed_early = set()
        self._alive = alive
        self._norm = 1.0 / np.sqrt(np.maximum(counts.astype(np.float64), 1.0))
        new_keys = np.concatenate(self._pending_keys) if self._pending_keys else np.zeros((0, HASH_TABLES), dtype=np.int16)
        self._pending_keys = []
        main = self._segments[0] if self._segments else None
        delta_first = self._segments[1].first if len(self._segments) > 1 else self._frozen_size
        if main is not None and size - delta_first <= DELTA_MERGE_FRACTION * max(main.end, 1):
            first = delta_first
            keys = hash_keys(_words_to_packed(self._words.array[self._cylinder_offsets[first]:])) if first < self._frozen_size else new_keys
            owner = np.repeat(np.arange(first, size, dtype=np.int32), counts[first:])
            self._segments = [main, _Segment.build(keys, owner, first, size)]
        else:
            keys = hash_keys(_words_to_packed(self._words.array)) if self._frozen_size else new_keys
            owner = np.repeat(np.arange(size, dtype=np.int32), counts)
            self._segments = [_Segment.build(keys, owner, 0, size)]
        self._frozen_size = size

    def memory_bytes(self) -> int:
        """Bytes held by the cylinders, inverted files and per-entry arrays (NumPy buffers only)."""
        return int(self._words.array.nbytes + sum(s.nbytes() for s in self._segments) + self._cylinder_offsets.nbytes
                   + self._norm.nbytes + self._alive.nbytes)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The index as plain arrays (cylinders as words, per-entry counts, liveness); keys are recomputed on load."""
        self.freeze()
        return {"words": self._words.array.copy(), "counts": np.asarray(self._counts, dtype=np.int64), "alive": self._alive.copy()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> CylinderIndex:
        index = cls()
        words, counts = np.asarray(arrays["words"], dtype=np.uint64), np.asarray(arrays["counts"], dtype=np.int64)
        if words.ndim != 2 or words.shape[1] != WORDS or int(counts.sum()) != len(words):
            raise ValueError("index arrays do not match this index layout")
        index._words.extend(words)
        index._counts = [int(c) for c in counts]
        index._pending_keys = [hash_keys(_words_to_packed(words))]
        index.freeze()
        index._alive = np.asarray(arrays["alive"], dtype=bool).copy()
        return index

    def stage_one(self, packed: np.ndarray, *, allowed: np.ndarray | None = None) -> np.ndarray:
        """IDF-weighted, normalised collision score of every entry with the probe's cylinders (-1 when masked)."""
        if self._frozen_size != len(self._counts):
            self.freeze()
        size = self._frozen_size
        scores = np.zeros(size)
        if size == 0 or len(packed) == 0:
            return scores
        keys = hash_keys(packed)
        glob = (keys.astype(np.int64) + (np.arange(HASH_TABLES, dtype=np.int64) * TABLE_SIZE)[None, :])[keys >= 0]
        if len(glob):
            bounds = [(s.offsets[glob], s.offsets[glob + 1]) for s in self._segments]
            bucket = sum((ends - starts for starts, ends in bounds), np.zeros(len(glob), dtype=np.int64))
            idf = np.where(bucket > 0, np.log1p(size / np.maximum(bucket, 1)), 0.0)
            for segment, (starts, ends) in zip(self._segments, bounds, strict=True):
                lengths = ends - starts
                total = int(lengths.sum())
                if total == 0:
                    continue
                # Gather all buckets at once: index = start of its bucket + position within it.
                base = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
                scores += np.bincount(segment.entries[base + np.arange(total)], weights=np.repeat(idf, lengths), minlength=size)
        scores *= self._norm[:size]
        scores[~self._alive[:size]] = -1.0
        if allowed is not None:
            scores[~allowed[:size]] = -1.0
        return scores

    def search(self, points: np.ndarray, *, top: int = 100, allowed: np.ndarray | None = None, stage_one: int = 0) -> list[Shortlisted]:
        """Entries ranked by the two stages (see module docstring), best first.

        `allowed` (boolean, one per entry) restricts the ranking to the entries the caller may see, so
        that records outside the caller's scope never take shortlist places.
        """
        packed = cylinders(points)
        counts = self.stage_one(packed, allowed=allowed)
        size = len(counts)
        if size == 0:
            return []
        first = min(max(stage_one, top), size)
        best = np.argpartition(-counts, first - 1)[:first]
        best = best[counts[best] > 0]
        if not len(best):
            return []
        if len(best) <= top or len(packed) == 0:
            best = best[np.argsort(-counts[best], kind="stable")][:top]
            return [Shortlisted(int(e), float(counts[e])) for e in best]
        similarity = self.local_similarity(packed, best)
        order = np.lexsort((-counts[best], -similarity))[:top]
        return [Shortlisted(int(best[i]), float(similarity[i])) for i in order]

    def local_similarity(self, probe: np.ndarray, entries: np.ndarray) -> np.ndarray:
        """Bit-based MCC LSS of the probe's packed cylinders against each entry's, by popcount (see module docstring)."""
        if self._frozen_size != len(self._counts):
            self.freeze()
        entries = np.asarray(entries, dtype=np.int64)
        probe_words = to_words(probe)
        starts, ends = self._cylinder_offsets[entries], self._cylinder_offsets[entries + 1]
        lengths = ends - starts
        per_chunk = max(1, LSS_CHUNK_CYLINDERS // max(1, int(lengths.mean()) if len(lengths) else 1))
        chunks = [slice(i, i + per_chunk) for i in range(0, len(entries), per_chunk)]
        scores = np.zeros(len(entries))

        def run(part: list[slice]) -> None:
            for chunk in part:
                scores[chunk] = self._lss_chunk(probe_words, starts[chunk], lengths[chunk])

        if int(lengths.sum()) >= LSS_PARALLEL_CYLINDERS and len(chunks) > 1:
            # NumPy releases the GIL in these ufuncs: two threads use both cores.
            futures = [_thread_pool().submit(run, chunks[k::2]) for k in range(2)]
            for future in futures:
                future.result()
        else:
            run(chunks)
        return scores

    def _lss_chunk(self, probe_words: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        n_probe = len(probe_words)
        total = int(lengths.sum())
        if total == 0 or n_probe == 0:
            return np.zeros(len(lengths))
        rows = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths) + np.arange(total)
        gallery = self._words.array[rows]
        columns = np.ascontiguousarray(gallery.T)
        common = np.zeros((n_probe, total), dtype=np.uint16)
        scratch = np.empty((n_probe, total), dtype=np.uint64)
        counted = np.empty((n_probe, total), dtype=np.uint8)
        for word in range(WORDS):
            np.bitwise_and(probe_words[:, word, None], columns[word][None, :], out=scratch)
            np.bitwise_count(scratch, out=counted)
            common += counted
        probe_norm = np.bitwise_count(probe_words).sum(axis=1).astype(np.float32)
        gallery_norm = np.bitwise_count(gallery).sum(axis=1).astype(np.float32)
        # ||a xor b|| = ||a|| + ||b|| - 2 ||a and b||; similarity 1 - sqrt(xor) / (sqrt ||a|| + sqrt ||b||), 0 if both empty.
        xor = common.astype(np.float32)
        xor *= np.float32(-2.0)
        xor += probe_norm[:, None]
        xor += gallery_norm[None, :]
        np.maximum(xor, 0.0, out=xor)
        np.sqrt(xor, out=xor)
        denominator = np.sqrt(probe_norm)[:, None] + np.sqrt(gallery_norm)[None, :]
        similarity = denominator - xor
        similarity /= np.where(denominator > 0, denominator, np.float32(np.inf))
        # Each probe cylinder's best match within each entry, then the mean of the n_P best of those.
        boundaries = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        nonempty = lengths > 0
        per_entry = np.zeros((n_probe, len(lengths)), dtype=np.float32)
        if nonempty.any():
            per_entry[:, nonempty] = np.maximum.reduceat(similarity, boundaries[nonempty], axis=1)
        smaller = np.minimum(n_probe, lengths)
        n_p = np.rint(LSS_MIN_NP + (LSS_MAX_NP - LSS_MIN_NP) / (1.0 + np.exp(-LSS_TAU * (smaller - LSS_MU)))).astype(int)
        n_p = np.clip(np.minimum(n_p, smaller), 1, None)
        ranked = -np.sort(-per_entry, axis=0)
        cumulative = np.cumsum(ranked, axis=0, dtype=np.float64)
        return np.where(lengths > 0, cumulative[np.minimum(n_p, n_probe) - 1, np.arange(len(lengths))] / n_p, 0.0)


def build(points_list: Sequence[np.ndarray]) -> CylinderIndex:
    index = CylinderIndex()
    index.add_many(points_list)
    index.freeze()
    return index
