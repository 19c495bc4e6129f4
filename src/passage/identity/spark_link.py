"""Linking a whole registry against a whole query set on Spark: the second engine of `passage identify`.

Entry points: `passage identify link --engine spark --registry R.csv --queries Q.csv --out results.csv|DIR
[--work DIR] [--master local[*]|spark://...] [--top 10] [--train-m/--no-train-m] [--model M.json] [--prior P]`,
or `link(...)` from Python. Nothing is built on one machine first and no table passes through the driver;
the driver holds the model (a few hundred numbers), the u-sampling plan (20,000 positions) and counts.

The job, every stage a Spark job over Parquet in the work directory, with the engine's own definitions:
1. **Index build.** The registry CSV, numbered by position, is keyed per Arrow batch by `index_build._key_chunk`
   (the single-machine build's vectorised keying: `blocking` keys, date and sex codes, cleaned ID numbers,
   place keys, term-frequency keys) into `index/postings` (key hash, row) and `index/records`. Name
   frequencies are counted by `groupBy` and joined to the records (surname and given-name tables by broadcast
   join; the full-name table, which grows with the registry, by a shuffle join), so no task closure carries them.
2. **u** by random sampling (Splink's method): `u_estimation.sample_plan` draws the same 20,000 pairs of
   positions as the single-machine index; the pairs are joined to the records, compared on executors
   (`u_estimation.pair_levels`) and only the level counts return (`u_estimation.u_model`).
3. **Blocking** (Christen 2012, "Data Matching", ch. 4): query keys (`blocking.query_key_hashes`) equi-joined
   with the postings (keys of more than `MAX_BLOCK` rows narrowed per query by `blocking.narrow_blocks`, the
   single machine's rule), shared keys counted per pair, the
   `CANDIDATE_POOL` pairs with most shared keys kept per query (ties by registry position, as the index).
4. **Comparison** (`cogroup` of a query's pool with the query): `search.cheap_codes`, `search.preselect`,
   `search.name_codes`, the same two stages as `search.gather`, written to `comparisons/`.
5. **EM** of m and the in-registry prior (Fellegi & Sunter 1969; Winkler 1988, "Using the EM algorithm for
   weight computation in the Fellegi-Sunter model"; with the one-to-one constraint of Jaro 1989 and
   Sadinle 2017 as in `scoring.em_one_to_one`): each iteration runs `scoring.OneToOneExpectation` on every
   partition of the comparisons (whole queries per partition) and sums the expected counts per comparison
   level (Splink's aggregation over comparison vectors, Linacre et al. 2022); the M-step is
   `scoring.em_one_to_one`'s, on the driver.
6. **Ranking** (`search.rank`: Bayes factors with term-frequency u, posterior, decisions) into `results`
   Parquet partitioned by `decision`, with the columns of `passage identify batch`; then, when asked and
   small (at most `CSV_MAX_ROWS`), `results.csv` streamed from the Parquet files in query order.

Same results as `passage identify batch` on the same files (tests/identity/test_spark_link.py): u, the
candidate pools and the comparisons are identical; with EM, the expected counts are summed in another
order, so m may differ in the last bits of a double (see docs/identity.md, "Scale (Spark)").
"""

from __future__ import annotations

import csv
import heapq
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from passage.core.errors import InvalidInput
from passage.core.files import atomic_output, csv_writer
from passage.core.i18n import T_
from passage.identity import compare, scoring, segments
from passage.identity.blocking import MAX_NARROWED_BLOCK, Narrowing, narrow_blocks, query_key_hashes
from passage.identity.index_build import _key_chunk
from passage.identity.queries import (
    COMPARISON_COLUMNS,
    QUERY_COLUMNS,
    RESULT_COLUMNS,
    check_query_row,
    comparison_values,
    log2_prior_odds,
    result_cells,
)
from passage.identity.registry import REGISTRY_COLUMNS, _check_row, record_from_row
from passage.identity.search import (
    EM_MIN_QUERIES,
    MAX_CANDIDATES,
    Scored,
    cheap_codes,
    name_codes,
    preselect,
    rank,
)
from passage.identity.segments import CANDIDATE_POOL
from passage.identity.u_estimation import count_levels, pair_levels, sample_plan, u_model

CSV_MAX_ROWS = 5_000_000
"""Above this many result rows `--out` must be a directory (Parquet): one CSV file is for what a person opens."""
SEP = "\x1e"  # not \x1f, which joins a place key's two parts (`registry._place_key`)
_RECORD_FIELDS = ("person_id", "family_name", "given_name", "sex_raw", "birth_date", "birth_place", "id_number", "birth", "sex",
                  "idnum", "place", "tf_full", "tf_surname", "tf_given")
