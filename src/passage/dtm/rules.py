"""DTM processing with no I/O: submission dicts to figures, consistency checks per row, round-to-round change.

The checks are the ones DTM data cleaning applies before a round is published (IOM DTM, *Mobility
Tracking methodological framework*, data quality and triangulation; and the users' complaints listed in
issue 6): sex and age breakdowns must add up to the total, households times household size must be close
to individuals, a location is assessed once per round, a P-code must agree with the name reported for
it, and a large swing from the last round is flagged for triangulation. Every issue names the row
(the submission's row number), the check and the field; counts and public P-codes may appear in the
message, personal values never do.

Input dicts are validated submissions from the forms engine, keyed by field name or group path
(``idps/idp_individuals`` or ``idps-idp_individuals``); select_multiple answers are a list or the
XLSForm space-separated string.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from passage.dtm import vocab
from passage.dtm.geography import Gazetteer

Component = Literal["baseline", "site"]
Severity = Literal["error", "warning"]

CHECK_SEX_AGE_SUM = "sex_age_sum"
CHECK_SEX_AGE_MISSING = "sex_age_missing"
CHECK_HOUSEHOLD_SIZE = "household_size"
CHECK_DUPLICATE_LOCATION = "duplicate_location"
CHECK_PCODE_NAME = "pcode_name_mismatch"
CHECK_UNKNOWN_PCODE = "unknown_pcode"
CHECK_PCODE_PARENT = "pcode_parent_mismatch"
CHECK_OUTLIER = "outlier_last_round"
CHECK_UNREADABLE = "unreadable_value"
ALL_CHECKS = (
    CHECK_UNREADABLE,
    CHECK_SEX_AGE_SUM,
    CHECK_SEX_AGE_MISSING,
    CHECK_HOUSEHOLD_SIZE,
    CHECK_DUPLICATE_LOCATION,
    CHECK_PCODE_NAME,
    CHECK_UNKNOWN_PCODE,
    CHECK_PCODE_PARENT,
    CHECK_OUTLIER,
)


@dataclass(frozen=True)
class CheckIssue:
    """One failed consistency check on one row."""

    row: int
    check: str
    field: str
    message: str
    severity: Severity = "error"

    def as_dict(self) -> dict[str, str]:
        return {"row": str(self.row), "check": self.check, "field": self.field, "message": self.message, "severity": self.severity}


@dataclass
class FigureRow:
    """The figures of one baseline or site submission, normalised for storage and aggregation."""

    row: int
    uuid: str
    component: Component
    admin_pcode: str
    admin_level: int
    reported_name: str | None
    location_key: str
    idp_households: int | None = None
    idp_individuals: int | None = None
    avg_household_size: float | None = None
    returnee_households: int | None = None
    returnee_individuals: int | None = None
    males: int | None = None
    females: int | None = None
    breakdown: dict[str, int] = field(default_factory=dict)
    origin_pcode: str | None = None
    reasons: list[str] = field(default_factory=list)
    shelter: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)
    site_id: str | None = None
    site_name: str | None = None
    site_type: str | None = None
    management: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    assessment_date: dt.date | None = None
    admin_pcodes: dict[int, str] = field(default_factory=dict)
    admin_names: dict[int, str] = field(default_factory=dict)


def flatten(values: Mapping[str, Any]) -> dict[str, Any]:
    """Key a submission by bare field name: ``group/sub/field`` and ``group-field`` become ``field``.

    Metadata columns (``_uuid``, ``_submission_time``) keep their names. The DTM forms have unique
    field names across groups, so nothing collides.
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith("_"):
            flat[key] = value
            continue
        bare = key.rsplit("/", 1)[-1]
        if "-" in bare:
            bare = bare.rsplit("-", 1)[-1]
        flat[bare] = value
    return flat


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_int(value: Any) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError("boolean is not a count")
    if isinstance(value, int):
        return value
    number = float(str(value).strip())
    if not number.is_integer():
        raise ValueError("not a whole number")
    return int(number)


