"""DTM domain operations: boundaries, the location master list, rounds, figures from submissions, aggregates.

Every function takes the session first and keyword arguments after it; none commits (the caller's
`unit_of_work()` does). `actor` is the foundation's `Actor`: the acting user, or the CLI's system actor
(`system_actor("dtm.cli")`); every change checks `dtm:manage` itself and writes its hash-chained audit entry (`passage.security.audit.record`) in the
caller's transaction, with counts and ids only. DTM holds aggregate figures, never personal data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from passage.core.errors import Conflict, FieldError, InvalidInput, NotFound
from passage.core.i18n import T_
from passage.dtm import publication, rules
from passage.dtm.aggregate import AggregateResult, aggregate
from passage.dtm.geography import AdminArea, Gazetteer, NameVariant, normalise_name, pcode_problem
from passage.dtm.models import (
    AdminAreaRecord,
    AreaNameVariant,
    AssessmentRound,
    DisplacementFigure,
    FlowCount,
    Location,
)
from passage.dtm.rules import CheckIssue, Component, FigureRow
from passage.security import audit
from passage.security.actors import Actor
from passage.security.operations import operation, require_permission
from passage.security.permissions import Permission

COMPONENTS: tuple[str, ...] = ("baseline", "site")
FORM_OF_COMPONENT = {"baseline": "dtm_baseline_assessment", "site": "dtm_site_assessment"}


def _manage(session: Session, actor: Actor, operation: str, entity_type: str) -> None:
    """Every change to DTM data needs `dtm:manage`, checked here so the CLI and other modules get a route's answer."""
    require_permission(session, actor=actor, permission=Permission.DTM_MANAGE, entity_type=entity_type, operation=operation)


# --- geography -----------------------------------------------------------------------------------


def known_area_levels(session: Session) -> dict[str, int]:
    """P-code -> level of every area already loaded (parents for a file that holds only lower levels)."""
    return {pcode: level for pcode, level in session.execute(select(AdminAreaRecord.pcode, AdminAreaRecord.level))}


@dataclass
class LoadAreasResult:
    created: int = 0
    updated: int = 0
    variants_added: int = 0
    by_level: dict[int, int] = field(default_factory=dict)


def load_areas(session: Session, *, actor: Actor, areas: Iterable[AdminArea], source: str, variants: Iterable[NameVariant] = (), on_progress: Callable[[int], None] | None = None) -> LoadAreasResult:
    """Insert or update areas by P-code (parents first), and add their alternate names as variants."""
    _manage(session, actor, "load_areas", "dtm_admin_area")
    result = LoadAreasResult()
    ordered = sorted(areas, key=lambda a: (a.level, a.pcode))
    existing = {r.pcode: r for r in session.scalars(select(AdminAreaRecord).where(AdminAreaRecord.pcode.in_([a.pcode for a in ordered])))} if ordered else {}
    for area in ordered:
        record = existing.get(area.pcode)
        if record is None:
            record = AdminAreaRecord(pcode=area.pcode)
            session.add(record)
            result.created += 1
        else:
            if record.level != area.level:
                raise Conflict(T_("P-code {pcode} is loaded at level {level}; the file says level {level2}", pcode=area.pcode, level=record.level, level2=area.level))
            result.updated += 1
        record.level, record.name_en, record.name_zh = area.level, area.name_en, area.name_zh
        record.parent_pcode, record.geometry, record.source = area.parent_pcode, area.geometry, source
        result.by_level[area.level] = result.by_level.get(area.level, 0) + 1
        if on_progress:
            on_progress(1)
    session.flush()
    all_variants = [NameVariant(a.pcode, alt) for a in ordered for alt in a.alternate_names] + list(variants)
    result.variants_added = add_name_variants(session, actor=actor, variants=all_variants)
    audit.record(
        session, actor=actor, action="load", entity_type="dtm_admin_areas", entity_id=None,
        details={"source": source[:200], "created": result.created, "updated": result.updated, "variants_added": result.variants_added,
                 "by_level": {str(k): v for k, v in sorted(result.by_level.items())}},
    )
    return result


