"""Identity service: 1:N search against the registry index, audited with ids only.

The index is opened once per process and cached (re-opened when its manifest changes, e.g. after
`passage identify index` added a segment). Its directory is `$PASSAGE_IDENTITY_INDEX`, or
`<data_dir>/identity/registry.index` (data_dir from `passage.core.settings`).

The readmission "Identify" step calls `person_query(...)` and `search_person(session, actor=..., query=...,
case_id=...)`; `passage identify batch` calls `identify_batch(session, actor=..., ...)`. Both check
`Permission.IDENTITY_SEARCH` themselves (the foundation's refusal path), so a CLI run and another module get the
same answer as the API, and both are audited with ids and counts only.
Scoring: Fellegi & Sunter (1969) with a one-to-one posterior, see `passage.identity.scoring`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from passage.core.errors import InvalidInput, NotFound
from passage.core.files import atomic_output, csv_writer
from passage.core.settings import get_settings
from passage.identity import clusters, compare, dates, scoring
from passage.identity.index import (
    RegistryIndex,
    build_or_update,
    open_index,
    record_from_row,
    validate_registry,
)
from passage.identity.queries import (
    COMPARISON_COLUMNS,
    COMPARISON_FIELDS,
    RESULT_COLUMNS,
    make_query,
    read_queries,
)
from passage.identity.search import (
    Candidate,
    ExtraEvidence,
    SearchResult,
    expected_false_match_share,
    fit_model,
    gather_many,
    log2_bayes_factors,
    rank,
    search,
)
from passage.security import audit
from passage.security.actors import Actor
from passage.security.operations import require_permission
from passage.security.permissions import Permission

ENTITY = "identity_registry"
EM_MIN_QUERIES = 200
"""Below this many usable queries a batch keeps the index's m-probabilities (EM needs enough pairs)."""

_lock = threading.Lock()
_cache: dict[Path, tuple[float, RegistryIndex]] = {}


def index_directory() -> Path:
    """Where the service reads the registry index."""
    configured = os.environ.get("PASSAGE_IDENTITY_INDEX")
    return Path(configured) if configured else get_settings().data_dir / "identity" / "registry.index"


def load_index(directory: Path | None = None) -> RegistryIndex:
    """The opened index, cached per process; re-opened only when its manifest has changed."""
    target = (directory or index_directory()).resolve()
    manifest = target / "manifest.json"
    if not manifest.exists():
        raise NotFound("identity index is not built; run `passage identify index` first")
    stamp = manifest.stat().st_mtime_ns
    with _lock:
        cached = _cache.get(target)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        index = open_index(target)
        _cache[target] = (stamp, index)
        return index


def clear_cache() -> None:
    """Forget opened indexes (tests, or after replacing an index directory)."""
    with _lock:
        _cache.clear()


QUERY_FIELDS = ("family_name", "given_name", "full_name", "sex", "birth_date", "birth_place", "id_number", "nationality")


def person_query(*, query_id: str, family_name: str = "", given_name: str = "", full_name: str = "", sex: str = "",
                 birth_date: str | None = None, birth_place: str = "", id_number: str = "", nationality: str = "",
                 where: str = "birth_date") -> compare.Query:
    """A query from what another module recorded (a partial birth date as text); errors name `where` only."""
    return make_query(query_id=query_id, family_name=family_name, given_name=given_name, full_name=full_name, sex=sex,
                      birth_date=birth_date, birth_place=birth_place, id_number=id_number, nationality=nationality, where=where)


def search_person(session: Session, *, actor: Actor, query: compare.Query, top: int = 10, case_id: str | None = None,
                  extra_evidence: ExtraEvidence | None = None, directory: Path | None = None) -> SearchResult:
    """1:N search, audited as a read of the registry: which fields were given, which person ids came back.

    `extra_evidence(query, person_id) -> [Evidence]` adds independent evidence such as a fingerprint
    comparison's log2 likelihood ratio (see docs/identity.md, "Extra evidence").
    """
    require_permission(session, actor=actor, permission=Permission.IDENTITY_SEARCH, entity_type=ENTITY, entity_id=case_id, operation="search")
    index = load_index(directory)
    result = search(index, query, top, extra_evidence=extra_evidence)
    given = [f for f in QUERY_FIELDS if getattr(query, f)]
    audit.record(session, actor=actor, action="search", entity_type=ENTITY, entity_id=case_id,
                 details={"fields": given, "candidates": [c.person_id for c in result.candidates],
                          "decision": result.decision, "top": top})
    return result


