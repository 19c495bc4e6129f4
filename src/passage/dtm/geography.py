"""Administrative boundaries with P-codes, in the way of OCHA's Common Operational Datasets (COD-AB).

A COD-AB boundary layer gives every administrative area a P-code (place code) and the P-code of its
parent, level by level: admin 0 (the country), admin 1 (province, state), admin 2 (district), admin 3.
The attribute names follow the COD-AB convention (OCHA, "Common Operational Datasets, Administrative
Boundaries", technical guidance, 2019): ``ADM1_PCODE``, ``ADM1_EN``, ``ADM1_ZH``, ``ADM0_PCODE`` and
alternate names ``ADM1ALT1EN``/``ADM1ALT2EN``/``ADM1_REF``. A P-code starts with the ISO 3166-1 code of
the country (two or three letters) followed by letters or digits; in COD-AB data a child's P-code
extends its parent's P-code, which Passage checks unless told otherwise.

Everything here is pure: parsing and checking a GeoJSON FeatureCollection, an in-memory `Gazetteer`
of areas, and the check of a name against a P-code with a table of known name variants (the DTM
problem of "P-codes that disagree with names").
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pycountry
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_

MAX_ADMIN_LEVEL = 3
POLYGON_TYPES = ("Polygon", "MultiPolygon")
_PCODE_PATTERN = re.compile(r"^[A-Z]{2,3}[A-Z0-9]*$")


@dataclass(frozen=True)
class AdminArea:
    """One administrative area of a COD-AB layer."""

    pcode: str
    level: int
    name_en: str
    parent_pcode: str | None
    name_zh: str | None = None
    alternate_names: tuple[str, ...] = ()
    geometry: dict[str, Any] | None = field(default=None, compare=False, hash=False)


def pcode_problem(pcode: str) -> str | None:
    """Why `pcode` is not a well-formed P-code, or None when it is.

    Well formed means upper-case letters and digits only, starting with the ISO 3166-1 alpha-2 or
    alpha-3 code of an existing country (COD-AB technical guidance, section on P-codes).
    """
    if not pcode:
        return "P-code is empty"
    if not _PCODE_PATTERN.match(pcode):
        return "P-code must be upper-case letters and digits, starting with the ISO 3166-1 country code"
    for length in (3, 2):
        prefix = pcode[:length]
        if len(prefix) == length and prefix.isalpha():
            found = pycountry.countries.get(alpha_3=prefix) if length == 3 else pycountry.countries.get(alpha_2=prefix)
            if found is not None:
                return None
    return "P-code does not start with an ISO 3166-1 country code"


def country_of(pcode: str) -> str | None:
    """The ISO 3166-1 alpha-3 code of the country a P-code belongs to, or None."""
    for length in (3, 2):
        prefix = pcode[:length]
        if not prefix.isalpha():
            continue
        found = pycountry.countries.get(alpha_3=prefix) if length == 3 else pycountry.countries.get(alpha_2=prefix)
        if found is not None:
            return str(found.alpha_3)
    return None


def _text(properties: Mapping[str, Any], key: str) -> str | None:
    value = properties.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _feature_level(properties: Mapping[str, Any]) -> int | None:
    """The level of a feature: the deepest ``ADMn_PCODE`` present, or an explicit ``admin_level``."""
    explicit = properties.get("admin_level", properties.get("ADM_LEVEL"))
    if explicit is not None and str(explicit).strip() != "":
        try:
            return int(str(explicit).strip())
        except ValueError:
            return -1
    deepest = None
    for level in range(0, 6):
        if _text(properties, f"ADM{level}_PCODE"):
            deepest = level
    return deepest


def parse_cod_ab(collection: Mapping[str, Any], *, known_parents: Mapping[str, int] | None = None, require_hierarchical_pcodes: bool = True) -> list[AdminArea]:
    """Parse a COD-AB style GeoJSON FeatureCollection into areas, refusing the whole file on any problem.

    Each feature must carry a P-code at levels 0-3 (``ADMn_PCODE``), an English name (``ADMn_EN`` or
    ``ADMn_NAME``), a Polygon or MultiPolygon geometry that is valid (OGC simple features), and, above
    level 0, the P-code of its parent (``ADMn-1_PCODE``) found either in the same file or in
    `known_parents` (P-code -> level, e.g. areas already loaded). Errors name the feature index and
    the property, never a value from the file other than P-codes, which are public place codes.
    """
    if collection.get("type") != "FeatureCollection" or not isinstance(collection.get("features"), list):
        raise InvalidInput(T_("not a GeoJSON FeatureCollection (expected type FeatureCollection with a features list)"))
    features: list[Any] = collection["features"]
    if not features:
        raise InvalidInput(T_("the FeatureCollection has no features"))
    errors: list[FieldError] = []
    areas: list[AdminArea] = []
    seen: dict[str, int] = {}
    for index, feature in enumerate(features):
        where = f"features[{index}]"
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            errors.append(FieldError(where, T_("not a GeoJSON Feature")))
            continue
        properties = feature.get("properties") or {}
        level = _feature_level(properties)
        if level is None:
            errors.append(FieldError(f"{where}.properties", T_("no P-code (expected ADM0_PCODE ... ADM3_PCODE)")))
            continue
        if level < 0 or level > MAX_ADMIN_LEVEL:
            errors.append(FieldError(f"{where}.properties.admin_level", T_("admin level must be 0 to {MAX_ADMIN_LEVEL}", MAX_ADMIN_LEVEL=MAX_ADMIN_LEVEL)))
            continue
        pcode = _text(properties, f"ADM{level}_PCODE") or _text(properties, "pcode")
        if pcode is None:
            errors.append(FieldError(f"{where}.properties.ADM{level}_PCODE", T_("missing P-code")))
            continue
        pcode = pcode.upper()
        problem = pcode_problem(pcode)
        if problem:
            errors.append(FieldError(f"{where}.properties.ADM{level}_PCODE", problem))
            continue
        name = _text(properties, f"ADM{level}_EN") or _text(properties, f"ADM{level}_NAME") or _text(properties, "name")
        if name is None:
            errors.append(FieldError(f"{where}.properties.ADM{level}_EN", T_("missing name")))
            continue
        geometry = feature.get("geometry")
        geometry_type = geometry.get("type") if isinstance(geometry, Mapping) else None
        if geometry_type not in POLYGON_TYPES:
            errors.append(FieldError(f"{where}.geometry", T_("geometry must be Polygon or MultiPolygon, found {found}", found=geometry_type or "-")))
            continue
        try:
            shapely_geometry: BaseGeometry = shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError):
            errors.append(FieldError(f"{where}.geometry", T_("unreadable coordinates")))
            continue
        if shapely_geometry.is_empty or not shapely_geometry.is_valid:
            reason = "empty" if shapely_geometry.is_empty else explain_validity(shapely_geometry)
            errors.append(FieldError(f"{where}.geometry", T_("invalid polygon ({reason})", reason=reason)))
            continue
        parent = None
        if level > 0:
            parent = _text(properties, f"ADM{level - 1}_PCODE") or _text(properties, "parent_pcode")
            if parent is None:
                errors.append(FieldError(f"{where}.properties.ADM{level - 1}_PCODE", T_("missing parent P-code")))
                continue
            parent = parent.upper()
            if require_hierarchical_pcodes and not pcode.startswith(parent):
                errors.append(FieldError(f"{where}.properties.ADM{level}_PCODE", T_("P-code {pcode} does not extend its parent's P-code {parent}", pcode=pcode, parent=parent)))
                continue
        if pcode in seen:
            errors.append(FieldError(f"{where}.properties.ADM{level}_PCODE", T_("duplicate P-code {pcode} (first at features[{pcode2}])", pcode=pcode, pcode2=seen[pcode])))
            continue
        seen[pcode] = index
        alternates = tuple(
            dict.fromkeys(
                alt
                for key in (f"ADM{level}ALT1EN", f"ADM{level}ALT2EN", f"ADM{level}_REF", f"ADM{level}ALT1ZH")
                if (alt := _text(properties, key)) and alt != name
            )
        )
        areas.append(
            AdminArea(
                pcode=pcode,
                level=level,
                name_en=name,
                parent_pcode=parent,
                name_zh=_text(properties, f"ADM{level}_ZH"),
                alternate_names=alternates,
                geometry=dict(geometry) if isinstance(geometry, Mapping) else None,
            )
        )
    levels = {a.pcode: a.level for a in areas}
    known = dict(known_parents or {})
    for area in areas:
        if area.parent_pcode is None:
            continue
        parent_level = levels.get(area.parent_pcode, known.get(area.parent_pcode))
        feature_index = seen[area.pcode]
        if parent_level is None:
            errors.append(FieldError(f"features[{feature_index}].properties.ADM{area.level - 1}_PCODE", T_("unknown parent P-code {parent_pcode}", parent_pcode=area.parent_pcode)))
        elif parent_level != area.level - 1:
            errors.append(FieldError(f"features[{feature_index}].properties.ADM{area.level - 1}_PCODE", T_("parent {parent_pcode} is at level {parent_level}, expected {level}", parent_pcode=area.parent_pcode, parent_level=parent_level, level=area.level - 1)))
    if errors:
        errors.sort(key=lambda e: _feature_sort_key(e.path))
        raise InvalidInput(T_("boundaries refused: {count} problem(s)", count=len(errors)), fields=errors)
    return areas


def _feature_sort_key(path: str) -> int:
    match = re.match(r"features\[(\d+)\]", path)
    return int(match.group(1)) if match else -1


def load_cod_ab_file(path: str | Path, **kwargs: Any) -> list[AdminArea]:
    """Read and parse a GeoJSON file; see `parse_cod_ab`."""
    file_path = Path(path)
    if not file_path.exists():
        raise InvalidInput(T_("{file}: file not found", file=file_path.name))
    try:
        data = json.loads(file_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(T_("{file}: not valid UTF-8 (byte offset {detail})", file=file_path.name, detail=exc.start)) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(T_("{file}: line {detail}, column {detail2}: not valid JSON ({detail3})", file=file_path.name, detail=exc.lineno, detail2=exc.colno, detail3=exc.msg)) from None
    if not isinstance(data, dict):
        raise InvalidInput(T_("{file}: not a GeoJSON object", file=file_path.name))
    return parse_cod_ab(data, **kwargs)


def normalise_name(name: str) -> str:
    """A comparison key for place names: accents removed, case folded, punctuation and spaces dropped.

    "Maïduguri", "MAIDUGURI" and "Mai-duguri" share a key; Chinese characters are kept as they are
    (NFKC folds full-width forms).
    """
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in stripped.casefold() if ch.isalnum())


@dataclass(frozen=True)
class NameVariant:
    """A known other spelling of an area's name (a variant, an old name, another script)."""

    pcode: str
    name: str
    language: str = "en"


