"""The two execution engines behind one interface: DuckDB (default, out-of-core) and Spark.

Every metric is written once in DuckDB's SQL dialect with named parameters (`$name`) and run
unchanged on DuckDB; for Spark the same text is transpiled with sqlglot (`$name` becomes Spark's
`:name`, bound through `spark.sql(..., args=...)`). Values are never formatted into SQL text;
identifiers come from fixed metric code, not from users. This follows splink's design of confining
backend differences to one dialect interface.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pyarrow as pa

from passage.core.errors import InvalidInput
from passage.core.i18n import T_

if TYPE_CHECKING:
    import sqlglot

Row = tuple[Any, ...]


def spatial_extension_path() -> Path:
    """The spatial extension shipped by the `duckdb-extension-spatial` wheel (offline; `INSTALL` would download)."""
    import duckdb_extension_spatial

    base = Path(duckdb_extension_spatial.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    if not base.exists():
        raise InvalidInput(T_("the DuckDB spatial extension for duckdb {version} is not installed", version=duckdb.__version__))
    return base


def load_spatial(con: duckdb.DuckDBPyConnection) -> None:
    """LOAD the packaged spatial extension into `con`."""
    path = spatial_extension_path().as_posix()
    if "'" in path:
        raise InvalidInput(T_("the spatial extension path contains a quote"))
    # LOAD takes no parameters; the path comes from the installed package, not from a user.
    con.execute(f"LOAD '{path}'")


def duckdb_connection(*, memory_limit: str | None = None, temp_directory: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection set up for out-of-core work.

    DuckDB spills joins, aggregates and sorts to `temp_directory` once `memory_limit` is reached and
    reads Parquet lazily, so a month of national data need not fit in RAM.
    """
    config: dict[str, Any] = {
        "memory_limit": memory_limit or os.environ.get("PASSAGE_MOBILITY_MEMORY_LIMIT", "3GB"),
        "temp_directory": temp_directory or os.environ.get("PASSAGE_MOBILITY_TEMP_DIR", tempfile.gettempdir()),
        "preserve_insertion_order": False,
    }
    if threads or os.environ.get("PASSAGE_MOBILITY_THREADS"):
        config["threads"] = int(threads or os.environ["PASSAGE_MOBILITY_THREADS"])
    con = duckdb.connect(":memory:", config=config)
    # TimeZone needs ICU, which is loaded only once the connection exists; naive input times are UTC.
    con.execute("SET TimeZone = 'UTC'")
    # Our own progress bars draw on stderr; DuckDB's would garble them. Progress stays measurable
    # through query_progress().
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    return con


class Engine(Protocol):
    """What a metric, and ingest, need from an engine.

    Ingest and metrics are written once, in DuckDB's SQL dialect (`ingest.TALLY_SQL` ... and
    `metrics.Metric.sql()`); an engine only reads and writes Parquet/CSV and runs that text.
    """

    name: str

    def register_events(self, events_dir: str | Path) -> None: ...

    def source_columns(self, kind: str, files: list[str]) -> set[str]: ...

    def register_raw_events(self, kind: str, files: list[str], *, timezone: str, has_event_type: bool) -> None: ...

    def materialise(self, name: str, sql: str, params: dict[str, Any]) -> None: ...

    def write_parquet(self, sql: str, params: dict[str, Any], target: str, *, partition_by: str | None = None) -> None: ...

    def register_table(self, name: str, table: pa.Table) -> None: ...

    def query(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Row]]: ...

    def close(self) -> None: ...