def add_name_variants(session: Session, *, actor: Actor, variants: Iterable[NameVariant]) -> int:
    """Add known name variants (skipping ones already known); the P-codes must be loaded."""
    _manage(session, actor, "add_name_variants", "dtm_admin_area")
    del actor
    known = set(session.execute(select(AreaNameVariant.pcode, AreaNameVariant.normalised)).tuples())
    loaded = set(session.scalars(select(AdminAreaRecord.pcode)))
    added = 0
    for variant in variants:
        if variant.pcode not in loaded:
            raise InvalidInput(T_("name variant for P-code {pcode}, which is not loaded", pcode=variant.pcode))
        key = (variant.pcode, normalise_name(variant.name))
        if not key[1] or key in known:
            continue
        session.add(AreaNameVariant(pcode=variant.pcode, name=variant.name, normalised=key[1], language=variant.language))
        known.add(key)
        added += 1
    session.flush()
    return added


def get_gazetteer(session: Session, *, with_geometry: bool = False) -> Gazetteer:
    """All loaded areas and name variants as an in-memory `Gazetteer`."""
    variants: dict[str, list[str]] = {}
    extra: list[NameVariant] = []
    for pcode, name, language in session.execute(select(AreaNameVariant.pcode, AreaNameVariant.name, AreaNameVariant.language)):
        variants.setdefault(pcode, []).append(name)
        extra.append(NameVariant(pcode, name, language))
    areas = [
        AdminArea(pcode=r.pcode, level=r.level, name_en=r.name_en, parent_pcode=r.parent_pcode, name_zh=r.name_zh, geometry=r.geometry if with_geometry else None)
        for r in session.scalars(select(AdminAreaRecord))
    ]
    return Gazetteer(areas, extra)


# --- the master list -----------------------------------------------------------------------------


def register_location(session: Session, *, actor: Actor, code: str, kind: str, name: str, admin_pcode: str, latitude: float | None = None, longitude: float | None = None, site_type: str | None = None, management: str | None = None) -> Location:
    """Add a location, site or flow monitoring point to the master list; its `id` stays stable for ever."""
    _manage(session, actor, "register_location", "dtm_location")
    if kind not in ("location", "site", "flow_point"):
        raise InvalidInput(T_("kind must be location, site or flow_point"))
    if session.scalar(select(AdminAreaRecord.id).where(AdminAreaRecord.pcode == admin_pcode)) is None:
        raise InvalidInput(T_("P-code {admin_pcode} is not in the loaded boundaries", admin_pcode=admin_pcode))
    if session.scalar(select(Location.id).where(Location.code == code)) is not None:
        raise Conflict(T_("location code {code} is already in the master list", code=code))
    location = Location(code=code, kind=kind, name=name, admin_pcode=admin_pcode, latitude=latitude, longitude=longitude, site_type=site_type, management=management)
    session.add(location)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dtm_location", entity_id=location.id, details={"kind": kind, "fields": ["code", "name", "admin_pcode", "latitude", "longitude"]})
    return location


def list_locations(session: Session, *, kind: str | None = None, admin_pcode: str | None = None) -> list[Location]:
    query = select(Location).order_by(Location.code)
    if kind:
        query = query.where(Location.kind == kind)
    if admin_pcode:
        query = query.where(Location.admin_pcode == admin_pcode)
    return list(session.scalars(query))


# --- rounds --------------------------------------------------------------------------------------


def create_round(session: Session, *, actor: Actor, operation: str, number: int, reporting_date: dt.date, period_start: dt.date | None = None, period_end: dt.date | None = None, title: str | None = None) -> AssessmentRound:
    """Open a numbered round of an operation; numbers are unique per operation."""
    _manage(session, actor, "create_round", "dtm_round")
    if number < 1:
        raise InvalidInput(T_("round number must be 1 or more"))
    if period_start and period_end and period_end < period_start:
        raise InvalidInput(T_("the round's period ends before it starts"))
    if session.scalar(select(AssessmentRound.id).where(AssessmentRound.operation == operation, AssessmentRound.number == number)):
        raise Conflict(T_("round {number} of operation {operation} already exists", number=number, operation=operation))
    record = AssessmentRound(operation=operation, number=number, reporting_date=reporting_date, period_start=period_start, period_end=period_end, title=title)
    session.add(record)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dtm_round", entity_id=record.id, details={"operation": operation, "number": number, "fields": ["reporting_date", "period_start", "period_end", "title"]})
    return record


