"""`passage identify batch` and `passage identify index` (contracts in docs/identity.md)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import typer

from passage.core.errors import InvalidInput
from passage.core.files import atomic_output, csv_writer, read_csv_rows
from passage.core.progress import progress_bar
from passage.identity import compare, dates, scoring
from passage.identity.index import build_or_update, default_index_dir, open_index
from passage.identity.search import Scored, expected_false_match_share, fit_model, gather_many, rank

QUERY_COLUMNS = ("query_id", "family_name", "given_name", "full_name", "sex", "birth_date", "birth_place", "id_number", "nationality")
RESULT_COLUMNS = ("query_id", "rank", "person_id", "match_probability", "decision")
EM_MIN_QUERIES = 200

identify_app = typer.Typer(name="identify", help="Find people in a registry from what a foreign authority recorded.", no_args_is_help=True)


def read_queries(path: Path) -> list[compare.Query]:
    """Read and check queries.csv; errors name line and column only."""
    _, rows = read_csv_rows(path, required=QUERY_COLUMNS)
    seen: set[str] = set()
    queries = []
    for line, row in rows:
        if not row["query_id"]:
            raise InvalidInput(f"{path.name}: line {line}, column query_id: empty")
        if row["query_id"] in seen:
            raise InvalidInput(f"{path.name}: line {line}, column query_id: duplicate identifier")
        seen.add(row["query_id"])
        sex = row["sex"].upper()
        if sex and sex not in ("M", "F", "X", "U"):
            raise InvalidInput(f"{path.name}: line {line}, column sex: expected M, F or empty")
        queries.append(compare.Query(
            query_id=row["query_id"], family_name=row["family_name"], given_name=row["given_name"], full_name=row["full_name"],
            sex=sex if sex in ("M", "F") else "", birth_date=dates.parse_partial(row["birth_date"], where=f"{path.name}: line {line}, column birth_date"),
            birth_place=row["birth_place"], id_number=row["id_number"], nationality=row["nationality"],
        ))
    return queries


def fit_m(gathered: list[Scored], model: scoring.Model, *, registry_size: int) -> scoring.Model:
    """Re-estimate m and the in-registry prior by one-to-one EM on the batch (`search.fit_model`)."""
    if sum(1 for g in gathered if g.size) < EM_MIN_QUERIES:
        return model
    fitted, _ = fit_model(gathered, model, registry_size=registry_size)
    return fitted


@identify_app.command("index")
def index_command(
    registry: Path = typer.Option(..., "--registry", help="registry.csv (person_id,family_name,given_name,sex,birth_date,birth_place,id_number)"),
    index_dir: Path | None = typer.Option(None, "--index", help="Index directory (default: beside the registry, <name>.index)"),
) -> None:
    """Build a persistent index of the registry, or update it incrementally."""
    target = index_dir or default_index_dir(registry)
    with progress_bar() as bar:
        task = bar.add_task("indexing", total=None)
        report = build_or_update(registry, target, progress=lambda n: bar.advance(task, n))
    typer.echo(json.dumps({"index": str(target), "added": report.added, "changed": report.changed, "removed": report.removed,
                           "unchanged": report.unchanged, "records": report.total}))


@identify_app.command("batch")
def batch_command(
    registry: Path = typer.Option(..., "--registry", help="registry.csv"),
    queries_path: Path = typer.Option(..., "--queries", help="queries.csv"),
    out: Path = typer.Option(..., "--out", help="results.csv (query_id,rank,person_id,match_probability,decision)"),
    top: int = typer.Option(10, "--top", min=1, max=100, help="Candidates per query"),
    index_dir: Path | None = typer.Option(None, "--index", help="Reuse (and update) this index directory instead of a temporary one"),
    explain: Path | None = typer.Option(None, "--explain", help="Also write per-candidate evidence as JSON lines"),
    train_m: bool = typer.Option(True, "--train-m/--no-train-m", help=f"Estimate m and the in-registry prior by one-to-one EM on this batch (needs {EM_MIN_QUERIES}+ queries)"),
    workers: int = typer.Option(2, "--workers", min=1, max=64, help="Processes for indexing and comparison (the index is memory-mapped and shared)"),
    prior_in_registry: float | None = typer.Option(None, "--prior", min=0.001, max=0.999, help="Prior probability that a queried person is in the registry (default: 0.5, or estimated by EM; given: fixed)"),
) -> None:
    """Identify every query against the registry and write ranked candidates with decisions."""
    queries = read_queries(queries_path)
    with tempfile.TemporaryDirectory(prefix="passage-identify-") as tmp:
        target = index_dir or Path(tmp) / "index"
        with progress_bar() as bar:
            task = bar.add_task("indexing registry", total=None)
            build_or_update(registry, target, progress=lambda n: bar.advance(task, n), workers=workers)
            index = open_index(target)
            task = bar.add_task("comparing", total=len(queries))
            gathered = gather_many(index, queries, workers=workers, progress=lambda n: bar.advance(task, n))
            base = index.model
            if prior_in_registry is not None:
                base.prior_in_registry = prior_in_registry
            if train_m and sum(1 for g in gathered if g.size) >= EM_MIN_QUERIES:
                model, _ = fit_model(gathered, base, registry_size=index.size, fit_prior_in_registry=prior_in_registry is None)
            else:
                model = base
            task = bar.add_task("ranking", total=len(gathered))
            results = []
            for g in gathered:
                results.append(rank(g, model, registry_size=index.size, top=top, index=index))
                bar.advance(task, 1)
        unusable = 0
        with atomic_output(out) as handle:
            writer = csv_writer(handle, lineterminator="\n")
            writer.writerow(RESULT_COLUMNS)
            explain_ctx = atomic_output(explain) if explain else None
            explain_handle = explain_ctx.__enter__() if explain_ctx else None
            try:
                for g, result in zip(gathered, results, strict=True):
                    if not result.candidates:
                        unusable += 1 if not g.query.usable() else 0
                        writer.writerow([g.query.query_id, 0, "", "0.000000", "no_match"])
                    for c in result.candidates:
                        writer.writerow([g.query.query_id, c.rank, c.person_id, f"{c.match_probability:.6f}", c.decision])
                    if explain_handle is not None:
                        explain_handle.write(json.dumps({"query_id": g.query.query_id, "notes": result.notes,
                                                         "probability_not_in_registry": result.probability_not_in_registry,
                                                         "candidates": [c.as_dict() for c in result.candidates]}, ensure_ascii=False) + "\n")
            except BaseException:
                if explain_ctx is not None:
                    explain_ctx.__exit__(*sys.exc_info())
                raise
            if explain_ctx is not None:
                explain_ctx.__exit__(None, None, None)
    share = expected_false_match_share(results)
    if share is not None:
        typer.echo(f"model's expected share of wrong match decisions: {share:.4f}", err=True)
    if unusable:
        typer.echo(f"{unusable} queries had nothing usable and were answered no_match (rank 0)", err=True)


@identify_app.command("link")
def link_command(
    registry: Path = typer.Option(..., "--registry", help="registry.csv"),
    queries_path: Path = typer.Option(..., "--queries", help="queries.csv"),
    out: Path = typer.Option(..., "--out", help="results.csv (query_id,rank,person_id,match_probability,decision)"),
    index_dir: Path | None = typer.Option(None, "--index", help="Index of the registry holding the model (built or updated first)"),
    engine: str = typer.Option("spark", "--engine", help="spark (the only engine; `batch` is the one-machine path)"),
    master: str = typer.Option("local[*]", "--master", help="Spark master: local[*], local[N] or a cluster URL"),
    top: int = typer.Option(10, "--top", min=1, max=100, help="Candidates per query"),
) -> None:
    """Link a whole registry against a whole query set on Spark (same comparisons, scoring and decisions)."""
    if engine != "spark":
        raise InvalidInput("--engine: only `spark` is supported here; use `passage identify batch` on one machine")
    from passage.identity.spark_link import link

    target = index_dir or default_index_dir(registry)
    with progress_bar() as bar:
        task = bar.add_task("indexing registry (model, term frequencies)", total=None)
        build_or_update(registry, target, progress=lambda n: bar.advance(task, n))
    rows = link(registry, queries_path, out, index_dir=target, master=master, top=top)
    typer.echo(json.dumps({"rows": rows, "engine": "spark", "master": master}))


typer_apps: list[typer.Typer] = [identify_app]