def to_float(value: Any) -> float | None:
    if _blank(value):
        return None
    return float(str(value).strip())


def to_choices(value: Any) -> list[str]:
    """A select_multiple answer as a list of codes (XLSForm stores it space-separated)."""
    if _blank(value):
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v) for v in value]
    return str(value).split()


def to_date(value: Any) -> dt.date | None:
    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip()[:10])


def geopoint(value: Any) -> tuple[float | None, float | None]:
    """ODK geopoint: "lat lon [alt [accuracy]]" or a (lat, lon) pair."""
    if _blank(value):
        return None, None
    parts = list(value) if isinstance(value, list | tuple) else str(value).split()
    return float(parts[0]), float(parts[1])


def figure_from_submission(values: Mapping[str, Any], *, row: int, component: Component) -> FigureRow:
    """Normalise one validated baseline or site submission into a `FigureRow`."""
    flat = flatten(values)
    pcodes = {level: str(flat[f"admin{level}_pcode"]).strip().upper() for level in (1, 2, 3) if not _blank(flat.get(f"admin{level}_pcode"))}
    names = {level: str(flat[f"admin{level}_name"]).strip() for level in (1, 2, 3) if not _blank(flat.get(f"admin{level}_name"))}
    if component == "baseline":
        level = int(str(flat.get("assessment_level") or (3 if 3 in pcodes else 2)))
    else:
        level = max(pcodes) if pcodes else 0
    admin_pcode = pcodes.get(level, "")
    idp_present = component == "site" or str(flat.get("idp_present", "yes")) == "yes"
    returnees_present = str(flat.get("returnees_present", "no")) == "yes"
    breakdown = {name: count for name in vocab.BREAKDOWN_FIELDS if (count := to_int(flat.get(name))) is not None} if idp_present else {}
    latitude, longitude = geopoint(flat.get("gps"))
    site_id = str(flat["site_id"]).strip() if not _blank(flat.get("site_id")) else None
    services = {sector.name: str(flat[f"service_{sector.name}"]) for sector in vocab.MCOF_SECTORS if not _blank(flat.get(f"service_{sector.name}"))}
    males = to_int(flat.get("males"))
    females = to_int(flat.get("females"))
    if breakdown and males is None:
        males = sum(v for k, v in breakdown.items() if k.startswith("m_"))
    if breakdown and females is None:
        females = sum(v for k, v in breakdown.items() if k.startswith("f_"))
    origin = flat.get("origin_admin2_pcode") or flat.get("origin_admin1_pcode")
    return FigureRow(
        row=row,
        uuid=str(flat.get("_uuid") or f"row-{row}"),
        component=component,
        admin_pcode=admin_pcode,
        admin_level=level,
        reported_name=names.get(level),
        location_key=f"site:{site_id}" if component == "site" and site_id else f"area:{admin_pcode}",
        idp_households=to_int(flat.get("idp_households")) if idp_present else 0,
        idp_individuals=to_int(flat.get("idp_individuals")) if idp_present else 0,
        avg_household_size=to_float(flat.get("avg_household_size")),
        returnee_households=to_int(flat.get("returnee_households")) if returnees_present else (0 if component == "baseline" else None),
        returnee_individuals=to_int(flat.get("returnee_individuals")) if returnees_present else (0 if component == "baseline" else None),
        males=males if idp_present else 0,
        females=females if idp_present else 0,
        breakdown=breakdown,
        origin_pcode=str(origin).strip().upper() if not _blank(origin) else None,
        reasons=to_choices(flat.get("displacement_reasons")),
        shelter=to_choices(flat.get("shelter_types")),
        needs=to_choices(flat.get("priority_needs")),
        services=services,
        site_id=site_id,
        site_name=str(flat["site_name"]).strip() if not _blank(flat.get("site_name")) else None,
        site_type=str(flat["site_type"]) if not _blank(flat.get("site_type")) else None,
        management=str(flat["management_agency"]) if not _blank(flat.get("management_agency")) else ("none" if flat.get("site_management") == "no" else None),
        latitude=latitude,
        longitude=longitude,
        assessment_date=to_date(flat.get("assessment_date")),
        admin_pcodes=pcodes,
        admin_names=names,
    )


