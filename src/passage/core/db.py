"""Database engine and sessions: SQLite by default (WAL, foreign keys on), PostgreSQL by URL.

One transaction per unit of work: `unit_of_work()` in services and the CLI, the `DbSession`
dependency in the API. The change and its audit entry commit together or not at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Engine,
    Select,
    create_engine,
    event,
    exists,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.visitors import InternalTraversal

from passage.core.errors import Conflict
from passage.core.settings import get_settings

T = TypeVar("T")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class _UtcSQLiteDateTime(sqlite.DATETIME):
    """SQLite's DATETIME, reading values of time-zone-aware columns as UTC (every Passage timestamp is UTC)."""

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        parse = super().result_processor(dialect, coltype)
        if not self.timezone:
            return parse

        def process(value: Any) -> Any:
            moment = parse(value) if parse is not None else value
            if moment is not None and moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return moment

        return process


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with Passage's connection policy for the dialect behind `url`."""
    if is_sqlite(url):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        # SQLite stores no time zone: `DateTime(timezone=True)` columns come back as UTC-aware values here,
        # as they do from PostgreSQL, so the API never emits a date-time without its offset (RFC 3339 §5.6).
        engine.dialect.colspecs = {**engine.dialect.colspecs, sqltypes.DateTime: _UtcSQLiteDateTime}

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling is switched off so that we can BEGIN IMMEDIATE:
            # every transaction takes the write lock up front, so two writers queue instead of
            # failing with SQLITE_BUSY when a read transaction tries to upgrade.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            options = conn.get_execution_options()
            if options.get("isolation_level") == "AUTOCOMMIT":
                return  # a lock-free WAL read outside any transaction (used for key look-ups)
            # A read request (`read_session`) reads in a WAL snapshot without the writer lock; its audit entries
            # are written after, in a short transaction of their own (`defer_write`). Everything else queues
            # for the writer lock up front.
            conn.exec_driver_sql("BEGIN" if options.get(READ_REQUEST_OPTION) else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    settings = get_settings()
    kwargs.setdefault("pool_size", settings.db_pool_size)
    kwargs.setdefault("max_overflow", settings.db_max_overflow)
    kwargs.setdefault("pool_timeout", settings.db_pool_timeout)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine for the configured database URL."""
    url = get_settings().database_url
    engine = _engines.get(url)
    if engine is None:
        with _engines_lock:
            engine = _engines.get(url) or make_engine(url)
            _engines[url] = engine
    return engine


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False, autoflush=True)


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (after the settings changed, and in tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


READ_REQUEST_OPTION = "passage_read_request"
_DEFERRED_WRITES = "passage_deferred_writes"


@contextlib.contextmanager
def unit_of_work(engine: Engine | None = None, *, read_request: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception.

    `read_request=True` (the API and pages for GET and HEAD) changes one thing on SQLite: the reads run in a WAL
    snapshot without the single writer lock, so reads no longer queue behind writes, and the statements the request
    defers (`defer_write`: its audit entries) are written after the reads, in one short write transaction, before
    the answer is sent. If that write fails the request fails: no read goes unrecorded. A write the request makes
    itself still happens in its transaction (SQLite takes the writer lock then). On PostgreSQL, where readers never
    wait for writers, a read request is one transaction as before."""
    bound = engine or get_engine()
    deferring = read_request and bound.dialect.name == "sqlite"
    session = session_factory(bound.execution_options(**{READ_REQUEST_OPTION: True}) if deferring else bound)()
    if deferring:
        session.info[_DEFERRED_WRITES] = []
    try:
        yield session
        session.commit()
        deferred = session.info.pop(_DEFERRED_WRITES, None)
        if deferred:
            for statement, params in deferred:
                session.execute(statement, params)
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def defer_write(session: Session, statement: Any, params: dict[str, Any]) -> bool:
    """Queue `statement` to run after the reads of a read request (`unit_of_work(read_request=True)` on SQLite) and
    return True; return False when the session does not defer (the caller executes it now)."""
    deferred = session.info.get(_DEFERRED_WRITES)
    if deferred is None:
        return False
    deferred.append((statement, params))
    return True


def drop_deferred_writes(session: Session) -> None:
    """Forget what a read request has deferred: a rolled-back request leaves nothing behind, its audit entries
    included, as in one transaction. Called on every rollback that ends a transaction, and by callers that roll
    back a session that had not begun one."""
    if session.info.get(_DEFERRED_WRITES):
        session.info[_DEFERRED_WRITES] = []


@event.listens_for(Session, "after_soft_rollback")
def _drop_deferred_writes(session: Session, previous_transaction: Any) -> None:
    drop_deferred_writes(session)


BULK_ROWS = 1_000
"""An import of at least this many rows refreshes the planner statistics of the tables it filled (`analyze`)."""


def analyze(session: Session, *tables: str) -> None:
    """Refresh the query planner's statistics after a bulk load, in the caller's transaction.

    SQLite keeps no statistics until ``ANALYZE`` runs: without them it guesses, and after a bulk load of
    100,000 cases it walked the whole case table by its scope index for a search that matches a few hundred
    (seconds instead of milliseconds, `bench/readmission/bench_person_search.py`). PostgreSQL's autovacuum
    analyses eventually, but not before the next query. With no table named, the whole database (the demo
    load)."""
    connection = session.connection()
    quote = connection.dialect.identifier_preparer.quote
    for name in tables or ("",):
        connection.exec_driver_sql(f"ANALYZE {quote(name)}" if name else "ANALYZE")


def check_version(record: Any, expected: int | None) -> None:
    """Refuse a change made from a stale read (optimistic concurrency, see `VersionedMixin`)."""
    if expected is not None and record.version != expected:
        raise Conflict(
            "The record was changed by someone else; reload it and try again",
            extra={"current_version": record.version, "your_version": expected},
        )


@dataclasses.dataclass(frozen=True)
class RowCount:
    """How many rows a list query matches; `estimated` when it is the planner's estimate, not a count."""

    value: int
    estimated: bool = False


_DERIVED: dict[tuple[str, str], tuple[tuple[Any, ...], Any]] = {}


def cached_from_tables(session: Session, *, name: str, fingerprint: Select[Any], build: Callable[[], T]) -> T:
    """A value built from rarely-changing tables (a catalogue), kept per process and per database, rebuilt when
    `fingerprint` changes.

    `fingerprint` is one cheap statement whose row changes whenever the tables do (counts, the newest
    timestamps, a sum of row versions): each call runs it in the caller's transaction (so a change the
    transaction made itself is seen) and returns the kept value only if the row is the one it was built
    from. That is one small round trip instead of reading and parsing the tables on every request. The value
    is shared between requests and threads: callers must not change it."""
    key = (_database_of(session), name)
    current = tuple(session.execute(fingerprint).one())
    kept = _DERIVED.get(key)
    if kept is not None and kept[0] == current:
        return cast(T, kept[1])
    value = build()
    _DERIVED[key] = (current, value)
    return value


def skip_empty_collections(session: Session, instance: Any, names: Sequence[str]) -> None:
    """Ask once which of `instance`'s one-to-many collections `names` hold any row, and mark the empty ones as
    loaded, so reading them costs no statement. A detail page reads every collection of a record; most are
    empty, and each lazy load is a round trip plus the ORM's work (a readmission case: eight collections, 8 of
    its 12 statements). The non-empty ones still load when first read. Collections already loaded are left
    alone."""
    state = inspect(instance)
    mapper = state.mapper
    wanted = [name for name in names if name not in state.dict]
    if not wanted:
        return
    probes = []
    for name in wanted:
        relationship = mapper.relationships[name]
        probes.append(exists().where(*(remote == state.attrs[mapper.get_property_by_column(local).key].value for local, remote in relationship.local_remote_pairs)))
    for name, present in zip(wanted, session.execute(select(*probes)).one(), strict=True):
        if not present:
            set_committed_value(instance, name, [])


class ExplainJson(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <statement>` on PostgreSQL, as a statement SQLAlchemy caches like any other: its SQL
    is compiled once per shape of `statement`, not on every call (compiling a wide inbox select was a tenth of
    an inbox request's CPU). The construct follows SQLAlchemy's "Query plan SQL construct" recipe (custom
    `ClauseElement` with `@compiles`, `inherit_cache` and `_traverse_internals` so that it has a cache key)."""

    inherit_cache = True
    _traverse_internals = [("statement", InternalTraversal.dp_clauseelement)]

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement

    @property
    def _all_selected_columns(self) -> tuple[Any, ...]:
        # a cached result's columns are matched to these on each later call: the plan is read by position
        return ()


@compiles(ExplainJson, "postgresql")
def _explain_json(element: ExplainJson, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.statement, **kw))


def count_rows(session: Session, statement: Select[Any], *, exact_up_to: int = 1000) -> RowCount:
    """Count what `statement` selects without reading every matching row on a large result.

    At most `exact_up_to + 1` rows are counted (a count over a `LIMIT`ed sub-query). Up to `exact_up_to` the
    count is exact. Above it, PostgreSQL answers with its planner's row estimate for the statement (`EXPLAIN
    (FORMAT JSON)`, "Plan Rows", from the table statistics that `ANALYZE` and autovacuum keep: the approach of
    the PostgreSQL wiki's "Count estimate" page), never below `exact_up_to + 1`; the page says "about N".
    SQLite keeps no row estimates, so there the count stays exact (one process, a local file, no network). An
    estimate is reused for `ESTIMATE_SECONDS` for the same statement and parameters."""
    capped = session.scalar(select(func.count()).select_from(statement.limit(exact_up_to + 1).subquery())) or 0
    if capped <= exact_up_to:
        return RowCount(capped)
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return RowCount(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    key = _estimate_key(session, statement)
    now = time.monotonic()
    kept = _ESTIMATES.get(key) if key is not None else None
    if kept is not None and now - kept[0] < ESTIMATE_SECONDS:
        estimate = kept[1]
    else:
        answer: Any = session.execute(ExplainJson(statement)).scalar()
        plan = json.loads(answer) if isinstance(answer, str) else answer
        estimate = int(plan[0]["Plan"]["Plan Rows"])
        if key is not None:
            if len(_ESTIMATES) >= ESTIMATES_KEPT:
                _ESTIMATES.clear()
            _ESTIMATES[key] = (now, estimate)
    return RowCount(max(estimate, exact_up_to + 1), estimated=True)


ESTIMATE_SECONDS = 60.0
"""How long a planner's estimate is reused for the same statement and parameters (per process). An estimate
follows the table statistics, which autovacuum refreshes in minutes, and is shown as "about N": a minute-old one
is as good, and reusing it saves a planning round trip on most wide-scope list pages."""
ESTIMATES_KEPT = 10_000
_ESTIMATES: dict[tuple[Any, ...], tuple[float, int]] = {}


def _estimate_key(session: Session, statement: Select[Any]) -> tuple[Any, ...] | None:
    """The statement's shape (SQLAlchemy's cache key) and its parameter values, on this database."""
    cache_key = statement._generate_cache_key()
    if cache_key is None:
        return None
    values = tuple(tuple(value) if isinstance(value, list) else value for value in (bind.effective_value for bind in cache_key.bindparams))
    return (_database_of(session), cache_key.key, values)


def _database_of(session: Session) -> str:
    """Which database a per-process cache entry belongs to (its URL without the password): tests and tools switch
    databases within one process, and an engine is recreated after `dispose_engines`."""
    return session.get_bind().engine.url.render_as_string(hide_password=True)
