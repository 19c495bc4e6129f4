"""Synthetic operator data with a planted crisis, and its true answer.

A rectangular country of `areas` districts (admin level 2) grouped into regions (level 1), each with
a few cells. Subscribers have a true home that changes only by (a) background migration: each
subscriber moves once with probability `background_migration` at a uniformly random day, and (b) the
crisis: on `crisis_day`, a share `displaced_share` of the residents of `affected_area` move to the
`destinations` (a P-code -> share mapping). Each active day a subscriber makes 1 + Poisson events,
each at a cell of the true home with probability `home_event_share`, else anywhere.

The true answer is computed from the true homes with the same conventions as the estimate (modal
home over a window's active days, ties to the most recent day, then the larger P-code; only
subscribers active in both windows of a flow), so the estimate's error is exactly the error of
inferring homes from events - the quantity Wilson et al. 2016 validate for the Nepal method.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import atomic_output
from passage.core.i18n import T_

ORIGIN_LON, ORIGIN_LAT, AREA_DEGREES = 84.0, 27.0, 0.25


@dataclass
class SynthConfig:
    subscribers: int = 20_000
    days: int = 42
    areas: int = 12
    regions: int = 3
    cells_per_area: int = 4
    start: dt.date = dt.date(2024, 3, 1)
    crisis_day: int = 28
    affected_area: str = "D01"
    displaced_share: float = 0.4
    destinations: dict[str, float] = field(default_factory=lambda: {"D02": 0.5, "D05": 0.3, "D09": 0.2})
    background_migration: float = 0.05
    events_per_day: float = 1.67
    active_share: float = 0.9
    home_event_share: float = 0.8
    window_days: int = 14
    seed: int = 7

    def pcodes(self) -> list[str]:
        return [f"D{i + 1:02d}" for i in range(self.areas)]

    def validate(self) -> None:
        problems: list[FieldError] = []
        if self.subscribers < 1 or self.areas < 2 or self.regions < 1 or self.regions > self.areas or self.cells_per_area < 1:
            problems.append(FieldError("subscribers/areas/regions/cells", T_("must be positive, regions <= areas")))
        if self.affected_area not in self.pcodes():
            problems.append(FieldError("affected_area", T_("not one of the generated districts")))
        unknown = [d for d in self.destinations if d not in self.pcodes() or d == self.affected_area]
        if unknown or not self.destinations or abs(sum(self.destinations.values()) - 1.0) > 1e-6:
            problems.append(FieldError("destinations", T_("other districts whose shares sum to 1")))
        if not 0 <= self.displaced_share <= 1 or not 0 <= self.background_migration <= 1:
            problems.append(FieldError("displaced_share", T_("shares must be in [0, 1]")))
        if not (2 * self.window_days <= self.crisis_day and self.crisis_day + self.window_days <= self.days):
            problems.append(FieldError("crisis_day", T_("needs two windows before the crisis and one after: 2*window <= crisis_day <= days - window")))
        if problems:
            raise InvalidInput(T_("invalid synth parameters"), fields=problems)

    def windows(self) -> dict[str, str]:
        """Benchmark (first days), comparison (just before the crisis), focal (from the crisis day)."""

        def window(first: int) -> str:
            a = self.start + dt.timedelta(days=first)
            return f"{a.isoformat()}..{(a + dt.timedelta(days=self.window_days - 1)).isoformat()}"

        return {"benchmark": window(0), "comparison": window(self.crisis_day - self.window_days), "focal": window(self.crisis_day)}


def _rectangle(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _layout(config: SynthConfig) -> tuple[int, list[tuple[float, float]], list[int]]:
    columns = int(np.ceil(np.sqrt(config.areas)))
    corners = [(ORIGIN_LON + (i % columns) * AREA_DEGREES, ORIGIN_LAT + (i // columns) * AREA_DEGREES) for i in range(config.areas)]
    region_of = [min(i * config.regions // config.areas, config.regions - 1) for i in range(config.areas)]
    return columns, corners, region_of


def boundaries(config: SynthConfig) -> dict[str, Any]:
    """Level 1 regions (MultiPolygons of their districts) and level 2 districts, with P-codes."""
    _, corners, region_of = _layout(config)
    features = []
    for r in range(config.regions):
        polygons = [_rectangle(x, y, x + AREA_DEGREES, y + AREA_DEGREES)["coordinates"] for (x, y), rr in zip(corners, region_of, strict=True) if rr == r]
        features.append({"type": "Feature", "properties": {"pcode": f"R{r + 1}", "name": f"Region {r + 1}", "level": 1, "parent_pcode": None}, "geometry": {"type": "MultiPolygon", "coordinates": polygons}})
    for i, (x, y) in enumerate(corners):
        features.append({"type": "Feature", "properties": {"pcode": config.pcodes()[i], "name": f"District {i + 1}", "level": 2, "parent_pcode": f"R{region_of[i] + 1}"}, "geometry": _rectangle(x, y, x + AREA_DEGREES, y + AREA_DEGREES)})
    return {"type": "FeatureCollection", "features": features}


def _modal(homes: np.ndarray, active: np.ndarray, n_areas: int) -> np.ndarray:
    """Modal home per subscriber over the window's active days; -1 if never active. Same tie rule as the metric."""
    subs = homes.shape[1]
    days = np.zeros((subs, n_areas), dtype=np.int64)
    last = np.full((subs, n_areas), -1, dtype=np.int64)
    for d in range(homes.shape[0]):
        idx = np.nonzero(active[d])[0]
        days[idx, homes[d, idx]] += 1
        last[idx, homes[d, idx]] = d
    # Most days, then latest day, then larger P-code (P-codes sort in index order): one integer key.
    key = days * 1_000_000 + (last + 1) * 1_000 + np.arange(n_areas)[None, :]
    key[days == 0] = -1
    best = key.argmax(axis=1)
    return np.where(days.max(axis=1) > 0, best, -1)