_QUERY_STAGE_SCHEMA = "kind int, pos long, key long, payload string"
_REGISTRY_STAGE_SCHEMA = "kind int, row long, key long, payload string"
_COMPARISON_SCHEMA = ("qpos long, ord int, row long, person_id string, c0 int, c1 int, c2 int, c3 int, c4 int, "
                      "f_full double, f_surname double, f_given double")
_RESULT_SCHEMA = ("query_index long, query_id string, rank int, person_id string, match_probability double, decision string, "
                  "match_weight double, log2_bayes_factor double, "
                  + ", ".join(f"gamma_{f} int, bf_{f} double" for f in ("name", "birth_date", "sex", "birth_place", "id_number")))


@dataclass(frozen=True)
class LinkReport:
    """What a Spark linkage did (counts only)."""

    queries: int
    registry_records: int
    result_rows: int
    em_fitted: bool
    parquet: str
    model: scoring.Model


# --- reading ------------------------------------------------------------------------------------------------


def _local(path: str) -> bool:
    return "://" not in path


def _check_header(path: str, required: Sequence[str]) -> None:
    """Header checks on the driver for a local file (the executors check rows): what `read_csv_rows` says."""
    if not _local(path):
        return
    name = Path(path).name
    if not Path(path).exists():
        raise InvalidInput(T_("{name}: file not found", name=name))
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = [h.strip() for h in next(csv.reader(handle), [])]
    except UnicodeDecodeError:
        raise InvalidInput(T_("{name}: line {value}: not valid UTF-8; save the file as UTF-8", name=name, value=1)) from None
    if not any(header):
        raise InvalidInput(T_("{name}: the file is empty", name=name))
    if len(header) == 1 and (";" in header[0] or "\t" in header[0] or "|" in header[0]):
        raise InvalidInput(T_("{name}: line 1: wrong delimiter; the file must be comma-separated", name=name))
    missing = [c for c in required if c not in header]
    if missing:
        raise InvalidInput(T_("{name}: line 1: missing column(s) {items}", name=name, items=", ".join(missing)))


def _numbered(spark: Any, path: str, columns: Sequence[str]) -> Any:
    """The CSV's rows with their 0-based position `pos` and CSV line `line` (a record per line, after the header),
    the given columns as raw strings ("" when empty) and `_bad` the raw line of a row with the wrong number of fields.

    Positions come from `monotonically_increasing_id` (partition index in the upper bits) and the row count of
    each partition, counted first: the same file read the same way gives the same partitions.
    """
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql.types import StringType, StructField, StructType

    header = [c.strip().lstrip("\ufeff") for c in spark.read.option("header", True).option("encoding", "UTF-8").csv(path).columns]
    schema = StructType([StructField(f"c{i}", StringType()) for i in range(len(header))] + [StructField("_corrupt", StringType())])
    frame = (spark.read.schema(schema).option("header", True).option("encoding", "UTF-8").option("escape", '"').option("mode", "PERMISSIVE")
             .option("columnNameOfCorruptRecord", "_corrupt").csv(path))
    frame = frame.select(*(F.coalesce(F.col(f"c{header.index(c)}"), F.lit("")).alias(c) for c in columns),
                         F.col("_corrupt").alias("_bad"), F.monotonically_increasing_id().alias("_mid"))
    counts = frame.groupBy(F.shiftright("_mid", 33).alias("p")).count().orderBy("p").collect()
    offsets, total = {}, 0
    for item in counts:  # one row per input partition
        offsets[int(item["p"])] = total
        total += int(item["count"])
    start = F.element_at(F.create_map(*(x for p, o in offsets.items() for x in (F.lit(p), F.lit(o)))),
                         F.shiftright("_mid", 33)) if offsets else F.lit(0)
    pos = start + F.col("_mid").bitwiseAND(F.lit(2**33 - 1))
    return frame.withColumn("pos", pos).withColumn("line", pos + F.lit(2)).drop("_mid")


def _field_count(raw_line: str) -> str:
    """`fields<SEP>N`: how many fields a malformed line has (for the error message; never its values)."""
    return f"fields{SEP}{len(next(csv.reader([raw_line]), []))}"


def _raise_fields(name: str, line: int, payload: str, width: int) -> None:
    if payload.startswith("fields" + SEP):
        raise InvalidInput(T_("{name}: line {line}: expected {width} fields, found {count}", name=name, line=line, width=width,
                              count=int(payload.split(SEP)[1])))


def _first_problem(frame: Any) -> dict[str, Any] | None:
    """The stage rows of kind 2 (a problem), the one with the lowest line, as a dict (one row to the driver)."""
    from pyspark.sql import functions as F  # noqa: N812

    found = frame.where(F.col("kind") == 2).orderBy("key").limit(1).collect()
    return found[0].asDict() if found else None


# --- stage 1: the registry index ----------------------------------------------------------------------------


