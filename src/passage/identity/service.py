"""Identity service: 1:N search against the registry index, audited with ids only.

The index is opened once per process and cached (re-opened when its manifest changes, e.g. after
`passage identify index` added a segment). Its directory is `$PASSAGE_IDENTITY_INDEX`, or
`<data_dir>/identity/registry.index` (data_dir from `passage.core.settings`).

The readmission "Identify" step calls `search_person(session, actor=..., query=..., case_id=...)`.
Scoring: Fellegi & Sunter (1969) with a one-to-one posterior, see `passage.identity.scoring`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from passage.core.errors import NotFound
from passage.core.settings import get_settings
from passage.identity import compare
from passage.identity.index import RegistryIndex, open_index
from passage.identity.scoring import Evidence, Model, decide, evidence_for, posteriors, total_log2_bf
from passage.identity.search import ExtraEvidence, SearchResult, search
from passage.security import audit
from passage.security.models import User

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


def search_person(session: Session, *, actor: User, query: compare.Query, top: int = 10, case_id: str | None = None,
                  extra_evidence: ExtraEvidence | None = None, directory: Path | None = None) -> SearchResult:
    """1:N search, audited as a read of the registry: which fields were given, which person ids came back.

    `extra_evidence(query, person_id) -> [Evidence]` adds independent evidence such as a fingerprint
    comparison's log2 likelihood ratio (see docs/identity.md, "Extra evidence").
    """
    index = load_index(directory)
    result = search(index, query, top, extra_evidence=extra_evidence)
    given = [f for f in QUERY_FIELDS if getattr(query, f)]
    audit.record(session, actor=actor, action="search", entity_type="identity_registry", entity_id=case_id,
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


@dataclass(frozen=True)
class CandidateScore:
    """One candidate's score against a query: posterior probability, decision and the evidence behind it (no values)."""

    person_id: str
    probability: float
    decision: str
    evidence: list[Evidence]


def score_candidates(*, query: compare.Query, candidates: Sequence[compare.Record], population: int,
                     extra_log2_bf: Mapping[str, float] | None = None, prior_in_registry: float = 0.5) -> list[CandidateScore]:
    """Score a query against candidates another module found itself (e.g. by blind-index blocking), best first.

    The same method as `search_person` without the registry index: field levels from `compare`, the default
    m/u of `scoring` (Fellegi & Sunter 1969), optional extra evidence per candidate (a passport number that
    agrees, as a log2 Bayes factor), and the one-to-one posterior over `population` records, so two equally
    good candidates share the probability and neither is called a match. Pure: the caller audits its own read.
    """
    effective, _notes = compare.effective_query(query)
    model = Model(registry_size=max(population, 1), prior_in_registry=prior_in_registry)
    scored = []
    for record in candidates:
        levels = compare.compare(effective, record)
        evidence = evidence_for(model, levels)
        extra = (extra_log2_bf or {}).get(record.person_id)
        if extra:
            evidence.append(Evidence("document", "exact", extra, "travel document number agrees"))
        scored.append((total_log2_bf(evidence), record, levels, evidence))
    scored.sort(key=lambda item: -item[0])
    probabilities, _none = posteriors([s[0] for s in scored], registry_size=model.registry_size, prior_in_registry=prior_in_registry)
    decisions = decide(probabilities, scored[0][2] if scored else None)
    return [CandidateScore(item[1].person_id, round(p, 6), d, item[3]) for item, p, d in zip(scored, probabilities, decisions, strict=True)]
