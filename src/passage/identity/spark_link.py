"""Linking a whole registry against a whole query set on Spark, with the engine's own comparisons and scoring.

Entry points: `passage identify link --engine spark --registry R.csv --queries Q.csv --out results.csv
--index R.index [--master local[*]|spark://...] [--top 10]`, or `link(...)` from Python.

The job (Christen 2012, ch. 4, blocking as an equi-join on keys; Fellegi & Sunter 1969 scoring):
1. registry rows -> (key hash, record) via `mapInPandas` with `index.record_keys` (the same keys as the
   on-disk index); keys shared by more than `index.MAX_BLOCK` registry rows are dropped, as at query time;
2. queries -> (key hash, query) via `mapInPandas` with `index.query_keys` (after `compare.effective_query`);
3. equi-join on the key hash, count shared keys per (query, person) pair, keep the `CANDIDATE_POOL` pairs
   with most shared keys per query; the scorer keeps the `MAX_CANDIDATES` best of them by the same
   pre-score as the local search (`search.preselect`: shared keys + date, sex and ID evidence);
4. `groupBy(query_id).applyInPandas`: each query's candidate pairs go through `compare.compare` (the
   comparison levels, incl. the Jaro-Winkler bands of Winkler 1990) and `search.rank` (vectorised log2 Bayes
   factors, the competition-aware posterior and the decisions) with the model and term frequencies of
   the index given by `--index` (u by random sampling, the in-registry prior), broadcast to executors.

Same decisions as `passage identify batch --no-train-m` with the same index. Differences (documented in
docs/identity.md): no batch EM of m (use `--index` built once, and the model it holds); ties at the
200-candidate cap are broken by person id rather than by segment row. Results are streamed to the driver
with `toLocalIterator` and written atomically; the output contract is the batch CLI's results.csv.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from passage.core.errors import InvalidInput
from passage.core.files import atomic_output, csv_writer
from passage.core.i18n import T_
from passage.identity import compare, dates, resident_id
from passage.identity.index import (
    CANDIDATE_POOL,
    MAX_BLOCK,
    MAX_CANDIDATES,
    REGISTRY_COLUMNS,
    _frequency_parts,
    iter_registry,
    key_hashes,
    open_index,
    query_keys,
    record_from_row,
    record_keys,
)
from passage.identity.queries import QUERY_COLUMNS, RESULT_COLUMNS, make_query, read_queries
from passage.identity.search import Scored, preselect, rank


def _signed(values: Any) -> list[int]:
    """uint64 hashes as Spark longs (two's complement)."""
    return key_hashes(values).view("int64").tolist() if len(values) else []


def _registry_keys(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for frame in batches:
        hashes: list[int] = []
        pids: list[str] = []
        for row in frame.fillna("").to_dict("records"):
            keys = record_keys(record_from_row(row))
            hashes += _signed(keys)
            pids += [row["person_id"]] * len(keys)
        yield pd.DataFrame({"key": pd.Series(hashes, dtype="int64"), "person_id": pd.Series(pids, dtype="object")})


def _query_from_row(row: dict[str, str]) -> compare.Query:
    sex = row["sex"].upper()
    return make_query(
        query_id=row["query_id"], family_name=row["family_name"], given_name=row["given_name"], full_name=row["full_name"],
        sex=sex if sex in ("M", "F") else "", birth_date=row["birth_date"],
        birth_place=row["birth_place"], id_number=row["id_number"], nationality=row["nationality"])


def _query_keys(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for frame in batches:
        hashes: list[int] = []
        qids: list[str] = []
        for row in frame.fillna("").to_dict("records"):
            effective, _ = compare.effective_query(_query_from_row(row))
            if not effective.usable():
                continue
            keys = query_keys(effective)
            hashes += _signed(keys)
            qids += [row["query_id"]] * len(keys)
        yield pd.DataFrame({"key": pd.Series(hashes, dtype="int64"), "query_id": pd.Series(qids, dtype="object")})


def _cheap_levels(query: compare.Query, record: compare.Record) -> tuple[int, int, int]:
    """Level indices (-1 missing) of date of birth, sex and ID number, the fields of the candidate pre-score."""
    from passage.identity import scoring

    q_sex = query.sex.strip().upper()[:1]
    sex = ("agree" if q_sex == record.sex else "disagree") if q_sex in ("M", "F") and record.sex in ("M", "F") else None
    levels = (dates.compare_dates(query.birth_date, record.birth_date), sex, resident_id.compare_ids(query.id_number, record.id_number))
    return tuple(-1 if lv is None else scoring.FIELD_LEVELS[f].index(lv)  # type: ignore[return-value]
                 for f, lv in zip(("birth_date", "sex", "id_number"), levels, strict=True))


def _scorer(model_json: str, registry_size: int, tf: dict[str, dict[str, float]], top: int) -> Any:
    from passage.identity import scoring

    model = scoring.Model.from_json(model_json)

    def score(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.fillna("")
        first = frame.iloc[0].to_dict()
        query = _query_from_row({c: str(first[f"q_{c}"]) for c in QUERY_COLUMNS})
        effective, notes = compare.effective_query(query)
        if len(frame) > MAX_CANDIDATES:
            # The pool's second stage, as in `search.gather`: the best by shared keys + date, sex and ID evidence.
            codes = np.full((len(frame), len(scoring.FIELDS)), -1, dtype=np.int8)
            cheap_columns = [scoring.FIELDS.index(f) for f in ("birth_date", "sex", "id_number")]
            codes[:, cheap_columns] = [_cheap_levels(effective, record_from_row({c: str(r[c]) for c in REGISTRY_COLUMNS}))
                                       for r in frame.to_dict("records")]
            pid_order = np.argsort(np.argsort(frame["person_id"].to_numpy(dtype=str), kind="stable"), kind="stable")
            chosen = preselect(codes, frame["shared"].to_numpy(dtype=np.int64), np.zeros(len(frame), dtype=np.int64), pid_order, model)
            frame = frame.iloc[chosen]
        records = [record_from_row({c: str(r[c]) for c in REGISTRY_COLUMNS}) for r in frame.to_dict("records")]
        levels = [compare.compare(effective, rec) for rec in records]
        freqs = []
        for rec in records:
            full, s, g = _frequency_parts(rec.family_name, rec.given_name)
            freqs.append((tf["full"].get(full, 0.0), tf["surname"].get(s, 0.0), tf["given"].get(g, 0.0)))
        result = rank(Scored.from_levels(effective, notes, [r.person_id for r in records], levels, freqs), model, registry_size=registry_size, top=top)
        return pd.DataFrame({"query_id": [query.query_id] * len(result.candidates), "rank": [c.rank for c in result.candidates],
                             "person_id": [c.person_id for c in result.candidates],
                             "match_probability": [float(c.match_probability) for c in result.candidates],
                             "decision": [c.decision for c in result.candidates]})

    return score


def _check_queries(path: Path) -> list[str]:
    """Validate queries.csv on the driver with the batch CLI's checks (line and column, never values); returns ids."""
    return [q.query_id for q in read_queries(path)]


def link(registry: Path, queries: Path, out: Path, *, index_dir: Path, master: str = "local[*]", top: int = 10,
         spark: Any = None) -> int:
    """Run the Spark linkage job; returns the number of result rows written to `out` (results.csv contract)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    for _ in iter_registry(registry, chunk_rows=1):
        break  # header and first-row checks with line numbers; executors re-check dates
    query_ids = _check_queries(queries)
    index = open_index(index_dir)
    tf = index.frequency_tables()
    own_session = spark is None
    if spark is None:
        from passage.core.spark import spark_session

        spark = spark_session(master, app_name="passage-identity-link", config={"spark.sql.execution.arrow.pyspark.enabled": "true"})
    try:
        reg = spark.read.csv(str(registry), header=True, inferSchema=False, encoding="UTF-8", ignoreLeadingWhiteSpace=True,
                             ignoreTrailingWhiteSpace=True).select(*REGISTRY_COLUMNS)
        qry = spark.read.csv(str(queries), header=True, inferSchema=False, encoding="UTF-8", ignoreLeadingWhiteSpace=True,
                             ignoreTrailingWhiteSpace=True).select(*QUERY_COLUMNS)
        reg_keys = reg.mapInPandas(_registry_keys, "key long, person_id string")
        block_sizes = reg_keys.groupBy("key").count().where(F.col("count") <= MAX_BLOCK).select("key")
        reg_keys = reg_keys.join(block_sizes, "key")
        q_keys = qry.mapInPandas(_query_keys, "key long, query_id string").dropDuplicates(["key", "query_id"])
        pairs = q_keys.join(reg_keys, "key").groupBy("query_id", "person_id").agg(F.count("*").alias("shared"))
        window = Window.partitionBy("query_id").orderBy(F.desc("shared"), F.asc("person_id"))
        pairs = pairs.withColumn("n", F.row_number().over(window)).where(F.col("n") <= CANDIDATE_POOL).drop("n")
        q_renamed = qry.select(*(F.col(c).alias(f"q_{c}") for c in QUERY_COLUMNS))
        joined = pairs.join(reg, "person_id").join(q_renamed, pairs["query_id"] == q_renamed["q_query_id"])
        scorer = _scorer(index.model.to_json(), index.size, tf, top)
        schema = "query_id string, rank int, person_id string, match_probability double, decision string"
        results = joined.select(*REGISTRY_COLUMNS, "query_id", "shared", *(f"q_{c}" for c in QUERY_COLUMNS)).groupBy("query_id").applyInPandas(scorer, schema)
        found: dict[str, list[tuple[int, str, float, str]]] = {}
        for row in results.toLocalIterator():
            found.setdefault(row["query_id"], []).append((row["rank"], row["person_id"], row["match_probability"], row["decision"]))
    except Exception as exc:  # Spark wraps executor errors; report the type only (values may be personal)
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(T_("Spark job failed ({value}); see the Spark log", value=type(exc).__name__)) from None
    finally:
        if own_session:
            spark.stop()
    written = 0
    with atomic_output(out) as handle:
        writer = csv_writer(handle, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        for qid in query_ids:
            rows = sorted(found.get(qid, []))
            if not rows:
                writer.writerow([qid, 0, "", "0.000000", "no_match"])
                written += 1
            for r, pid, p, decision in rows:
                writer.writerow([qid, r, pid, f"{p:.6f}", decision])
                written += 1
    return written
