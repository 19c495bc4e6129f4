"""Demo: a simulated earthquake on Lombok, Indonesia, with 2,000 registered nationals.

Consular districts (the Consulate-General in Denpasar covers Bali, West and East Nusa Tenggara; the Embassy in
Jakarta the rest of Indonesia), two versions of the safety advice for Indonesia, 2,000 registrations (bulk
inserted, encrypted, one audit entry; a few entered one by one so that the identification engine flags
duplicates), help requests across channels and categories, the crisis over Lombok and east Bali, an evacuation
network (assembly points, buses to the airport, charter flights, a ship from Lembar), a plan booked and the first
check-ins. Synthetic people only; every name and number is generated.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from passage.consular import evacuation, geo, rules, service
from passage.consular.models import ConsularDistrict, LocationFix, Registration
from passage.consular.schemas import (
    AdviceIn,
    AssemblyPointIn,
    ContactIn,
    CrisisIn,
    HelpRequestIn,
    IdentityIn,
    LegIn,
    LocationIn,
    RegistrationIn,
    RequestActionIn,
    TriageIn,
)
from passage.core.models import utcnow
from passage.security import audit
from passage.security.actors import system_actor
from passage.security.demo import DemoContext

PEOPLE = 2000
DENPASAR_BOX = (114.4, -11.2, 125.3, -7.8)
"""Bali, West Nusa Tenggara and East Nusa Tenggara (min_lon, min_lat, max_lon, max_lat)."""
CRISIS_AREA = {"type": "Polygon", "coordinates": [[[115.45, -8.25], [116.75, -8.15], [116.8, -9.0], [115.45, -8.95], [115.45, -8.25]]]}
"""Lombok and the east of Bali."""
PLACES = [  # (city, latitude, longitude, spread in degrees, share)
    ("Kuta, Bali", -8.72, 115.17, 0.04, 0.30), ("Ubud, Bali", -8.51, 115.26, 0.04, 0.12), ("Amed, Bali", -8.35, 115.64, 0.04, 0.05),
    ("Candidasa, Bali", -8.51, 115.57, 0.03, 0.05), ("Mataram, Lombok", -8.58, 116.11, 0.04, 0.16), ("Senggigi, Lombok", -8.49, 116.04, 0.03, 0.10),
    ("Gili Trawangan", -8.35, 116.04, 0.01, 0.07), ("Kuta, Lombok", -8.89, 116.28, 0.03, 0.05), ("Jakarta", -6.2, 106.82, 0.08, 0.10),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


def _person(rng: random.Random, index: int) -> dict[str, Any]:
    roll = rng.random()
    cumulative = 0.0
    place = PLACES[-1]
    for candidate in PLACES:
        cumulative += candidate[4]
        if roll <= cumulative:
            place = candidate
            break
    city, lat, lon, spread, _share = place
    age = rng.choice([4, 9, 15, 22, 28, 31, 35, 42, 47, 55, 63, 71, 78])
    vulnerabilities = []
    if age < 12:
        vulnerabilities.append("child")
    if age >= 70:
        vulnerabilities.append("older_person")
    if rng.random() < 0.02:
        vulnerabilities.append("medical")
    if rng.random() < 0.01:
        vulnerabilities.append("disability")
    if 22 <= age <= 40 and rng.random() < 0.015:
        vulnerabilities.append("pregnant")
    birth = dt.date(2026 - age, rng.randint(1, 12), rng.randint(1, 28))
    return {
        "family_name": rng.choice(SURNAMES), "given_name": "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2]))),
        "sex": rng.choice("MF"), "birth_date": birth, "passport_number": f"E{rng.randint(10_000_000, 99_999_999)}",
        "phone": f"+86 1{rng.randint(30, 89)}{rng.randint(10_000_000, 99_999_999)}" if rng.random() < 0.97 else "",
        "email": f"traveller{index}@example.cn", "language": "zh" if rng.random() < 0.9 else "en",
        "city": city, "latitude": round(lat + rng.uniform(-spread, spread), 5), "longitude": round(lon + rng.uniform(-spread, spread), 5),
        "vulnerabilities": sorted(set(vulnerabilities)), "household": f"H{index // 3:04d}" if rng.random() < 0.5 else None,
    }


def setup_districts(session: Session, context: DemoContext) -> None:
    """Denpasar covers Bali and Nusa Tenggara (by box), Jakarta the whole of Indonesia (the fallback)."""
    service.set_district(session, actor=system_actor("demo"), mission_id=context.organisations["denpasar"].id, country="ID", admin_pcode="ID5", bbox=DENPASAR_BOX)
    service.set_district(session, actor=system_actor("demo"), mission_id=context.organisations["jakarta"].id, country="ID")


def _bulk_registrations(session: Session, context: DemoContext, rng: random.Random, today: dt.date) -> list[str]:
    centre = context.organisations["consular_centre"]
    district_rows = list(session.scalars(select(ConsularDistrict)))
    now = utcnow()
    rows, fixes = [], []
    for index in range(PEOPLE):
        p = _person(rng, index)
        mission_id = next((d.mission_id for d in district_rows if d.bbox and d.bbox[0] <= p["longitude"] <= d.bbox[2] and d.bbox[1] <= p["latitude"] <= d.bbox[3]),
                          context.organisations["jakarta"].id)
        registration_id = secrets.token_hex(16)
        location = {"latitude": p["latitude"], "longitude": p["longitude"], "city": p["city"], "address": ""}
        rows.append({
            "id": registration_id, "reference": f"REG-D{index:06d}", "mission_id": mission_id, "protecting_country": centre.country,
            "source": rng.choice(["app", "app", "app", "hotline", "web"]),
            "identity": {"family_name": p["family_name"], "given_name": p["given_name"], "sex": p["sex"], "birth_date": p["birth_date"].isoformat(),
                         "passport_number": p["passport_number"], "id_number": "", "nationality": "CN"},
            "contact": {"phone": p["phone"], "email": p["email"], "emergency_name": "", "emergency_phone": ""}, "language": p["language"],
            "passport_key": service._passport_key(p["passport_number"]), "birth_key": service._birth_key(p["birth_date"]),
            "purpose": rng.choice(["tourism"] * 8 + ["business", "study", "work"]), "destination_country": "ID",
            "arrival_on": today - dt.timedelta(days=rng.randint(1, 12)), "departure_on": today + dt.timedelta(days=rng.randint(2, 20)),
            "location": location, "location_updated_at": now, "grid_cell": geo.cell_of(p["latitude"], p["longitude"]),
            "vulnerabilities": p["vulnerabilities"], "priority_tier": rules.priority_tier(p["vulnerabilities"]), "household": p["household"],
            "duplicate_status": "none", "active": True, "version": 1, "created_at": now, "updated_at": now,
        })
        fixes.append({"id": secrets.token_hex(16), "registration_id": registration_id, "recorded_at": now, "source": "app", "position": location})
    session.execute(Registration.__table__.insert(), rows)  # type: ignore[attr-defined]
    session.execute(LocationFix.__table__.insert(), fixes)  # type: ignore[attr-defined]
    audit.record(session, actor=system_actor("demo"), action="demo_load", entity_type="consular_registration", entity_id=None, details={"registrations": len(rows)})
    return [r["id"] for r in rows]


def _duplicates(session: Session, context: DemoContext, today: dt.date) -> None:
    """The same traveller entered twice (once in characters, once by the hotline in pinyin): the engine flags it."""
    officer = context.users["denpasar_officer"]
    first = RegistrationIn(identity=IdentityIn(family_name="欧阳", given_name="明华", sex="F", birth_date=dt.date(1988, 3, 14), passport_number="E55501234"),
                           contact=ContactIn(phone="+86 13800000001"), destination_country="ID", arrival_on=today - dt.timedelta(days=3),
                           departure_on=today + dt.timedelta(days=9), location=LocationIn(latitude=-8.59, longitude=116.12, city="Mataram"), source="app")
    service.create_registration(session, actor=officer, data=first)
    second = first.model_copy(update={"identity": IdentityIn(family_name="OUYANG", given_name="MINGHUA", sex="F", birth_date=dt.date(1988, 3, 14),
                                                             passport_number="E 5550 1234"), "source": "hotline"})
    service.create_registration(session, actor=officer, data=second)


def _help_requests(session: Session, context: DemoContext, rng: random.Random, crisis_id: str, registration_ids: list[str]) -> int:
    officer = context.users["denpasar_officer"]
    centre = context.users["consular_centre"]
    now = utcnow()
    created = 0
    for index in range(40):
        category = rng.choice(["natural_disaster"] * 5 + ["lost_documents", "accident", "illness", "detention", "crime_victim", "missing_person"])
        urgency = rng.choice(["critical", "high", "high", "medium", "medium", "low"])
        data = HelpRequestIn(channel=rng.choice(["hotline", "hotline", "app", "walk_in", "partner"]), category=category, urgency=urgency, country="ID",
                             summary="演示用合成求助：来电者报告地震后的情况。",
                             registration_id=rng.choice(registration_ids[:1500]) if index % 3 else None,
                             caller_name="" if index % 3 else "Demo caller", caller_phone="" if index % 3 else "+62 361 000000",
                             crisis_id=crisis_id if category == "natural_disaster" else None,
                             received_at=now - dt.timedelta(hours=rng.uniform(0.2, 60)))
        request = service.create_help_request(session, actor=centre, data=data)
        created += 1
        if request.mission_id != officer.organisation_id:
            continue
        received = request.received_at
        if index % 4 != 0:
            service.triage(session, actor=officer, request_id=request.id, data=TriageIn(version=request.version, urgency=urgency),
                           now=received + dt.timedelta(minutes=rng.randint(5, 40)))
            service.assign(session, actor=centre, request_id=request.id, data=_assign(request.version), now=received + dt.timedelta(minutes=rng.randint(41, 80)))
            if index % 5 != 0:
                service.act_on_request(session, actor=officer, request_id=request.id,
                                       data=RequestActionIn(version=request.version, kind="contact", note="Reached by phone."),
                                       now=received + dt.timedelta(minutes=rng.randint(81, 600)))
            if index % 3 == 0:
                service.act_on_request(session, actor=officer, request_id=request.id, data=RequestActionIn(version=request.version, kind="start"),
                                       now=received + dt.timedelta(hours=11))
                service.act_on_request(session, actor=officer, request_id=request.id,
                                       data=RequestActionIn(version=request.version, kind="resolve", outcome=rng.choice(["assisted", "assisted", "referred", "evacuated"])),
                                       now=received + dt.timedelta(hours=12))
    return created


def _assign(version: int) -> Any:
    from passage.consular.schemas import AssignIn

    return AssignIn(version=version)


PLACE_NAMES_ZH = {
    "Lombok International Airport": "龙目国际机场", "Mataram sports hall": "马塔兰体育馆", "Senggigi school": "圣吉吉学校",
    "Lembar port": "伦巴尔港", "Amed village hall": "阿曼村会堂", "Denpasar airport (Bali)": "登巴萨机场（巴厘岛）",
    "Lombok airport": "龙目机场", "Guangzhou": "广州", "Shanghai": "上海", "Padang Bai, Bali": "巴厘岛八丹拜",
    "Denpasar airport": "登巴萨机场", "Kunming": "昆明",
}
"""The demo network's published names in Chinese (assembly points and leg destinations are shown to evacuees)."""


