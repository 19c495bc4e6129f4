"""Synthetic minutiae sets for speed tests of 1:N search (impostors only; never accuracy evidence).

Minutiae are placed by rejection (at least 10 px apart) inside an ellipse the size of a 500 ppi
plain impression, with directions following a Sherlock-Monro orientation field (Sherlock and Monro,
"A model for interpreting fingerprint topology", Pattern Recognition 26(7), 1993) of one random
core and one random delta, plus a random ridge-flow sign: plausible spatial and directional
structure, so that MCC cylinders are not trivially empty, but no pair comes from the same finger.
"""

from __future__ import annotations

import math

import numpy as np

from passage.biometrics.codec import FingerView, Minutia, MinutiaeRecord


def synthetic_points(rng: np.random.Generator, width: int = 400, height: int = 500) -> np.ndarray:
    count = int(rng.integers(35, 90))
    cx, cy = width / 2 + rng.normal(0, 20), height / 2 + rng.normal(0, 25)
    ax, ay = width * 0.42, height * 0.45
    # Jittered grid (spacing 24 px, jitter +/- 7 px): minutiae at least 10 px apart, vectorised.
    gx, gy = np.meshgrid(np.arange(cx - ax, cx + ax, 24.0), np.arange(cy - ay, cy + ay, 24.0))
    grid = np.column_stack([gx.ravel(), gy.ravel()]) + rng.uniform(-7, 7, size=(gx.size, 2))
    inside = ((grid[:, 0] - cx) / ax) ** 2 + ((grid[:, 1] - cy) / ay) ** 2 <= 1
    grid = grid[inside]
    pts = grid[rng.choice(len(grid), size=min(count, len(grid)), replace=False)]
    core = np.array([cx + rng.normal(0, 30), cy - height * 0.1 + rng.normal(0, 30)])
    delta = core + np.array([rng.normal(0, 60), height * 0.3 + rng.normal(0, 30)])
    zc = (pts[:, 0] - core[0]) + 1j * (pts[:, 1] - core[1])
    zd = (pts[:, 0] - delta[0]) + 1j * (pts[:, 1] - delta[1])
    orientation = 0.5 * (np.angle(zc) - np.angle(zd))
    angle = (orientation + np.pi * rng.integers(0, 2, len(pts)) + rng.normal(0, 0.15, len(pts))) % (2 * math.pi)
    return np.column_stack([np.clip(pts[:, 0], 0, width - 1), np.clip(pts[:, 1], 0, height - 1), angle])


def points_to_record(points: np.ndarray, rng: np.random.Generator, width: int = 400, height: int = 500) -> MinutiaeRecord:
    minutiae = tuple(
        Minutia(kind=int(rng.integers(1, 3)), x=int(x), y=int(y), angle=round(math.degrees(a) / 1.40625) % 256, quality=int(rng.integers(20, 90)))
        for x, y, a in points
    )
    view = FingerView(position=0, view_number=0, impression_type=0, quality=60, minutiae=minutiae)
    return MinutiaeRecord(format="iso2005", capture_equipment_compliance=0, capture_equipment_id=0, views=(view,),
                          width=width, height=height, x_resolution=197, y_resolution=197)