def get_round_by_id(session: Session, *, round_id: str) -> AssessmentRound:
    record = session.get(AssessmentRound, round_id)
    if record is None:
        raise NotFound(T_("round not found"))
    return record


def list_rounds(session: Session, *, operation: str | None = None) -> list[AssessmentRound]:
    query = select(AssessmentRound).order_by(AssessmentRound.operation, AssessmentRound.number)
    if operation:
        query = query.where(AssessmentRound.operation == operation)
    return list(session.scalars(query))


def update_round(session: Session, *, actor: Actor, round_id: str, expected_version: int, title: str | None = None, reporting_date: dt.date | None = None, period_start: dt.date | None = None, period_end: dt.date | None = None) -> AssessmentRound:
    """Change a round's title, reporting date or period; a stale `expected_version` is a 409."""
    record = get_round_by_id(session, round_id=round_id)
    with operation(session, actor=actor, action="update", entity_type="dtm_round", record=record, permission=Permission.DTM_MANAGE,
                   expected_version=expected_version) as op:
        changed: list[str] = []
        for name, value in (("title", title), ("reporting_date", reporting_date), ("period_start", period_start), ("period_end", period_end)):
            if value is not None and getattr(record, name) != value:
                setattr(record, name, value)
                changed.append(name)
        if record.period_start and record.period_end and record.period_end < record.period_start:
            raise InvalidInput(T_("the round's period ends before it starts"), fields=[FieldError("period_end", T_("ends before period_start"))])
        op.note(fields=changed)
    return record


def get_round(session: Session, *, number: int, operation: str | None = None) -> AssessmentRound:
    """The round with `number`; `operation` may be left out when only one operation has that number."""
    query = select(AssessmentRound).where(AssessmentRound.number == number)
    if operation:
        query = query.where(AssessmentRound.operation == operation)
    found = list(session.scalars(query))
    if not found:
        raise NotFound(T_("round {number} not found for operation {operation}", number=number, operation=operation) if operation else T_("round {number} not found", number=number))
    if len(found) > 1:
        raise InvalidInput(T_("round {number} exists in several operations ({found}); name the operation", number=number, found=', '.join(sorted(r.operation for r in found))))
    return found[0]


def previous_round(session: Session, *, round_: AssessmentRound) -> AssessmentRound | None:
    return session.scalar(
        select(AssessmentRound).where(AssessmentRound.operation == round_.operation, AssessmentRound.number < round_.number).order_by(AssessmentRound.number.desc()).limit(1)
    )


# --- figures -------------------------------------------------------------------------------------


def _location_key(figure: DisplacementFigure, site_codes: Mapping[str, str]) -> str:
    if figure.component == "site" and figure.location_id:
        return f"site:{site_codes[figure.location_id]}"
    return f"area:{figure.admin_pcode}"


def stored_figures(session: Session, *, round_id: str, component: str) -> list[FigureRow]:
    """The figures recorded for a round and component, as `FigureRow`s (row = 0: they are stored)."""
    records = list(session.scalars(select(DisplacementFigure).where(DisplacementFigure.round_id == round_id, DisplacementFigure.component == component)))
    site_ids = {r.location_id for r in records if r.location_id}
    site_codes: dict[str, str] = {}
    if site_ids:
        site_codes = {location_id: code for location_id, code in session.execute(select(Location.id, Location.code).where(Location.id.in_(site_ids)))}
    return [
        FigureRow(
            row=0,
            uuid=r.submission_uuid,
            component=r.component,  # type: ignore[arg-type]
            admin_pcode=r.admin_pcode,
            admin_level=r.admin_level,
            reported_name=r.reported_name,
            location_key=_location_key(r, site_codes),
            idp_households=r.idp_households,
            idp_individuals=r.idp_individuals,
            avg_household_size=r.avg_household_size,
            returnee_households=r.returnee_households,
            returnee_individuals=r.returnee_individuals,
            males=r.males,
            females=r.females,
            breakdown=dict(r.breakdown or {}),
            origin_pcode=r.origin_pcode,
            reasons=list(r.reasons or []),
            shelter=list(r.shelter or []),
            needs=list(r.needs or []),
            services=dict(r.services or {}),
            site_id=site_codes.get(r.location_id) if r.location_id else None,
            assessment_date=r.assessment_date,
        )
        for r in records
    ]


