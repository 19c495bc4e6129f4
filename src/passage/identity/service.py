"""Identity service: 1:N search against the registry index, audited with ids only.

The index is opened once per process and cached (re-opened when its manifest changes, e.g. after
`passage identify index` added a segment). Its directory is `$PASSAGE_IDENTITY_INDEX`, or
`<data_dir>/identity/registry.index` (data_dir from `passage.core.settings`).

The readmission "Identify" step calls `search_person(session, actor=..., query=..., case_id=...)`.
Scoring: Fellegi & Sunter (1969) with a one-to-one posterior, see `passage.identity.scoring`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from passage.core.errors import NotFound
from passage.core.settings import get_settings
from passage.identity import compare, dates
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
    return latin_to_pinyin_keys(text, limit=24)


def name_readings(text: str) -> list[tuple[str, str]]:
    """(surname, given name) readings of a name typed in one box, in either order (`compare.name_interpretations`)."""
    return [(f, g) for f, g in compare.name_interpretations(compare.Query(full_name=text.strip())) if f or g]


def resident_id_region(number: str) -> str | None:
    """The six-digit GB/T 2260 administrative-division code of a resident ID number (its first six
    digits, GB 11643-1999 §5.1), or None when the number is not a valid 18-digit ID (check digit ISO 7064)."""
    from passage.identity import resident_id

    parsed = resident_id.parse(number)
    return parsed.region if parsed is not None and parsed.valid else None


def place_provinces(text: str) -> list[str]:
    """The two-digit GB/T 2260 province codes a place name (characters or any romanisation) may lie in
    (`places.resolve`); several when the name is ambiguous, none when it is unknown."""
    from passage.identity import places

    return sorted({code[:2] for code in places.resolve(text).codes})


# --- the registry file and its index: demo registry, rebuild and update from the web -----------------------

DEMO_REGISTRY_SIZE = 100_000


def registry_path() -> Path:
    """The registry extract the index is built from: `$PASSAGE_IDENTITY_REGISTRY` or `<data_dir>/identity/registry.csv`."""
    configured = os.environ.get("PASSAGE_IDENTITY_REGISTRY")
    return Path(configured) if configured else get_settings().data_dir / "identity" / "registry.csv"


def _count_rows(path: Path) -> int:
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(0, lines - 1)


def demo_registry_size() -> int:
    """`$PASSAGE_DEMO_REGISTRY_SIZE`, else 100,000; 0 loads no registry (the test suite loads the demo many
    times, and only the identification tests need the registry)."""
    return max(0, int(os.environ.get("PASSAGE_DEMO_REGISTRY_SIZE", DEMO_REGISTRY_SIZE)))


def ensure_demo_registry(*, planted: Sequence[Mapping[str, str]], size: int | None = None, seed: int = 2026,
                         progress: Callable[[int], None] | None = None) -> str:
    """Write the synthetic national registry (`synthetic.write_registry`, the demo cases' people planted in it)
    and build its index, unless the same registry and its index are already on disk (kept under the data
    directory, so a second `make run` reuses them). Returns a one-line summary for the demo loader."""
    from passage.identity import synthetic
    from passage.identity.index import build_or_update

    size = demo_registry_size() if size is None else size
    if size == 0:
        return "identity: no demo registry (PASSAGE_DEMO_REGISTRY_SIZE=0)"
    registry = registry_path()
    stamp_file = registry.with_suffix(".demo.json")
    wanted = synthetic.fingerprint(size=size, seed=seed, planted=planted)
    directory = index_directory()
    if stamp_file.exists() and stamp_file.read_text(encoding="utf-8").strip() == wanted and (directory / "manifest.json").exists():
        return f"identity: demo registry of {size:,} people and its index reused from {directory.parent}"
    rows = synthetic.write_registry(registry, size=size, seed=seed, planted=planted)
    report = build_or_update(registry, directory, progress=progress)
    stamp_file.write_text(wanted, encoding="utf-8")
    clear_cache()
    return f"identity: built a synthetic national registry of {rows:,} people and its index ({report.total:,} records)"


@dataclass
class IndexJob:
    """The state of the one index update this process runs at a time (shown with a progress bar)."""

    state: str = "idle"  # idle, running, done, failed
    mode: str = ""  # update, rebuild
    done: int = 0
    total: int = 0
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    added: int = 0
    changed: int = 0
    removed: int = 0
    records: int = 0
    problem: str = ""

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.total)) if self.total else (100 if self.state == "done" else 0)


_job = IndexJob()
_job_lock = threading.Lock()


def index_job() -> IndexJob:
    """A copy of the current (or last) index job's state."""
    with _job_lock:
        return IndexJob(**vars(_job))


def _run_index_job(registry: Path, directory: Path, rebuild: bool) -> None:
    import shutil

    from passage.identity.index import build_or_update

    def advance(rows: int) -> None:
        with _job_lock:
            _job.done += rows

    try:
        target = directory.with_name(directory.name + ".new") if rebuild else directory
        if rebuild and target.exists():
            shutil.rmtree(target)
        report = build_or_update(registry, target, progress=advance)
        if rebuild:
            # swap the fresh index in; a search in between re-opens whichever manifest it finds
            old = directory.with_name(directory.name + ".old")
            if old.exists():
                shutil.rmtree(old)
            if directory.exists():
                directory.rename(old)
            target.rename(directory)
            shutil.rmtree(old, ignore_errors=True)
        clear_cache()
        with _job_lock:
            _job.state, _job.finished_at = "done", dt.datetime.now(dt.UTC)
            _job.added, _job.changed, _job.removed, _job.records = report.added, report.changed, report.removed, report.total
            _job.done = _job.total
    except Exception as error:  # noqa: BLE001 - any failure is reported on the page; the old index stays in place
        from passage.core.errors import PassageError

        with _job_lock:
            _job.state, _job.finished_at = "failed", dt.datetime.now(dt.UTC)
            _job.problem = error.message if isinstance(error, PassageError) else "the index could not be built; the previous index is still in use"


def start_index_job(session: Session, *, actor: User, rebuild: bool) -> IndexJob:
    """Start updating (only new, changed and removed rows) or rebuilding the index from the registry file in
    the background; audited. Conflict when one is already running; InvalidInput when there is no registry file."""
    from passage.core.errors import Conflict, InvalidInput
    from passage.security.permissions import Permission, permissions_for

    if Permission.IDENTITY_INDEX_MANAGE not in permissions_for(actor.role_set):
        from passage.core.errors import Forbidden

        audit.record_refusal(session, actor=actor, entity_type="identity_registry", entity_id=None, details={"operation": "index"})
        raise Forbidden("only an administrator may rebuild the registry index")
    registry, directory = registry_path(), index_directory()
    if not registry.exists():
        raise InvalidInput("there is no registry extract on this server to index; ask the registry's custodian for one")
    with _job_lock:
        if _job.state == "running":
            raise Conflict("an index update is already running")
        for name, value in vars(IndexJob()).items():
            setattr(_job, name, value)
        _job.state, _job.mode, _job.started_at, _job.total = "running", "rebuild" if rebuild else "update", dt.datetime.now(dt.UTC), _count_rows(registry)
    audit.record(session, actor=actor, action="rebuild_index" if rebuild else "update_index", entity_type="identity_registry", details={"rows": _job.total})
    threading.Thread(target=_run_index_job, args=(registry, directory, rebuild), daemon=True, name="identity-index").start()
    return index_job()


# --- what a decision screen shows: each candidate's registry record beside the query, with the evidence -----

ROMANISATION_SYSTEMS = ("pinyin", "wade_giles", "cantonese_hk")
"""Readings shown beside a name in characters (those the requesting states' records are most often in)."""

_pid_maps: dict[int, dict[str, tuple[int, int]]] = {}


def _locate(index: RegistryIndex, person_id: str) -> tuple[int, int] | None:
    mapping = _pid_maps.get(id(index))
    if mapping is None:
        mapping = {}
        for s, seg in enumerate(index.segments):
            for row, pid in enumerate(seg.column("person_id")):
                if not seg.deleted[row]:
                    mapping[pid] = (s, row)
        with _lock:
            _pid_maps.clear()  # one index (the current one) is kept
            _pid_maps[id(index)] = mapping
    return mapping.get(person_id)


def romanisations(family: str, given: str) -> dict[str, str]:
    """The name in characters as each main romanisation writes it (first reading; `romanisation.name_variants`)."""
    from passage.identity.romanisation import is_han, name_variants

    if not is_han(family + given):
        return {}
    out: dict[str, str] = {}
    for system in ROMANISATION_SYSTEMS:
        surname_forms = name_variants(family, surname=True).get(system)
        syllables = [name_variants(char, surname=False).get(system, ("",))[0] for char in given if is_han(char)]
        joined = {"pinyin": "", "wade_giles": "-"}.get(system, " ").join(syllables)
        if surname_forms and all(syllables):
            out[system] = f"{surname_forms[0].upper()} {joined.title() if system == 'cantonese_hk' else joined.capitalize()}"
    return out


def lunar_date(date: dt.date | None) -> dict[str, int | bool] | None:
    """The Chinese lunar-calendar date of a Gregorian date (lunar-python, MIT): year, month, day, leap month."""
    if date is None or not 1900 <= date.year <= 2099:
        return None
    from lunar_python import Solar

    lunar = Solar.fromYmd(date.year, date.month, date.day).getLunar()
    return {"year": lunar.getYear(), "month": abs(lunar.getMonth()), "day": lunar.getDay(), "leap": lunar.getMonth() < 0}


@dataclass(frozen=True)
class CandidateDetail:
    """One candidate as the decision screen shows it (the registry's values: personal data, never logged)."""

    rank: int
    person_id: str
    match_probability: float
    decision: str
    log2_bf: float
    family_name: str
    given_name: str
    romanisations: dict[str, str]
    sex: str
    birth_date: str
    lunar_birth_date: dict[str, int | bool] | None
    birth_place: str
    birth_provinces: list[str]
    id_number: str
    evidence: list[dict[str, object]]

    def as_dict(self) -> dict[str, object]:
        return dict(vars(self))


def candidate_details(result: SearchResult, *, directory: Path | None = None) -> list[CandidateDetail]:
    """The registry record of each candidate with its per-field evidence (kind, level, log2 Bayes factor)."""
    index = load_index(directory)
    out = []
    for candidate in result.candidates:
        located = _locate(index, candidate.person_id)
        record = index.record(*located) if located is not None else compare.Record(candidate.person_id, "", "", "", None, "", "")
        out.append(CandidateDetail(
            rank=candidate.rank, person_id=candidate.person_id, match_probability=candidate.match_probability, decision=candidate.decision,
            log2_bf=round(candidate.log2_bf, 2), family_name=record.family_name, given_name=record.given_name,
            romanisations=romanisations(record.family_name, record.given_name), sex=record.sex,
            birth_date=record.birth_date.isoformat() if record.birth_date else "", lunar_birth_date=lunar_date(record.birth_date),
            birth_place=record.birth_place, birth_provinces=place_provinces(record.birth_place) if record.birth_place else [],
            id_number=record.id_number,
            evidence=[{"kind": e.kind, "level": e.level, "log2_bf": round(e.log2_bf, 2)} for e in candidate.evidence],
        ))
    return out


def identify(session: Session, *, actor: User, query: compare.Query, top: int = 10, case_id: str | None = None,
             fingerprint_probe: Any = None) -> tuple[SearchResult, list[CandidateDetail]]:
    """A registry search for a decision screen: ranked candidates with their records and evidence.

    With a fingerprint probe (ISO/IEC 19794-2 or ANSI 378 bytes), the candidates' enrolled prints are compared
    through `biometrics.service.fingerprint_evidence` and each log2 likelihood ratio is fused into the
    candidate's total as independent evidence (docs/identity.md, "Extra evidence"); a person with no print
    on file gets none either way. Audited by `search_person` (fields given and person ids returned)."""
    result = search_person(session, actor=actor, query=query, top=top, case_id=case_id)
    if fingerprint_probe is not None and result.candidates:
        from passage.biometrics import service as biometrics
        from passage.identity.scoring import Evidence

        prints = biometrics.fingerprint_evidence(session, actor=actor, probe=fingerprint_probe, person_ids=[c.person_id for c in result.candidates])

        def fused(_query: compare.Query, person_id: str) -> list[Evidence]:
            found = prints.get(person_id)
            if found is None or not found.usable:
                return [Evidence("fingerprint", None, 0.0, "fingerprint: none on file")]
            return [Evidence("fingerprint", "compared", found.log2_lr, "fingerprint: compared")]

        result = search_person(session, actor=actor, query=query, top=top, case_id=case_id, extra_evidence=fused)
    return result, candidate_details(result)


_WRITTEN_DATES = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})$"), ("d", "m", "y")),
    (re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"), ("y", "m", "d")),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{4})-(\d{1,2})$"), ("y", "m")),
    (re.compile(r"^(\d{4})$"), ("y",)),
)