def _normalise(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars from Spark/pandas
        return value.item()
    return value


def _check_identifier(name: str) -> str:
    if not name.isidentifier() or not name.isascii():
        raise InvalidInput(T_("invalid table name {name}", name=name))
    return name


def _duckdb_raw(con: duckdb.DuckDBPyConnection, kind: str, files: list[str]) -> duckdb.DuckDBPyRelation:
    """A lazy relation over the raw event files (nothing is read until a query runs)."""
    if kind == "parquet":
        return con.read_parquet(files, union_by_name=True)
    if kind == "csv":
        return con.read_csv(files, header=True, all_varchar=True, union_by_name=True)  # type: ignore[arg-type]  # a list of files is accepted
    raise InvalidInput(f"unknown event file format {kind!r}")


class DuckDBEngine:
    """DuckDB: reads the date-partitioned Parquet lazily, spills to disk past `memory_limit`."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = con or duckdb_connection()

    def register_events(self, events_dir: str | Path) -> None:
        relation = self.con.read_parquet(f"{str(events_dir).rstrip('/')}/**/*.parquet", hive_partitioning=True)
        self.con.register("events", relation)

    def source_columns(self, kind: str, files: list[str]) -> set[str]:
        """Column names of the raw event files (raises `duckdb.Error` when they are unreadable)."""
        return set(_duckdb_raw(self.con, kind, files).columns)

    def register_raw_events(self, kind: str, files: list[str], *, timezone: str, has_event_type: bool) -> None:
        """The lazy view `raw_events(subscriber, ts, cell_id, event_type)`; `ts` is the local wall-clock time in `timezone`.

        Naive input times are UTC (the session's zone). The zone is bound as a constant expression, not
        formatted into SQL; Spark builds the same view in `SparkEngine.register_raw_events`."""
        local = duckdb.FunctionExpression("timezone", duckdb.ConstantExpression(timezone), duckdb.SQLExpression('TRY_CAST("timestamp" AS TIMESTAMPTZ)'))
        event_type = "CAST(event_type AS VARCHAR)" if has_event_type else "CAST(NULL AS VARCHAR)"
        relation = _duckdb_raw(self.con, kind, files).select(
            duckdb.SQLExpression("CAST(subscriber AS VARCHAR)").alias("subscriber"),
            local.alias("ts"),
            duckdb.SQLExpression("CAST(cell_id AS VARCHAR)").alias("cell_id"),
            duckdb.SQLExpression(event_type).alias("event_type"),
        )
        self.con.register("raw_events", relation)

    def materialise(self, name: str, sql: str, params: dict[str, Any]) -> None:
        """`CREATE TEMP TABLE name AS sql`: DuckDB keeps it in memory up to `memory_limit` and spills the rest."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_check_identifier(name)} AS {sql}", params)

    def write_parquet(self, sql: str, params: dict[str, Any], target: str, *, partition_by: str | None = None) -> None:
        """COPY the query's rows to Parquet (zstd level 1: most of zstd's size gain at a fraction of its time)."""
        options = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"
        if partition_by is not None:
            options += f", PARTITION_BY ({_check_identifier(partition_by)})"
        self.con.execute(f"COPY ({sql}) TO $target ({options})", params | {"target": target})

    def register_table(self, name: str, table: pa.Table) -> None:
        self.con.register(_check_identifier(name), table)

    def query(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Row]]:
        cursor = self.con.execute(sql, params)
        columns = [d[0] for d in cursor.description or []]
        return columns, [tuple(_normalise(v) for v in row) for row in cursor.fetchall()]

    def close(self) -> None:
        self.con.close()


def _spark_functions(node: sqlglot.exp.Expression) -> sqlglot.exp.Expression:
    """DuckDB functions sqlglot leaves as they are: EPOCH_US(ts) is Spark's UNIX_MICROS (the session is in UTC,
    so a wall-clock TIMESTAMP_NTZ counts from the same epoch as in DuckDB)."""
    from sqlglot import exp

    if isinstance(node, exp.Anonymous) and node.name.upper() == "EPOCH_US":
        return exp.Anonymous(this="UNIX_MICROS", expressions=[exp.cast(node.expressions[0], "TIMESTAMP")])
    return node


@functools.lru_cache(maxsize=256)
def to_spark_sql(sql: str) -> str:
    """Transpile one DuckDB-dialect statement to Spark SQL with sqlglot (imported here: DuckDB runs never need it)."""
    import sqlglot

    statements = sqlglot.parse(sql, read="duckdb")
    if len(statements) != 1 or statements[0] is None:
        raise ValueError("exactly one statement expected")
    return statements[0].transform(_spark_functions).sql(dialect="spark")


