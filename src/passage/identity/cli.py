"""`passage identify batch` and `passage identify index` (contracts in docs/identity.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.progress import Progress

from passage.core.db import unit_of_work
from passage.core.errors import InvalidInput
from passage.core.i18n import N_
from passage.core.progress import progress_bar
from passage.identity.index import build_or_update, default_index_dir
from passage.identity.service import EM_MIN_QUERIES, BatchProgress, identify_batch
from passage.security.actors import system_actor

identify_app = typer.Typer(name="identify", help="Find people in a registry from what a foreign authority recorded.", no_args_is_help=True)

CLI_ACTOR = system_actor("identity.cli")
"""The CLI acts as the server operator's job; the service checks and audits it like any actor."""


class _BarStages(BatchProgress):
    def __init__(self, bar: Progress) -> None:
        self.bar = bar

    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        task = self.bar.add_task(name, total=total)
        return lambda n: self.bar.advance(task, n)


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
    out: Path = typer.Option(..., "--out", help="results.csv (query_id,rank,person_id,match_probability,decision, then Splink's match_weight, log2_bayes_factor, gamma_*, bf_*)"),
    top: int = typer.Option(10, "--top", min=1, max=100, help="Candidates per query"),
    index_dir: Path | None = typer.Option(None, "--index", help="Reuse (and update) this index directory instead of a temporary one"),
    explain: Path | None = typer.Option(None, "--explain", help="Also write per-candidate evidence as JSON lines"),
    model_path: Path | None = typer.Option(None, "--model", help="Apply this saved model (Passage or Splink-style JSON) instead of fitting one"),
    save_model: Path | None = typer.Option(None, "--save-model", help="Write the model used (fitted or given) as Splink-style JSON"),
    comparison_columns: bool = typer.Option(True, "--comparison-columns/--no-comparison-columns", help="Write match_weight, gamma_* and bf_* per candidate"),
    train_m: bool = typer.Option(True, "--train-m/--no-train-m", help=f"Estimate m and the in-registry prior by one-to-one EM on this batch (needs {EM_MIN_QUERIES}+ queries)"),
    workers: int = typer.Option(2, "--workers", min=1, max=64, help="Processes for indexing and comparison (the index is memory-mapped and shared)"),
    prior_in_registry: float | None = typer.Option(None, "--prior", min=0.001, max=0.999, help="Prior probability that a queried person is in the registry (default: 0.5, or estimated by EM; given: fixed)"),
) -> None:
    """Identify every query against the registry and write ranked candidates with decisions."""
    with progress_bar() as bar, unit_of_work() as session:
        report = identify_batch(session, actor=CLI_ACTOR, registry=registry, queries_path=queries_path, out=out, top=top,
                                index_dir=index_dir, explain=explain, train_m=train_m, workers=workers,
                                prior_in_registry=prior_in_registry, progress=_BarStages(bar), model_path=model_path,
                                save_model=save_model, comparison_columns=comparison_columns)
    if report.expected_false_match_share is not None:
        typer.echo(f"model's expected share of wrong match decisions: {report.expected_false_match_share:.4f}", err=True)
    if report.unusable:
        typer.echo(f"{report.unusable} queries had nothing usable and were answered no_match (rank 0)", err=True)


@identify_app.command("link")
def link_command(
    registry: str = typer.Option(..., "--registry", help="registry.csv (a local path, or hdfs://, s3a:// on a cluster)"),
    queries_path: str = typer.Option(..., "--queries", help="queries.csv"),
    out: str = typer.Option(..., "--out", help="results.csv (the columns of `batch`), or a directory: Parquet partitioned by decision"),
    engine: str = typer.Option("spark", "--engine", help="spark (the only engine here; `passage identify batch` is the one-machine path)"),
    master: str = typer.Option("local[*]", "--master", help="Spark master: local[*], local[N] or a cluster URL"),
    work: str | None = typer.Option(None, "--work", help="Directory for the Spark index and intermediate Parquet (default: a temporary local one; required on a cluster)"),
    top: int = typer.Option(10, "--top", min=1, max=100, help="Candidates per query"),
    train_m: bool = typer.Option(True, "--train-m/--no-train-m", help=f"Estimate m and the in-registry prior by one-to-one EM on Spark (needs {EM_MIN_QUERIES}+ queries)"),
    prior_in_registry: float | None = typer.Option(None, "--prior", min=0.001, max=0.999, help="Prior probability that a queried person is in the registry (given: fixed)"),
    model_path: Path | None = typer.Option(None, "--model", help="Apply this saved model (Passage or Splink-style JSON) instead of fitting one"),
    save_model: Path | None = typer.Option(None, "--save-model", help="Write the model used (fitted or given) as Splink-style JSON"),
    comparison_columns: bool = typer.Option(True, "--comparison-columns/--no-comparison-columns", help="Write match_weight, gamma_* and bf_* per candidate"),
) -> None:
    """Link a whole registry against a whole query set on Spark (same comparisons, scoring and decisions as `batch`)."""
    if engine != "spark":
        raise InvalidInput(N_("--engine: only `spark` is supported here; use `passage identify batch` on one machine"))
    from passage.identity.service import link_on_spark

    with unit_of_work() as session:
        report = link_on_spark(session, actor=CLI_ACTOR, registry=registry, queries_path=queries_path, out=out, master=master, top=top,
                               work=work, train_m=train_m, prior_in_registry=prior_in_registry, model_path=model_path,
                               save_model=save_model, comparison_columns=comparison_columns)
    typer.echo(json.dumps({"rows": report.result_rows, "queries": report.queries, "registry_records": report.registry_records,
                           "em_fitted": report.em_fitted, "engine": "spark", "master": master}))


@identify_app.command("dedupe")
def dedupe_command(
    registry: Path = typer.Option(..., "--registry", help="registry.csv (person_id,family_name,given_name,sex,birth_date,birth_place,id_number)"),
    out: Path = typer.Option(..., "--out", help="clusters.csv (cluster_id,person_id,cluster_size,linked_to,link_probability,missing_links,review)"),
    pairs: Path | None = typer.Option(None, "--pairs", help="Also write the linked pairs (left_person_id,right_person_id,match_probability,match_weight)"),
    threshold: float = typer.Option(0.99, "--threshold", min=0.5, max=1.0, help="Pairwise match probability at which two records link"),
    index_dir: Path | None = typer.Option(None, "--index", help="Reuse (and update) this index directory instead of a temporary one"),
    workers: int = typer.Option(2, "--workers", min=1, max=64, help="Processes for indexing and comparison"),
) -> None:
    """Find the records of one registry that are the same person, as clusters a reviewer can split."""
    from passage.identity.service import dedupe_registry

    with progress_bar() as bar, unit_of_work() as session:
        report = dedupe_registry(session, actor=CLI_ACTOR, registry=registry, out=out, pairs_out=pairs, threshold=threshold,
                                 index_dir=index_dir, workers=workers, progress=_BarStages(bar))
    typer.echo(json.dumps({"records": report.records, "linked_pairs": report.pairs, "clusters": report.clusters,
                           "clustered_records": report.clustered_records, "clusters_to_review": report.review,
                           "estimated_duplicate_share": round(report.prior_duplicate, 4)}))


typer_apps: list[typer.Typer] = [identify_app]
