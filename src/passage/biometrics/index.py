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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from passage.biometrics.codec import ISO_ANGLE_DEGREES, MinutiaeRecord, RecordFormat

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
LSS_CHUNK_CYLINDERS = 40000

_cell = 2.0 * RADIUS / NS
_offsets = (np.arange(NS) - (NS - 1) / 2.0) * _cell
_grid_x, _grid_y = np.meshgrid(_offsets, _offsets, indexing="xy")
_inside = (_grid_x**2 + _grid_y**2) <= RADIUS**2
CELL_X = _grid_x[_inside]
CELL_Y = _grid_y[_inside]
N_CELLS = int(CELL_X.size)
N_BITS = N_CELLS * ND
PACKED_BYTES = (N_BITS + 7) // 8
_dir_centres = -math.pi + (np.arange(ND) + 0.5) * (2.0 * math.pi / ND)


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
    fmt: RecordFormat = record.format
    unit = ISO_ANGLE_DEGREES if fmt == "iso2005" else 2.0
    return np.array([(m.x, m.y, math.radians(m.angle * unit)) for m in view.minutiae], dtype=np.float64).reshape(-1, 3)


def cylinders(points: np.ndarray) -> np.ndarray:
    """Bit-based MCC cylinders, one packed row (uint8) per valid minutia (Cappelli et al. 2010, eqs. 3-8)."""
    n = len(points)
    if n < MIN_NEIGHBOURS + 1:
        return np.zeros((0, (N_BITS + 7) // 8), dtype=np.uint8)
    x, y, theta = points[:, 0], points[:, 1], points[:, 2]
    neighbour = np.hypot(x[None, :] - x[:, None], y[None, :] - y[:, None]) <= RADIUS + 3.0 * SIGMA_S
    np.fill_diagonal(neighbour, False)
    valid = neighbour.sum(axis=1) >= MIN_NEIGHBOURS
    # Only pairs (i, t) of neighbours contribute (eq. 4's neighbourhood), so work on that sparse list.
    centre, other = np.nonzero(neighbour)
    cos_t, sin_t = np.cos(theta[centre]), np.sin(theta[centre])
    cx = x[centre, None] + cos_t[:, None] * CELL_X[None, :] - sin_t[:, None] * CELL_Y[None, :]
    cy = y[centre, None] + sin_t[:, None] * CELL_X[None, :] + cos_t[:, None] * CELL_Y[None, :]
    dist2 = (cx - x[other, None]) ** 2 + (cy - y[other, None]) ** 2  # (pairs, cells)
    gauss = np.exp(-dist2 / (2.0 * SIGMA_S**2)) * (1.0 / (SIGMA_S * math.sqrt(2.0 * math.pi)))
    dtheta = _wrap(theta[other] - theta[centre])
    diff = _wrap(_dir_centres[None, :] - dtheta[:, None])  # (pairs, ND)
    half = math.pi / ND
    scale = SIGMA_D * math.sqrt(2.0)
    mass = 0.5 * (_erf((diff + half) / scale) - _erf((diff - half) / scale))
    values = np.zeros((n, N_CELLS * ND))
    if len(centre):
        # np.nonzero returns pairs sorted by centre, so each centre's rows are contiguous.
        rows, starts = np.unique(centre, return_index=True)
        products = np.einsum("pc,pk->pck", gauss, mass).reshape(len(centre), -1)
        values[rows] = np.add.reduceat(products, starts, axis=0)
    bits = values > MU_PSI
    return np.packbits(bits[valid], axis=1)


def _hash_positions() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return np.stack([rng.choice(N_BITS, size=HASH_BITS, replace=False) for _ in range(HASH_TABLES)])


HASH_POSITIONS = _hash_positions()
_weights = (1 << np.arange(HASH_BITS)).astype(np.int64)


def hash_keys(packed: np.ndarray) -> np.ndarray:
    """(cylinders, HASH_TABLES) int64 keys; -1 marks a projection with too few set bits to index."""
    if len(packed) == 0:
        return np.zeros((0, HASH_TABLES), dtype=np.int64)
    bits = np.unpackbits(packed, axis=1)[:, :N_BITS]
    projected = bits[:, HASH_POSITIONS]  # (c, L, H)
    keys = (projected.astype(np.int64) * _weights).sum(axis=2)
    keys[projected.sum(axis=2) < MIN_KEY_BITS] = -1
    return keys


@dataclass(frozen=True)
class Shortlisted:
    entry: int
    score: float


class CylinderIndex:
    """Append-only inverted files over hashed MCC cylinders; `entry` numbers are positions in insertion order.

    Build with `add` then `freeze` (or `build`); searching a frozen index is vectorised NumPy.
    Deleting is done by masking (`remove`), so revocation takes effect at once without a rebuild.
    """

    def __init__(self) -> None:
        self._pending_cylinders: list[np.ndarray] = []
        self._cylinders = np.zeros((0, PACKED_BYTES), dtype=np.uint8)
        self._cylinder_offsets = np.zeros(1, dtype=np.int64)
        self._pending_keys: list[np.ndarray] = []
        self._pending_entries: list[np.ndarray] = []
        self._counts: list[int] = []
        self._removed: set[int] = set()
        self._tables: list[tuple[np.ndarray, np.ndarray]] = []
        self._norm = np.zeros(0)
        self._frozen_size = 0

    def __len__(self) -> int:
        return len(self._counts)

    def add(self, points: np.ndarray) -> int:
        entry = len(self._counts)
        packed = cylinders(points)
        keys = hash_keys(packed)
        self._pending_cylinders.append(packed)
        self._pending_keys.append(keys)
        self._pending_entries.append(np.full(len(keys), entry, dtype=np.int32))
        self._counts.append(len(keys))
        return entry

    def add_many(self, many: Iterable[np.ndarray]) -> None:
        for points in many:
            self.add(points)

    def remove(self, entry: int) -> None:
        self._removed.add(entry)

    def freeze(self) -> None:
        """(Re)build the CSR inverted files from every template added so far."""
        if not self._pending_keys:
            keys = np.zeros((0, HASH_TABLES), dtype=np.int64)
            entries = np.zeros(0, dtype=np.int32)
        else:
            keys = np.concatenate(self._pending_keys)
            entries = np.concatenate(self._pending_entries)
            self._pending_keys, self._pending_entries = [keys], [entries]
        tables = []
        for table in range(HASH_TABLES):
            column = keys[:, table]
            keep = column >= 0
            order = np.argsort(column[keep], kind="stable")
            sorted_keys = column[keep][order]
            offsets = np.searchsorted(sorted_keys, np.arange((1 << HASH_BITS) + 1)).astype(np.int64)
            tables.append((offsets, entries[keep][order]))
        self._tables = tables
        if self._pending_cylinders:
            self._cylinders = np.concatenate(self._pending_cylinders)
            self._pending_cylinders = [self._cylinders]
        self._cylinder_offsets = np.concatenate(([0], np.cumsum(self._counts))).astype(np.int64)
        counts = np.asarray(self._counts, dtype=np.float64)
        self._norm = 1.0 / np.sqrt(np.maximum(counts, 1.0))
        self._frozen_size = len(self._counts)

    def search(self, points: np.ndarray, *, top: int = 100, allowed: np.ndarray | None = None, stage_one: int = 0) -> list[Shortlisted]:
        """Entries ranked by normalised collision count with the probe's cylinders, best first.

        `allowed` (boolean, one per entry) restricts the ranking to the entries the caller may see, so
        that records outside the caller's scope never take shortlist places.
        """
        if self._frozen_size != len(self._counts):
            self.freeze()
        size = self._frozen_size
        if size == 0:
            return []
        packed = cylinders(points)
        keys = hash_keys(packed)
        hits: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for table, (offsets, entries) in enumerate(self._tables):
            column = keys[:, table]
            column = column[column >= 0]
            if not len(column):
                continue
            starts, ends = offsets[column], offsets[column + 1]
            lengths = ends - starts
            total = int(lengths.sum())
            if total == 0:
                continue
            # Gather all buckets at once: index = start of its bucket + position within it.
            base = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
            hits.append(entries[base + np.arange(total)])
            nonempty = lengths > 0
            idf = np.zeros(len(lengths))
            idf[nonempty] = np.log1p(size / lengths[nonempty])
            weights.append(np.repeat(idf, lengths))
        if not hits:
            return []
        counts = np.bincount(np.concatenate(hits), weights=np.concatenate(weights), minlength=size) * self._norm[:size]
        if self._removed:
            counts[list(self._removed)] = -1.0
        if allowed is not None:
            counts[~allowed[:size]] = -1.0
        first = min(max(stage_one, top), size)
        best = np.argpartition(-counts, first - 1)[:first]
        best = best[counts[best] > 0]
        if not len(best):
            return []
        if len(best) <= top or len(packed) == 0:
            best = best[np.argsort(-counts[best], kind="stable")][:top]
            return [Shortlisted(int(e), float(counts[e])) for e in best]
        similarity = self._local_similarity_sort(packed, best)
        order = np.lexsort((-counts[best], -similarity))[:top]
        return [Shortlisted(int(best[i]), float(similarity[i])) for i in order]

    def _local_similarity_sort(self, probe: np.ndarray, entries: np.ndarray) -> np.ndarray:
        """Bit-based MCC LSS of the probe's cylinders against each entry's (see module docstring)."""
        probe_bits = np.unpackbits(probe, axis=1)[:, :N_BITS].astype(np.float32)
        probe_norm = probe_bits.sum(axis=1)
        starts, ends = self._cylinder_offsets[entries], self._cylinder_offsets[entries + 1]
        lengths = ends - starts
        scores = np.zeros(len(entries))
        chunk_entries = max(1, LSS_CHUNK_CYLINDERS // max(1, int(lengths.mean())))
        for first in range(0, len(entries), chunk_entries):
            s, n = starts[first:first + chunk_entries], lengths[first:first + chunk_entries]
            rows = np.repeat(s - np.concatenate(([0], np.cumsum(n)[:-1])), n) + np.arange(int(n.sum()))
            if not len(rows):
                continue
            bits = np.unpackbits(self._cylinders[rows], axis=1)[:, :N_BITS].astype(np.float32)
            norm = bits.sum(axis=1)
            common = probe_bits @ bits.T  # (probe cylinders, gathered cylinders)
            total = probe_norm[:, None] + norm[None, :]
            xor = np.maximum(total - 2.0 * common, 0.0)
            similarity = np.where(total > 0, 1.0 - np.sqrt(xor) / np.maximum(np.sqrt(probe_norm)[:, None] + np.sqrt(norm)[None, :], 1e-9), 0.0)
            # Each probe cylinder's best match within each entry, then the mean of the n_P best of those.
            boundaries = np.concatenate(([0], np.cumsum(n)[:-1]))
            nonempty = n > 0
            per_entry = np.zeros((len(probe_bits), len(n)), dtype=np.float64)
            if nonempty.any():
                per_entry[:, nonempty] = np.maximum.reduceat(similarity, boundaries[nonempty], axis=1)
            smaller = np.minimum(len(probe_bits), n)
            n_p = np.rint(LSS_MIN_NP + (LSS_MAX_NP - LSS_MIN_NP) / (1.0 + np.exp(-LSS_TAU * (smaller - LSS_MU)))).astype(int)
            n_p = np.clip(np.minimum(n_p, smaller), 1, None)
            ranked = -np.sort(-per_entry, axis=0)
            cumulative = np.cumsum(ranked, axis=0)
            scores[first:first + len(n)] = np.where(n > 0, cumulative[np.minimum(n_p, len(probe_bits)) - 1, np.arange(len(n))] / n_p, 0.0)
        return scores


def build(points_list: Sequence[np.ndarray]) -> CylinderIndex:
    index = CylinderIndex()
    index.add_many(points_list)
    index.freeze()
    return index
