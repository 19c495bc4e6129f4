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
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from passage.core.errors import NotFound
from passage.core.settings import get_settings
from passage.identity import compare
from passage.identity.index import RegistryIndex, open_index
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


# --- name keys for other modules' search (the blind index of readmission cases) ---------------------------


def name_part_keys(text: str, *, surname: bool) -> tuple[str, ...]:
    """The readings the engine compares a name part on: toneless pinyin of characters (heteronyms and the
    surname table), or for Latin script its own folded form plus the pinyin syllables any supported
    romanisation (Wade-Giles, Cantonese, Hokkien, Yale, ...) may stand for (`romanisation.latin_to_pinyin_keys`).
    Two spellings of one name share at least one key; used for equality search, not for scoring."""
    from passage.identity.romanisation import is_han, latin_to_pinyin_keys, pinyin_keys

    text = text.strip()
    if not text:
        return ()
    if is_han(text):
        return pinyin_keys(text.replace(" ", ""), surname=surname, limit=8)
    return latin_to_pinyin_keys(text, limit=12)


def name_readings(text: str) -> list[tuple[str, str]]:
    """(surname, given name) readings of a name typed in one box, in either order (`compare.name_interpretations`)."""
    return [(f, g) for f, g in compare.name_interpretations(compare.Query(full_name=text.strip())) if f or g]


def resident_id_region(number: str) -> str | None:
    """The six-digit GB/T 2260 administrative-division code of a resident ID number (its first six
    digits, GB 11643-1999 §5.1), or None when the number is not a valid 18-digit ID (check digit ISO 7064)."""
    from passage.identity import resident_id

    parsed = resident_id.parse(number)
    return parsed.region if parsed is not None else None


def place_provinces(text: str) -> list[str]:
    """The two-digit GB/T 2260 province codes a place name (characters or any romanisation) may lie in
    (`places.resolve`); several when the name is ambiguous, none when it is unknown."""
    from passage.identity import places

    return sorted({code[:2] for code in places.resolve(text).codes})