@dataclass
class RecordResult:
    """What happened to a batch of submissions: stored, skipped, and every check issue per row."""

    recorded: int = 0
    already_recorded: int = 0
    not_stored: int = 0
    issues: list[CheckIssue] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for issue in self.issues:
            totals[issue.check] = totals.get(issue.check, 0) + 1
        return totals


def record_submissions(
    session: Session,
    *,
    actor: Actor,
    round_id: str,
    component: Component,
    submissions: Iterable[tuple[int, str, Mapping[str, Any]]],
    default_household_size: float | None = None,
) -> RecordResult:
    """Check validated submissions (row number, uuid, data) and store their figures for the round.

    All checks of `passage.dtm.rules` run against the batch plus what the round already holds: a
    location already recorded in this round is a duplicate, and the outlier check compares with the
    previous round of the same operation. Rows with a duplicate location or an unknown P-code are
    reported and not stored (storing them would double count or break the area link); other issues are
    stored with the figure and reported. A submission uuid already recorded for the round is skipped,
    so processing the same submissions twice changes nothing.
    """
    _manage(session, actor, "record_submissions", "dtm_figure")
    _forget_publications(session)
    if component not in COMPONENTS:
        raise InvalidInput(T_("component must be baseline or site"))
    round_ = session.get(AssessmentRound, round_id)
    if round_ is None:
        raise NotFound(T_("round not found"))
    gazetteer = get_gazetteer(session)
    if len(gazetteer) == 0:
        raise InvalidInput(T_("no boundaries loaded; run `passage geo load areas.geojson` first"))
    recorded_uuids = set(session.scalars(select(DisplacementFigure.submission_uuid).where(DisplacementFigure.round_id == round_id, DisplacementFigure.component == component)))
    result = RecordResult()
    batch: list[tuple[int, dict[str, Any]]] = []
    for row, uuid, data in submissions:
        if uuid in recorded_uuids:
            result.already_recorded += 1
            continue
        batch.append((row, {**data, "_uuid": uuid}))
    existing = stored_figures(session, round_id=round_id, component=component)
    before = previous_round(session, round_=round_)
    previous_values: dict[str, int] = {}
    if before is not None:
        previous_values = {f.location_key: f.idp_individuals for f in stored_figures(session, round_id=before.id, component=component) if f.idp_individuals is not None}
    report = rules.run_checks(batch, component=component, gazetteer=gazetteer, previous=previous_values, default_household_size=default_household_size)
    taken = {f.location_key: f for f in existing}
    extra_duplicates = [
        CheckIssue(f.row, rules.CHECK_DUPLICATE_LOCATION, "site_id" if component == "site" else f"admin{f.admin_level}_pcode", "location already recorded in this round by an earlier batch")
        for f in report.figures
        if f.location_key in taken
    ]
    result.issues = sorted(report.issues + extra_duplicates, key=lambda i: (i.row, rules.ALL_CHECKS.index(i.check)))
    blocking = {(i.row, i.check) for i in result.issues if i.check in (rules.CHECK_DUPLICATE_LOCATION, rules.CHECK_UNKNOWN_PCODE)}
    issues_by_row: dict[int, list[dict[str, str]]] = {}
    for issue in result.issues:
        issues_by_row.setdefault(issue.row, []).append({"check": issue.check, "field": issue.field, "severity": issue.severity})
    result.not_stored += sum(1 for issue in report.issues if issue.check == rules.CHECK_UNREADABLE)
    for figure in report.figures:
        if any((figure.row, check) in blocking for check in (rules.CHECK_DUPLICATE_LOCATION, rules.CHECK_UNKNOWN_PCODE)) or not figure.admin_pcode:
            result.not_stored += 1
            continue
        location_id = None
        if component == "site" and figure.site_id:
            location_id = _ensure_site(session, figure).id
        session.add(
            DisplacementFigure(
                round_id=round_id,
                component=component,
                submission_uuid=figure.uuid,
                location_id=location_id,
                admin_pcode=figure.admin_pcode,
                admin_level=figure.admin_level,
                reported_name=figure.reported_name,
                assessment_date=figure.assessment_date,
                avg_household_size=figure.avg_household_size,
                idp_households=figure.idp_households,
                idp_individuals=figure.idp_individuals,
                returnee_households=figure.returnee_households,
                returnee_individuals=figure.returnee_individuals,
                males=figure.males,
                females=figure.females,
                breakdown=figure.breakdown,
                origin_pcode=figure.origin_pcode,
                reasons=figure.reasons,
                shelter=figure.shelter,
                needs=figure.needs,
                services=figure.services,
                issues=issues_by_row.get(figure.row, []),
            )
        )
        result.recorded += 1
    session.flush()
    audit.record(
        session, actor=actor, action="record_figures", entity_type="dtm_round", entity_id=round_id,
        details={"component": component, "recorded": result.recorded, "already_recorded": result.already_recorded, "not_stored": result.not_stored, "checks": result.counts()},
    )
    return result