def check_sex_age(figure: FigureRow) -> list[CheckIssue]:
    """The sex and age breakdown must be present and sum to the total individuals (DTM demographic breakdown)."""
    total = figure.idp_individuals
    if not total:
        return []
    if not figure.breakdown:
        return [CheckIssue(figure.row, CHECK_SEX_AGE_MISSING, "idp_demography", f"no sex and age breakdown for {total} individuals")]
    missing = [name for name in vocab.BREAKDOWN_FIELDS if name not in figure.breakdown]
    if missing:
        return [CheckIssue(figure.row, CHECK_SEX_AGE_MISSING, missing[0], f"sex and age breakdown incomplete: {len(missing)} of {len(vocab.BREAKDOWN_FIELDS)} groups missing")]
    summed = sum(figure.breakdown.values())
    issues = []
    if summed != total:
        issues.append(CheckIssue(figure.row, CHECK_SEX_AGE_SUM, "idp_individuals", f"sex and age groups sum to {summed}, total individuals is {total}"))
    if figure.males is not None and figure.females is not None and figure.males + figure.females != total and summed == total:
        issues.append(CheckIssue(figure.row, CHECK_SEX_AGE_SUM, "males", f"males + females = {figure.males + figure.females}, total individuals is {total}"))
    return issues


def check_household_size(figure: FigureRow, *, default_household_size: float | None = None, tolerance: float = 0.2, plausible: tuple[float, float] = (1.0, 15.0)) -> list[CheckIssue]:
    """Households x average household size should be within `tolerance` (relative) of individuals.

    The average size is the one reported on the form, else the operation's default (DTM operations use
    the household size of their latest household survey). Without any size, an implied size
    (individuals / households) outside `plausible` is still flagged.
    """
    households, individuals = figure.idp_households, figure.idp_individuals
    if not households or individuals is None:
        return []
    size = figure.avg_household_size or default_household_size
    if size:
        expected = households * size
        if abs(individuals - expected) > tolerance * expected:
            return [CheckIssue(figure.row, CHECK_HOUSEHOLD_SIZE, "idp_individuals", f"{households} households x {size:g} = {expected:.0f} expected, {individuals} individuals reported (more than {tolerance:.0%} apart)")]
        return []
    implied = individuals / households
    if not plausible[0] <= implied <= plausible[1]:
        return [CheckIssue(figure.row, CHECK_HOUSEHOLD_SIZE, "idp_individuals", f"implied household size {implied:.1f} is outside {plausible[0]:g}-{plausible[1]:g}")]
    return []


def check_duplicates(figures: Sequence[FigureRow]) -> list[CheckIssue]:
    """A location (an admin area for baselines, a site id for sites) is assessed once per round."""
    first_row: dict[str, int] = {}
    issues = []
    for figure in figures:
        if figure.location_key in first_row:
            issues.append(CheckIssue(figure.row, CHECK_DUPLICATE_LOCATION, "site_id" if figure.component == "site" else f"admin{figure.admin_level}_pcode", f"same location as row {first_row[figure.location_key]} in this round"))
        else:
            first_row[figure.location_key] = figure.row
    return issues


