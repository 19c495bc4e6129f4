"""Ingest operator events into a pseudonymised, date-partitioned Parquet dataset.

Steps, following Flowminder's data pipeline for CDR analysis (FlowKit's ETL: validate, map cells to
locations, store by day):
1. read administrative boundaries (GeoJSON polygons with `pcode`, `name`, `level`, `parent_pcode`);
2. read cells (`cell_id`, `lon`, `lat`, optional `valid_from`/`valid_to` days) and assign every cell
   to an area at every level with DuckDB's spatial extension (point in polygon);
3. classify every event row: unparseable time, outside the period, unknown cell (or cell not valid
   that day), missing subscriber; count by reason and refuse when the rejected share exceeds the
   user's limit - before anything is written;
4. pseudonymise subscribers with HMAC-SHA256 inside the same SQL and write the kept rows as Parquet
   partitioned by local date. The dataset directory appears only when everything succeeded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import math
import os
import shutil
import tempfile
import zoneinfo
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
import shapely.geometry

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import read_csv_rows
from passage.core.i18n import P_, T_
from passage.mobility.engines import duckdb_connection, load_spatial
from passage.mobility.pseudonymise import PseudonymKey, pseudonym_sql
from passage.mobility.windows import Window

ProgressCallback = Callable[[str, float], None]
"""`callback(stage, fraction_done)`; fraction in [0, 1]."""

EVENT_COLUMNS = ("subscriber", "timestamp", "cell_id")
OPTIONAL_EVENT_COLUMNS = ("event_type",)
REJECTION_REASONS = ("missing_subscriber", "unparseable_time", "outside_period", "unknown_cell")
MANIFEST = "manifest.json"
DATASET_FORMAT = "passage-mobility-dataset/1"


def _noop(_stage: str, _fraction: float) -> None:
    return None


@dataclass(frozen=True)
class Area:
    pcode: str
    name: str
    level: int
    parent_pcode: str | None
    geometry: dict[str, Any] = field(repr=False)


def read_boundaries(path: Path) -> list[Area]:
    """Read and check GeoJSON boundaries: every feature a Polygon/MultiPolygon with a unique P-code."""
    if not path.exists():
        raise InvalidInput(T_("{file}: file not found", file=path.name), fields=[FieldError("areas", T_("not found"))])
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(T_("{file}: not valid GeoJSON ({error})", file=path.name, error=type(exc).__name__)) from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or not features:
        raise InvalidInput(T_("{file}: expected a FeatureCollection with at least one feature", file=path.name))
    areas: list[Area] = []
    problems: list[FieldError] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        where = f"features[{index}]"
        props = (feature or {}).get("properties") or {}
        geometry = (feature or {}).get("geometry") or {}
        pcode = props.get("pcode")
        if not isinstance(pcode, str) or not pcode.strip():
            problems.append(FieldError(f"{where}.properties.pcode", T_("missing P-code")))
            continue
        pcode = pcode.strip()
        if pcode in seen:
            problems.append(FieldError(f"{where}.properties.pcode", T_("duplicate P-code")))
        seen.add(pcode)
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            problems.append(FieldError(f"{where}.geometry", T_("must be Polygon or MultiPolygon, not {type}", type=geometry.get('type'))))
            continue
        try:
            shape = shapely.geometry.shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException):
            problems.append(FieldError(f"{where}.geometry", T_("unreadable coordinates")))
            continue
        if shape.is_empty:
            problems.append(FieldError(f"{where}.geometry", T_("empty polygon")))
            continue
        level = props.get("level")
        if isinstance(level, str) and level.strip().isdigit():
            level = int(level)
        if not isinstance(level, int) or isinstance(level, bool) or level < 0:
            problems.append(FieldError(f"{where}.properties.level", T_("level must be a non-negative integer")))
            continue
        parent = props.get("parent_pcode")
        parent = parent.strip() if isinstance(parent, str) and parent.strip() else None
        name = props.get("name")
        areas.append(Area(pcode, str(name) if name is not None else pcode, level, parent, geometry))
    if not problems:
        known = {a.pcode for a in areas}
        problems += [FieldError(f"area {a.pcode}.parent_pcode", T_("unknown parent P-code")) for a in areas if a.parent_pcode and a.parent_pcode not in known]
    if problems:
        raise InvalidInput(T_("{file}: invalid boundaries", file=path.name), fields=problems)
    return areas


def _parse_day(text: str, where: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidInput(T_("{where}: day must be YYYY-MM-DD", where=where), fields=[FieldError(where, T_("unparseable day"))]) from None


def read_cells(path: Path) -> pa.Table:
    """Read cells CSV; checks coordinates, validity days, and that one cell id's validity never overlaps."""
    _, rows = read_csv_rows(path, required=["cell_id", "lon", "lat"], optional=["valid_from", "valid_to"])
    cell_ids: list[str] = []
    lons: list[float] = []
    lats: list[float] = []
    froms: list[dt.date] = []
    tos: list[dt.date] = []
    by_id: dict[str, list[tuple[dt.date, dt.date, int]]] = {}
    for line, row in rows:
        where = f"{path.name}: line {line}"
        cell_id = row["cell_id"]
        if not cell_id:
            raise InvalidInput(T_("{where}: empty cell_id", where=where), fields=[FieldError(f"line {line}, column cell_id", T_("empty"))])
        try:
            lon, lat = float(row["lon"]), float(row["lat"])
        except ValueError:
            raise InvalidInput(T_("{where}: lon/lat must be numbers", where=where), fields=[FieldError(f"line {line}, column lon/lat", T_("not a number"))]) from None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90) or math.isnan(lon) or math.isnan(lat):
            raise InvalidInput(T_("{where}: lon/lat out of range", where=where), fields=[FieldError(f"line {line}, column lon/lat", T_("out of range"))])
        start = _parse_day(row.get("valid_from", ""), f"{where}, column valid_from") or dt.date(1, 1, 1)
        end = _parse_day(row.get("valid_to", ""), f"{where}, column valid_to") or dt.date(9999, 12, 31)
        if end < start:
            raise InvalidInput(T_("{where}: valid_to before valid_from", where=where), fields=[FieldError(f"line {line}, column valid_to", T_("reversed validity"))])
        for other_start, other_end, other_line in by_id.get(cell_id, []):
            if start <= other_end and other_start <= end:
                raise InvalidInput(T_("{where}: validity overlaps line {other_line} for the same cell_id", where=where, other_line=other_line), fields=[FieldError(f"line {line}, column valid_from", T_("overlapping validity"))])
        by_id.setdefault(cell_id, []).append((start, end, line))
        cell_ids.append(cell_id)
        lons.append(lon)
        lats.append(lat)
        froms.append(start)
        tos.append(end)
    return pa.table(
        {
            "cell_idx": pa.array(range(len(cell_ids)), pa.int32()),
            "cell_id": pa.array(cell_ids, pa.string()),
            "lon": pa.array(lons, pa.float64()),
            "lat": pa.array(lats, pa.float64()),
            "valid_from": pa.array(froms, pa.date32()),
            "valid_to": pa.array(tos, pa.date32()),
        }
    )


