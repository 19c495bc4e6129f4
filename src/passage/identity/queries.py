"""The query file of a batch identification (`queries.csv`, docs/identity.md) and one query from its parts.

Used by the service's `identify_batch`, the Spark linker and the benchmarks, so that all read a query the
same way. Errors name the line and the column, never the value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from passage.core.errors import InvalidInput
from passage.core.files import read_csv_rows
from passage.core.i18n import T_
from passage.identity import compare, dates, scoring

if TYPE_CHECKING:
    from passage.identity.search import Candidate

QUERY_COLUMNS = ("query_id", "family_name", "given_name", "full_name", "sex", "birth_date", "birth_place", "id_number", "nationality")
RESULT_COLUMNS = ("query_id", "rank", "person_id", "match_probability", "decision")
COMPARISON_FIELDS = ("name", "birth_date", "sex", "birth_place", "id_number")
COMPARISON_COLUMNS = ("match_weight", "log2_bayes_factor",
                      *(f"{prefix}_{f}" for f in COMPARISON_FIELDS for prefix in ("gamma", "bf")))
"""Splink's names beside Passage's (docs/identity.md): `match_weight` = log2 Bayes factor + log2 prior odds,
`gamma_<field>` the comparison vector value, `bf_<field>` the field's Bayes factor (term-frequency adjusted)."""

Comparison = list[float | int | None]
"""A candidate's values of `COMPARISON_COLUMNS`, typed (the Spark engine keeps them so in Parquet)."""


def log2_prior_odds(model: scoring.Model) -> float:
    """Splink's prior in bits: log2(lambda / (1 - lambda)), lambda = in-registry share / registry size."""
    lam = min(max(model.prior_in_registry / max(model.registry_size, 1), 1e-15), 1 - 1e-15)
    return math.log2(lam / (1 - lam))


def comparison_values(candidate: Candidate, prior_odds: float) -> Comparison:
    """match_weight, log2_bayes_factor, then gamma and Bayes factor per field (None: the level is missing)."""
    by_field = {e.kind: e for e in candidate.evidence}
    values: Comparison = [candidate.log2_bf + prior_odds, candidate.log2_bf]
    for f in COMPARISON_FIELDS:
        level = getattr(candidate.levels, f)
        evidence = by_field.get(f)
        values += [scoring.gamma(f, level), None if level is None or evidence is None else 2.0 ** evidence.log2_bf]
    return values


def result_cells(query_id: str, rank: int, person_id: str, probability: float, decision: str, comparison: Comparison | None,
                 *, comparison_columns: bool) -> list[str]:
    """One row of results.csv as written by every engine; `comparison` None leaves its cells empty (rank 0)."""
    cells = [query_id, str(rank), person_id, f"{probability:.6f}", decision]
    if not comparison_columns:
        return cells
    if comparison is None:
        return cells + [""] * len(COMPARISON_COLUMNS)
    cells += [f"{comparison[0]:.3f}", f"{comparison[1]:.3f}"]
    for gamma_value, bf in zip(comparison[2::2], comparison[3::2], strict=True):
        cells += [str(gamma_value), "" if bf is None else f"{bf:.6g}"]
    return cells


def make_query(*, query_id: str, family_name: str = "", given_name: str = "", full_name: str = "", sex: str = "",
               birth_date: str | None = None, birth_place: str = "", id_number: str = "", nationality: str = "",
               where: str = "birth_date") -> compare.Query:
    """A query from recorded text, the (partial) birth date parsed (`dates.parse_partial`); errors name `where`."""
    return compare.Query(
        query_id=query_id, family_name=family_name, given_name=given_name, full_name=full_name,
        sex=sex, birth_date=dates.parse_partial(birth_date, where=where) if birth_date else None,
        birth_place=birth_place, id_number=id_number, nationality=nationality,
    )


def read_queries(path: Path) -> list[compare.Query]:
    """Read and check queries.csv; errors name line and column only."""
    _, rows = read_csv_rows(path, required=QUERY_COLUMNS)
    seen: set[str] = set()
    queries = []
    for line, row in rows:
        query = check_query_row(path.name, line, row)
        if query.query_id in seen:
            raise InvalidInput(T_("{name}: line {line}, column query_id: duplicate identifier", name=path.name, line=line))
        seen.add(query.query_id)
        queries.append(query)
    return queries


def check_query_row(name: str, line: int, row: dict[str, str]) -> compare.Query:
    """One row of queries.csv (values stripped) as a query; errors name the file, line and column only."""
    if not row["query_id"]:
        raise InvalidInput(T_("{name}: line {line}, column query_id: empty", name=name, line=line))
    sex = row["sex"].upper()
    if sex and sex not in ("M", "F", "X", "U"):
        raise InvalidInput(T_("{name}: line {line}, column sex: expected M, F or empty", name=name, line=line))
    return make_query(
        query_id=row["query_id"], family_name=row["family_name"], given_name=row["given_name"], full_name=row["full_name"],
        sex=sex if sex in ("M", "F") else "", birth_date=row["birth_date"], where=f"{name}: line {line}, column birth_date",
        birth_place=row["birth_place"], id_number=row["id_number"], nationality=row["nationality"],
    )