def spark_session(master: str = "local[*]", *, app_name: str = "passage-mobility", shuffle_partitions: int | None = None) -> Any:
    """A SparkSession in UTC (the ingested timestamps are local wall-clock times without zone)."""
    from passage.core.spark import spark_session as shared_spark_session

    config = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.memory": os.environ.get("PASSAGE_SPARK_DRIVER_MEMORY", "4g"),
    }
    if shuffle_partitions:
        config["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    return shared_spark_session(master, app_name=app_name, config=config)


class SparkEngine:
    """Spark (local[*] or a cluster by master URL) running the same SQL, transpiled by sqlglot."""

    name = "spark"

    def __init__(self, spark: Any | None = None, *, master: str = "local[*]") -> None:
        self.spark = spark or spark_session(master)
        self._views: list[str] = []
        self._persisted: list[Any] = []

    def register_events(self, events_dir: str | Path) -> None:
        where = str(events_dir).rstrip("/")
        frame = self.spark.read.option("basePath", where).parquet(where)
        frame.createOrReplaceTempView("events")
        self._views.append("events")

    def _read_raw(self, kind: str, files: list[str]) -> Any:
        if kind == "parquet":
            return self.spark.read.option("mergeSchema", "true").parquet(*files)
        if kind == "csv":
            return self.spark.read.option("header", "true").option("inferSchema", "false").csv(files)
        raise InvalidInput(f"unknown event file format {kind!r}")

    def source_columns(self, kind: str, files: list[str]) -> set[str]:
        return set(self._read_raw(kind, files).columns)

    def register_raw_events(self, kind: str, files: list[str], *, timezone: str, has_event_type: bool) -> None:
        """The view `raw_events` as DuckDB's `RAW_EVENTS_SQL` builds it: local wall-clock `ts` (TIMESTAMP_NTZ) in `timezone`.

        Strings are cast with the session in UTC, so naive times are UTC and offsets are honoured, as in DuckDB."""
        from pyspark.sql import functions as F  # noqa: N812 - pyspark's own convention

        frame = self._read_raw(kind, files)
        instant = F.col("timestamp").cast("timestamp")
        frame = frame.select(
            F.col("subscriber").cast("string").alias("subscriber"),
            F.from_utc_timestamp(instant, timezone).cast("timestamp_ntz").alias("ts"),
            F.col("cell_id").cast("string").alias("cell_id"),
            (F.col("event_type").cast("string") if has_event_type else F.lit(None).cast("string")).alias("event_type"),
        )
        frame.createOrReplaceTempView("raw_events")
        self._views.append("raw_events")

    def materialise(self, name: str, sql: str, params: dict[str, Any]) -> None:
        """The query's rows, persisted (memory, then local disk) under a view name."""
        from pyspark import StorageLevel

        frame = self.spark.sql(to_spark_sql(sql), args=params).persist(StorageLevel.MEMORY_AND_DISK)
        frame.createOrReplaceTempView(_check_identifier(name))
        self._views.append(name)
        self._persisted.append(frame)

    def write_parquet(self, sql: str, params: dict[str, Any], target: str, *, partition_by: str | None = None) -> None:
        """Write the query's rows as Parquet under `target` (a path or an object-store URL such as s3a://bucket/x)."""
        writer = self.spark.sql(to_spark_sql(sql), args=params).write.mode("errorifexists").option("compression", "zstd")
        if partition_by is not None:
            writer = writer.partitionBy(partition_by)
        writer.parquet(target)

    def register_table(self, name: str, table: pa.Table) -> None:
        frame = self.spark.createDataFrame(table.to_pandas())
        frame.createOrReplaceTempView(_check_identifier(name))
        self._views.append(name)

    def query(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Row]]:
        frame = self.spark.sql(to_spark_sql(sql), args=params)
        rows = frame.collect()
        return list(frame.columns), [tuple(_normalise(v) for v in row) for row in rows]

    def close(self) -> None:
        # The session is shared (tests, repeated CLI calls); only our views are dropped.
        for view in self._views:
            self.spark.catalog.dropTempView(view)
        self._views.clear()
        for frame in self._persisted:
            frame.unpersist()
        self._persisted.clear()


def make_engine(name: str, *, master: str = "local[*]", spark: Any | None = None) -> Engine:
    """`duckdb` (default) or `spark`."""
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        return SparkEngine(spark, master=master)
    raise InvalidInput(T_("unknown engine {name}; use duckdb or spark", name=name))


def sorted_rows(rows: Sequence[Row]) -> list[Row]:
    """Rows in a total order that both engines agree on (None first)."""
    return sorted(rows, key=lambda r: tuple((v is not None, v) for v in r))