def read_name_variants(path: str | Path) -> list[NameVariant]:
    """Read a CSV of known name variants with columns ``pcode,name`` and optional ``language``."""
    from passage.core.files import read_csv_rows

    _header, rows = read_csv_rows(path, required=["pcode", "name"], optional=["language"], allow_extra=False)
    variants: list[NameVariant] = []
    errors: list[FieldError] = []
    for line, row in rows:
        pcode = row["pcode"].upper()
        problem = pcode_problem(pcode)
        if problem:
            errors.append(FieldError(f"line {line}, column pcode", problem))
            continue
        if not row["name"]:
            errors.append(FieldError(f"line {line}, column name", T_("empty name")))
            continue
        variants.append(NameVariant(pcode=pcode, name=row["name"], language=row.get("language") or "en"))
    if errors:
        raise InvalidInput(T_("{name}: name variants refused", name=Path(path).name), fields=errors)
    return variants


NameStatus = Literal["match", "variant", "mismatch", "unknown_pcode", "invalid_pcode"]


@dataclass(frozen=True)
class NameCheck:
    """The outcome of checking a reported name against a reported P-code."""

    status: NameStatus
    pcode: str
    expected_name: str | None = None
    suggested_pcodes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in ("match", "variant")


class Gazetteer:
    """An in-memory index of admin areas: look-ups by P-code, parents, roll-up to a level, name checks."""

    def __init__(self, areas: Iterable[AdminArea], variants: Iterable[NameVariant] = ()) -> None:
        self._areas: dict[str, AdminArea] = {}
        for area in areas:
            self._areas[area.pcode] = area
        self._names: dict[str, set[str]] = {}
        self._by_name: dict[tuple[int, str], set[str]] = {}
        for area in self._areas.values():
            for name in (area.name_en, area.name_zh, *area.alternate_names):
                if name:
                    self._add_name(area.pcode, name)
        for variant in variants:
            if variant.pcode in self._areas:
                self._add_name(variant.pcode, variant.name)

    def _add_name(self, pcode: str, name: str) -> None:
        key = normalise_name(name)
        if not key:
            return
        self._names.setdefault(pcode, set()).add(key)
        self._by_name.setdefault((self._areas[pcode].level, key), set()).add(pcode)

    def __contains__(self, pcode: object) -> bool:
        return pcode in self._areas

    def __len__(self) -> int:
        return len(self._areas)

    def get(self, pcode: str) -> AdminArea | None:
        return self._areas.get(pcode)

    def areas(self, level: int | None = None) -> list[AdminArea]:
        return sorted((a for a in self._areas.values() if level is None or a.level == level), key=lambda a: a.pcode)

    def ancestor_at(self, pcode: str, level: int) -> AdminArea | None:
        """The area at `level` that contains `pcode` (itself when already at that level), or None."""
        area = self._areas.get(pcode)
        while area is not None and area.level > level:
            area = self._areas.get(area.parent_pcode) if area.parent_pcode else None
        if area is None or area.level != level:
            return None
        return area

    def lineage(self, pcode: str) -> list[AdminArea]:
        """The area and its ancestors, from admin 0 down to the area itself."""
        chain: list[AdminArea] = []
        area = self._areas.get(pcode)
        while area is not None:
            chain.append(area)
            area = self._areas.get(area.parent_pcode) if area.parent_pcode else None
        return list(reversed(chain))

    def check_name(self, pcode: str, name: str) -> NameCheck:
        """Check a reported name against a reported P-code, accepting the official name and known variants.

        A mismatch suggests the P-codes at the same level whose names match, which is how a DTM data
        cleaner usually finds the swapped or mistyped code.
        """
        code = pcode.strip().upper()
        if pcode_problem(code):
            return NameCheck(status="invalid_pcode", pcode=code)
        area = self._areas.get(code)
        if area is None:
            return NameCheck(status="unknown_pcode", pcode=code)
        key = normalise_name(name)
        if key in (normalise_name(area.name_en), normalise_name(area.name_zh or "")) and key:
            return NameCheck(status="match", pcode=code, expected_name=area.name_en)
        if key and key in self._names.get(code, set()):
            return NameCheck(status="variant", pcode=code, expected_name=area.name_en)
        suggestions = tuple(sorted(self._by_name.get((area.level, key), set()) - {code}))
        return NameCheck(status="mismatch", pcode=code, expected_name=area.name_en, suggested_pcodes=suggestions)


def write_name_variants_template(path: str | Path, areas: Iterable[AdminArea]) -> None:
    """Write the alternate names of `areas` as a variants CSV (``pcode,name,language``) for curation."""
    from passage.core.files import atomic_output, csv_writer

    with atomic_output(path) as handle:
        writer = csv_writer(handle)
        writer.writerow(["pcode", "name", "language"])
        for area in areas:
            for alt in area.alternate_names:
                writer.writerow([area.pcode, alt, "en"])
