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
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import sqlglot

from passage.core.errors import InvalidInput
from passage.core.i18n import T_

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
    """What a metric needs from an engine."""

    name: str

    def register_events(self, events_dir: Path) -> None: ...

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


class DuckDBEngine:
    """DuckDB: reads the date-partitioned Parquet lazily, spills to disk past `memory_limit`."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = con or duckdb_connection()

    def register_events(self, events_dir: Path) -> None:
        relation = self.con.read_parquet((events_dir / "**" / "*.parquet").as_posix(), hive_partitioning=True)
        self.con.register("events", relation)

    def register_table(self, name: str, table: pa.Table) -> None:
        self.con.register(_check_identifier(name), table)

    def query(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Row]]:
        cursor = self.con.execute(sql, params)
        columns = [d[0] for d in cursor.description or []]
        return columns, [tuple(_normalise(v) for v in row) for row in cursor.fetchall()]

    def close(self) -> None:
        self.con.close()


@functools.lru_cache(maxsize=256)
def to_spark_sql(sql: str) -> str:
    """Transpile one DuckDB-dialect statement to Spark SQL with sqlglot."""
    statements = sqlglot.transpile(sql, read="duckdb", write="spark")
    if len(statements) != 1:
        raise ValueError("exactly one statement expected")
    return statements[0]


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

    def register_events(self, events_dir: Path) -> None:
        frame = self.spark.read.option("basePath", events_dir.as_posix()).parquet(events_dir.as_posix())
        frame.createOrReplaceTempView("events")
        self._views.append("events")

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
