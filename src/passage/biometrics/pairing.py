"""Minutiae pairing between two prints, for display: which probe minutia corresponds to which reference one.

Bozorth3 (as exposed by nbis-py) returns a score but no pairing list, so the pairing shown to an
officer is computed here, independently, by the generalised Hough transform alignment of Ratha,
Karu, Chen and Jain ("A real-time matching system for large fingerprint databases", IEEE TPAMI
18(8), 1996): every probe/reference minutia pair votes for the rigid transform (rotation, then
translation) that would superimpose them; the best-supported transforms are refined, the probe is
mapped through each, and minutiae are paired greedily, nearest first, when they lie within a
distance and angle tolerance. The transform that pairs the most minutiae wins.

The pairing illustrates the comparison; the evidence is the calibrated Bozorth3 score
(`matching.match_records`), which is computed separately and never from this pairing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from passage.biometrics.codec import MinutiaeRecord
from passage.biometrics.index import minutiae_array

ANGLE_BIN = math.radians(10.0)
SHIFT_BIN = 16.0
DISTANCE_TOLERANCE = 15.0
ANGLE_TOLERANCE = math.radians(25.0)
CANDIDATE_TRANSFORMS = 5


@dataclass(frozen=True)
class Pairing:
    """Pairs of (probe minutia index, reference minutia index) and the transform probe -> reference."""

    pairs: tuple[tuple[int, int], ...]
    rotation_degrees: float
    shift_x: float
    shift_y: float


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def _apply(points: np.ndarray, rotation: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = math.cos(rotation), math.sin(rotation)
    x = c * points[:, 0] - s * points[:, 1] + shift[0]
    y = s * points[:, 0] + c * points[:, 1] + shift[1]
    return np.column_stack([x, y, _wrap(points[:, 2] + rotation)])


def _greedy(moved: np.ndarray, reference: np.ndarray) -> list[tuple[int, int]]:
    distance = np.hypot(moved[:, None, 0] - reference[None, :, 0], moved[:, None, 1] - reference[None, :, 1])
    angle = np.abs(_wrap(moved[:, None, 2] - reference[None, :, 2]))
    cost = np.where((distance <= DISTANCE_TOLERANCE) & (angle <= ANGLE_TOLERANCE), distance, np.inf)
    pairs: list[tuple[int, int]] = []
    used_probe: set[int] = set()
    used_reference: set[int] = set()
    for flat in np.argsort(cost, axis=None):
        i, j = divmod(int(flat), cost.shape[1])
        if not np.isfinite(cost[i, j]):
            break
        if i in used_probe or j in used_reference:
            continue
        pairs.append((i, j))
        used_probe.add(i)
        used_reference.add(j)
    return pairs


def pair_points(probe: np.ndarray, reference: np.ndarray) -> Pairing:
    """Pair two (n, 3) arrays of x, y, angle (radians); see module docstring."""
    if len(probe) == 0 or len(reference) == 0:
        return Pairing((), 0.0, 0.0, 0.0)
    rotation = _wrap(reference[None, :, 2] - probe[:, None, 2])  # (n, m)
    c, s = np.cos(rotation), np.sin(rotation)
    shift_x = reference[None, :, 0] - (c * probe[:, None, 0] - s * probe[:, None, 1])
    shift_y = reference[None, :, 1] - (s * probe[:, None, 0] + c * probe[:, None, 1])
    keys = np.stack([
        np.floor((rotation + np.pi) / ANGLE_BIN), np.floor(shift_x / SHIFT_BIN), np.floor(shift_y / SHIFT_BIN),
    ], axis=-1).reshape(-1, 3).astype(np.int64)
    unique, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    flat_rotation, flat_x, flat_y = rotation.reshape(-1), shift_x.reshape(-1), shift_y.reshape(-1)
    best = Pairing((), 0.0, 0.0, 0.0)
    for bin_number in np.argsort(-counts, kind="stable")[:CANDIDATE_TRANSFORMS]:
        members = inverse == bin_number
        # Refine the bin to the circular mean rotation and mean shift of its voters.
        theta = float(np.angle(np.mean(np.exp(1j * flat_rotation[members]))))
        shift = (float(flat_x[members].mean()), float(flat_y[members].mean()))
        pairs = _greedy(_apply(probe, theta, shift), reference)
        if len(pairs) > len(best.pairs):
            best = Pairing(tuple(sorted(pairs)), math.degrees(theta), shift[0], shift[1])
    return best


def pair_minutiae(probe: MinutiaeRecord, reference: MinutiaeRecord, *, probe_view: int = 0, reference_view: int = 0) -> Pairing:
    """Pair the minutiae of one view of each record (indices into each view's `minutiae`)."""
    return pair_points(minutiae_array(probe, probe_view), minutiae_array(reference, reference_view))