@dataclass(frozen=True)
class IndexStatus:
    """What the index holds (counts only)."""

    built: bool
    records: int
    segments: int
    prior_in_registry: float | None


def index_status(*, directory: Path | None = None) -> IndexStatus:
    """Whether the index exists and how many live records it holds; no personal data."""
    try:
        index = load_index(directory)
    except NotFound:
        return IndexStatus(False, 0, 0, None)
    return IndexStatus(True, index.size, len(index.segments), index.model.prior_in_registry)


# --- batch identification -----------------------------------------------------------------------------------


class BatchProgress:
    """Stages of a batch for a progress bar: `stage(name, total)` returns the callback that advances it."""

    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        return lambda _n: None


@dataclass(frozen=True)
class BatchReport:
    """What a batch did (counts only)."""

    queries: int
    registry_records: int
    result_rows: int
    unusable: int
    em_fitted: bool
    expected_false_match_share: float | None


def identify_batch(
    session: Session, *, actor: Actor, registry: Path, queries_path: Path, out: Path, top: int = 10, index_dir: Path | None = None,
    explain: Path | None = None, train_m: bool = True, workers: int = 2, prior_in_registry: float | None = None,
    progress: BatchProgress | None = None, model_path: Path | None = None, save_model: Path | None = None,
    comparison_columns: bool = True,
) -> BatchReport:
    """Identify every query of `queries_path` against `registry` and write ranked candidates with decisions to `out`.

    The index is built (or updated, with `index_dir`) from the registry; m-probabilities and the in-registry prior
    are re-estimated by one-to-one EM on the batch when it is large enough (Winkler 1988; Jaro 1989; Sadinle 2017,
    see `search.fit_model`); a given `prior_in_registry` stays fixed. `out` (and `explain`) are written atomically:
    a failure leaves no partial file. Audited as one read of the registry with counts only.

    `model_path` applies a saved model (Passage's or Splink-style JSON, `scoring.Model.from_any_json`) instead of
    the index's, and is not re-fitted; `save_model` writes the model used, Splink-style. With `comparison_columns`
    each candidate row also carries Splink's `match_weight`, `gamma_*` and `bf_*` (`queries.COMPARISON_COLUMNS`)."""
    require_permission(session, actor=actor, permission=Permission.IDENTITY_SEARCH, entity_type=ENTITY, operation="batch")
    stages = progress or BatchProgress()
    queries = read_queries(queries_path)
    loaded = _read_model(model_path) if model_path is not None else None
    with tempfile.TemporaryDirectory(prefix="passage-identify-") as tmp:
        target = index_dir or Path(tmp) / "index"
        build_or_update(registry, target, progress=stages.stage("indexing registry", None), workers=workers)
        index = open_index(target)
        gathered = gather_many(index, queries, workers=workers, progress=stages.stage("comparing", len(queries)))
        model = index.model
        if loaded is not None:
            model = dataclasses.replace(loaded, registry_size=index.size)
        if prior_in_registry is not None:
            model.prior_in_registry = prior_in_registry
        fitted = loaded is None and train_m and sum(1 for g in gathered if g.size) >= EM_MIN_QUERIES
        if fitted:
            model, _ = fit_model(gathered, model, registry_size=index.size, fit_prior_in_registry=prior_in_registry is None)
        advance = stages.stage("ranking", len(gathered))
        results = []
        for g in gathered:
            results.append(rank(g, model, registry_size=index.size, top=top, index=index))
            advance(1)
        unusable = rows = 0
        with ExitStack() as files:
            writer = csv_writer(files.enter_context(atomic_output(out)), lineterminator="\n")
            explain_handle = files.enter_context(atomic_output(explain)) if explain else None
            writer.writerow([*RESULT_COLUMNS, *(COMPARISON_COLUMNS if comparison_columns else ())])
            log2_prior_odds = _log2_prior_odds(model)
            for g, result in zip(gathered, results, strict=True):
                if not result.candidates:
                    unusable += 1 if not g.query.usable() else 0
                    writer.writerow([g.query.query_id, 0, "", "0.000000", "no_match",
                                     *([""] * len(COMPARISON_COLUMNS) if comparison_columns else ())])
                    rows += 1
                for c in result.candidates:
                    writer.writerow([g.query.query_id, c.rank, c.person_id, f"{c.match_probability:.6f}", c.decision,
                                     *(_comparison_cells(c, log2_prior_odds) if comparison_columns else ())])
                    rows += 1
                if explain_handle is not None:
                    explain_handle.write(json.dumps({"query_id": g.query.query_id, "notes": result.notes,
                                                     "probability_not_in_registry": result.probability_not_in_registry,
                                                     "candidates": [c.as_dict() for c in result.candidates]}, ensure_ascii=False) + "\n")
        size = index.size
        if save_model is not None:
            with atomic_output(save_model) as handle:
                handle.write(model.to_splink_json())
    report = BatchReport(queries=len(queries), registry_records=size, result_rows=rows, unusable=unusable, em_fitted=fitted,
                         expected_false_match_share=expected_false_match_share(results))
    audit.record(session, actor=actor, action="batch", entity_type=ENTITY,
                 details={"queries": report.queries, "registry_records": size, "result_rows": rows, "top": top, "em_fitted": fitted})
    return report


