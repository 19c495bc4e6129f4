"""Who is inside a crisis polygon, over 1,000,000 registrations: Passage's grid index on PostgreSQL (or SQLite)
against DuckDB spatial on the same points.

Passage: `service.registrations_in_area` — B-tree range scans over the 0.01° grid cells the polygon covers
(interior cells accepted from the index, boundary-cell candidates decrypted and tested exactly; see
`passage.consular.geo`). The registrations table is the real one (migrated schema, encrypted location column).
Peer: DuckDB 1.5.5 with the spatial extension (`LOAD spatial`, from the `duckdb-extension-spatial` package),
the analytics engine, on a (id, lat, lon) table of the same points: `ST_Contains` over a full scan, and the same
with an R-tree index (`CREATE INDEX ... USING RTREE`). All answers are checked equal to an exact NumPy even-odd
test over every point.

    .venv/bin/python bench/consular/bench_area.py --size 1000000 --backend postgresql --repeat 5
    .venv/bin/python bench/consular/bench_area.py --size 1000000 --backend sqlite --repeat 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

POLYGON = {"type": "Polygon", "coordinates": [[
    [115.42, -8.22], [115.75, -8.12], [116.05, -8.2], [116.42, -8.13], [116.78, -8.3], [116.72, -8.62], [116.55, -8.95],
    [116.2, -8.92], [115.95, -8.8], [115.7, -8.9], [115.5, -8.78], [115.35, -8.5], [115.42, -8.22],
]]}


def points(size: int, seed: int = 18000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dense = int(size * 0.4)
    lat = np.concatenate([rng.uniform(-9.1, -8.1, dense), rng.uniform(-11.0, 6.0, size - dense)])
    lon = np.concatenate([rng.uniform(115.0, 117.0, dense), rng.uniform(95.0, 141.0, size - dense)])
    return lat.round(5), lon.round(5)


def exact_inside(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    ring = np.array(POLYGON["coordinates"][0])
    inside = np.zeros(len(lat), dtype=bool)
    for (x1, y1), (x2, y2) in zip(ring[:-1], ring[1:], strict=True):
        crosses = (y1 > lat) != (y2 > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = (x2 - x1) * (lat - y1) / (y2 - y1) + x1
        inside ^= crosses & (lon < x_cross)
    return inside


def configure(data_dir: Path, url: str) -> None:
    os.environ.update({"PASSAGE_ENVIRONMENT": "test", "PASSAGE_DATA_DIR": str(data_dir), "PASSAGE_DATABASE_URL": url, "PASSAGE_KEY_FILE": str(data_dir / "keys.json")})
    from passage.core.db import dispose_engines
    from passage.core.settings import reset_settings_cache
    from passage.security.crypto import reset_cipher

    reset_settings_cache()
    dispose_engines()
    reset_cipher()


def load(size: int, lat: np.ndarray, lon: np.ndarray, backend: str) -> float:
    from passage.consular import geo
    from passage.core.db import get_engine
    from passage.security.crypto import encrypt_bytes

    started = time.perf_counter()
    org = secrets.token_hex(16)
    now = dt.datetime.now(dt.UTC)
    identity = encrypt_bytes(json.dumps({"family_name": "bench"}).encode(), context="consular.registration.identity")
    contact = encrypt_bytes(json.dumps({"phone": "+86 0"}).encode(), context="consular.registration.contact")
    engine = get_engine()
    columns = ("id", "reference", "mission_id", "protecting_country", "source", "identity", "contact", "language", "purpose", "destination_country",
               "arrival_on", "location", "grid_cell", "priority_tier", "duplicate_status", "active", "version", "created_at", "updated_at")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("INSERT INTO organisations (id, name, country, level, version, created_at, updated_at) VALUES (%s, 'Bench mission', 'CN', 'mission', 1, %s, %s)"
                       if backend == "postgresql" else "INSERT INTO organisations (id, name, country, level, version, created_at, updated_at) VALUES (?, 'Bench mission', 'CN', 'mission', 1, ?, ?)",
                       (org, now, now))

        def rows():  # type: ignore[no-untyped-def]
            for i in range(size):
                la, lo = float(lat[i]), float(lon[i])
                location = encrypt_bytes(json.dumps({"latitude": la, "longitude": lo, "city": "", "address": ""}, sort_keys=True).encode(), context="consular.registration.location")
                yield (secrets.token_hex(16), f"REG-B{i:08d}", org, "CN", "app", identity, contact, "zh", "tourism", "ID", dt.date(2017, 11, 20), location,
                       geo.cell_of(la, lo), 2, "none", True, 1, now, now)

        if backend == "postgresql":
            with cursor.copy(f"COPY consular_registrations ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
        raw.commit()
        if backend == "postgresql":
            raw.driver_connection.autocommit = True  # type: ignore[attr-defined]
            # What autovacuum does after a bulk load: statistics, and the visibility map index-only scans need.
            cursor.execute("VACUUM ANALYZE consular_registrations")
        else:
            batch = []
            for row in rows():
                batch.append(row)
                if len(batch) == 20_000:
                    cursor.executemany(f"INSERT INTO consular_registrations ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", batch)
                    batch = []
            if batch:
                cursor.executemany(f"INSERT INTO consular_registrations ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", batch)
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def passage_query() -> int:
    from sqlalchemy import or_

    from passage.consular import geo, service
    from passage.consular.models import Registration
    from passage.core.db import unit_of_work

    area = geo.parse_area(POLYGON)
    with unit_of_work() as session:
        # The filters of a crisis listing: people of this state, active, whose stay overlaps the crisis.
        conditions = [Registration.active.is_(True), Registration.protecting_country == "CN", Registration.arrival_on <= dt.date(2017, 12, 31),
                      or_(Registration.departure_on.is_(None), Registration.departure_on >= dt.date(2017, 11, 21))]
        return len(service.registrations_in_area(session, area=area, conditions=conditions))


def explain_interior(backend: str) -> None:
    """Where the time goes: the plan of the interior-cell statement, and the two halves timed apart."""
    from sqlalchemy import func, or_, select, text, union_all

    from passage.consular import geo
    from passage.consular.models import Registration
    from passage.core.db import unit_of_work

    area = geo.parse_area(POLYGON)
    cover = geo.grid_cover(area)
    conditions = [Registration.active.is_(True), Registration.protecting_country == "CN", Registration.arrival_on <= dt.date(2017, 12, 31),
                  or_(Registration.departure_on.is_(None), Registration.departure_on >= dt.date(2017, 11, 21))]
    runs = union_all(*[select(Registration.id).where(Registration.grid_cell.between(a, b), *conditions) for a, b in cover.interior])
    with unit_of_work() as session:
        if backend == "postgresql":
            compiled = str(runs.compile(session.bind, compile_kwargs={"literal_binds": True}))
            plan = [row[0] for row in session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + compiled))]
            fetches = sum(int(line.split("Heap Fetches:")[1]) for line in plan if "Heap Fetches:" in line)
            print(f"interior plan: {plan[0].strip()[:60]} ... heap fetches {fetches:,}; {[p for p in plan if 'Execution' in p or 'JIT' in p]}")
        started = time.perf_counter()
        joined = session.scalar(select(func.aggregate_strings(runs.subquery().c.id, ",")))
        print(f"interior ids as one string: {len((joined or '').split(',')):,} in {time.perf_counter() - started:.3f} s")
        started = time.perf_counter()
        boundary = session.execute(select(Registration.id, Registration.location).where(
            or_(*[Registration.grid_cell.between(a, b) for a, b in cover.boundary]), *conditions)).all()
        print(f"boundary candidates fetched and decrypted: {len(boundary):,} in {time.perf_counter() - started:.3f} s")


def duckdb_runs(lat: np.ndarray, lon: np.ndarray, repeat: int) -> dict[str, tuple[list[float], int]]:
    import duckdb

    from passage.mobility.engines import (
        load_spatial,  # the packaged extension, loaded by path (INSTALL would download)
    )

    connection = duckdb.connect()
    load_spatial(connection)
    import pyarrow as pa

    source = pa.table({"id": np.arange(len(lat)), "lat": lat, "lon": lon})
    connection.register("source", source)
    connection.execute("CREATE TABLE pts AS SELECT id, lat, lon, ST_Point(lon, lat) AS geom FROM source")
    polygon = json.dumps(POLYGON)
    out: dict[str, tuple[list[float], int]] = {}
    scan = "SELECT count(*) FROM (SELECT id FROM pts WHERE ST_Contains(ST_GeomFromGeoJSON(?), ST_Point(lon, lat)))"
    times, count = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = connection.execute(scan, [polygon]).fetchone()[0]  # type: ignore[index]
        times.append(time.perf_counter() - started)
    out["DuckDB spatial, ST_Contains full scan"] = (times, count)
    connection.execute("CREATE INDEX pts_rtree ON pts USING RTREE (geom)")
    indexed = "SELECT count(*) FROM (SELECT id FROM pts WHERE ST_Within(geom, ST_GeomFromGeoJSON(?)))"
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        count = connection.execute(indexed, [polygon]).fetchone()[0]  # type: ignore[index]
        times.append(time.perf_counter() - started)
    out["DuckDB spatial, R-tree index + ST_Within"] = (times, count)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port", type=int, default=5473)
    parser.add_argument("--explain", action="store_true", help="also print where the time goes (plan, interior and boundary timed apart)")
    args = parser.parse_args()
    lat, lon = points(args.size)
    truth = int(exact_inside(lat, lon).sum())
    print(f"{args.size:,} registrations, {truth:,} inside the polygon (exact NumPy test)")
    from passage.core.schema import upgrade_database

    with tempfile.TemporaryDirectory(prefix="consular-bench-") as scratch:
        data_dir = Path(scratch)
        cluster = None
        if args.backend == "postgresql":
            from tests.conftest import PostgresCluster

            cluster = PostgresCluster()
            cluster.port = args.port
            cluster.start()
            from sqlalchemy import create_engine, text

            admin = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text('CREATE DATABASE "bench"'))
            admin.dispose()
            url = cluster.url("bench")
        else:
            url = f"sqlite:///{data_dir / 'bench.db'}"
        try:
            configure(data_dir, url)
            upgrade_database(url=url)
            print(f"loaded in {load(args.size, lat, lon, args.backend):.1f} s ({args.backend})")
            from passage.consular import geo

            cover = geo.grid_cover(geo.parse_area(POLYGON))
            print(f"grid cover: {len(cover.interior)} interior ranges, {len(cover.boundary)} boundary ranges, {cover.cells:,} cells")
            times, count = [], 0
            passage_query()  # warm-up: imports, the cipher's key unwrap, the connection pool (not counted)
            for _ in range(args.repeat):
                started = time.perf_counter()
                count = passage_query()
                times.append(time.perf_counter() - started)
            results = {f"Passage grid index on {args.backend} (registrations_in_area)": (times, count)}
            if args.explain:
                explain_interior(args.backend)
        finally:
            from passage.core.db import dispose_engines

            dispose_engines()
            if cluster is not None:
                cluster.stop()
    results.update(duckdb_runs(lat, lon, args.repeat))
    ours = statistics.median(next(iter(results.values()))[0])
    print()
    print("| implementation | median s | runs | people inside | equal to exact | vs Passage |")
    print("|---|---:|---|---:|---|---:|")
    for name, (times, count) in results.items():
        median = statistics.median(times)
        print(f"| {name} | {median:.3f} | {', '.join(f'{t:.3f}' for t in times)} | {count:,} | {'yes' if count == truth else 'NO'} | {median / ours:.2f}x |")


if __name__ == "__main__":
    main()
