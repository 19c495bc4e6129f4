"""The query file of a batch identification (`queries.csv`, docs/identity.md) and one query from its parts.

Used by the service's `identify_batch`, the Spark linker and the benchmarks, so that all read a query the
same way. Errors name the line and the column, never the value.
"""

from __future__ import annotations

from pathlib import Path

from passage.core.errors import InvalidInput
from passage.core.files import read_csv_rows
from passage.core.i18n import T_
from passage.identity import compare, dates

QUERY_COLUMNS = ("query_id", "family_name", "given_name", "full_name", "sex", "birth_date", "birth_place", "id_number", "nationality")
RESULT_COLUMNS = ("query_id", "rank", "person_id", "match_probability", "decision")
COMPARISON_FIELDS = ("name", "birth_date", "sex", "birth_place", "id_number")
COMPARISON_COLUMNS = ("match_weight", "log2_bayes_factor",
                      *(f"{prefix}_{f}" for f in COMPARISON_FIELDS for prefix in ("gamma", "bf")))
"""Splink's names beside Passage's (docs/identity.md): `match_weight` = log2 Bayes factor + log2 prior odds,
`gamma_<field>` the comparison vector value, `bf_<field>` the field's Bayes factor (term-frequency adjusted)."""


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
        if not row["query_id"]:
            raise InvalidInput(T_("{name}: line {line}, column query_id: empty", name=path.name, line=line))
        if row["query_id"] in seen:
            raise InvalidInput(T_("{name}: line {line}, column query_id: duplicate identifier", name=path.name, line=line))
        seen.add(row["query_id"])
        sex = row["sex"].upper()
        if sex and sex not in ("M", "F", "X", "U"):
            raise InvalidInput(T_("{name}: line {line}, column sex: expected M, F or empty", name=path.name, line=line))
        queries.append(make_query(
            query_id=row["query_id"], family_name=row["family_name"], given_name=row["given_name"], full_name=row["full_name"],
            sex=sex if sex in ("M", "F") else "", birth_date=row["birth_date"], where=f"{path.name}: line {line}, column birth_date",
            birth_place=row["birth_place"], id_number=row["id_number"], nationality=row["nationality"],
        ))
    return queries