def _read_model(path: Path) -> scoring.Model:
    """A saved model file; a wrong one is refused naming the file and what is wrong, never a value."""
    try:
        return scoring.Model.from_any_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path.name}: no such model file") from None
    except (ValueError, KeyError, TypeError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) and not isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise InvalidInput(f"{path.name}: not a Passage or Splink model file ({reason})") from None


def _log2_prior_odds(model: scoring.Model) -> float:
    """Splink's prior in bits: log2(lambda / (1 - lambda)), lambda = in-registry share / registry size."""
    lam = min(max(model.prior_in_registry / max(model.registry_size, 1), 1e-15), 1 - 1e-15)
    return math.log2(lam / (1 - lam))


def _comparison_cells(candidate: Candidate, log2_prior_odds: float) -> list[str]:
    by_field = {e.kind: e for e in candidate.evidence}
    cells = [f"{candidate.log2_bf + log2_prior_odds:.3f}", f"{candidate.log2_bf:.3f}"]
    for f in COMPARISON_FIELDS:
        level = getattr(candidate.levels, f)
        evidence = by_field.get(f)
        cells += [str(scoring.gamma(f, level)), "" if level is None or evidence is None else f"{2.0 ** evidence.log2_bf:.6g}"]
    return cells


# --- Deduplication: a registry linked against itself ----------------------------------------------------

DEDUPE_COLUMNS = ("cluster_id", "person_id", "cluster_size", "linked_to", "link_probability", "missing_links", "review")
PAIR_COLUMNS = ("left_person_id", "right_person_id", "match_probability", "match_weight")


def _nothing_disagrees(levels: compare.Levels) -> bool:
    """Two records of one registry link only if no recorded field contradicts: resident ID numbers are one
    per person for life (GB 11643-1999), and registry sex and place are recorded from documents, so a
    namesake born the same day elsewhere (common among Chinese names) is not taken for a duplicate."""
    return "disagree" not in (levels.id_number, levels.sex, levels.birth_place)


@dataclass(frozen=True)
class DedupeReport:
    """What `dedupe_registry` found: records read, linked pairs, clusters, and clusters flagged for review."""

    records: int
    pairs: int
    clusters: int
    clustered_records: int
    review: int
    prior_duplicate: float


