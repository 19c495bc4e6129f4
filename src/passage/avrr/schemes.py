"""Incentive schemes as versioned rules data: loading, checking and choosing the version in force.

Each file in `passage/avrr/data/schemes/` is one `SchemeVersion` (see `docs/avrr.md`). A file is refused,
with the reason and the field path, when it is malformed, when its age bands leave a gap or overlap,
when a per-person rule lacks an amount for an age band, when instalment shares do not add up to 1, when
it cites a source it does not list, or when two versions of one scheme have overlapping validity.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError

from passage.avrr.rules import is_country_code
from passage.avrr.schemas import SchemeVersion
from passage.core.errors import FieldError, InvalidInput, NotFound
from passage.core.i18n import T_

SCHEMES_DIR = Path(__file__).parent / "data" / "schemes"
MAX_AGE = 120


def _pydantic_fields(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    fields = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        fields.append(FieldError(path=f"{prefix}{path}" if path else prefix.rstrip(".") or "(root)", message=err["msg"]))
    return fields


def check_scheme(scheme: SchemeVersion) -> list[FieldError]:
    """Whole-file consistency checks; returns every problem found (empty when the scheme is sound)."""
    problems: list[FieldError] = []
    if scheme.effective_to is not None and scheme.effective_to < scheme.effective_from:
        problems.append(FieldError("effective_to", T_("ends before effective_from")))

    band_ids = [b.id for b in scheme.age_bands]
    if len(set(band_ids)) != len(band_ids):
        problems.append(FieldError("age_bands", T_("age band ids must be unique")))
    bands = sorted(enumerate(scheme.age_bands), key=lambda ib: ib[1].min_age)
    expected_min = 0
    for index, band in bands:
        if band.min_age != expected_min:
            what = (T_("gap before age {age}: bands must cover 0-{max} once", age=expected_min, max=MAX_AGE)
                    if band.min_age > expected_min else
                    T_("overlap at age {age}: bands must cover 0-{max} once", age=expected_min, max=MAX_AGE))
            problems.append(FieldError(f"age_bands.{index}.min_age", what))
        if band.max_age is not None and band.max_age < band.min_age:
            problems.append(FieldError(f"age_bands.{index}.max_age", T_("is below min_age")))
            break
        expected_min = (band.max_age if band.max_age is not None else MAX_AGE) + 1
    if expected_min <= MAX_AGE:
        problems.append(FieldError("age_bands", T_("no band covers ages from {age}", age=expected_min)))

    code_lists = [("eligibility.nationalities", scheme.eligibility.nationalities or []),
                  ("eligibility.excluded_nationalities", scheme.eligibility.excluded_nationalities)]
    code_lists += [(f"rules.{i}.conditions.nationalities", r.conditions.nationalities or []) for i, r in enumerate(scheme.rules)]
    code_lists += [(f"rules.{i}.conditions.excluded_nationalities", r.conditions.excluded_nationalities or []) for i, r in enumerate(scheme.rules)]
    code_lists += [(f"household_caps.{i}.conditions.nationalities", c.conditions.nationalities or []) for i, c in enumerate(scheme.household_caps)]
    for path, codes in code_lists:
        for j, code in enumerate(codes):
            if not is_country_code(code):
                problems.append(FieldError(f"{path}.{j}", T_("not an ISO 3166-1 alpha-3 country code")))

    citation_ids = {c.id for c in scheme.citations}
    rule_ids: set[str] = set()
    for i, rule in enumerate(scheme.rules):
        base = f"rules.{i}"
        if rule.rule_id in rule_ids:
            problems.append(FieldError(f"{base}.rule_id", T_("duplicate rule id")))
        rule_ids.add(rule.rule_id)
        if rule.citation not in citation_ids:
            problems.append(FieldError(f"{base}.citation", T_("refers to a citation the scheme does not list")))
        if rule.kind == "per_person":
            amounts = rule.amounts_by_band or {}
            for band_id in band_ids:
                if band_id not in amounts:
                    problems.append(FieldError(f"{base}.amounts_by_band.{band_id}", T_("missing amount for this age band")))
            for band_id, value in amounts.items():
                if band_id not in band_ids:
                    problems.append(FieldError(f"{base}.amounts_by_band.{band_id}", T_("unknown age band")))
                elif value < 0:
                    problems.append(FieldError(f"{base}.amounts_by_band.{band_id}", T_("amount must not be negative")))
            if rule.amount is not None:
                problems.append(FieldError(f"{base}.amount", T_("a per_person rule takes amounts_by_band, not amount")))
        elif rule.kind in ("per_household", "ceiling"):
            if rule.amount is None:
                problems.append(FieldError(f"{base}.amount", T_("missing amount for a {kind} rule", kind=rule.kind)))
            elif rule.amount < 0:
                problems.append(FieldError(f"{base}.amount", T_("amount must not be negative")))
            if rule.amounts_by_band is not None:
                problems.append(FieldError(f"{base}.amounts_by_band", T_("a {kind} rule takes amount, not amounts_by_band", kind=rule.kind)))
        if rule.kind != "ceiling":
            if not rule.instalments:
                problems.append(FieldError(f"{base}.instalments", T_("at least one instalment is required")))
            elif sum((inst.share for inst in rule.instalments), Decimal(0)) != Decimal(1):
                problems.append(FieldError(f"{base}.instalments", T_("instalment shares must add up to 1")))
        for j, inst in enumerate(rule.instalments):
            if inst.offset_months_to < inst.offset_months_from:
                problems.append(FieldError(f"{base}.instalments.{j}.offset_months_to", T_("is before offset_months_from")))
    all_rule_ids = {r.rule_id for r in scheme.rules}
    for i, cap in enumerate(scheme.household_caps):
        if cap.citation not in citation_ids:
            problems.append(FieldError(f"household_caps.{i}.citation", T_("refers to a citation the scheme does not list")))
        for j, rule_id in enumerate(cap.applies_to):
            if rule_id not in all_rule_ids:
                problems.append(FieldError(f"household_caps.{i}.applies_to.{j}", T_("unknown rule id")))
    for i, conflict in enumerate(scheme.figure_conflicts):
        if conflict.rule_id not in all_rule_ids:
            problems.append(FieldError(f"figure_conflicts.{i}.rule_id", T_("unknown rule id")))
        for j, source_value in enumerate(conflict.values):
            if source_value.citation is not None and source_value.citation not in citation_ids:
                problems.append(FieldError(f"figure_conflicts.{i}.values.{j}.citation", T_("refers to a citation the scheme does not list")))
    return problems


def parse_scheme(data: object, *, source: str = "scheme") -> SchemeVersion:
    """Validate one scheme document; `InvalidInput` lists every problem with its field path."""
    try:
        scheme = SchemeVersion.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(T_("{source}: invalid incentive scheme", source=source), fields=_pydantic_fields(exc)) from None
    problems = check_scheme(scheme)
    if problems:
        raise InvalidInput(T_("{source}: invalid incentive scheme", source=source), fields=problems)
    return scheme


def load_scheme_file(path: Path) -> SchemeVersion:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(T_("{file}: not valid JSON (line {line}, column {column})", file=path.name, line=exc.lineno, column=exc.colno)) from None
    return parse_scheme(data, source=path.name)


def _overlaps(a: SchemeVersion, b: SchemeVersion) -> bool:
    a_end = a.effective_to or dt.date.max
    b_end = b.effective_to or dt.date.max
    return a.effective_from <= b_end and b.effective_from <= a_end


class SchemeRegistry:
    """All versions of all schemes; refuses two versions of one scheme whose validity overlaps."""

    def __init__(self, versions: list[tuple[str, SchemeVersion]]) -> None:
        self._by_scheme: dict[str, list[tuple[str, SchemeVersion]]] = {}
        for source, version in versions:
            for other_source, other in self._by_scheme.get(version.scheme_id, []):
                if other.version == version.version:
                    raise InvalidInput(
                        T_("{source}: scheme {scheme} version {version} is also defined in {other}", source=source,
                           scheme=version.scheme_id, version=version.version, other=other_source),
                        fields=[FieldError("version", T_("duplicate version"))],
                    )
                if _overlaps(version, other):
                    raise InvalidInput(
                        T_("{source}: validity of scheme {scheme} version {version} overlaps version {other_version} in {other}",
                           source=source, scheme=version.scheme_id, version=version.version, other_version=other.version,
                           other=other_source),
                        fields=[FieldError("effective_from", T_("overlaps another version's validity")),
                                FieldError("effective_to", T_("overlaps another version's validity"))],
                    )
            self._by_scheme.setdefault(version.scheme_id, []).append((source, version))

    @classmethod
    def from_directory(cls, directory: Path = SCHEMES_DIR) -> SchemeRegistry:
        files = sorted(directory.glob("*.json"))
        return cls([(f.name, load_scheme_file(f)) for f in files])

    def scheme_ids(self, *, include_templates: bool = False) -> list[str]:
        return sorted(
            sid for sid, versions in self._by_scheme.items()
            if include_templates or not all(v.template for _, v in versions)
        )

    def versions(self, scheme_id: str) -> list[SchemeVersion]:
        if scheme_id not in self._by_scheme:
            raise NotFound(T_("unknown scheme {scheme}", scheme=scheme_id), fields=[FieldError("scheme", T_("unknown scheme id"))])
        return sorted((v for _, v in self._by_scheme[scheme_id]), key=lambda v: v.effective_from)

    def in_force(self, scheme_id: str, on: dt.date) -> SchemeVersion:
        """The version of `scheme_id` in force on `on`; templates are never in force."""
        for version in self.versions(scheme_id):
            if version.template:
                continue
            end = version.effective_to or dt.date.max
            if version.effective_from <= on <= end:
                return version
        raise NotFound(
            T_("scheme {scheme} has no version in force on {date}", scheme=scheme_id, date=on),
            fields=[FieldError("date", T_("outside the validity of every version of this scheme"))],
        )


def default_registry() -> SchemeRegistry:
    """The schemes shipped with Passage."""
    return SchemeRegistry.from_directory(SCHEMES_DIR)
