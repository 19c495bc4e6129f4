"""Demo operation for `make run`: a schematic COD-AB layer, three rounds of baseline and site assessments.

The boundary set is generated: three admin 1 areas of north-east Nigeria (Borno NG008, Adamawa NG002,
Yobe NG036) cut into a grid of admin 2 areas. The shapes are schematic rectangles, not the official
boundaries; admin 2 P-codes follow COD-AB NGA's scheme (state P-code + the LGA's alphabetical rank) but
are not checked against the official layer. Every figure is invented. Submissions go through the forms
engine (`forms.service.submit_entry`, the same validator as web entry) and are processed by
`service.process_form_submissions`, so the audit log and the consistency checks are real.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from shapely.geometry import box, mapping
from shapely.ops import unary_union
from sqlalchemy.orm import Session

from passage.dtm import service, vocab
from passage.dtm.geography import parse_cod_ab
from passage.dtm.xlsforms import DATA_DIR

OPERATION = "Nigeria (demo)"
NAMESPACE = uuid.UUID("6f1d3c52-3f7e-4d0e-9a51-3b7d2e0c9a10")

# admin 1: P-code, English, Chinese, bounding box (lon0, lat0, lon1, lat1), grid (columns, rows)
STATES: list[tuple[str, str, str, tuple[float, float, float, float], tuple[int, int]]] = [
    ("NG008", "Borno", "博尔诺州", (11.8, 10.2, 14.6, 13.7), (2, 4)),
    ("NG002", "Adamawa", "阿达马瓦州", (11.0, 7.5, 13.8, 10.2), (2, 2)),
    ("NG036", "Yobe", "约贝州", (9.6, 10.9, 11.8, 13.4), (2, 2)),
]
# admin 2 per state, in grid order (west to east, south to north): P-code, English, Chinese, alternate name
LGAS: dict[str, list[tuple[str, str, str | None, str | None]]] = {
    "NG008": [
        ("NG008011", "Gwoza", None, None), ("NG008003", "Bama", None, None),
        ("NG008016", "Konduga", None, None), ("NG008008", "Dikwa", None, None),
        ("NG008021", "Maiduguri", "迈杜古里", "Yerwa"), ("NG008013", "Jere", None, None),
        ("NG008001", "Abadam", None, None), ("NG008024", "Monguno", None, None),
    ],
    "NG002": [("NG002020", "Yola North", "约拉北", None), ("NG002014", "Mubi North", None, None), ("NG002013", "Michika", None, None), ("NG002010", "Madagali", None, None)],
    "NG036": [("NG036014", "Potiskum", None, None), ("NG036007", "Gujba", None, None), ("NG036003", "Damaturu", "达马图鲁", None), ("NG036006", "Geidam", None, None)],
}
ROUNDS = [(1, dt.date(2025, 1, 31)), (2, dt.date(2025, 2, 28)), (3, dt.date(2025, 3, 31))]
# displaced individuals per LGA in round 1; later rounds apply the trend below
BASE_IDPS = {
    "NG008011": 4200, "NG008003": 6100, "NG008016": 3900, "NG008008": 2800, "NG008021": 12600, "NG008013": 7400,
    "NG008001": 900, "NG008024": 5200, "NG002020": 3100, "NG002014": 2600, "NG002013": 1700, "NG002010": 2200,
    "NG036014": 1500, "NG036007": 2400, "NG036003": 3300, "NG036006": 1100,
}
TREND = {1: 1.0, 2: 1.06, 3: 1.11}
SITES = [
    # site id, name, LGA P-code, (lat, lon), type, managed by, base individuals
    ("NG-BOR-S001", "Bakassi camp", "NG008021", (12.60, 13.10), "camp", "government", 8400),
    ("NG-BOR-S002", "Dalori II", "NG008013", (12.55, 14.10), "camp", "ngo", 5200),
    ("NG-BOR-S003", "Bama GSS", "NG008003", (10.80, 14.05), "collective_centre", "government", 3100),
    ("NG-ADA-S001", "Malkohi", "NG002020", (8.30, 11.70), "collective_centre", "un_agency", 1200),
]


def boundaries() -> dict[str, Any]:
    """The generated COD-AB style FeatureCollection (admin 0, 1 and 2)."""
    features: list[dict[str, Any]] = []
    state_shapes = []
    for pcode, name, name_zh, (x0, y0, x1, y1), (columns, rows) in STATES:
        state_shapes.append(box(x0, y0, x1, y1))
        features.append({"type": "Feature", "properties": {"ADM1_PCODE": pcode, "ADM1_EN": name, "ADM1_ZH": name_zh, "ADM0_PCODE": "NG"}, "geometry": mapping(box(x0, y0, x1, y1))})
        width, height = (x1 - x0) / columns, (y1 - y0) / rows
        for index, (lga, lga_name, lga_zh, alternate) in enumerate(LGAS[pcode]):
            column, row = index % columns, index // columns
            cell = box(round(x0 + column * width, 4), round(y0 + row * height, 4), round(x0 + (column + 1) * width, 4), round(y0 + (row + 1) * height, 4))
            properties: dict[str, Any] = {"ADM2_PCODE": lga, "ADM2_EN": lga_name, "ADM1_PCODE": pcode}
            if lga_zh:
                properties["ADM2_ZH"] = lga_zh
            if alternate:
                properties["ADM2ALT1EN"] = alternate
            features.append({"type": "Feature", "properties": properties, "geometry": mapping(cell)})
    country = {"type": "Feature", "properties": {"ADM0_PCODE": "NG", "ADM0_EN": "Nigeria", "ADM0_ZH": "尼日利亚"}, "geometry": mapping(unary_union(state_shapes))}
    return {"type": "FeatureCollection", "features": [country, *features]}


def _breakdown(total: int) -> dict[str, int]:
    # Roughly the age and sex profile of DTM Nigeria round reports: many children, more women than men.
    shares = {"m_under1": 0.02, "m_1_5": 0.08, "m_6_17": 0.13, "m_18_59": 0.19, "m_60plus": 0.03,
              "f_under1": 0.02, "f_1_5": 0.08, "f_6_17": 0.14, "f_18_59": 0.25, "f_60plus": 0.06}
    groups = {name: int(total * share) for name, share in shares.items()}
    groups["f_18_59"] += total - sum(groups.values())
    return {name: groups[name] for name in vocab.BREAKDOWN_FIELDS}


def _lga_lookup() -> dict[str, tuple[str, str, str]]:
    """LGA P-code -> (LGA name, state P-code, state name)."""
    states = {pcode: name for pcode, name, _zh, _box, _grid in STATES}
    return {lga: (name, state, states[state]) for state, lgas in LGAS.items() for lga, name, _zh, _alt in lgas}


def baseline_entry(lga: str, number: int, when: dt.date) -> dict[str, Any]:
    name, state, state_name = _lga_lookup()[lga]
    individuals = int(BASE_IDPS[lga] * TREND[number])
    if lga == "NG008001" and number == 3:
        individuals = 2400  # a jump the outlier check flags against round 2
    households = round(individuals / 5.4)
    groups = _breakdown(individuals)
    if lga == "NG036006" and number == 2:
        groups["m_6_17"] += 12  # a breakdown that does not sum to the total: flagged, stored
    if lga == "NG008013" and number == 3:
        name = "Konduga"  # the neighbouring LGA's name beside Jere's P-code: flagged
    origin = "NG008001" if state == "NG008" else "NG008011"
    data: dict[str, Any] = {
        "assessment_date": (when - dt.timedelta(days=10)).isoformat(),
        "location/assessment_level": "2",
        "location/admin1_pcode": state,
        "location/admin1_name": state_name,
        "location/admin2_pcode": lga,
        "location/admin2_name": name,
        "idps/idp_present": "yes",
        "idps/idp_households": str(households),
        "idps/idp_individuals": str(individuals),
        "idps/avg_household_size": "5.4",
        "idps/displacement_reasons": "conflict" if lga.startswith("NG008") or number == 1 else "conflict flood",
        "idps/origin_admin2_pcode": origin,
        "returnees/returnees_present": "yes" if number > 1 else "no",
    }
    if number > 1:
        data["returnees/returnee_households"] = str(individuals // 60)
        data["returnees/returnee_individuals"] = str(individuals // 12)
    data.update({f"idp_demography/{group}": str(count) for group, count in groups.items()})
    return data


def site_entry(site: tuple[str, str, str, tuple[float, float], str, str, int], number: int, when: dt.date) -> dict[str, Any]:
    code, name, lga, (lat, lon), site_type, agency, base = site
    lga_name, state, state_name = _lga_lookup()[lga]
    individuals = int(base * TREND[number])
    households = round(individuals / 5.0)
    data: dict[str, Any] = {
        "assessment_date": (when - dt.timedelta(days=8)).isoformat(),
        "site_id": code,
        "site_name": name,
        "location/admin1_pcode": state,
        "location/admin1_name": state_name,
        "location/admin2_pcode": lga,
        "location/admin2_name": lga_name,
        "gps": f"{lat} {lon} 0 10",
        "site_profile/site_type": site_type,
        "site_profile/site_classification": "planned" if site_type == "camp" else "spontaneous",
        "site_profile/site_management": "yes",
        "site_profile/management_agency": agency,
        "population/idp_households": str(households),
        "population/idp_individuals": str(individuals),
        "population/avg_household_size": "5",
        "needs/priority_needs": "health shelter_nfi" if number < 3 else "shelter_nfi transport",
        "access/site_access": "partial",
        "access/access_constraints": "flooding" if number == 3 else "insecurity",
    }
    data.update({f"site_demography/{group}": str(count) for group, count in _breakdown(individuals).items()})
    data.update({f"services/service_{sector.name}": ("partial" if i % 3 else "none") for i, sector in enumerate(vocab.MCOF_SECTORS)})
    return data


def load_demo_records(session: Session, *, context: Any) -> list[str]:
    """Boundaries, the DTM forms (owned by IOM), three rounds of baseline and site data, processed."""
    from passage.forms import service as forms_service

    analyst = context.users["analyst"]
    enumerator = context.users.get("iom_caseworker", analyst)
    areas = parse_cod_ab(boundaries())
    service.load_areas(session, actor=analyst, areas=areas, source="demo: schematic north-east Nigeria (generated)")
    for form_id in ("dtm_baseline_assessment", "dtm_site_assessment", "dtm_flow_monitoring"):
        forms_service.load_form(session, actor=analyst, content=(DATA_DIR / f"{form_id}.xlsx").read_bytes(), filename=f"{form_id}.xlsx")
    totals = {"baseline": 0, "site": 0, "issues": 0}
    for number, reporting_date in ROUNDS:
        start = reporting_date.replace(day=1)
        round_ = service.create_round(session, actor=analyst, operation=OPERATION, number=number, reporting_date=reporting_date, period_start=start, period_end=reporting_date, title=f"Mobility tracking round {number}")
        for lga in BASE_IDPS:
            forms_service.submit_entry(session, actor=enumerator, form_ref="dtm_baseline_assessment", data=baseline_entry(lga, number, reporting_date), submission_uuid=str(uuid.uuid5(NAMESPACE, f"ba:{number}:{lga}")))
        for site in SITES:
            forms_service.submit_entry(session, actor=enumerator, form_ref="dtm_site_assessment", data=site_entry(site, number, reporting_date), submission_uuid=str(uuid.uuid5(NAMESPACE, f"sa:{number}:{site[0]}")))
        for component in ("baseline", "site"):
            result = service.process_form_submissions(session, actor=analyst, round_id=round_.id, component=component)  # type: ignore[arg-type]
            totals[component] += result.recorded
            totals["issues"] += len(result.issues)
    return [f"dtm: {len(areas)} areas, {len(ROUNDS)} rounds of {OPERATION}, {totals['baseline']} baseline and {totals['site']} site figures ({totals['issues']} consistency issues flagged)"]
