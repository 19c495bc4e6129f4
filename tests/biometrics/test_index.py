from __future__ import annotations

import numpy as np

from passage.biometrics.extract import Extraction
from passage.biometrics.index import N_BITS, build, cylinders, minutiae_array


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
