"""Ingest operator events into a pseudonymised, date-partitioned Parquet dataset.

Steps, following Flowminder's data pipeline for CDR analysis (FlowKit's ETL: validate, map cells to
locations, store by day):
1. read administrative boundaries (GeoJSON polygons with `pcode`, `name`, `level`, `parent_pcode`);
2. read cells (`cell_id`, `lon`, `lat`, optional `valid_from`/`valid_to` days) and assign every cell
   to an area at every level with DuckDB's spatial extension (point in polygon);
3. classify every event row: unparseable time, outside the period, unknown cell (or cell not valid
   that day), missing subscriber; tally rows by (subscriber, reason) in one pass, and refuse when the
   rejected share exceeds the user's limit - before anything is written;
4. pseudonymise: HMAC-SHA256 once per distinct subscriber (not per event), each pseudonym numbered
   densely in pseudonym order; write the kept rows, with that integer id, as Parquet partitioned by
   local date (second and last pass). The dataset directory appears only when everything succeeded.

The same SQL runs on DuckDB (default; out-of-core) and, transpiled, on Spark (`engines.SparkEngine`),
from local files or, on Spark, from and to an object-store URL.

Dataset layout (format `passage-mobility-dataset/2`):
    manifest.json                      format, zone, levels, key fingerprint, ingest report (written last)
    events/date=YYYY-MM-DD/*.parquet   subscriber INTEGER, ts TIMESTAMP (local), cell_idx INTEGER, event_type VARCHAR
    subscribers.parquet                subscriber INTEGER, pseudonym VARCHAR (HMAC-SHA256, 128 bits, hex)
    cells.parquet, cell_areas.parquet, areas.parquet   cells, cell -> area per level, boundaries
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
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import shapely
import shapely.geometry

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import read_csv_rows
from passage.core.i18n import P_, T_
from passage.mobility.engines import DuckDBEngine, Engine, duckdb_connection, load_spatial
from passage.mobility.pseudonymise import PseudonymKey, pseudonym_sql
from passage.mobility.windows import Window

ProgressCallback = Callable[[str, float], None]
"""`callback(stage, fraction_done)`; fraction in [0, 1]."""

EVENT_COLUMNS = ("subscriber", "timestamp", "cell_id")
OPTIONAL_EVENT_COLUMNS = ("event_type",)
REJECTION_REASONS = ("missing_subscriber", "unparseable_time", "outside_period", "unknown_cell")
MANIFEST = "manifest.json"
DATASET_FORMAT = "passage-mobility-dataset/2"
"""/2: `events.subscriber` is a dense INTEGER id; `subscribers.parquet` maps it to the HMAC pseudonym."""


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
    if _is_url(text):  # an object-store folder or file, read by Spark
        return ("csv" if text.lower().endswith(".csv") else "parquet"), [text]
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
    subscribers: int = 0

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


# --- the ingest, written once for every engine --------------------------------------------------------
# DuckDB-dialect SQL over two relations every engine provides: `raw_events(subscriber, ts, cell_id,
# event_type)` (engine.register_raw_events: `ts` already the local wall-clock time) and `cells` (the cells
# table). Spark runs the same text after sqlglot transpilation, as it does the metrics (`engines`). Values
# (the key pads, the period, the zone) are bound parameters; identifiers are fixed here.

CLASSIFIED = """classified AS (
    SELECT s.subscriber, s.ts, CAST(s.ts AS DATE) AS date, c.cell_idx, s.event_type,
           CASE WHEN s.subscriber IS NULL OR s.subscriber = '' THEN 'missing_subscriber'
                WHEN s.ts IS NULL THEN 'unparseable_time'
                WHEN $has_period AND (CAST(s.ts AS DATE) < CAST($period_start AS DATE) OR CAST(s.ts AS DATE) > CAST($period_end AS DATE))
                    THEN 'outside_period'
                WHEN c.cell_idx IS NULL THEN 'unknown_cell'
           END AS reason
    FROM raw_events s LEFT JOIN cells c
      ON s.cell_id = c.cell_id AND CAST(s.ts AS DATE) BETWEEN c.valid_from AND c.valid_to
)"""
"""Every raw row with its rejection reason (NULL: kept). Unknown cells and cells not valid that day are one reason."""

TALLY_SQL = (
    f"WITH {CLASSIFIED} SELECT subscriber, reason, COUNT(*) AS n, MIN(date) AS first_day, MAX(date) AS last_day "  # noqa: S608 - fixed text
    "FROM classified GROUP BY subscriber, reason"
)
"""Pass 1 over the raw events: rows per (raw subscriber, reason). Materialised inside the engine (never written);
it gives both the rejection counts and the distinct subscribers to pseudonymise."""

COUNTS_SQL = "SELECT reason, CAST(SUM(n) AS BIGINT) AS n, MIN(first_day) AS first_day, MAX(last_day) AS last_day FROM tally GROUP BY reason"

KEYS_SQL = (
    "SELECT subscriber AS raw_subscriber, pseudonym, CAST(ROW_NUMBER() OVER (ORDER BY pseudonym) AS INTEGER) AS subscriber_id "  # noqa: S608 - fixed text
    f"FROM (SELECT subscriber, {pseudonym_sql('subscriber')} AS pseudonym FROM tally WHERE reason IS NULL) keyed"
)
"""The HMAC once per distinct subscriber (not once per event), and a dense integer id in pseudonym order:
the id is a function of the pseudonyms alone, so it reveals nothing the pseudonyms do not."""

SUBSCRIBERS_SQL = "SELECT subscriber_id AS subscriber, pseudonym FROM subscriber_keys"

EVENTS_SQL = (
    f"WITH {CLASSIFIED} SELECT k.subscriber_id AS subscriber, c.ts, CAST(c.cell_idx AS INTEGER) AS cell_idx, c.event_type, c.date "  # noqa: S608 - fixed text
    "FROM classified c JOIN subscriber_keys k ON c.subscriber = k.raw_subscriber WHERE c.reason IS NULL"
)
"""Pass 2 over the raw events: the kept rows with the subscriber's integer id, written partitioned by local date."""