def _ensure_site(session: Session, figure: FigureRow) -> Location:
    """The master-list entry of a site, created from its first assessment; coordinates kept up to date."""
    assert figure.site_id is not None
    location = session.scalar(select(Location).where(Location.code == figure.site_id))
    if location is None:
        location = Location(code=figure.site_id, kind="site", name=figure.site_name or figure.site_id, admin_pcode=figure.admin_pcode)
        session.add(location)
    if figure.latitude is not None:
        location.latitude, location.longitude = figure.latitude, figure.longitude
    location.site_type = figure.site_type or location.site_type
    location.management = figure.management or location.management
    session.flush()
    return location


def process_form_submissions(session: Session, *, actor: Actor, round_id: str, component: Component, form_ref: str | None = None, default_household_size: float | None = None) -> RecordResult:
    """Record the forms engine's accepted submissions of a DTM form that fall in the round's period.

    A submission belongs to the round when its ``assessment_date`` lies within the round's period
    (``period_start``..``period_end``, both optional).
    """
    _manage(session, actor, "process_form_submissions", "dtm_figure")
    from passage.forms import service as forms_service

    round_ = session.get(AssessmentRound, round_id)
    if round_ is None:
        raise NotFound(T_("round not found"))
    selected: list[tuple[int, str, Mapping[str, Any]]] = []
    # A signed-in user processes only the submissions of forms in their organisation scope.
    for index, submission in enumerate(forms_service.iter_submissions(session, form_ref=form_ref or FORM_OF_COMPONENT[component], actor=actor), start=1):
        data = submission.data
        raw_date = rules.flatten(data).get("assessment_date")
        when = rules.to_date(raw_date) if raw_date else None
        if when is not None and ((round_.period_start and when < round_.period_start) or (round_.period_end and when > round_.period_end)):
            continue
        selected.append((submission.source_row or index, submission.uuid, data))
    return record_submissions(session, actor=actor, round_id=round_id, component=component, submissions=selected, default_household_size=default_household_size)


# --- dissemination -------------------------------------------------------------------------------


def aggregate_round(session: Session, *, round_: AssessmentRound, level: int, component: Component = "baseline", gazetteer: Gazetteer | None = None) -> AggregateResult:
    """Aggregate a round's figures to an admin level, with the change from the previous round.

    The raw aggregate: what may be *published* of it is `published_round`'s answer."""
    return _round_results(session, round_=round_, levels=(level,), component=component, gazetteer=gazetteer or get_gazetteer(session))[level]