def generate(config: SynthConfig, out_dir: Path, *, progress: Callable[[str, float], None] | None = None, rows_per_file: int = 5_000_000) -> dict[str, Any]:
    """Write `events/*.parquet`, `cells.csv`, `areas.geojson` and `truth.json` under `out_dir`; return the truth."""
    config.validate()
    report = progress or (lambda _s, _f: None)
    rng = np.random.default_rng(config.seed)
    out_dir = Path(out_dir)
    (out_dir / "events").mkdir(parents=True, exist_ok=True)
    pcodes = config.pcodes()
    n_areas = config.areas
    _, corners, _ = _layout(config)

    with atomic_output(out_dir / "areas.geojson") as handle:
        json.dump(boundaries(config), handle)
    cell_lon = np.empty(n_areas * config.cells_per_area)
    cell_lat = np.empty_like(cell_lon)
    for i, (x, y) in enumerate(corners):
        sl = slice(i * config.cells_per_area, (i + 1) * config.cells_per_area)
        cell_lon[sl] = x + AREA_DEGREES * rng.uniform(0.05, 0.95, config.cells_per_area)
        cell_lat[sl] = y + AREA_DEGREES * rng.uniform(0.05, 0.95, config.cells_per_area)
    with atomic_output(out_dir / "cells.csv") as handle:
        handle.write("cell_id,lon,lat\n")
        for c in range(len(cell_lon)):
            handle.write(f"C{c:05d},{cell_lon[c]:.6f},{cell_lat[c]:.6f}\n")
    cell_ids = pa.array([f"C{c:05d}" for c in range(len(cell_lon))])

    n = config.subscribers
    home0 = rng.integers(0, n_areas, n)
    movers = rng.random(n) < config.background_migration
    move_day = np.where(movers, rng.integers(1, config.days, n), config.days + 1)
    move_to = (home0 + rng.integers(1, n_areas, n)) % n_areas
    affected = pcodes.index(config.affected_area)
    dest_idx = np.array([pcodes.index(d) for d in config.destinations])
    dest_p = np.array(list(config.destinations.values()))
    subscriber_ids = pa.array([f"+9779{n_:09d}" for n_ in rng.permutation(n) + 10_000_000])

    homes = np.empty((config.days, n), dtype=np.int16)
    active = rng.random((config.days, n)) < config.active_share
    displaced = np.zeros(n, dtype=bool)
    crisis_dest = dest_idx[rng.choice(len(dest_idx), n, p=dest_p)]
    writer: pq.ParquetWriter | None = None
    part, rows_in_part, total = 0, 0, 0
    for d in range(config.days):
        home = np.where(d >= move_day, move_to, home0)
        if d == config.crisis_day:
            displaced = (home == affected) & (rng.random(n) < config.displaced_share)
        if d >= config.crisis_day:
            home = np.where(displaced, crisis_dest, home)
        homes[d] = home
        idx = np.nonzero(active[d])[0]
        counts = 1 + rng.poisson(max(config.events_per_day / config.active_share - 1, 0), idx.size)
        who = np.repeat(idx, counts)
        at_home = rng.random(who.size) < config.home_event_share
        area = np.where(at_home, home[who], rng.integers(0, n_areas, who.size))
        cell = area * config.cells_per_area + rng.integers(0, config.cells_per_area, who.size)
        day_start = np.datetime64(config.start + dt.timedelta(days=d), "us")
        seconds = rng.integers(0, 86_400_000_000, who.size).astype("timedelta64[us]")
        table = pa.table(
            {
                "subscriber": subscriber_ids.take(pa.array(who)),
                "timestamp": pa.array(day_start + seconds, pa.timestamp("us", tz="UTC")),
                "cell_id": cell_ids.take(pa.array(cell)),
            }
        )
        if writer is None or rows_in_part >= rows_per_file:
            if writer is not None:
                writer.close()
            writer = pq.ParquetWriter(out_dir / "events" / f"part-{part:04d}.parquet", table.schema, compression="zstd")
            part, rows_in_part = part + 1, 0
        writer.write_table(table)
        rows_in_part += table.num_rows
        total += table.num_rows
        report("generating events", (d + 1) / config.days)
    if writer is not None:
        writer.close()

    truth = _truth(config, homes, active, pcodes, displaced, total)
    with atomic_output(out_dir / "truth.json") as handle:
        json.dump(truth, handle, indent=2)
    return truth