def check_pcodes(figure: FigureRow, gazetteer: Gazetteer) -> list[CheckIssue]:
    """Each reported P-code must exist, agree with the name reported beside it, and sit under the reported parent."""
    issues = []
    for level, pcode in sorted(figure.admin_pcodes.items()):
        result = gazetteer.check_name(pcode, figure.admin_names.get(level, ""))
        field_name = f"admin{level}_pcode"
        if result.status in ("unknown_pcode", "invalid_pcode"):
            issues.append(CheckIssue(figure.row, CHECK_UNKNOWN_PCODE, field_name, f"P-code {pcode} is not in the loaded boundaries"))
            continue
        if result.status == "mismatch" and figure.admin_names.get(level):
            hint = f"; the name matches {', '.join(result.suggested_pcodes)}" if result.suggested_pcodes else ""
            issues.append(CheckIssue(figure.row, CHECK_PCODE_NAME, f"admin{level}_name", f"name does not match P-code {pcode} (official name {result.expected_name}){hint}"))
        parent_level = level - 1
        if parent_level in figure.admin_pcodes:
            area = gazetteer.get(pcode)
            if area is not None and area.parent_pcode != figure.admin_pcodes[parent_level]:
                issues.append(CheckIssue(figure.row, CHECK_PCODE_PARENT, field_name, f"P-code {pcode} belongs to {area.parent_pcode}, not to {figure.admin_pcodes[parent_level]}"))
    return issues


def check_outliers(figures: Sequence[FigureRow], previous: Mapping[str, int], *, relative: float = 0.5, absolute: int = 100) -> list[CheckIssue]:
    """Flag a location whose IDP individuals moved by more than `relative` and `absolute` since the last round.

    Both thresholds must be passed, so small locations doubling from 4 to 8 people are not flagged.
    A warning, not an error: the DTM methodology asks enumerators to triangulate such swings, which may
    be real (a new displacement wave).
    """
    issues = []
    for figure in figures:
        before = previous.get(figure.location_key)
        now = figure.idp_individuals
        if before is None or now is None:
            continue
        delta = now - before
        if abs(delta) > absolute and abs(delta) > relative * max(before, 1):
            issues.append(CheckIssue(figure.row, CHECK_OUTLIER, "idp_individuals", f"IDP individuals changed from {before} to {now} since the last round ({delta:+d})", severity="warning"))
    return issues


@dataclass
class CheckReport:
    """The figures of a batch and every issue found, per row."""

    figures: list[FigureRow]
    issues: list[CheckIssue]

    def by_row(self) -> dict[int, list[CheckIssue]]:
        grouped: dict[int, list[CheckIssue]] = {}
        for issue in self.issues:
            grouped.setdefault(issue.row, []).append(issue)
        return grouped

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for issue in self.issues:
            totals[issue.check] = totals.get(issue.check, 0) + 1
        return totals


def run_checks(
    submissions: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    component: Component,
    gazetteer: Gazetteer,
    previous: Mapping[str, int] | None = None,
    default_household_size: float | None = None,
    household_tolerance: float = 0.2,
    outlier_relative: float = 0.5,
    outlier_absolute: int = 100,
) -> CheckReport:
    """Normalise and check a round's submissions, given as (row number, validated dict) pairs."""
    figures: list[FigureRow] = []
    issues: list[CheckIssue] = []
    for row, values in submissions:
        try:
            figures.append(figure_from_submission(values, row=row, component=component))
        except (ValueError, TypeError, IndexError):
            # Data that passed the forms engine should always read; if not, the row is reported, never dropped silently.
            issues.append(CheckIssue(row, CHECK_UNREADABLE, "submission", "a count, date or location value cannot be read"))
    for figure in figures:
        issues.extend(check_sex_age(figure))
        issues.extend(check_household_size(figure, default_household_size=default_household_size, tolerance=household_tolerance))
        issues.extend(check_pcodes(figure, gazetteer))
    issues.extend(check_duplicates(figures))
    issues.extend(check_outliers(figures, previous or {}, relative=outlier_relative, absolute=outlier_absolute))
    issues.sort(key=lambda i: (i.row, ALL_CHECKS.index(i.check)))
    return CheckReport(figures=figures, issues=issues)