def normalise_written_date(text: str) -> str | None:
    """ISO form of a date as people type it: 1985-03-12, 1985/3/12, 12.03.1985 or 12/03/1985 (day first, as in
    the EU and ICAO Doc 9303's visual zone), 1985年3月12日, 19850312; `YYYY-MM` or `YYYY` when partial.
    None when the text is not a calendar date."""
    text = text.strip()
    for pattern, order in _WRITTEN_DATES:
        found = pattern.match(text)
        if not found:
            continue
        parts = dict(zip(order, (int(g) for g in found.groups()), strict=True))
        try:
            if "d" in parts:
                return dt.date(parts["y"], parts["m"], parts["d"]).isoformat()
            if "m" in parts:
                dt.date(parts["y"], parts["m"], 1)
                return f"{parts['y']:04d}-{parts['m']:02d}"
            return f"{parts['y']:04d}" if 1850 <= parts["y"] <= 2100 else None
        except ValueError:
            return None
    return None


def compare_people(a: Mapping[str, str], b: Mapping[str, str]) -> tuple[float, list[str]]:
    """How strongly two recorded people are one (for duplicate checks between cases): the identity engine's
    comparison levels (`compare.compare`) scored with the default m/u model (`scoring.evidence_for`), plus exact
    agreement of a passport number. Each side: surname, given_names, name_in_characters, date_of_birth,
    place_of_birth, sex, passport_number, id_number. Returns (log2 Bayes factor, the agreeing fields)."""
    from passage.identity import scoring

    def query(values: Mapping[str, str]) -> compare.Query:
        birth = None
        if values.get("date_of_birth"):
            try:
                birth = dates.parse_partial(values["date_of_birth"], where="date_of_birth")
            except Exception:  # noqa: BLE001 - a stored date that no longer parses is simply not compared
                birth = None
        latin = bool(values.get("surname") or values.get("given_names"))
        return compare.Query(family_name=values.get("surname", ""), given_name=values.get("given_names", ""),
                             full_name="" if latin else values.get("name_in_characters", ""), sex=values.get("sex", "") if values.get("sex") in ("M", "F") else "",
                             birth_date=birth, birth_place=values.get("place_of_birth", ""), id_number=values.get("id_number", ""))

    left, right = query(a), query(b)
    best: tuple[float, list[str]] = (float("-inf"), [])
    # the other side as a registry record: once as written, once from its name in characters if it has one
    family_options = [(right.family_name, right.given_name)]
    if b.get("name_in_characters"):
        readings = name_readings(b["name_in_characters"])
        if readings:
            family_options.append(readings[0])
    for family, given in family_options:
        birth = right.birth_date
        record = compare.Record(person_id="other", family_name=family, given_name=given, sex=right.sex,
                                birth_date=dt.date(birth.year, birth.month or 1, birth.day or 1) if birth is not None and birth.month and birth.day else None,
                                birth_place=right.birth_place, id_number=right.id_number)
        levels = compare.compare(left, record)
        evidence = scoring.evidence_for(scoring.Model(), levels)
        total = scoring.total_log2_bf(evidence)
        agreeing = [e.kind for e in evidence if e.log2_bf > 1.6]
        if total > best[0]:
            best = (total, agreeing)
    total, agreeing = best
    passport_a, passport_b = a.get("passport_number", ""), b.get("passport_number", "")
    if passport_a and passport_a == passport_b:
        total += 20.0
        agreeing = [*agreeing, "document"]
    return total, agreeing


def evidence_words() -> dict[str, dict[str, object]]:
    """The label tables of the decision screen (`explain.WORDS`), for other modules' pages."""
    from passage.identity.explain import WORDS

    return WORDS  # type: ignore[return-value]


def evidence_strength(log2_bf: float) -> str:
    """The weight of evidence in words (`explain.strength`, Kass & Raftery 1995)."""
    from passage.identity.explain import strength

    return strength(log2_bf)
