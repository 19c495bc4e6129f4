"""Demonstration data: organisations of both states and IOM, a user of every role, then each module's records.

A module adds its own demo records by defining `load_demo_records(session, *, context: DemoContext) -> list[str]`
in `passage/<module>/demo.py`; it is called once, in the order of `passage.MODULES`, after the people exist.
Loading is idempotent: a second run finds the demo administrator and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from passage import MODULES
from passage.core.db import analyze, unit_of_work
from passage.core.errors import InvalidInput
from passage.core.i18n import N_
from passage.core.settings import get_settings
from passage.security import service
from passage.security.actors import system_actor
from passage.security.models import Organisation, OrganisationLevel, Role, User

DEMO_LOADER = system_actor("demo")
"""Who creates the demo organisations and people (`passage demo load`, the test fixtures)."""

DEMO_PASSWORD = "passage-demo-2026"  # noqa: S105 - printed demo login, refused outside development

DEMO_ORGANISATIONS: list[dict[str, object]] = [
    {"key": "secretariat", "name": "Passage Secretariat", "name_zh": "Passage 秘书处", "country": "XX", "level": OrganisationLevel.INTERNATIONAL},
    {"key": "nl", "name": "Repatriation and Departure Service (NL)", "name_zh": "荷兰遣返和离境局", "country": "NL", "level": OrganisationLevel.NATIONAL, "parent": "secretariat"},
    {"key": "fr", "name": "Directorate General for Foreigners in France", "name_zh": "法国外国人总局", "country": "FR", "level": OrganisationLevel.NATIONAL, "parent": "secretariat"},
    {"key": "mps", "name": "Ministry of Public Security, Exit and Entry Administration", "name_zh": "公安部出入境管理局", "country": "CN", "level": OrganisationLevel.NATIONAL, "parent": "secretariat"},
    {"key": "fujian", "name": "Fujian Exit and Entry Administration Bureau", "name_zh": "福建省公安厅出入境管理局", "country": "CN", "level": OrganisationLevel.PROVINCIAL, "province": "CN-FJ", "parent": "mps"},
    {"key": "zhejiang", "name": "Zhejiang Exit and Entry Administration Bureau", "name_zh": "浙江省公安厅出入境管理局", "country": "CN", "level": OrganisationLevel.PROVINCIAL, "province": "CN-ZJ", "parent": "mps"},
    {"key": "guangdong", "name": "Guangdong Exit and Entry Administration Bureau", "name_zh": "广东省公安厅出入境管理局", "country": "CN", "level": OrganisationLevel.PROVINCIAL, "province": "CN-GD", "parent": "mps"},
    {"key": "consular_centre", "name": "Centre for Consular Assistance and Protection, MFA", "name_zh": "外交部领事保护中心", "country": "CN", "level": OrganisationLevel.NATIONAL, "parent": "secretariat"},
    {"key": "denpasar", "name": "Consulate-General in Denpasar", "name_zh": "驻登巴萨总领事馆", "country": "CN", "level": OrganisationLevel.MISSION, "parent": "consular_centre"},
    {"key": "jakarta", "name": "Embassy in Jakarta", "name_zh": "驻印度尼西亚大使馆", "country": "CN", "level": OrganisationLevel.MISSION, "parent": "consular_centre"},
    {"key": "iom", "name": "IOM China", "name_zh": "国际移民组织中国办事处", "country": "XX", "level": OrganisationLevel.INTERNATIONAL, "parent": "secretariat"},
]

DEMO_USERS: list[dict[str, object]] = [
    {"key": "admin", "username": "admin", "display_name": "Platform Administrator", "org": "secretariat", "roles": [Role.ADMIN], "totp": True},
    {"key": "nl_officer", "username": "nl.officer", "display_name": "Anna de Vries", "org": "nl", "roles": [Role.REQUESTING_OFFICER], "totp": True},
    {"key": "fr_officer", "username": "fr.officer", "display_name": "Julien Martin", "org": "fr", "roles": [Role.REQUESTING_OFFICER], "totp": True},
    {"key": "mps_central", "username": "mps.central", "display_name": "Wang Lei 王磊", "org": "mps", "roles": [Role.CENTRAL_OFFICER], "totp": True},
    {"key": "fj_officer", "username": "fj.officer", "display_name": "Lin Hui 林慧", "org": "fujian", "roles": [Role.PROVINCIAL_OFFICER], "totp": True},
    {"key": "zj_officer", "username": "zj.officer", "display_name": "Chen Jie 陈杰", "org": "zhejiang", "roles": [Role.PROVINCIAL_OFFICER], "totp": True},
    {"key": "gd_officer", "username": "gd.officer", "display_name": "Huang Min 黄敏", "org": "guangdong", "roles": [Role.PROVINCIAL_OFFICER], "totp": True},
    {"key": "iom_caseworker", "username": "iom.caseworker", "display_name": "Maria Rossi", "org": "iom", "roles": [Role.IOM_CASEWORKER], "totp": True},
    {"key": "consular_centre", "username": "consular.centre", "display_name": "Zhao Min 赵敏", "org": "consular_centre", "roles": [Role.CONSULAR_CENTRE], "totp": True},
    {"key": "denpasar_officer", "username": "denpasar.officer", "display_name": "Sun Tao 孙涛", "org": "denpasar", "roles": [Role.CONSULAR_OFFICER], "totp": True},
    {"key": "jakarta_officer", "username": "jakarta.officer", "display_name": "Li Na 李娜", "org": "jakarta", "roles": [Role.CONSULAR_OFFICER], "totp": True},
    {"key": "consular_gateway", "username": "consular.gateway", "display_name": "12308 gateway", "org": "consular_centre", "roles": [Role.CONSULAR_GATEWAY], "totp": True},
    {"key": "analyst", "username": "analyst", "display_name": "Data Analyst", "org": "iom", "roles": [Role.ANALYST], "totp": False},
]


def demo_totp_secret(username: str) -> str:
    """A fixed, per-user demo secret (160 bits, RFC 4226 §4 recommends at least 128), so printed logins keep working."""
    return base64.b32encode(hashlib.sha256(f"passage-demo:{username}".encode()).digest()[:20]).decode()


@dataclass
class DemoContext:
    organisations: dict[str, Organisation] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


def _create_people(session: Session) -> DemoContext:
    context = DemoContext()
    for spec in DEMO_ORGANISATIONS:
        parent = context.organisations.get(str(spec["parent"])) if spec.get("parent") else None
        organisation = service.create_organisation(
            session, actor=DEMO_LOADER, name=str(spec["name"]), name_zh=str(spec["name_zh"]), country=str(spec["country"]),
            level=spec["level"], province=spec.get("province"), parent_id=parent.id if parent else None,  # type: ignore[arg-type]
        )
        context.organisations[str(spec["key"])] = organisation
    for spec in DEMO_USERS:
        user = service.create_user(
            session, actor=DEMO_LOADER, username=str(spec["username"]), display_name=str(spec["display_name"]),
            organisation_id=context.organisations[str(spec["org"])].id, roles=list(spec["roles"]),  # type: ignore[call-overload]
            password=DEMO_PASSWORD, totp_secret=demo_totp_secret(str(spec["username"])) if spec["totp"] else None,
        )
        context.users[str(spec["key"])] = user
    return context


def demo_logins() -> list[str]:
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for spec in DEMO_USERS:
        roles = ", ".join(str(r) for r in spec["roles"])  # type: ignore[attr-defined]
        factor = f"TOTP key {demo_totp_secret(str(spec['username']))}" if spec["totp"] else "no second factor (aggregates only)"
        lines.append(f"  {spec['username']:<16} {roles:<20} {factor}")
    lines.append("Current second-factor code: .venv/bin/passage users totp-code USERNAME")
    return lines


def load_demo() -> list[str]:
    if get_settings().environment == "production":
        raise InvalidInput(N_("demo data cannot be loaded in production"))
    with unit_of_work() as session:
        if service.find_user(session, username="admin") is not None:
            # The shared password and the TOTP keys are printed once, when the demo is created, not at every start.
            return ["demo data already loaded (the logins were printed when it was created; "
                    "`passage users totp-code USERNAME` prints a current code)"]
        context = _create_people(session)
        summary = [f"loaded {len(context.organisations)} organisations and {len(context.users)} users"]
        for module in MODULES:
            if importlib.util.find_spec(f"passage.{module}") is None or importlib.util.find_spec(f"passage.{module}.demo") is None:
                continue
            loader = getattr(importlib.import_module(f"passage.{module}.demo"), "load_demo_records", None)
            if loader is not None:
                summary.extend(loader(session, context=context))
        analyze(session)  # a bulk load: planner statistics for every table (SQLite has none until ANALYZE runs)
    return [*summary, *demo_logins()]
