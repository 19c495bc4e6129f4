from __future__ import annotations

import numpy as np
import pytest

from passage.biometrics.extract import Extraction
from passage.biometrics.index import (
    LSS_MAX_NP,
    LSS_MIN_NP,
    LSS_MU,
    LSS_TAU,
    N_BITS,
    CylinderIndex,
    build,
    cylinders,
    cylinders_many,
    minutiae_array,
)


def _random_points(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.integers(40, 80))
    return np.column_stack([rng.uniform(20, 380, n), rng.uniform(20, 480, n), rng.uniform(0, 2 * np.pi, n)])


def test_cylinders_are_rotation_and_translation_invariant(extracted: dict[str, Extraction]) -> None:
    points = minutiae_array(extracted["p1_1"].record)
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points.copy()
    moved[:, :2] = points[:, :2] @ rotation.T + np.array([35.0, -12.0])
    moved[:, 2] = (points[:, 2] + angle) % (2 * np.pi)
    a, b = np.unpackbits(cylinders(points), axis=1)[:, :N_BITS], np.unpackbits(cylinders(moved), axis=1)[:, :N_BITS]
    assert a.shape == b.shape and a.sum() > 0
    assert (a == b).mean() > 0.99


def test_true_mate_is_shortlisted_among_random_impostors(extracted: dict[str, Extraction]) -> None:
    rng = np.random.default_rng(3)
    gallery = [_random_points(rng) for _ in range(300)]
    gallery.insert(137, minutiae_array(extracted["p1_2"].record))
    index = build(gallery)
    shortlist = [hit.entry for hit in index.search(minutiae_array(extracted["p1_1"].record), top=20)]
    assert 137 in shortlist
    index.remove(137)
    assert 137 not in [hit.entry for hit in index.search(minutiae_array(extracted["p1_1"].record), top=20)]


def _float_lss(probe: np.ndarray, entry: np.ndarray) -> float:
    """The paper's bit-based LSS written directly with float products (the wave-2 formulation), as a reference."""
    a = np.unpackbits(probe, axis=1)[:, :N_BITS].astype(np.float64)
    b = np.unpackbits(entry, axis=1)[:, :N_BITS].astype(np.float64)
    na, nb = a.sum(axis=1), b.sum(axis=1)
    xor = na[:, None] + nb[None, :] - 2 * (a @ b.T)
    denominator = np.sqrt(na)[:, None] + np.sqrt(nb)[None, :]
    similarity = np.where(denominator > 0, 1 - np.sqrt(xor) / np.where(denominator > 0, denominator, 1), 0.0)
    best = np.sort(similarity.max(axis=1))[::-1]
    smaller = min(len(a), len(b))
    n_p = int(np.rint(LSS_MIN_NP + (LSS_MAX_NP - LSS_MIN_NP) / (1 + np.exp(-LSS_TAU * (smaller - LSS_MU)))))
    n_p = max(1, min(n_p, smaller))
    return float(best[:n_p].mean())


def test_batched_cylinders_and_popcount_similarity_match_the_direct_formulas() -> None:
    rng = np.random.default_rng(11)
    gallery = [_random_points(rng) for _ in range(40)]
    packed, counts = cylinders_many(gallery)
    one_by_one = [cylinders(p) for p in gallery]
    assert counts.tolist() == [len(c) for c in one_by_one]
    assert np.array_equal(packed, np.concatenate(one_by_one))
    index = build(gallery)
    probe = cylinders(gallery[3])
    entries = np.arange(40)
    fast = index.local_similarity(probe, entries)
    reference = np.array([_float_lss(probe, one_by_one[e]) for e in entries])
    assert np.allclose(fast, reference, atol=1e-5)
    assert int(np.argmax(fast)) == 3 and fast[3] == pytest.approx(1.0)


def test_delta_segment_and_snapshot_arrays_search_like_a_fresh_build() -> None:
    rng = np.random.default_rng(5)
    gallery = [_random_points(rng) for _ in range(200)]
    probe = gallery[150].copy()
    probe[:, :2] += rng.normal(0, 2, (len(probe), 2))
    fresh = build(gallery)
    grown = build(gallery[:190])
    grown.add_many(gallery[190:])  # 10 of 190: stays a delta segment
    grown.freeze()
    assert len(grown._segments) == 2
    expected = [(h.entry, round(h.score, 9)) for h in fresh.search(probe, top=10, stage_one=50)]
    assert [(h.entry, round(h.score, 9)) for h in grown.search(probe, top=10, stage_one=50)] == expected
    grown.remove(150)
    restored = CylinderIndex.from_arrays(grown.to_arrays())
    hits = [h.entry for h in restored.search(probe, top=10, stage_one=50)]
    assert 150 not in hits and hits == [h.entry for h in grown.search(probe, top=10, stage_one=50)]
    assert restored.memory_bytes() > 0
