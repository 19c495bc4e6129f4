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
import datetime as dt
import json
import math
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from passage.core.errors import InvalidInput, NotFound
from passage.core.files import atomic_output, csv_writer
from passage.core.i18n import N_, T_
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
    RESULT_COLUMNS,
    comparison_values,
    log2_prior_odds,
    make_query,
    read_queries,
    result_cells,
)
from passage.identity.search import (
    EM_MIN_QUERIES,
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
        raise NotFound(N_("identity index is not built; run `passage identify index` first"))
    stamp = manifest.stat().st_mtime_ns
    with _lock:
        cached = _cache.get(target)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        index = open_index(target)
        _cache[target] = (stamp, index)
        return index


def warm_up() -> None:
    """Build the romanisation tables every Latin-script name look-up needs (`romanisation.syllable_map`: 2-3 s of
    CPU, once per process). The application runs it in the background at start, so that the first person search
    or registry search of the day does not pay for it (it was the slowest query of the person-search bench)."""
    from passage.identity import romanisation

    romanisation.syllable_map()


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


def start_index_job(session: Session, *, actor: Actor, rebuild: bool) -> IndexJob:
    """Start updating (only new, changed and removed rows) or rebuilding the index from the registry file in
    the background; audited. Conflict when one is already running; InvalidInput when there is no registry file."""
    from passage.core.errors import Conflict

    require_permission(session, actor=actor, permission=Permission.IDENTITY_INDEX_MANAGE, entity_type=ENTITY, entity_id=None, operation="index")
    registry, directory = registry_path(), index_directory()
    if not registry.exists():
        raise InvalidInput(N_("there is no registry extract on this server to index; ask the registry's custodian for one"))
    with _job_lock:
        if _job.state == "running":
            raise Conflict(N_("an index update is already running"))
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


def identify(session: Session, *, actor: Actor, query: compare.Query, top: int = 10, case_id: str | None = None,
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
                return [Evidence("fingerprint", None, 0.0, T_("fingerprint: none on file"))]
            return [Evidence("fingerprint", "compared", found.log2_lr, T_("fingerprint: compared"))]

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


def place_for_reader(text: str | None, *, locale: str | None = None) -> str:
    """A place of birth as the reader reads it: in characters on Chinese pages when the place table knows it
    ("Changle, Fuzhou, Fujian" -> 福建福州长乐), else as written (`places.place_for_reader`)."""
    from passage.identity.places import place_for_reader as _place

    return _place(text, locale=locale)


def evidence_strength(log2_bf: float) -> str:
    """The weight of evidence in words (`explain.strength`, Kass & Raftery 1995)."""
    from passage.identity.explain import strength

    return strength(log2_bf)
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
            prior_odds = log2_prior_odds(model)
            for g, result in zip(gathered, results, strict=True):
                if not result.candidates:
                    unusable += 1 if not g.query.usable() else 0
                    writer.writerow(result_cells(g.query.query_id, 0, "", 0.0, "no_match", None, comparison_columns=comparison_columns))
                    rows += 1
                for c in result.candidates:
                    writer.writerow(result_cells(g.query.query_id, c.rank, c.person_id, c.match_probability, c.decision,
                                                 comparison_values(c, prior_odds) if comparison_columns else None,
                                                 comparison_columns=comparison_columns))
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


def link_on_spark(
    session: Session, *, actor: Actor, registry: Path | str, queries_path: Path | str, out: Path | str, master: str = "local[*]",
    top: int = 10, work: str | None = None, train_m: bool = True, prior_in_registry: float | None = None, model_path: Path | None = None,
    save_model: Path | None = None, comparison_columns: bool = True, spark: Any = None,
) -> Any:
    """`identify_batch` on Spark (`spark_link.link`): same checks, contract and audit entry (counts only).

    `out` ending in .csv is results.csv; otherwise a directory of Parquet partitioned by decision. Returns the
    `spark_link.LinkReport`."""
    from passage.identity import spark_link

    require_permission(session, actor=actor, permission=Permission.IDENTITY_SEARCH, entity_type=ENTITY, operation="batch")
    loaded = _read_model(model_path) if model_path is not None else None
    report = spark_link.link(registry, queries_path, out, master=master, top=top, work=work, train_m=train_m, model=loaded,
                             prior_in_registry=prior_in_registry, comparison_columns=comparison_columns, spark=spark)
    if save_model is not None:
        with atomic_output(save_model) as handle:
            handle.write(report.model.to_splink_json())
    audit.record(session, actor=actor, action="batch", entity_type=ENTITY,
                 details={"engine": "spark", "queries": report.queries, "registry_records": report.registry_records,
                          "result_rows": report.result_rows, "top": top, "em_fitted": report.em_fitted})
    return report


def _read_model(path: Path) -> scoring.Model:
    """A saved model file; a wrong one is refused naming the file and what is wrong, never a value."""
    try:
        return scoring.Model.from_any_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(T_("{name}: no such model file", name=path.name)) from None
    except (ValueError, KeyError, TypeError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) and not isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise InvalidInput(T_("{name}: not a Passage or Splink model file ({reason})", name=path.name, reason=reason)) from None


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
        raise InvalidInput(N_("--threshold: must be above 0 and at most 1"))
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
        # EM starts from a small duplicate share, without changing the opened index's own model
        start = dataclasses.replace(index.model, prior_in_registry=0.05)
        model, _ = fit_model(without_self, start, registry_size=n_others)
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


@dataclass(frozen=True)
class CandidateScore:
    """One candidate's score against a query: posterior probability, decision and the evidence behind it (no values)."""

    person_id: str
    probability: float
    decision: str
    evidence: list[scoring.Evidence]


def score_candidates(*, query: compare.Query, candidates: Sequence[compare.Record], population: int,
                     extra_log2_bf: Mapping[str, float] | None = None, prior_in_registry: float = 0.5) -> list[CandidateScore]:
    """Score a query against candidates another module found itself (e.g. by blind-index blocking), best first.

    The same method as `search_person` without the registry index: field levels from `compare`, the default
    m/u of `scoring` (Fellegi & Sunter 1969), optional extra evidence per candidate (a travel document number
    that agrees, as a log2 Bayes factor), and the one-to-one posterior over `population` records, so two
    equally good candidates share the probability and neither is called a match. Pure: it reads nothing, so
    the calling module checks its own permission and audits its own read (the consular module's duplicate check).
    """
    effective, _notes = compare.effective_query(query)
    model = scoring.Model(registry_size=max(population, 1), prior_in_registry=prior_in_registry)
    scored = []
    for record in candidates:
        levels = compare.compare(effective, record)
        evidence = scoring.evidence_for(model, levels)
        extra = (extra_log2_bf or {}).get(record.person_id)
        if extra:
            evidence.append(scoring.Evidence("document", "exact", extra, T_("travel document number agrees")))
        scored.append((scoring.total_log2_bf(evidence), record, levels, evidence))
    scored.sort(key=lambda item: -item[0])
    probabilities, _none = scoring.posteriors([s[0] for s in scored], registry_size=model.registry_size, prior_in_registry=prior_in_registry)
    decisions = scoring.decide(probabilities, scored[0][2] if scored else None)
    return [CandidateScore(item[1].person_id, round(p, 6), d, item[3]) for item, p, d in zip(scored, probabilities, decisions, strict=True)]