ChangeStatus = Literal["new", "closed", "increase", "decrease", "unchanged", "withheld"]


@dataclass(frozen=True)
class RoundChange:
    """The change of one location's figure from the previous round to this one."""

    key: str
    previous: int | None
    current: int | None
    change: int | None
    percent: float | None
    status: ChangeStatus


def round_changes(current: Mapping[str, int | None], previous: Mapping[str, int | None]) -> list[RoundChange]:
    """Per-location change between two rounds (DTM round-on-round comparison), sorted by key.

    A location assessed only now is "new"; one assessed only before is "closed" (its current figure
    is unknown, not zero, and its change counts as minus the previous figure). A location present with the
    value None was withheld by disclosure control in that round: its change is "withheld", with no figures.
    """
    changes = []
    for key in sorted(set(current) | set(previous)):
        before, now = previous.get(key), current.get(key)
        if (key in current and now is None) or (key in previous and before is None):
            changes.append(RoundChange(key, None, None, None, None, "withheld"))
            continue
        if before is None:
            changes.append(RoundChange(key, None, now, now or 0, None, "new"))
            continue
        if now is None:
            changes.append(RoundChange(key, before, None, -before, -100.0 if before else None, "closed"))
            continue
        delta = now - before
        status: ChangeStatus = "increase" if delta > 0 else "decrease" if delta < 0 else "unchanged"
        changes.append(RoundChange(key, before, now, delta, (100.0 * delta / before) if before else None, status))
    return changes


@dataclass(frozen=True)
class FlowLine:
    """One count line of a flow monitoring submission."""

    row: int
    line: int
    fmp_id: str
    observed_on: dt.date
    direction: str
    nationality: str
    transport_mode: str
    adult_males: int
    adult_females: int
    boys: int
    girls: int
    total: int


def flow_lines(values: Mapping[str, Any], *, row: int) -> tuple[list[FlowLine], list[CheckIssue]]:
    """The count lines of a flow monitoring submission (repeat ``flows``), with a sum check per line."""
    flat = flatten(values)
    fmp_id = str(flat.get("fmp_id", "")).strip()
    observed = to_date(flat.get("observation_date"))
    lines: list[FlowLine] = []
    issues: list[CheckIssue] = []
    repeats = flat.get("flows") or []
    for index, raw in enumerate(repeats, start=1):
        item = flatten(raw)
        counts = {name: to_int(item.get(name)) or 0 for name in ("adult_males", "adult_females", "boys", "girls")}
        total = to_int(item.get("flow_total"))
        summed = sum(counts.values())
        if total is None:
            total = summed
        elif total != summed:
            issues.append(CheckIssue(row, CHECK_SEX_AGE_SUM, f"flows[{index}].flow_total", f"men, women, boys and girls sum to {summed}, total is {total}"))
        if observed is None:
            continue
        lines.append(
            FlowLine(row, index, fmp_id, observed, str(item.get("direction", "")), str(item.get("nationality", "")).upper(), str(item.get("transport_mode", "")), total=total, **counts)
        )
    return lines, issues


def summarise_flows(lines: Iterable[FlowLine], *, by: Sequence[str] = ("direction", "nationality", "transport_mode")) -> list[dict[str, Any]]:
    """Sum flow counts by the given dimensions (any of fmp_id, observed_on, direction, nationality, transport_mode)."""
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for line in lines:
        key = tuple(getattr(line, dim) for dim in by)
        entry = totals.setdefault(key, {**dict(zip(by, key, strict=True)), "adult_males": 0, "adult_females": 0, "boys": 0, "girls": 0, "total": 0})
        for name in ("adult_males", "adult_females", "boys", "girls", "total"):
            entry[name] += getattr(line, name)
    return [totals[key] for key in sorted(totals, key=lambda k: tuple(str(v) for v in k))]