def _round_results(session: Session, *, round_: AssessmentRound, levels: Iterable[int], component: Component, gazetteer: Gazetteer) -> dict[int, AggregateResult]:
    """Raw aggregates of a round at several levels, the figures read once."""
    figures = stored_figures(session, round_id=round_.id, component=component)
    flagged = [
        uuid
        for uuid, issues in session.execute(select(DisplacementFigure.submission_uuid, DisplacementFigure.issues).where(DisplacementFigure.round_id == round_.id, DisplacementFigure.component == component))
        if issues
    ]
    before = previous_round(session, round_=round_)
    prior_figures = stored_figures(session, round_id=before.id, component=component) if before is not None else None
    results: dict[int, AggregateResult] = {}
    for level in levels:
        previous_values: dict[str, int] | None = None
        if before is not None and prior_figures is not None:
            prior = aggregate(prior_figures, gazetteer=gazetteer, level=level, operation=before.operation, round_number=before.number, reporting_date=before.reporting_date, assessment_type=component)
            previous_values = {row.pcode: row.idp_individuals or 0 for row in prior.rows}
        results[level] = aggregate(figures, gazetteer=gazetteer, level=level, operation=round_.operation, round_number=round_.number, reporting_date=round_.reporting_date, assessment_type=component, issue_rows=flagged, previous=previous_values)
    return results


_PUBLICATIONS = "passage.dtm.publications"


def published_round(session: Session, *, round_: AssessmentRound, component: Component = "baseline", gazetteer: Gazetteer | None = None,
                    with_previous: bool = True) -> publication.Publication:
    """What may be published of a round: every level, its totals and (site component) its sites, through the
    platform's disclosure control together (`passage.dtm.publication`). Every DTM output - tables, the HXL
    files, the PDF report, the map layers, the series and the public DTM API - reads its figures from here.

    Remembered for the rest of the transaction (a page asks for several levels of the same round); recording
    figures forgets it."""
    cache: dict[tuple[str, str, bool], publication.Publication] = session.info.setdefault(_PUBLICATIONS, {})
    key = (round_.id, component, with_previous)
    if key in cache:
        return cache[key]
    gazetteer = gazetteer or get_gazetteer(session)
    results = _round_results(session, round_=round_, levels=publication.LEVELS, component=component, gazetteer=gazetteer)
    sites: list[publication.SiteFigure] = []
    if component == "site":
        ancestors = {pcode: [a.pcode for a in gazetteer.lineage(pcode)] for pcode in {f["pcode"] for f in site_features(session, round_=round_)}}
        sites = publication.sites_of(site_features(session, round_=round_), ancestors)
    previous = None
    if with_previous:
        before = previous_round(session, round_=round_)
        if before is not None:
            previous = published_round(session, round_=before, component=component, gazetteer=gazetteer, with_previous=False)
    cache[key] = publication.publish(results, sites=sites, previous=previous)
    return cache[key]


def _forget_publications(session: Session) -> None:
    session.info.pop(_PUBLICATIONS, None)


def published_sites(session: Session, *, round_: AssessmentRound) -> list[dict[str, Any]]:
    """The round's sites for the map's point layer, with the counts disclosure control withholds set to None."""
    shown = published_round(session, round_=round_, component="site").sites
    features = site_features(session, round_=round_)
    for feature in features:
        values = shown.get(feature["site_id"], {})
        for name in publication.SITE_COUNTS:
            feature[name] = values.get(name)
        feature["withheld"] = sorted(name for name in publication.SITE_COUNTS if values.get(name) is None)
    return features


def issue_counts(session: Session, *, round_id: str, component: str) -> dict[str, int]:
    """How many stored figures of the round carry each check code."""
    totals: dict[str, int] = {}
    for issues in session.scalars(select(DisplacementFigure.issues).where(DisplacementFigure.round_id == round_id, DisplacementFigure.component == component)):
        for check in {i["check"] for i in issues or []}:
            totals[check] = totals.get(check, 0) + 1
    return totals


def site_features(session: Session, *, round_: AssessmentRound) -> list[dict[str, Any]]:
    """Sites assessed in a round with their figures, for the map's point layer."""
    rows = session.execute(
        select(Location, DisplacementFigure).join(DisplacementFigure, DisplacementFigure.location_id == Location.id).where(DisplacementFigure.round_id == round_.id, DisplacementFigure.component == "site").order_by(Location.code)
    )
    return [
        {
            "location_id": location.id,
            "site_id": location.code,
            "name": location.name,
            "pcode": location.admin_pcode,
            "site_type": location.site_type,
            "management": location.management,
            "idp_individuals": figure.idp_individuals,
            "idp_households": figure.idp_households,
            "needs": list(figure.needs or []),
            "latitude": location.latitude,
            "longitude": location.longitude,
        }
        for location, figure in rows
    ]