def assign_cells(cells: pa.Table, areas: list[Area], con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Point-in-polygon join of cells to areas at every level (DuckDB spatial, loaded offline).

    A cell on a shared border belongs to the area with the smallest P-code, so the result is
    deterministic. Cells outside every area of a level get no row for that level.
    """
    own = con is None
    con = con or duckdb_connection()
    try:
        load_spatial(con)
        area_table = pa.table(
            {
                "pcode": [a.pcode for a in areas],
                "level": pa.array([a.level for a in areas], pa.int32()),
                "wkb": [shapely.to_wkb(shapely.geometry.shape(a.geometry)) for a in areas],
            }
        )
        con.register("areas_in", area_table)
        con.register("cells_in", cells.select(["cell_idx", "lon", "lat"]))
        result = con.execute(
            """
            WITH geoms AS (SELECT pcode, level, ST_GeomFromWKB(wkb) AS geom FROM areas_in),
            hits AS (
                SELECT c.cell_idx, g.level, g.pcode,
                       ROW_NUMBER() OVER (PARTITION BY c.cell_idx, g.level ORDER BY g.pcode) AS rn
                FROM cells_in c JOIN geoms g ON ST_Contains(g.geom, ST_Point(c.lon, c.lat))
            )
            SELECT CAST(cell_idx AS INTEGER) AS cell_idx, CAST(level AS INTEGER) AS level, pcode
            FROM hits WHERE rn = 1 ORDER BY level, cell_idx
            """
        ).fetch_arrow_table()
        con.unregister("areas_in")
        con.unregister("cells_in")
        return result
    finally:
        if own:
            con.close()


def resolve_event_files(spec: str | Path) -> tuple[str, list[str]]:
    """A file, a folder (searched recursively) or a glob -> (format, files). One format only."""
    text = str(spec)
    path = Path(text)
    if any(ch in text for ch in "*?["):
        files = sorted(glob.glob(text, recursive=True))
    elif path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".parquet", ".csv"))
    elif path.is_file():
        files = [text]
    else:
        raise InvalidInput(T_("events: no such file or folder"), fields=[FieldError("events", T_("not found"))])
    files = [f for f in files if Path(f).suffix.lower() in (".parquet", ".csv")]
    if not files:
        raise InvalidInput(T_("events: no .parquet or .csv files found"), fields=[FieldError("events", T_("no files"))])
    kinds = {Path(f).suffix.lower() for f in files}
    if len(kinds) > 1:
        raise InvalidInput(T_("events: mixes Parquet and CSV files; give one format"), fields=[FieldError("events", T_("mixed formats"))])
    return ("parquet" if kinds == {".parquet"} else "csv"), files


def _source_sql(kind: str) -> str:
    if kind == "parquet":
        return "read_parquet($files, union_by_name = true)"
    return "read_csv($files, header = true, all_varchar = true, union_by_name = true)"


@dataclass
class IngestReport:
    """Counts of one ingest; `rejected` by reason. Contains no identifiers."""

    rows_read: int
    rejected: dict[str, int]
    rows_kept: int
    max_rejected_share: float
    cells: int = 0
    cells_outside_areas: dict[str, int] = field(default_factory=dict)
    first_day: str | None = None
    last_day: str | None = None

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def rejected_share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows_rejected"] = self.rows_rejected
        data["rejected_share"] = round(self.rejected_share, 6)
        return data

    def summary(self) -> str:
        reasons = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.rejected.items() if v) or "none"
        return f"{self.rows_read} rows read, {self.rows_rejected} rejected ({reasons}), {self.rows_kept} kept"


def check_timezone(name: str) -> str:
    if name not in zoneinfo.available_timezones() and name != "UTC":
        raise InvalidInput(T_("timezone: unknown IANA time zone"), fields=[FieldError("timezone", T_("unknown"))])
    return name


def ingest(
    *,
    events: str | Path,
    cells: Path,
    areas: Path,
    out_dir: Path,
    key: PseudonymKey,
    period: Window | None = None,
    timezone: str = "UTC",
    max_rejected_share: float = 0.0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> IngestReport:
    """Validate, pseudonymise and store events; returns the ingest report (also in `manifest.json`).

    Raises `InvalidInput` - and writes nothing - on bad inputs or when the rejected share of rows
    exceeds `max_rejected_share`.
    """
    report_progress = progress or _noop
    if not 0.0 <= max_rejected_share <= 1.0:
        raise InvalidInput(T_("max_rejected_share must be between 0 and 1"), fields=[FieldError("max_rejected_share", T_("out of range"))])
    check_timezone(timezone)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise InvalidInput(T_("{name}: output folder exists and is not empty", name=out_dir.name), fields=[FieldError("out", T_("exists"))])
    report_progress("reading boundaries and cells", 0.0)
    area_list = read_boundaries(Path(areas))
    cell_table = read_cells(Path(cells))
    kind, files = resolve_event_files(events)
    own = con is None
    con = con or duckdb_connection()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".part", dir=out_dir.parent))
    try:
        report_progress("assigning cells to areas", 0.05)
        cell_areas = assign_cells(cell_table, area_list, con)
        outside = {}
        for level in sorted({a.level for a in area_list}):
            assigned = sum(1 for v in cell_areas.filter(pa.compute.equal(cell_areas["level"], level))["cell_idx"].to_pylist() if v is not None)
            outside[str(level)] = cell_table.num_rows - assigned
        report_progress("checking event columns", 0.1)
        source = _source_sql(kind)
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {source}", {"files": files}).fetchall()  # noqa: S608 - fixed text
        except duckdb.Error as exc:
            raise InvalidInput(T_("events: unreadable {kind} input ({error})", kind=kind, error=type(exc).__name__)) from None
        columns = {row[0] for row in described}
        missing = [c for c in EVENT_COLUMNS if c not in columns]
        if missing:
            raise InvalidInput(
                f"events: missing column(s) {', '.join(missing)}",
                fields=[FieldError(f"column {c}", T_("required column is missing")) for c in missing],
            )
        event_type = "CAST(event_type AS VARCHAR)" if "event_type" in columns else "CAST(NULL AS VARCHAR)"
        con.register("cells", cell_table)
        classified = f"""
            WITH src AS (
                SELECT CAST(subscriber AS VARCHAR) AS subscriber,
                       timezone($tz, TRY_CAST("timestamp" AS TIMESTAMPTZ)) AS ts,
                       CAST(cell_id AS VARCHAR) AS cell_id,
                       {event_type} AS event_type
                FROM {source}
            ),
            classified AS (
                SELECT s.subscriber, s.ts, CAST(s.ts AS DATE) AS date, c.cell_idx, s.event_type,
                       CASE WHEN s.subscriber IS NULL OR s.subscriber = '' THEN 'missing_subscriber'
                            WHEN s.ts IS NULL THEN 'unparseable_time'
                            WHEN $has_period AND (CAST(s.ts AS DATE) < $period_start OR CAST(s.ts AS DATE) > $period_end)
                                THEN 'outside_period'
                            WHEN c.cell_idx IS NULL THEN 'unknown_cell'
                       END AS reason
                FROM src s LEFT JOIN cells c
                  ON s.cell_id = c.cell_id AND CAST(s.ts AS DATE) BETWEEN c.valid_from AND c.valid_to
            )
        """  # noqa: S608 - only fixed fragments are interpolated; values are bound parameters
        params: dict[str, Any] = {
            "files": files,
            "tz": timezone,
            "has_period": period is not None,
            "period_start": period.start if period else dt.date(1, 1, 1),
            "period_end": period.end if period else dt.date(9999, 12, 31),
        }
        report_progress("counting rows by reason", 0.15)
        try:
            counts = con.execute(
                classified + " SELECT reason, COUNT(*), MIN(date) FILTER (WHERE reason IS NULL), MAX(date) FILTER (WHERE reason IS NULL) FROM classified GROUP BY reason",  # noqa: S608 - fixed text
                params,
            ).fetchall()
        except duckdb.Error as exc:
            raise InvalidInput(T_("events: unreadable {kind} input ({error})", kind=kind, error=type(exc).__name__)) from None
        rejected = dict.fromkeys(REJECTION_REASONS, 0)
        kept = 0
        first_day = last_day = None
        for reason, count, first, last in counts:
            if reason is None:
                kept = int(count)
                first_day, last_day = first, last
            else:
                rejected[reason] = int(count)
        report = IngestReport(
            rows_read=kept + sum(rejected.values()),
            rejected=rejected,
            rows_kept=kept,
            max_rejected_share=max_rejected_share,
            cells=cell_table.num_rows,
            cells_outside_areas=outside,
            first_day=first_day.isoformat() if first_day else None,
            last_day=last_day.isoformat() if last_day else None,
        )
        if report.rows_read == 0:
            raise InvalidInput(T_("events: the input has no rows"), fields=[FieldError("events", T_("empty"))])
        if report.rejected_share > max_rejected_share or kept == 0:
            raise InvalidInput(
                f"events: {report.rows_rejected} of {report.rows_read} rows rejected "
                f"({report.rejected_share:.2%} > allowed {max_rejected_share:.2%}); nothing was written",
                fields=[FieldError(f"rejected.{k}", P_("{n} row", "{n} rows", v)) for k, v in rejected.items() if v],
                extra={"report": report.as_dict()},
            )
        report_progress("pseudonymising and writing events", 0.3)
        ipad, opad = key.pads()
        # Fixed fragments only; the key pads, days, zone and target path are bound parameters.
        projection = pseudonym_sql("subscriber") + " AS subscriber, ts, CAST(cell_idx AS INTEGER) AS cell_idx, event_type, date"
        copy_sql = "".join(
            ["COPY (", classified, " SELECT ", projection, " FROM classified WHERE reason IS NULL)",
             " TO $target (FORMAT parquet, PARTITION_BY (date), COMPRESSION zstd)"]
        )
        con.execute(copy_sql, params | {"hmac_ipad": ipad, "hmac_opad": opad, "target": (staging / "events").as_posix()})
        con.unregister("cells")
        report_progress("writing reference tables", 0.95)
        pq.write_table(cell_table, staging / "cells.parquet")
        pq.write_table(cell_areas, staging / "cell_areas.parquet")
        pq.write_table(
            pa.table(
                {
                    "pcode": [a.pcode for a in area_list],
                    "name": [a.name for a in area_list],
                    "level": pa.array([a.level for a in area_list], pa.int32()),
                    "parent_pcode": [a.parent_pcode for a in area_list],
                    "geometry": [json.dumps(a.geometry, separators=(",", ":")) for a in area_list],
                }
            ),
            staging / "areas.parquet",
        )
        manifest = {
            "format": DATASET_FORMAT,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "timezone": timezone,
            "period": str(period) if period else None,
            "levels": sorted({a.level for a in area_list}),
            "key_fingerprint": key.fingerprint(),
            "report": report.as_dict(),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
        report_progress("done", 1.0)
        return report
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
        if own:
            con.close()


def read_manifest(dataset: Path) -> dict[str, Any]:
    """The manifest of an ingested dataset; refuses folders that are not one."""
    path = Path(dataset) / MANIFEST
    if not path.exists():
        raise InvalidInput(T_("{name}: not an ingested mobility dataset (no {MANIFEST})", name=Path(dataset).name, MANIFEST=MANIFEST), fields=[FieldError("dataset", T_("not a dataset"))])
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != DATASET_FORMAT:
        raise InvalidInput(T_("{name}: unsupported dataset format", name=Path(dataset).name), fields=[FieldError("dataset", T_("format"))])
    return manifest