def dedupe_registry(session: Session, *, actor: Actor, registry: Path, out: Path, pairs_out: Path | None = None,
                    threshold: float = 0.99, index_dir: Path | None = None, workers: int = 2, top: int = 10,
                    progress: BatchProgress | None = None) -> DedupeReport:
    """Find the records of one registry that are the same person, and write them as clusters.

    Every record is searched against the registry's own index like a query (the same blocking,
    comparisons and Fellegi-Sunter weights as 1:N search), with itself removed from its candidates. The
    m probabilities and the share of records that have a duplicate are fitted by one-to-one EM on the
    whole registry. A pair's probability is then pairwise, as Splink computes it for deduplication:
    odds = BF x lambda / (1 - lambda), with lambda the prior that two records are one person (the fitted
    duplicate share over N - 1), so three records of one person do not split the probability between them
    as the 1:N posterior would. A pair links when its probability reaches `threshold` and the evidence
    passes the same identity rule as a `match` (`scoring.strong_evidence`) and no ID number, sex or place
    disagrees (`_nothing_disagrees`). Clusters are the connected
    components of the links, each flagged for review when it is not fully linked (`clusters.cluster`).
    Output is written atomically; `registry` errors name line and column only. Audited as one read of the
    registry with counts only.
    """
    require_permission(session, actor=actor, permission=Permission.IDENTITY_SEARCH, entity_type=ENTITY, operation="dedupe")
    if not 0.0 < threshold <= 1.0:
        raise InvalidInput("--threshold: must be above 0 and at most 1")
    step = (progress or BatchProgress()).stage

    rows = validate_registry(registry)
    queries = []
    for _, row in rows:
        record = record_from_row(row)
        birth = record.birth_date
        queries.append(compare.Query(query_id=record.person_id, family_name=record.family_name, given_name=record.given_name,
                                     sex=record.sex if record.sex in ("M", "F") else "",
                                     birth_date=dates.PartialDate(birth.year, birth.month, birth.day) if birth else None,
                                     birth_place=record.birth_place, id_number=record.id_number))
    with tempfile.TemporaryDirectory(prefix="passage-dedupe-") as tmp:
        target = index_dir or Path(tmp) / "index"
        build_or_update(registry, target, progress=step("indexing registry", None), workers=workers)
        index = open_index(target)
        gathered = gather_many(index, queries, workers=workers, progress=step("comparing", len(queries)))
        n_others = max(index.size - 1, 1)
        # Remove each record from its own candidates: it is among the strongest by construction.
        without_self = []
        for g in gathered:
            if not g.size:
                without_self.append(g)
                continue
            totals = log2_bayes_factors(g, index.model, registry_size=n_others)
            head = np.argsort(-totals, kind="stable")[: min(g.size, 8)]
            own = [int(i) for i, pid in zip(head.tolist(), g.resolve_person_ids(head, index), strict=True) if pid == g.query.query_id]
            keep = np.ones(g.size, dtype=bool)
            keep[own] = False
            without_self.append(dataclasses.replace(
                g, codes=g.codes[keep], frequencies=g.frequencies[keep],
                person_ids=[p for p, k in zip(g.person_ids, keep.tolist(), strict=True) if k] if g.person_ids is not None else None,
                segments=g.segments[keep] if g.segments is not None else None, rows=g.rows[keep] if g.rows is not None else None))
        base = index.model
        base.prior_in_registry = 0.05
        model, _ = fit_model(without_self, base, registry_size=n_others)
        share = min(max(model.prior_in_registry, 1e-6), 1 - 1e-6)
        log2_prior_odds = math.log2(share / n_others) - math.log2(1 - share / n_others)
        links: list[clusters.Link] = []
        weights: dict[tuple[str, str], float] = {}
        tick = step("linking", len(without_self))
        for g in without_self:
            tick(1)
            if not g.size:
                continue
            totals = log2_bayes_factors(g, model, registry_size=n_others)
            best = np.argsort(-totals, kind="stable")[:top]
            ids = g.resolve_person_ids(best, index)
            for i, pid in zip(best.tolist(), ids, strict=True):
                weight = float(totals[i]) + log2_prior_odds
                probability = 1.0 / (1.0 + 2.0 ** -weight) if weight > -60 else 0.0
                levels = g.levels_at(i)
                if probability >= threshold and _nothing_disagrees(levels) and scoring.strong_evidence(levels):
                    links.append(clusters.Link(g.query.query_id, pid, probability))
                    pair = (min(g.query.query_id, pid), max(g.query.query_id, pid))
                    weights[pair] = max(weights.get(pair, -math.inf), weight)
    members = clusters.cluster(links, threshold=threshold)
    with atomic_output(out) as handle:
        writer = csv_writer(handle, lineterminator="\n")
        writer.writerow(DEDUPE_COLUMNS)
        for m in members:
            writer.writerow([m.cluster_id, m.person_id, m.cluster_size, m.linked_to,
                             "" if m.link_probability is None else f"{m.link_probability:.6f}", m.missing_links, "yes" if m.review else "no"])
    if pairs_out is not None:
        with atomic_output(pairs_out) as handle:
            writer = csv_writer(handle, lineterminator="\n")
            writer.writerow(PAIR_COLUMNS)
            for pair, p in sorted(clusters.strongest_links(links).items()):
                writer.writerow([pair[0], pair[1], f"{p:.6f}", f"{weights[pair]:.3f}"])
    cluster_ids = {m.cluster_id for m in members}
    report = DedupeReport(records=len(queries), pairs=len(clusters.strongest_links(links)), clusters=len(cluster_ids),
                          clustered_records=len(members), review=len({m.cluster_id for m in members if m.review}),
                          prior_duplicate=share)
    audit.record(session, actor=actor, action="dedupe", entity_type=ENTITY,
                 details={"records": report.records, "linked_pairs": report.pairs, "clusters": report.clusters,
                          "clusters_to_review": report.review, "threshold": threshold})
    return report