def check_pcode(pcode: str) -> str:
    """Normalise and check one P-code; raises InvalidInput naming the problem."""
    code = pcode.strip().upper()
    problem = pcode_problem(code)
    if problem:
        raise InvalidInput(problem)
    return code


# --- flow monitoring -----------------------------------------------------------------------------


@dataclass
class FlowRecordResult:
    lines: int = 0
    already_recorded: int = 0
    not_stored: int = 0
    issues: list[CheckIssue] = field(default_factory=list)


def record_flow_submissions(session: Session, *, actor: Actor, submissions: Iterable[tuple[int, str, Mapping[str, Any]]], round_id: str | None = None) -> FlowRecordResult:
    """Store the count lines of flow monitoring submissions; the point joins the master list as a flow_point.

    A line whose men + women + boys + girls differ from its total is reported (check ``sex_age_sum``)
    and stored with the reported total; a submission whose admin 2 P-code is not loaded is reported
    (``unknown_pcode``) and not stored; a submission uuid already stored is skipped.
    """
    _manage(session, actor, "record_flow_submissions", "dtm_flow_count")
    gazetteer = get_gazetteer(session)
    known = set(session.scalars(select(FlowCount.submission_uuid).distinct()))
    result = FlowRecordResult()
    for row, uuid, data in submissions:
        if uuid in known:
            result.already_recorded += 1
            continue
        flat = rules.flatten(data)
        admin_pcode = str(flat.get("admin2_pcode") or flat.get("admin1_pcode") or "").strip().upper()
        if admin_pcode not in gazetteer:
            result.issues.append(CheckIssue(row, rules.CHECK_UNKNOWN_PCODE, "admin2_pcode", f"P-code {admin_pcode or '(empty)'} is not in the loaded boundaries"))
            result.not_stored += 1
            continue
        lines, issues = rules.flow_lines(data, row=row)
        result.issues.extend(issues)
        fmp_id = str(flat.get("fmp_id", "")).strip()
        point = session.scalar(select(Location).where(Location.code == fmp_id))
        if point is None:
            point = Location(code=fmp_id, kind="flow_point", name=str(flat.get("fmp_name") or fmp_id), admin_pcode=admin_pcode, site_type=str(flat.get("fmp_type") or "") or None)
            session.add(point)
            session.flush()
        latitude, longitude = rules.geopoint(flat.get("gps"))
        if latitude is not None:
            point.latitude, point.longitude = latitude, longitude
        for line in lines:
            session.add(FlowCount(round_id=round_id, location_id=point.id, submission_uuid=uuid, line=line.line, observed_on=line.observed_on, direction=line.direction, nationality=line.nationality, transport_mode=line.transport_mode, adult_males=line.adult_males, adult_females=line.adult_females, boys=line.boys, girls=line.girls, total=line.total))
            result.lines += 1
        known.add(uuid)
    session.flush()
    checks: dict[str, int] = {}
    for issue in result.issues:
        checks[issue.check] = checks.get(issue.check, 0) + 1
    audit.record(
        session, actor=actor, action="record_flows", entity_type="dtm_flow_counts", entity_id=round_id,
        details={"lines": result.lines, "already_recorded": result.already_recorded, "not_stored": result.not_stored, "checks": checks},
    )
    return result


def flow_summary(session: Session, *, date_from: dt.date | None = None, date_to: dt.date | None = None, by: tuple[str, ...] = ("direction", "nationality", "transport_mode")) -> list[dict[str, Any]]:
    """Flow counts summed by the given dimensions over an observation period, through disclosure control
    (`publication.published_flows`: counts at or below the threshold, and what would give them away, are None)."""
    query = select(FlowCount, Location.code).join(Location, Location.id == FlowCount.location_id)
    if date_from:
        query = query.where(FlowCount.observed_on >= date_from)
    if date_to:
        query = query.where(FlowCount.observed_on <= date_to)
    lines = [
        rules.FlowLine(0, c.line, code, c.observed_on, c.direction, c.nationality, c.transport_mode, c.adult_males, c.adult_females, c.boys, c.girls, c.total)
        for c, code in session.execute(query)
    ]
    return publication.published_flows(rules.summarise_flows(lines, by=by))