def _is_url(target: str | Path) -> bool:
    return "://" in str(target)


def ingest(
    *,
    events: str | Path,
    cells: Path,
    areas: Path,
    out_dir: str | Path,
    key: PseudonymKey,
    period: Window | None = None,
    timezone: str = "UTC",
    max_rejected_share: float = 0.0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    engine: Engine | None = None,
) -> IngestReport:
    """Validate, pseudonymise and store events; returns the ingest report (also in `manifest.json`).

    Two passes over the raw events on the engine (DuckDB by default, or a `SparkEngine`): a tally by
    (subscriber, reason), then the partitioned write. Raises `InvalidInput` - and publishes nothing -
    on bad inputs or when the rejected share of rows exceeds `max_rejected_share`. A local dataset
    appears only when complete (written to a staging folder, then renamed); on an object store
    (Spark only) `manifest.json` is written last and marks a complete dataset.
    """
    report_progress = progress or _noop
    if not 0.0 <= max_rejected_share <= 1.0:
        raise InvalidInput(T_("max_rejected_share must be between 0 and 1"), fields=[FieldError("max_rejected_share", T_("out of range"))])
    check_timezone(timezone)
    remote = _is_url(out_dir)
    if remote and (engine is None or engine.name != "spark"):
        raise InvalidInput("an object-store dataset URL needs the Spark engine", fields=[FieldError("out", "URL needs --engine spark")])
    out_path = Path(str(out_dir)) if not remote else None
    if out_path is not None and out_path.exists() and any(out_path.iterdir()) and not overwrite:
        raise InvalidInput(f"{out_path.name}: output folder exists and is not empty", fields=[FieldError("out", "exists")])
    report_progress("reading boundaries and cells", 0.0)
    area_list = read_boundaries(Path(areas))
    cell_table = read_cells(Path(cells))
    kind, files = resolve_event_files(events)
    own = engine is None
    runner: Engine = engine or DuckDBEngine(con or duckdb_connection())
    staging: Path | None = None
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", suffix=".part", dir=out_path.parent))
    target = staging.as_posix() if staging is not None else str(out_dir).rstrip("/")
    try:
        report_progress("assigning cells to areas", 0.05)
        # The spatial join runs once per cell set (thousands of points), never per event: events carry cell_idx.
        cell_areas = assign_cells(cell_table, area_list, runner.con if isinstance(runner, DuckDBEngine) else None)
        outside = {}
        for level in sorted({a.level for a in area_list}):
            assigned = pc.sum(pc.is_valid(cell_areas.filter(pc.equal(cell_areas["level"], level))["cell_idx"])).as_py() or 0
            outside[str(level)] = cell_table.num_rows - assigned
        report_progress("checking event columns", 0.1)
        try:
            columns = runner.source_columns(kind, files)
        except Exception as exc:  # noqa: BLE001 - duckdb.Error or a Spark AnalysisException: unreadable input
            raise InvalidInput(f"events: unreadable {kind} input ({type(exc).__name__})") from None
        missing = [c for c in EVENT_COLUMNS if c not in columns]
        if missing:
            raise InvalidInput(
                f"events: missing column(s) {', '.join(missing)}",
                fields=[FieldError(f"column {c}", T_("required column is missing")) for c in missing],
            )
        runner.register_raw_events(kind, files, timezone=timezone, has_event_type="event_type" in columns)
        runner.register_table("cells", cell_table)
        params: dict[str, Any] = {
            "has_period": period is not None,
            "period_start": (period.start if period else dt.date(1, 1, 1)).isoformat(),
            "period_end": (period.end if period else dt.date(9999, 12, 31)).isoformat(),
        }
        report_progress("counting rows by reason", 0.15)
        try:
            runner.materialise("tally", TALLY_SQL, params)
            _, counts = runner.query(COUNTS_SQL, {})
        except InvalidInput:
            raise
        except Exception as exc:  # noqa: BLE001 - the engine's read error, without data values
            raise InvalidInput(f"events: unreadable {kind} input ({type(exc).__name__})") from None
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
            first_day=str(first_day)[:10] if first_day else None,
            last_day=str(last_day)[:10] if last_day else None,
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
        report_progress("pseudonymising subscribers", 0.25)
        ipad, opad = key.pads()
        runner.materialise("subscriber_keys", KEYS_SQL, {"hmac_ipad": ipad, "hmac_opad": opad})
        report.subscribers = int(runner.query("SELECT COUNT(*) FROM subscriber_keys", {})[1][0][0])
        report_progress("writing events", 0.3)
        runner.write_parquet(EVENTS_SQL, params, f"{target}/events", partition_by="date")
        # a file on DuckDB, a folder of part files on Spark: pyarrow and both engines read either
        runner.write_parquet(SUBSCRIBERS_SQL, {}, f"{target}/subscribers.parquet")
        report_progress("writing reference tables", 0.95)
        manifest = {
            "format": DATASET_FORMAT,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "engine": runner.name,
            "timezone": timezone,
            "period": str(period) if period else None,
            "levels": sorted({a.level for a in area_list}),
            "key_fingerprint": key.fingerprint(),
            "report": report.as_dict(),
        }
        _write_reference(target, cell_table, cell_areas, area_list, manifest)
        if out_path is not None and staging is not None:
            if out_path.exists():
                shutil.rmtree(out_path)
            os.replace(staging, out_path)
        report_progress("done", 1.0)
        return report
    finally:
        if staging is not None:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(staging)
        if own:
            runner.close()
        elif isinstance(runner, DuckDBEngine):
            # a caller's connection must not keep the raw identifiers of the tally and the key table
            for table in ("tally", "subscriber_keys"):
                runner.con.execute(f"DROP TABLE IF EXISTS {table}")
            for view in ("raw_events", "cells"):
                with contextlib.suppress(duckdb.Error):
                    runner.con.unregister(view)