def _network(session: Session, context: DemoContext, crisis_id: str, today: dt.date) -> None:
    officer = context.users["denpasar_officer"]
    points = [
        ("LOP", "Lombok International Airport", -8.757, 116.276, 600), ("MTR", "Mataram sports hall", -8.583, 116.116, 500),
        ("SGG", "Senggigi school", -8.49, 116.045, 250), ("LMB", "Lembar port", -8.727, 116.074, 400), ("AMD", "Amed village hall", -8.347, 115.64, 150),
        ("DPS", "Denpasar airport (Bali)", -8.748, 115.167, 800),
    ]
    for code, name, lat, lon, capacity in points:
        service.add_assembly_point(session, actor=officer, crisis_id=crisis_id, data=AssemblyPointIn(
            code=code, name=name, translations={"name": {"zh_Hans": PLACE_NAMES_ZH[name]}}, latitude=lat, longitude=lon, capacity=capacity))
    start = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(6, 0), tzinfo=dt.UTC)
    legs = []
    for day in range(3):
        base = start + dt.timedelta(days=day)
        legs += [
            (f"BUS-MTR-{day + 1}", "bus", "MTR", "LOP", "Lombok airport", base, base + dt.timedelta(hours=1), 120),
            (f"BUS-SGG-{day + 1}", "bus", "SGG", "LOP", "Lombok airport", base + dt.timedelta(hours=1), base + dt.timedelta(hours=2, minutes=30), 60),
            (f"CF-LOP-{day + 1}a", "charter_flight", "LOP", None, "Guangzhou", base + dt.timedelta(hours=5), base + dt.timedelta(hours=11), 220),
            (f"CF-LOP-{day + 1}b", "charter_flight", "LOP", None, "Shanghai", base + dt.timedelta(hours=9), base + dt.timedelta(hours=15), 180),
            (f"SHIP-LMB-{day + 1}", "ship", "LMB", "DPS", "Padang Bai, Bali", base + dt.timedelta(hours=2), base + dt.timedelta(hours=7), 300),
            (f"BUS-AMD-{day + 1}", "bus", "AMD", "DPS", "Denpasar airport", base + dt.timedelta(hours=1), base + dt.timedelta(hours=4), 50),
            (f"CF-DPS-{day + 1}", "charter_flight", "DPS", None, "Kunming", base + dt.timedelta(hours=10), base + dt.timedelta(hours=16), 250),
        ]
    for code, mode, origin, destination, name, departs, arrives, seats in legs:
        service.add_leg(session, actor=officer, crisis_id=crisis_id, data=LegIn(
            code=code, mode=mode, origin_point=origin, destination_point=destination, destination_name=name,
            translations={"destination_name": {"zh_Hans": PLACE_NAMES_ZH[name]}}, departs_at=departs, arrives_at=arrives, seats=seats))