# --- reading figures and series (API and pages) --------------------------------------------------


def list_figures(session: Session, *, round_id: str, component: str | None = None, issues_only: bool = False, offset: int = 0, limit: int = 50) -> tuple[list[tuple[DisplacementFigure, str | None]], int]:
    """A page of a round's stored figures with the site code (if any), and the total count."""
    query = select(DisplacementFigure, Location.code).outerjoin(Location, Location.id == DisplacementFigure.location_id).where(DisplacementFigure.round_id == round_id)
    if component:
        query = query.where(DisplacementFigure.component == component)
    rows: list[tuple[DisplacementFigure, str | None]] = [(figure, code) for figure, code in session.execute(query.order_by(DisplacementFigure.component, DisplacementFigure.admin_pcode, Location.code, DisplacementFigure.submission_uuid))]
    if issues_only:
        # issues is a JSON list; filtering in Python keeps SQLite and PostgreSQL identical.
        rows = [(f, c) for f, c in rows if f.issues]
    return rows[offset : offset + limit], len(rows)


def round_series(session: Session, *, operation: str, level: int, component: Component = "baseline") -> list[dict[str, Any]]:
    """IDP individuals per round of an operation, in total and per area of `level` (the time-series charts);
    published figures only (`published_round`: None where withheld)."""
    gazetteer = get_gazetteer(session)
    series = []
    for round_ in list_rounds(session, operation=operation):
        shown = published_round(session, round_=round_, component=component, gazetteer=gazetteer, with_previous=False)
        table = shown.level(level)
        totals = shown.totals.get(level, {})
        series.append(
            {
                "round": round_.number,
                "round_id": round_.id,
                "reporting_date": round_.reporting_date.isoformat(),
                "idp_individuals": totals.get("idp_individuals", 0 if not table.rows else None),
                "returnee_individuals": totals.get("returnee_individuals", 0 if not table.rows else None),
                "locations_assessed": sum(r.locations_assessed for r in table.rows),
                "by_area": {r.pcode: r.idp_individuals for r in table.rows},
            }
        )
    return series


def operations(session: Session) -> list[str]:
    return list(session.scalars(select(AssessmentRound.operation).distinct().order_by(AssessmentRound.operation)))


def changes_from_previous(session: Session, *, round_: AssessmentRound, level: int, component: Component = "baseline") -> tuple[AssessmentRound | None, list[rules.RoundChange]]:
    """The previous round (or None) and the per-area change of IDP individuals at `level`, from the two rounds'
    publications: an area whose figure is withheld in either round has status "withheld" and no figures."""
    before = previous_round(session, round_=round_)
    if before is None:
        return None, []
    gazetteer = get_gazetteer(session)
    current = published_round(session, round_=round_, component=component, gazetteer=gazetteer).level(level)
    previous = published_round(session, round_=before, component=component, gazetteer=gazetteer, with_previous=False).level(level)
    return before, rules.round_changes({r.pcode: r.idp_individuals for r in current.rows}, {r.pcode: r.idp_individuals for r in previous.rows})


def public_displacement(session: Session, *, level: int, query: Mapping[str, Any]) -> list[dict[str, Any]]:
    """DTM API v3 records of every round and component at an admin level that match a parsed query.

    Aggregates only, as published (`published_round`): the records hold area totals, never a submission. Rounds outside the query's
    operation or round-number range are skipped before aggregating.
    """
    from passage.dtm.dtm_api import matches as api_matches
    from passage.dtm.dtm_api import to_dtm_api_v3

    gazetteer = get_gazetteer(session)
    records: list[dict[str, Any]] = []
    for round_ in list_rounds(session):
        if "Operation" in query and round_.operation.casefold() != str(query["Operation"]).casefold():
            continue
        if ("FromRoundNumber" in query and round_.number < query["FromRoundNumber"]) or ("ToRoundNumber" in query and round_.number > query["ToRoundNumber"]):
            continue
        for component in COMPONENTS:
            table = published_round(session, round_=round_, component=component, gazetteer=gazetteer).level(level)  # type: ignore[arg-type]
            records.extend(record for record in (to_dtm_api_v3(row, gazetteer=gazetteer) for row in table.rows) if api_matches(record, query))
    return records