def _truth(config: SynthConfig, homes: np.ndarray, active: np.ndarray, pcodes: list[str], displaced: np.ndarray, total: int) -> dict[str, Any]:
    windows = config.windows()
    modal: dict[str, np.ndarray] = {}
    for name, text in windows.items():
        a, b = (dt.date.fromisoformat(x) for x in text.split(".."))
        first, last = (a - config.start).days, (b - config.start).days + 1
        modal[name] = _modal(homes[first:last], active[first:last], config.areas)

    def flow(x: np.ndarray, y: np.ndarray) -> dict[tuple[int, int], int]:
        both = (x >= 0) & (y >= 0)
        pairs, counts = np.unique(np.stack([x[both], y[both]]), axis=1, return_counts=True)
        return {(int(o), int(d)): int(c) for (o, d), c in zip(pairs.T, counts, strict=True)}

    comparison = flow(modal["benchmark"], modal["comparison"])
    focal = flow(modal["benchmark"], modal["focal"])
    rows = []
    for key in sorted(set(comparison) | set(focal)):
        c, f = comparison.get(key, 0), focal.get(key, 0)
        rows.append({"origin_pcode": pcodes[key[0]], "destination_pcode": pcodes[key[1]], "subscribers_benchmark_comparison": c, "subscribers_benchmark_focal": f, "above_normal": f - c})
    params = asdict(config)
    params["start"] = config.start.isoformat()
    return {
        "parameters": params,
        "windows": windows,
        "events": total,
        "level": 2,
        "planted_displaced": int(displaced.sum()),
        "flows_above_normal": rows,
    }