def _key_registry(file_name: str, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Arrow batches of numbered registry rows -> records (kind 0), postings (kind 1) and problems (kind 2)."""
    for frame in batches:
        if frame.empty:
            continue
        bad = frame["_bad"].notna().to_numpy(dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            yield pd.DataFrame({"kind": [2], "row": [int(frame["pos"].iloc[i])], "key": [int(frame["line"].iloc[i])],
                                "payload": [_field_count(frame["_bad"].iloc[i])]})
            continue
        values = frame[list(REGISTRY_COLUMNS)].to_numpy(dtype=object).tolist()
        lines = frame["line"].to_numpy(dtype=np.int64)
        positions = frame["pos"].to_numpy(dtype=np.int64)
        chunk = _key_chunk((file_name, list(REGISTRY_COLUMNS), lines.tolist(), values))
        if chunk.error:
            for i, raw in enumerate(values):
                row = {c: v.strip() for c, v in zip(REGISTRY_COLUMNS, raw, strict=True)}
                try:
                    _check_row(file_name, int(lines[i]), row)
                except InvalidInput:
                    yield pd.DataFrame({"kind": [2], "row": [int(positions[i])], "key": [int(lines[i])], "payload": [SEP.join(raw)]})
                    break
            continue
        cols, vocab = chunk.columns, chunk.vocab
        fkeys, place_keys = vocab["fkeys"], vocab["places"]
        stripped = [[v.strip() for v in raw] for raw in values]
        payload = [SEP.join([*r, str(int(b)), str(int(s)), i.decode("ascii"), place_keys[p], fkeys[a], fkeys[b2], fkeys[c]])
                   for r, b, s, i, p, a, b2, c in zip(stripped, cols["birth"].tolist(), cols["sex"].tolist(), cols["idnum"].tolist(),
                                                      cols["place"].tolist(), cols["tf_full"].tolist(), cols["tf_surname"].tolist(),
                                                      cols["tf_given"].tolist(), strict=True)]
        yield pd.DataFrame({"kind": np.zeros(len(values), dtype=np.int32), "row": positions, "key": np.zeros(len(values), dtype=np.int64),
                            "payload": payload})
        n = len(chunk.key_hashes)
        yield pd.DataFrame({"kind": np.ones(n, dtype=np.int32), "row": positions[chunk.key_rows.astype(np.int64)],
                            "key": chunk.key_hashes.view(np.int64), "payload": pd.Series([None] * n, dtype=object)})


def _records_frame(stage: Any) -> Any:
    from pyspark.sql import functions as F  # noqa: N812

    parts = F.split(F.col("payload"), SEP, -1)
    typed = {"birth": "int", "sex": "int"}
    return stage.where(F.col("kind") == 0).select(
        "row", *(parts.getItem(i).cast(typed.get(c, "string")).alias(c) for i, c in enumerate(_RECORD_FIELDS)))


def build_index(spark: Any, registry: str, work: str) -> tuple[Any, Any, int]:
    """Stage 1: `index/records` (with name frequencies) and `index/postings` under `work`; (records, postings, size)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    file_name = registry.rstrip("/").rsplit("/", 1)[-1]
    numbered = _numbered(spark, registry, REGISTRY_COLUMNS)
    staged = numbered.mapInPandas(partial(_key_registry, file_name), _REGISTRY_STAGE_SCHEMA)
    staged.write.mode("overwrite").partitionBy("kind").parquet(f"{work}/stage/registry")
    stage = spark.read.parquet(f"{work}/stage/registry")
    problem = _first_problem(stage)
    if problem is not None:
        _raise_registry_problem(file_name, problem)
    records = _records_frame(stage)
    first_seen = F.row_number().over(Window.partitionBy("person_id").orderBy("row"))
    dup = records.withColumn("k", first_seen).where(F.col("k") > 1).agg(F.min("row").alias("row")).collect()
    if dup and dup[0]["row"] is not None:
        raise InvalidInput(T_("{file_name}: line {line}, column person_id: duplicate identifier", file_name=file_name,
                              line=int(dup[0]["row"]) + 2))
    size = records.count()
    if size == 0:
        raise InvalidInput(T_("{name}: the file has a header but no rows", name=file_name))
    share = {}
    for kind in ("tf_full", "tf_surname", "tf_given"):
        share[kind] = records.groupBy(kind).agg((F.count("*") / F.lit(float(size))).alias("f_" + kind[3:]))
    with_tf = (records.join(share["tf_full"], "tf_full")
               .join(F.broadcast(share["tf_surname"]), "tf_surname").join(F.broadcast(share["tf_given"]), "tf_given"))
    with_tf.write.mode("overwrite").parquet(f"{work}/index/records")
    stage.where(F.col("kind") == 1).select("key", "row").write.mode("overwrite").parquet(f"{work}/index/postings")
    return spark.read.parquet(f"{work}/index/records"), spark.read.parquet(f"{work}/index/postings"), size


def _raise_registry_problem(file_name: str, problem: dict[str, Any]) -> None:
    line = int(problem["key"])
    _raise_fields(file_name, line, problem["payload"], len(REGISTRY_COLUMNS))
    row = dict(zip(REGISTRY_COLUMNS, (v.strip() for v in problem["payload"].split(SEP)), strict=True))
    _check_row(file_name, line, row)  # raises the message the single-machine build gives, in the reader's language
    raise InvalidInput(T_("{name}: line {line_num}: unreadable CSV ({exc})", name=file_name, line_num=line, exc="?"))


# --- stage 2: u by random sampling --------------------------------------------------------------------------


def _pair_level_counts(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for frame in batches:
        records = {}
        for side in ("a", "b"):
            records[side] = [record_from_row({c: r[f"{side}_{c}"] for c in REGISTRY_COLUMNS})
                             for r in frame.to_dict("records")]
        counts = count_levels(pair_levels(a, b, roll) for a, b, roll in zip(records["a"], records["b"], frame["roll"].tolist(), strict=True))
        yield pd.DataFrame([{"field": f, "level": lv, "n": n} for f, c in counts.items() for lv, n in c.items()],
                           columns=["field", "level", "n"])


def estimate_u(spark: Any, records: Any, size: int, *, seed: int = 0) -> scoring.Model:
    """u by the single-machine index's random pairs (`u_estimation.sample_plan`), compared on executors."""
    from pyspark.sql import functions as F  # noqa: N812

    if size < 50:
        return scoring.Model(registry_size=size)
    plan = spark.createDataFrame(pd.DataFrame(sample_plan(size, seed=seed), columns=["a", "b", "roll"]))
    raw = records.select("row", F.col("person_id"), F.col("family_name"), F.col("given_name"), F.col("sex_raw").alias("sex"),
                         "birth_date", "birth_place", "id_number")
    side = {s: raw.select(F.col("row").alias(s), *(F.col(c).alias(f"{s}_{c}") for c in REGISTRY_COLUMNS)) for s in ("a", "b")}
    pairs = plan.join(side["a"], "a").join(side["b"], "b")
    counted = pairs.mapInPandas(_pair_level_counts, "field string, level string, n long").groupBy("field", "level").sum("n").collect()
    counts: dict[str, Counter[str]] = {f: Counter() for f in scoring.FIELDS}
    for item in counted:
        counts[item["field"]][item["level"]] += int(item["sum(n)"])
    return u_model(counts, registry_size=size)


# --- stage 3: queries and blocking --------------------------------------------------------------------------


def _key_queries(file_name: str, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Numbered query rows -> queries (kind 0, payload = the checked fields), key hashes (kind 1), problems (kind 2)."""
    for frame in batches:
        kinds: list[int] = []
        positions: list[int] = []
        keys: list[np.ndarray] = []
        payload: list[str | None] = []
        for raw, pos, line, bad in zip(frame[list(QUERY_COLUMNS)].to_numpy(dtype=object).tolist(), frame["pos"].tolist(),
                                       frame["line"].tolist(), frame["_bad"].where(frame["_bad"].notna(), None).tolist(), strict=True):
            row = {c: v.strip() for c, v in zip(QUERY_COLUMNS, raw, strict=True)}
            try:
                if bad is not None:
                    raise InvalidInput("fields")
                query = check_query_row(file_name, line, row)
            except InvalidInput:
                kinds.append(2)
                positions.append(pos)
                keys.append(np.array([line], dtype=np.int64))
                payload.append(_field_count(bad) if bad is not None else SEP.join(raw))
                break
            kinds.append(0)
            positions.append(pos)
            keys.append(np.zeros(1, dtype=np.int64))
            payload.append(SEP.join([row[c] if c != "sex" else query.sex for c in QUERY_COLUMNS]))
            effective, _ = compare.effective_query(query)
            if effective.usable():
                hashes = query_key_hashes(effective).view(np.int64)
                kinds += [1] * len(hashes)
                positions += [pos] * len(hashes)
                keys.append(hashes)
                payload += [None] * len(hashes)
        yield pd.DataFrame({"kind": np.array(kinds, dtype=np.int32), "pos": np.array(positions, dtype=np.int64),
                            "key": np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64), "payload": pd.Series(payload, dtype=object)})


def _query_from_payload(payload: str) -> compare.Query:
    row = dict(zip(QUERY_COLUMNS, payload.split(SEP), strict=True))
    return check_query_row("", 0, row)


def prepare_queries(spark: Any, queries: str, work: str) -> tuple[Any, Any, int]:
    """Checked queries (`qpos`, `query_id`, `payload`) and their key hashes (`qpos`, `key`) under `work`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    file_name = queries.rstrip("/").rsplit("/", 1)[-1]
    numbered = _numbered(spark, queries, QUERY_COLUMNS)
    numbered.mapInPandas(partial(_key_queries, file_name), _QUERY_STAGE_SCHEMA).write.mode("overwrite").partitionBy("kind").parquet(
        f"{work}/stage/queries")
    stage = spark.read.parquet(f"{work}/stage/queries")
    problem = _first_problem(stage)
    if problem is not None:
        line = int(problem["key"])
        _raise_fields(file_name, line, problem["payload"], len(QUERY_COLUMNS))
        check_query_row(file_name, line, dict(zip(QUERY_COLUMNS, (v.strip() for v in problem["payload"].split(SEP)), strict=True)))
    qs = stage.where(F.col("kind") == 0).select(F.col("pos").alias("qpos"), F.split("payload", SEP, 2).getItem(0).alias("query_id"), "payload")
    first_seen = F.row_number().over(Window.partitionBy("query_id").orderBy("qpos"))
    dup = qs.withColumn("k", first_seen).where(F.col("k") > 1).agg(F.min("qpos").alias("qpos")).collect()
    if dup and dup[0]["qpos"] is not None:
        raise InvalidInput(T_("{name}: line {line}, column query_id: duplicate identifier", name=file_name, line=int(dup[0]["qpos"]) + 2))
    count = qs.count()
    if count == 0:
        raise InvalidInput(T_("{name}: the file has a header but no rows", name=file_name))
    keys = stage.where(F.col("kind") == 1).select(F.col("pos").alias("qpos"), "key")
    return qs, keys, count


def candidate_pairs(query_keys: Any, postings: Any, records: Any, qs: Any) -> Any:
    """(qpos, row, shared) for the `CANDIDATE_POOL` registry rows sharing most keys with each query, ties by row,
    as `RegistryIndex.candidate_pool`: a key of more than `MAX_BLOCK` rows (up to `MAX_NARROWED_BLOCK`) counts only
    for the rows `blocking.narrow_blocks` keeps of it for the query (`_narrow_group`, per query); larger keys are
    skipped."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    max_block = segments.MAX_BLOCK  # read when called (a test lowers it)
    sizes = postings.groupBy("key").count()
    keys = query_keys.dropDuplicates(["qpos", "key"])
    small = keys.join(sizes.where(F.col("count") <= max_block).select("key"), "key").join(postings, "key").select("qpos", "row")
    large = sizes.where((F.col("count") > max_block) & (F.col("count") <= MAX_NARROWED_BLOCK)).select("key")
    large_rows = (keys.join(large, "key").join(postings, "key")
                  .join(records.select("row", "birth", "sex", "place"), "row"))
    narrowed = (large_rows.groupBy("qpos").cogroup(qs.groupBy("qpos"))
                .applyInPandas(partial(_narrow_group, max_block), "qpos long, row long"))
    counted = small.unionByName(narrowed).groupBy("qpos", "row").agg(F.count("*").alias("shared"))
    order = Window.partitionBy("qpos").orderBy(F.desc("shared"), F.asc("row"))
    return counted.withColumn("n", F.row_number().over(order)).where(F.col("n") <= CANDIDATE_POOL).drop("n")


@dataclass
class _FrameColumns:
    """`blocking.BlockColumns` over a pandas frame of postings with their rows' `birth`, `sex` and `place`."""

    frame: pd.DataFrame

    def year(self, positions: np.ndarray) -> np.ndarray:
        return self.frame["birth"].to_numpy(dtype=np.int64)[positions] // 10000

    def sex(self, positions: np.ndarray) -> np.ndarray:
        return self.frame["sex"].to_numpy(dtype=np.int64)[positions]

    def places(self, positions: np.ndarray) -> tuple[list[str], np.ndarray]:
        keys, of = np.unique(self.frame["place"].to_numpy(dtype=str)[positions], return_inverse=True)
        return keys.tolist(), of


def _narrow_group(limit: int, rows: pd.DataFrame, query_rows: pd.DataFrame) -> pd.DataFrame:
    """One query's postings of oversized keys (key, row, birth, sex, place) -> the (qpos, row) that
    `blocking.narrow_blocks` keeps, one per (key, row), as `RegistryIndex._narrowed_rows`."""
    if rows.empty or query_rows.empty:
        return _empty("qpos long, row long")
    effective, _ = compare.effective_query(_query_from_payload(query_rows["payload"].iloc[0]))
    _, block_of = np.unique(rows["key"].to_numpy(dtype=np.int64), return_inverse=True)
    kept = narrow_blocks(Narrowing.of(effective), block_of, int(block_of.max()) + 1, _FrameColumns(rows), limit=limit)
    return pd.DataFrame({"qpos": np.full(int(kept.sum()), int(query_rows["qpos"].iloc[0]), dtype=np.int64),
                         "row": rows["row"].to_numpy(dtype=np.int64)[kept]})


# --- stage 4: comparison ------------------------------------------------------------------------------------


def _empty(schema: str) -> pd.DataFrame:
    """A frame with no rows and the column types of a Spark DDL schema (Arrow rejects untyped empty columns)."""
    dtypes = {"long": "int64", "int": "int32", "double": "float64", "string": "object"}
    return pd.DataFrame({name: pd.Series([], dtype=dtypes[kind]) for name, kind in (c.split() for c in schema.split(", "))})


def _compare_group(model_json: str, pool: pd.DataFrame, query_rows: pd.DataFrame) -> pd.DataFrame:
    """One query's pool -> its compared candidates in `search.gather`'s order (`ord`), with level codes and frequencies."""
    if pool.empty or query_rows.empty:
        return _empty(_COMPARISON_SCHEMA)
    effective, _ = compare.effective_query(_query_from_payload(query_rows["payload"].iloc[0]))
    pool = pool.sort_values(["shared", "row"], ascending=[False, True], kind="stable").reset_index(drop=True)
    place_keys, place_of = np.unique(pool["place"].to_numpy(dtype=str), return_inverse=True)
    codes = cheap_codes(effective, pool["birth"].to_numpy(dtype=np.int64), pool["sex"].to_numpy(dtype=np.int64),
                        np.array([s.encode("ascii") for s in pool["idnum"].tolist()], dtype="S18"),
                        compare.query_place(effective), place_keys.tolist(), place_of)
    if len(pool) > MAX_CANDIDATES:
        rows = pool["row"].to_numpy(dtype=np.int64)
        chosen = preselect(codes, pool["shared"].to_numpy(dtype=np.int64), np.zeros(len(rows), dtype=np.int64), rows,
                           scoring.Model.from_json(model_json))
        pool, codes = pool.iloc[chosen].reset_index(drop=True), codes[chosen]
    families, family_of = np.unique(pool["family_name"].to_numpy(dtype=str), return_inverse=True)
    givens, given_of = np.unique(pool["given_name"].to_numpy(dtype=str), return_inverse=True)
    codes[:, scoring.FIELDS.index("name")] = name_codes(compare.QueryNames(effective), families.tolist(), givens.tolist(), family_of, given_of)
    out = {"qpos": np.full(len(pool), int(query_rows["qpos"].iloc[0]), dtype=np.int64), "ord": np.arange(len(pool), dtype=np.int32),
           "row": pool["row"].to_numpy(dtype=np.int64), "person_id": pool["person_id"].to_numpy(dtype=object)}
    for j in range(len(scoring.FIELDS)):
        out[f"c{j}"] = codes[:, j].astype(np.int32)
    for f in ("f_full", "f_surname", "f_given"):
        out[f] = pool[f].to_numpy(dtype=float)
    return pd.DataFrame(out)


def compare_pairs(pairs: Any, records: Any, qs: Any, model: scoring.Model) -> Any:
    pool = pairs.join(records.select("row", "person_id", "family_name", "given_name", "birth", "sex", "idnum", "place", "f_full",
                                     "f_surname", "f_given"), "row")
    return pool.groupBy("qpos").cogroup(qs.groupBy("qpos")).applyInPandas(partial(_compare_group, model.to_json()), _COMPARISON_SCHEMA)


def _scored(frame: pd.DataFrame, query: compare.Query) -> Scored:
    frame = frame.sort_values("ord", kind="stable")
    codes = frame[[f"c{j}" for j in range(len(scoring.FIELDS))]].to_numpy(dtype=np.int8)
    return Scored(query, [], codes, frame[["f_full", "f_surname", "f_given"]].to_numpy(dtype=float), person_ids=frame["person_id"].tolist())


# --- stage 5: EM over level patterns ------------------------------------------------------------------------


def _expect_partition(m_lists: list[list[float]], prior_in: float, model_json: str, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """`scoring.OneToOneExpectation` over the whole queries of one partition: expected counts per (field, level),
    and the expected number of queries in the registry as field -1."""
    frames = [f for f in batches if not f.empty]
    if not frames:
        return
    model = scoring.Model.from_json(model_json)
    sets = [scoring.encode_candidates(model, s.codes, _name_u(s, model)) for _, g in pd.concat(frames).groupby("qpos", sort=True)
            for s in (_scored(g, compare.Query()),)]
    counts, expected_in = scoring.OneToOneExpectation(sets, registry_size=model.registry_size, unretrieved_bf=model.unretrieved_bf)(
        [np.array(m) for m in m_lists], prior_in)
    rows = [(j, i, float(w)) for j, c in enumerate(counts) for i, w in enumerate(c.tolist())] + [(-1, 0, expected_in)]
    yield pd.DataFrame(rows, columns=["field", "level", "weight"])


def _name_u(scored: Scored, model: scoring.Model) -> np.ndarray:
    from passage.identity.search import name_u_overrides

    return name_u_overrides(scored, model, registry_size=model.registry_size)


class _SparkExpectation:
    """The E-step summed over the partitions of the comparisons (each holds whole queries); see `scoring.Expectation`."""

    def __init__(self, comparisons: Any, model: scoring.Model, queries: int) -> None:
        self.comparisons = comparisons
        self.model_json = model.to_json()
        self.queries = queries

    def __call__(self, m_arr: Sequence[np.ndarray], prior_in: float) -> tuple[list[np.ndarray], float]:
        fn = partial(_expect_partition, [m.tolist() for m in m_arr], prior_in, self.model_json)
        sums = self.comparisons.mapInPandas(fn, "field int, level int, weight double").groupBy("field", "level").sum("weight").collect()
        counts = [np.zeros(len(scoring.FIELD_LEVELS[f])) for f in scoring.FIELDS]
        expected_in = 0.0
        for item in sums:
            if item["field"] < 0:
                expected_in = float(item["sum(weight)"])
            else:
                counts[item["field"]][item["level"]] = float(item["sum(weight)"])
        return counts, expected_in


# --- stage 6: ranking and output ----------------------------------------------------------------------------


def _rank_group(model_json: str, top: int, cands: pd.DataFrame, query_rows: pd.DataFrame) -> pd.DataFrame:
    columns = [c.split()[0] for c in _RESULT_SCHEMA.split(", ")]
    if query_rows.empty:
        return _empty(_RESULT_SCHEMA)
    qpos, payload = int(query_rows["qpos"].iloc[0]), query_rows["payload"].iloc[0]
    query_id = payload.split(SEP, 1)[0]
    model = scoring.Model.from_json(model_json)
    rows: list[list[Any]] = []
    if not cands.empty:
        result = rank(_scored(cands, compare.Query(query_id=query_id)), model, registry_size=model.registry_size, top=top)
        prior_odds = log2_prior_odds(model)
        rows = [[qpos, query_id, c.rank, c.person_id, c.match_probability, c.decision, *comparison_values(c, prior_odds)]
                for c in result.candidates]
    if not rows:
        rows = [[qpos, query_id, 0, "", 0.0, "no_match", *([None] * len(COMPARISON_COLUMNS))]]
    return pd.DataFrame(rows, columns=columns)


def _csv_rows(parquet_dir: str, comparison_columns: bool) -> Iterator[list[str]]:
    """The result rows in query order, merged from the decision partitions (each sorted by query, then rank)."""
    import pyarrow.parquet as pq

    def stream(folder: Path, decision: str) -> Iterator[tuple[int, int, list[str]]]:
        for part in sorted(folder.glob("part-*.parquet")):
            for batch in pq.ParquetFile(part).iter_batches(batch_size=10_000):
                for r in batch.to_pylist():
                    comparison = [r[c] for c in COMPARISON_COLUMNS]
                    yield r["query_index"], r["rank"], result_cells(r["query_id"], r["rank"], r["person_id"], r["match_probability"],
                                                                    decision, None if r["rank"] == 0 else comparison,
                                                                    comparison_columns=comparison_columns)

    streams = []
    for folder in sorted(Path(parquet_dir).glob("decision=*")):
        streams.append(stream(folder, folder.name.split("=", 1)[1]))
    for _, _, cells in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield cells


def link(registry: Path | str, queries: Path | str, out: Path | str, *, master: str = "local[*]", top: int = 10, work: str | None = None,
         train_m: bool = True, model: scoring.Model | None = None, prior_in_registry: float | None = None,
         comparison_columns: bool = True, spark: Any = None, seed: int = 0) -> LinkReport:
    """Run the Spark linkage; `out` is results.csv (when it ends in .csv) or a directory for the partitioned Parquet.

    `work` holds the index and intermediate Parquet (default: a temporary local directory, removed at the end; on
    a cluster give a path every executor reaches). `model` applies a saved model instead of fitting one; a given
    `prior_in_registry` stays fixed. A session passed as `spark`, or one already running, is used and left running.
    """
    from passage.core.spark import job_session

    registry, queries, out = str(registry), str(queries), str(out)
    to_csv = out.lower().endswith(".csv")
    _check_header(registry, REGISTRY_COLUMNS)
    _check_header(queries, QUERY_COLUMNS)
    if not to_csv and _local(out) and Path(out).exists() and not (Path(out) / "_SUCCESS").exists():
        raise InvalidInput(T_("--out: {name} exists and is not a previous result; choose a new directory", name=Path(out).name))
    if work is None and not master.startswith("local"):
        raise InvalidInput(T_("--work: on a cluster, give a directory every executor reaches (shared file system, hdfs:// or s3a://)"))
    own_work = work is None
    work_dir = work or tempfile.mkdtemp(prefix="passage-spark-link-")
    config = {"spark.sql.execution.arrow.pyspark.enabled": "true", "spark.sql.session.timeZone": "UTC",
              "spark.driver.memory": os.environ.get("PASSAGE_SPARK_DRIVER_MEMORY", "4g")}
    if master.startswith("local"):  # a Python task per shuffle partition: Spark's default of 200 costs minutes on one machine
        config["spark.sql.shuffle.partitions"] = os.environ.get("PASSAGE_SPARK_SHUFFLE_PARTITIONS", "8")
    try:
        with job_session(master, app_name="passage-identity-link", config=config, spark=spark) as session:
            return _run(session, registry, queries, out, to_csv=to_csv, top=top, work=work_dir, train_m=train_m, loaded=model,
                        prior_in_registry=prior_in_registry, comparison_columns=comparison_columns, seed=seed)
    except Exception as exc:  # Spark wraps executor errors; report the type only (values may be personal)
        if isinstance(exc, InvalidInput):
            raise
        if type(exc).__name__ in ("PySparkRuntimeError", "Py4JError", "Py4JNetworkError") or "JAVA_GATEWAY" in str(exc):
            raise InvalidInput(T_("Spark could not start ({value}); check Java and --master", value=type(exc).__name__)) from None
        raise InvalidInput(T_("Spark job failed ({value}); see the Spark log", value=type(exc).__name__)) from None
    finally:
        if own_work:
            shutil.rmtree(work_dir, ignore_errors=True)


def _run(spark: Any, registry: str, queries: str, out: str, *, to_csv: bool, top: int, work: str, train_m: bool,
         loaded: scoring.Model | None, prior_in_registry: float | None, comparison_columns: bool, seed: int) -> LinkReport:
    qs, query_keys, n_queries = prepare_queries(spark, queries, work)
    if to_csv and n_queries * top > CSV_MAX_ROWS:
        raise InvalidInput(T_("--out: up to {value} result rows fit one CSV file; give a directory for Parquet", value=CSV_MAX_ROWS))
    records, postings, size = build_index(spark, registry, work)
    sampled = estimate_u(spark, records, size, seed=seed)  # the index's model: the pre-score of large pools uses it
    model = replace(loaded, registry_size=size) if loaded is not None else replace(sampled)
    if prior_in_registry is not None:
        model.prior_in_registry = prior_in_registry
    pairs = candidate_pairs(query_keys, postings, records, qs)
    compare_pairs(pairs, records, qs, sampled).write.mode("overwrite").parquet(f"{work}/comparisons")
    comparisons = spark.read.parquet(f"{work}/comparisons")
    with_candidates = comparisons.select("qpos").distinct().count()
    fitted = loaded is None and train_m and with_candidates >= EM_MIN_QUERIES
    if fitted:
        by_query = comparisons.repartition("qpos").sortWithinPartitions("qpos", "ord").persist()
        try:
            model, _ = scoring.em_one_to_one((), model, registry_size=size, fit_prior_in_registry=prior_in_registry is None,
                                             expectation=_SparkExpectation(by_query, model, with_candidates))
        finally:
            by_query.unpersist()
    results = (comparisons.groupBy("qpos").cogroup(qs.groupBy("qpos"))
               .applyInPandas(partial(_rank_group, model.to_json(), top), _RESULT_SCHEMA))
    staging = f"{work}/results" if to_csv else out if not _local(out) else str(Path(out).parent / f".{Path(out).name}.{uuid.uuid4().hex[:8]}.part")
    try:
        (results.repartitionByRange("query_index").sortWithinPartitions("decision", "query_index", "rank")
         .write.mode("overwrite").partitionBy("decision").parquet(staging))
    except Exception:
        if staging != out and _local(staging):
            shutil.rmtree(staging, ignore_errors=True)  # nothing partial left beside --out
        raise
    rows = spark.read.parquet(staging).count()
    if to_csv:
        with atomic_output(out) as handle:
            writer = csv_writer(handle, lineterminator="\n")
            writer.writerow([*RESULT_COLUMNS, *(COMPARISON_COLUMNS if comparison_columns else ())])
            for cells in _csv_rows(staging, comparison_columns):
                writer.writerow(cells)
    elif staging != out:
        shutil.rmtree(out, ignore_errors=True)  # a previous result (checked in `link`)
        os.replace(staging, out)
    return LinkReport(queries=n_queries, registry_records=size, result_rows=rows, em_fitted=fitted, parquet="" if to_csv else out,
                      model=model)