def _write_reference(target: str, cell_table: pa.Table, cell_areas: pa.Table, area_list: list[Area], manifest: dict[str, Any]) -> None:
    """cells, cell_areas, areas and (last) manifest.json under `target`, a folder or an object-store URL (pyarrow.fs)."""
    filesystem, root = _filesystem(target)
    areas_table = pa.table(
        {
            "pcode": [a.pcode for a in area_list],
            "name": [a.name for a in area_list],
            "level": pa.array([a.level for a in area_list], pa.int32()),
            "parent_pcode": [a.parent_pcode for a in area_list],
            "geometry": [json.dumps(a.geometry, separators=(",", ":")) for a in area_list],
        }
    )
    for name, table in (("cells", cell_table), ("cell_areas", cell_areas), ("areas", areas_table)):
        pq.write_table(table, f"{root}/{name}.parquet", filesystem=filesystem)
    with filesystem.open_output_stream(f"{root}/{MANIFEST}") as stream:
        stream.write(json.dumps(manifest, indent=2).encode("utf-8"))


def _filesystem(target: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem for a folder or URL; Hadoop's `s3a://` (Spark's S3 scheme) is pyarrow's `s3://`."""
    if not _is_url(target):
        return pafs.LocalFileSystem(), target
    url = "s3://" + target[len("s3a://"):] if target.startswith("s3a://") else target
    filesystem, root = pafs.FileSystem.from_uri(url)
    return filesystem, root.rstrip("/")


def dataset_location(dataset: str | Path) -> str:
    """A dataset's canonical location: an object-store URL unchanged, a folder as its absolute path."""
    return str(dataset).rstrip("/") if _is_url(dataset) else str(Path(dataset).resolve())


def _dataset_label(dataset: str | Path) -> str:
    return str(dataset).rstrip("/").rsplit("/", 1)[-1]


def read_dataset_table(dataset: str | Path, name: str, columns: list[str] | None = None) -> pa.Table:
    """One of a dataset's small reference tables (`cells`, `cell_areas`, `areas`, `subscribers`), local or at a URL."""
    filesystem, root = _filesystem(str(dataset).rstrip("/"))
    return pq.read_table(f"{root}/{name}.parquet", columns=columns, filesystem=filesystem)


def read_manifest(dataset: str | Path) -> dict[str, Any]:
    """The manifest of an ingested dataset (a folder or an object-store URL); refuses anything that is not one."""
    filesystem, root = _filesystem(str(dataset).rstrip("/"))
    try:
        with filesystem.open_input_stream(f"{root}/{MANIFEST}") as stream:
            manifest: dict[str, Any] = json.loads(stream.read().decode("utf-8"))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise InvalidInput(f"{_dataset_label(dataset)}: not an ingested mobility dataset (no {MANIFEST})", fields=[FieldError("dataset", "not a dataset")]) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput(f"{_dataset_label(dataset)}: unreadable {MANIFEST}", fields=[FieldError("dataset", "not a dataset")]) from None
    if manifest.get("format") != DATASET_FORMAT:
        raise InvalidInput(f"{_dataset_label(dataset)}: unsupported dataset format (ingest the events again with this version)", fields=[FieldError("dataset", "format")])
    return manifest
