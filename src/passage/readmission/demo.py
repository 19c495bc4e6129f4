"""Realistic, entirely synthetic demo data: ~30 cases in every state, 2 requesting states
(Netherlands, France), the MPS central authority and 3 provincial bureaus (Fujian, Zhejiang,
Guangdong - the emigration provinces named at the 2015 workshop), and users for each role.

The output is plain data. Each case carries the *timeline of actions* that produced its state;
wave 2 loads a case by replaying that timeline through the service (so permissions, audit and
deadlines apply exactly as for real work). Timelines are built with `workflow.decide` and dates
with `rules`, so every one is legal under the EU–China draft arrangement by construction.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from passage.readmission import rules
from passage.readmission.agreements import get_preset
from passage.readmission.workflow import INITIAL_STATE, Role, Side, State, decide

ORGANISATIONS: tuple[dict[str, str], ...] = (
    {"id": "nl-dtv", "name": "Repatriation and Departure Service (DT&V), Netherlands", "country": "NL", "side": "requesting"},
    {"id": "fr-dgef", "name": "Directorate General for Foreigners in France, Ministry of the Interior", "country": "FR", "side": "requesting"},
    {"id": "cn-mps-eea", "name": "Ministry of Public Security, Exit and Entry Administration", "country": "CN", "side": "requested_central"},
    {"id": "cn-fj-eea", "name": "Fujian Provincial Exit and Entry Administration Bureau", "country": "CN", "side": "province", "province": "fujian"},
    {"id": "cn-zj-eea", "name": "Zhejiang Provincial Exit and Entry Administration Bureau", "country": "CN", "side": "province", "province": "zhejiang"},
    {"id": "cn-gd-eea", "name": "Guangdong Provincial Exit and Entry Administration Bureau", "country": "CN", "side": "province", "province": "guangdong"},
    {"id": "iom-china", "name": "IOM Liaison Office in China", "country": "CN", "side": "iom"},
    {"id": "passage-admin", "name": "Platform administration", "country": "EU", "side": "admin"},
)

PROVINCE_ORGS = {"fujian": "cn-fj-eea", "zhejiang": "cn-zj-eea", "guangdong": "cn-gd-eea"}
REQUESTING_ORGS = {"NL": "nl-dtv", "FR": "fr-dgef"}
CENTRAL_ORG = "cn-mps-eea"

_PLACES = {
    "fujian": ["Fuqing", "Changle", "Lianjiang", "Mingxi"],
    "zhejiang": ["Wenzhou", "Qingtian", "Rui'an", "Wencheng"],
    "guangdong": ["Taishan", "Guangzhou", "Kaiping", "Enping"],
}
_SURNAMES = ["Chen", "Lin", "Wang", "Zheng", "Huang", "Wu", "Liu", "Zhang", "Ye", "Hu", "Pan", "Jiang"]
_GIVEN = ["Wei", "Jianhua", "Xiaoling", "Mingming", "Guoqiang", "Li", "Yan", "Haitao", "Xiuying", "Jun", "Fang", "Zhiwei"]
_AIRPORTS = {"fujian": ("FOC", "Fuzhou Changle"), "zhejiang": ("WNZ", "Wenzhou Longwan"), "guangdong": ("CAN", "Guangzhou Baiyun")}

_READMISSION_PATHS: dict[State, tuple[str, ...]] = {
    State.draft: (),
    State.cancelled: ("cancel",),
    State.submitted: ("submit",),
    State.acknowledged: ("submit", "acknowledge"),
    State.withdrawn: ("submit", "acknowledge", "withdraw"),
    State.routed: ("submit", "acknowledge", "route"),
    State.identity_verified: ("submit", "acknowledge", "route", "verify_identity"),
    State.identity_not_verified: ("submit", "acknowledge", "route", "record_not_verified"),
    State.refused: ("submit", "acknowledge", "route", "record_not_verified", "refuse"),
    State.deemed_accepted: ("submit", "acknowledge", "route", "deem_accepted"),
    State.accepted: ("submit", "acknowledge", "route", "verify_identity", "accept"),
    State.travel_document_issued: ("submit", "acknowledge", "route", "verify_identity", "accept", "issue_travel_document"),
    State.transfer_scheduled: ("submit", "acknowledge", "route", "verify_identity", "accept", "issue_travel_document", "schedule_transfer"),
    State.transferred: ("submit", "acknowledge", "route", "verify_identity", "accept", "issue_travel_document", "schedule_transfer", "confirm_transfer"),
}
_TRANSIT_PATHS: dict[State, tuple[str, ...]] = {
    State.transit_draft: (),
    State.transit_submitted: ("submit_transit",),
    State.transit_consented: ("submit_transit", "consent_transit"),
    State.transit_refused: ("submit_transit", "refuse_transit"),
    State.transit_completed: ("submit_transit", "consent_transit", "complete_transit"),
}
# how many demo cases end in each state (30 in all)
_COUNTS: dict[State, int] = {
    State.draft: 2, State.cancelled: 1, State.submitted: 2, State.acknowledged: 2, State.withdrawn: 1, State.routed: 2,
    State.identity_verified: 2, State.identity_not_verified: 1, State.refused: 2, State.deemed_accepted: 2, State.accepted: 1,
    State.travel_document_issued: 2, State.transfer_scheduled: 2, State.transferred: 3,
    State.transit_draft: 1, State.transit_submitted: 1, State.transit_consented: 1, State.transit_refused: 1, State.transit_completed: 1,
}
_REFUSAL_REASONS = ["not_a_national", "identity_not_established", "insufficient_evidence"]


@dataclass
class DemoData:
    organisations: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"organisations": self.organisations, "users": self.users, "cases": self.cases}


def _users() -> list[dict[str, Any]]:
    users = []
    for code, org in REQUESTING_ORGS.items():
        users.append({"username": f"officer.{code.lower()}", "role": Role.requesting_officer.value, "organisation_id": org})
    users.append({"username": "central.mps", "role": Role.central_officer.value, "organisation_id": CENTRAL_ORG})
    for province, org in PROVINCE_ORGS.items():
        users.append({"username": f"bureau.{province}", "role": Role.provincial_officer.value, "organisation_id": org})
    users.append({"username": "caseworker.iom", "role": Role.iom_caseworker.value, "organisation_id": "iom-china"})
    users.append({"username": "analyst.iom", "role": Role.analyst.value, "organisation_id": "iom-china"})
    users.append({"username": "admin", "role": Role.admin.value, "organisation_id": "passage-admin"})
    return users


def _actor(role: Role, side: Side, case: dict[str, Any]) -> dict[str, str]:
    if side is Side.requesting:
        return {"username": f"officer.{case['requesting_state'].lower()}", "role": role.value}
    if side is Side.requested_central:
        return {"username": "central.mps", "role": role.value}
    if side is Side.routed_province:
        return {"username": f"bureau.{case['province']}", "role": role.value}
    return {"username": "system", "role": Role.system.value}


def _pick_actor(action: str, state: State, procedure: str) -> tuple[Role, Side]:
    from passage.readmission.workflow import FLOWS

    transition = next(t for t in FLOWS[procedure] if t.action == action and state in t.sources)
    order = [Side.requesting, Side.requested_central, Side.routed_province, Side.system]
    side = next(s for s in order if s in transition.sides)
    role_order = [Role.requesting_officer, Role.central_officer, Role.provincial_officer, Role.system, Role.admin]
    role = next(r for r in role_order if r in transition.roles)
    return role, side


def demo_dataset(*, today: dt.date = dt.date(2025, 3, 3), seed: int = 2015) -> DemoData:
    """The demo data set; deterministic for a given `today` and `seed`."""
    rng = random.Random(seed)
    china = get_preset("eu-china-draft").latest()
    cal = rules.calendar_for(china)
    data = DemoData(organisations=[dict(o) for o in ORGANISATIONS], users=_users())
    number = 0
    for target, count in _COUNTS.items():
        for _ in range(count):
            number += 1
            procedure = "transit" if target.value.startswith("transit_") else "readmission"
            path = (_TRANSIT_PATHS if procedure == "transit" else _READMISSION_PATHS)[target]
            requesting_state = "NL" if number % 2 else "FR"
            province = list(PROVINCE_ORGS)[number % 3]
            # start far enough back for the whole path to have happened, later for open cases
            start = today - dt.timedelta(days=rng.randint(12, 30) + 14 * len(path))
            case = _new_case(rng, number, procedure, requesting_state, province)
            _replay(rng, case, path, start, today, china, cal)
            data.cases.append(case)
    return data


def _new_case(rng: random.Random, number: int, procedure: str, requesting_state: str, province: str) -> dict[str, Any]:
    sex = rng.choice(["F", "M"])
    birth = dt.date(rng.randint(1970, 2006), rng.randint(1, 12), rng.randint(1, 28))
    application = {
        "surname": rng.choice(_SURNAMES).upper(),
        "given_names": rng.choice(_GIVEN),
        "aliases": [] if number % 4 else [rng.choice(_SURNAMES).upper() + " " + rng.choice(_GIVEN)],
        "date_of_birth": birth.isoformat(),
        "place_of_birth": rng.choice(_PLACES[province]),
        "sex": sex,
        "nationality": "CHN",
        "father_name": rng.choice(_SURNAMES) + " " + rng.choice(_GIVEN),
        "mother_name": rng.choice(_SURNAMES) + " " + rng.choice(_GIVEN),
        "languages": rng.choice([["zh-min-nan", "zh"], ["wuu", "zh"], ["yue"], ["zh"]]),
        "civil_status": rng.choice(["single", "married", "divorced"]),
        "last_addresses_in_requested_state": [f"{rng.choice(_PLACES[province])}, {province.title()}"],
        "physical_description": rng.choice(["height 1.65 m, brown eyes", "height 1.72 m, scar on left hand", "height 1.58 m"]),
        "photo": f"demo-photo-{number:03d}.png",
        "special_needs": rng.choice(["none", "none", "diabetes medication", "needs interpreter"]),
        "evidence": [{"evidence_type": rng.choice(["passport", "resident_id_card", "hukou_extract", "own_statement"]), "file": f"demo-evidence-{number:03d}.pdf"}],
    }
    return {
        "reference": f"{requesting_state}-DEMO-{number:04d}",
        "procedure": procedure,
        "agreement_id": "transit-template" if procedure == "transit" else "eu-china-draft",
        "agreement_version": 1,
        "accelerated": number % 9 == 0 and procedure == "readmission",
        "requesting_state": requesting_state,
        "requesting_org_id": REQUESTING_ORGS[requesting_state],
        "requested_central_org_id": CENTRAL_ORG,
        "province": province,
        "application": application,
        "holds": [],
        "flags": [{"kind": "unaccompanied_minor", "note": "under 18 at application"}] if birth.year >= 2006 else [],
        "timeline": [],
        "state": INITIAL_STATE[procedure].value,
    }


def _payload(rng: random.Random, action: str, case: dict[str, Any], day: dt.date) -> dict[str, Any]:
    province = case["province"]
    code, _ = _AIRPORTS[province]
    payloads: dict[str, dict[str, Any]] = {
        "route": {"province_org_id": PROVINCE_ORGS[province], "province_code": province},
        "verify_identity": {"method": rng.choice(["registry_match", "interview", "family_contact"])},
        "record_not_verified": {"method": "registry_match", "reason": "no registry record matches"},
        "refuse": {"reason": rng.choice(_REFUSAL_REASONS)},
        "withdraw": {"reason": "person left voluntarily with AVRR"},
        "issue_travel_document": {"document_number": f"LXZ{rng.randint(100000, 999999)}"},
        "schedule_transfer": {"transfer_date": (day + dt.timedelta(days=rng.randint(7, 20))).isoformat(), "place_kind": "airport", "place_code": code, "flight": f"{rng.choice(['MU', 'CZ', 'CA'])}{rng.randint(100, 999)}", "escorts": 2},
        "consent_transit": {"border_crossing_point": "PEK"},
        "refuse_transit": {"reason": "onward travel not assured"},
    }
    return payloads.get(action, {})


def _replay(rng: random.Random, case: dict[str, Any], path: tuple[str, ...], start: dt.date, today: dt.date, version: Any, cal: Any) -> None:
    procedure = case["procedure"]
    state = State(case["state"])
    day = start
    dates: dict[str, dt.date] = {}
    for action in path:
        if action == "deem_accepted":
            reply = rules.reply_deadline(version, dates["acknowledged_on"], accelerated=case["accelerated"])
            day = reply.due + dt.timedelta(days=1)
        elif action == "confirm_transfer":
            day = dt.date.fromisoformat(case["transfer"]["transfer_date"])
        elif action in {"verify_identity", "record_not_verified"}:
            day = cal.add_working_days(day, rng.randint(2, 8))
        elif action not in {"submit", "submit_transit", "cancel", "cancel_transit"} or day != start:
            day = cal.add_working_days(day, rng.randint(1, 3))
        day = min(day, today)
        role, side = _pick_actor(action, state, procedure)
        payload = _payload(rng, action, case, day)
        decision = decide(procedure, state, action, role=role, side=side, payload=payload)
        case["timeline"].append({"action": action, "on": day.isoformat(), "actor": _actor(role, side, case), "payload": payload, "from": state.value, "to": decision.to_state.value})
        state = decision.to_state
        if action in {"acknowledge", "submit_transit"}:
            dates["acknowledged_on"] = day
        if action == "schedule_transfer":
            case["transfer"] = payload
    case["state"] = state.value
    if state is State.travel_document_issued and int(case["reference"][-4:]) % 2 == 0:
        case["holds"].append({"kind": "medical", "reason": "fitness to travel under assessment", "placed_on": today.isoformat(), "lifted_on": None})
    if state is State.transferred and int(case["reference"][-4:]) % 3 == 0:
        case["holds"].append({"kind": "pending_appeal", "reason": "appeal against return decision", "placed_on": start.isoformat(), "lifted_on": (start + dt.timedelta(days=20)).isoformat()})
    if state in {State.withdrawn, State.identity_not_verified}:
        case["flags"].append({"kind": "non_refoulement", "note": "asylum claim pending review"})


# --- loading the demo set through the service (make run) -------------------------------------------------

_DEMO_USER_KEYS = {
    "officer.nl": "nl_officer", "officer.fr": "fr_officer", "central.mps": "mps_central",
    "bureau.fujian": "fj_officer", "bureau.zhejiang": "zj_officer", "bureau.guangdong": "gd_officer",
}
_DEMO_PDF = b"%PDF-1.4\n% Passage synthetic demo evidence (no real person)\n%%EOF\n"
_DEMO_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a0e5b3a70000000049454e44ae426082")


def load_demo_records(session: Any, *, context: Any, today: dt.date | None = None) -> list[str]:
    """Replay `demo_dataset()` through the service as the demo users, so audit, scope and deadlines are real.

    The data set is dated relative to `today` (default: the current UTC date) so that open cases have
    live deadlines rather than being years overdue."""
    from passage.readmission import service

    day = today or service.today_utc()
    data = demo_dataset(today=day)
    users = context.users
    loaded: dict[str, int] = {}
    for spec in data.cases:
        timeline = spec["timeline"]
        start = dt.date.fromisoformat(timeline[0]["on"]) if timeline else day - dt.timedelta(days=5)
        officer = users["nl_officer" if spec["requesting_state"] == "NL" else "fr_officer"]
        application = {k: v for k, v in spec["application"].items() if k not in {"photo", "evidence", "aliases"}}
        aliases = spec["application"]["aliases"]
        case = service.create_draft(session, actor=officer, agreement_id=spec["agreement_id"], procedure=spec["procedure"], accelerated=spec["accelerated"],
                                    application=application if spec["procedure"] == "readmission" else {k: application[k] for k in ("surname", "given_names", "sex", "nationality")},
                                    aliases_none=not aliases, today=start)
        if spec["procedure"] == "readmission":
            for alias in aliases:
                service.add_alias(session, actor=officer, case_id=case.id, expected_version=None, alias=alias, today=start)
            service.set_photo(session, actor=officer, case_id=case.id, expected_version=None, data=_DEMO_PNG, declared_media_type="image/png", today=start)
            for document in spec["application"]["evidence"]:
                service.upload_evidence(session, actor=officer, case_id=case.id, expected_version=None, evidence_type=document["evidence_type"], data=_DEMO_PDF, declared_media_type="application/pdf", filename=document["file"], today=start)
        for flag in spec["flags"]:
            service.set_flag(session, actor=officer, case_id=case.id, expected_version=None, kind=flag["kind"], note=flag["note"], today=start)
        steps: list[tuple[dt.date, int, dict[str, Any]]] = [(dt.date.fromisoformat(step["on"]), i, step) for i, step in enumerate(timeline)]
        for hold in spec["holds"]:
            placed = dt.date.fromisoformat(hold["placed_on"])
            steps.append((placed, -1 if hold["lifted_on"] else len(timeline), {"hold": hold}))
            if hold["lifted_on"]:
                steps.append((dt.date.fromisoformat(hold["lifted_on"]), -1, {"lift": hold}))
        holds: dict[int, str] = {}
        for on, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
            if "hold" in step:
                row = service.place_hold(session, actor=officer, case_id=case.id, expected_version=None, kind=step["hold"]["kind"], reason=step["hold"]["reason"], today=on)
                holds[id(step["hold"])] = row.id
            elif "lift" in step:
                service.lift_hold(session, actor=officer, case_id=case.id, expected_version=None, hold_id=holds[id(step["lift"])], reason="decision received", today=on)
            else:
                actor = service.DEADLINE_JOB if step["actor"]["username"] == "system" else users[_DEMO_USER_KEYS[step["actor"]["username"]]]
                payload = dict(step["payload"])
                if step["action"] == "route":
                    payload["province_org_id"] = context.organisations[spec["province"]].id
                service.transition(session, actor=actor, case_id=case.id, expected_version=None, action=step["action"], payload=payload, today=on)
        loaded[case.state] = loaded.get(case.state, 0) + 1
    summary = ", ".join(f"{count} {state}" for state, count in sorted(loaded.items()))
    return [f"readmission: loaded {len(data.cases)} demo cases through the service ({summary})"]