def load_demo_records(session: Session, *, context: DemoContext) -> list[str]:
    rng = random.Random(2018)
    today = dt.date.today()
    setup_districts(session, context)
    centre = context.users["consular_centre"]
    service.publish_advice(session, actor=centre, data=AdviceIn(
        country="ID", level=2, title_en="Volcanic activity on Bali: follow local instructions", title_zh="巴厘岛火山活动：请遵从当地指示",
        body_en="Mount Agung is active. Keep away from the exclusion zone and check flight status before travelling to the airport.",
        body_zh="阿贡火山处于活跃期。请远离禁区，前往机场前请确认航班状态。", effective_from=today - dt.timedelta(days=30)))
    service.publish_advice(session, actor=centre, data=AdviceIn(
        country="ID", level=4, title_en="Earthquake on Lombok: stay in open spaces and register your location", title_zh="龙目岛地震：请留在空旷地带并登记位置",
        body_en="A strong earthquake struck Lombok. Stay away from damaged buildings and the coast, keep your phone on, and answer messages from the consulate.",
        body_zh="龙目岛发生强烈地震。请远离受损建筑和海岸，保持手机畅通，并及时回复总领馆信息。", effective_from=today))
    registration_ids = _bulk_registrations(session, context, rng, today)
    _duplicates(session, context, today)
    crisis = service.create_crisis(session, actor=centre, data=CrisisIn(
        name_en="Lombok earthquake (simulated)", name_zh="龙目岛地震（模拟）", crisis_type="earthquake", country="ID", starts_on=today - dt.timedelta(days=1),
        area=CRISIS_AREA))
    contacts = service.affected_people(session, actor=centre, crisis_id=crisis.id, limit=300)
    statuses = ["reached", "safe", "safe", "needs_help", "missing", "not_contacted"]
    for item in contacts["items"][:80]:
        service.set_contact_status(session, actor=centre, crisis_id=crisis.id, registration_id=item["registration_id"], status=rng.choice(statuses))
    requests = _help_requests(session, context, rng, crisis.id, registration_ids)
    _network(session, context, crisis.id, today)
    plan = service.plan_for_crisis(session, actor=centre, crisis_id=crisis.id, parameters=evacuation.Parameters())
    booked = service.apply_plan(session, actor=centre, crisis_id=crisis.id, plan=plan)
    first_bus = next(leg for leg in service.legs(session, crisis=crisis) if leg.code == "BUS-MTR-1")
    manifest_people = service.manifest(session, actor=centre, crisis_id=crisis.id, leg_id=first_bus.id)[1]
    for person in manifest_people[:40]:
        service.check_in(session, actor=centre, crisis_id=crisis.id, leg_id=first_bus.id, registration_id=person["registration_id"], event="checked_in")
    batch = service.generate_messages(session, actor=centre, crisis_id=crisis.id, kind="alert")
    return [f"consular: {PEOPLE + 2} registrations, crisis {crisis.reference} with {contacts['total']} people in the area, {requests} help requests, "
            f"{booked} seats booked, {batch['messages']} messages in the outbox"]
