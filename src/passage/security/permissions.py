"""Permissions, the role matrix, and the rule that every route declares what it needs.

Deny by default: a role has exactly the permissions listed here; a route without a declared permission
fails `tests/security/test_routes.py`. Sensitive field groups (biometrics, health, asylum) have their own
read permissions (ASVS 4.0.3 V4.1.3 least privilege, V8.3.4 sensitive data identification).
"""

from __future__ import annotations

import enum

from passage.core.i18n import N_, define_labels
from passage.security.models import OrganisationLevel, Role


class Permission(enum.StrEnum):
    # self-service and administration
    PROFILE = "profile"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"
    KEYS_MANAGE = "keys:manage"
    # readmission
    AGREEMENTS_READ = "agreements:read"
    AGREEMENTS_MANAGE = "agreements:manage"
    READMISSION_READ = "readmission:read"
    READMISSION_CREATE = "readmission:create"
    READMISSION_ACT = "readmission:act"
    READMISSION_STATS = "readmission:stats"
    # identification
    IDENTITY_SEARCH = "identity:search"
    IDENTITY_DECIDE = "identity:decide"
    IDENTITY_INDEX_MANAGE = "identity:index"
    # sensitive field groups
    BIOMETRICS_READ = "sensitive:biometrics"
    BIOMETRICS_ENROL = "biometrics:enrol"
    HEALTH_READ = "sensitive:health"
    ASYLUM_READ = "sensitive:asylum"
    # AVRR
    AVRR_READ = "avrr:read"
    AVRR_MANAGE = "avrr:manage"
    AVRR_STATS = "avrr:stats"
    # forms and DTM
    FORMS_READ = "forms:read"
    FORMS_MANAGE = "forms:manage"
    FORMS_SUBMIT = "forms:submit"
    DTM_READ = "dtm:read"
    DTM_MANAGE = "dtm:manage"
    # mobility analytics
    MOBILITY_READ = "mobility:read"
    MOBILITY_RUN = "mobility:run"
    # the Dialogue
    DIALOGUE_READ = "dialogue:read"
    DIALOGUE_MANAGE = "dialogue:manage"
    DIALOGUE_CONTACTS_READ = "dialogue:contacts"
    # consular protection
    CONSULAR_READ = "consular:read"
    CONSULAR_MANAGE = "consular:manage"
    CONSULAR_SUBMIT = "consular:submit"
    """Submit registrations and help requests (the app, the hotline's system, a mission)."""
    CONSULAR_EVACUATE = "consular:evacuate"
    CONSULAR_ADVICE = "consular:advice"
    """Publish safety advice versions."""
    CONSULAR_OUTBOX = "consular:outbox"
    """Pull generated messages for sending (a message gateway)."""
    CONSULAR_STATS = "consular:stats"


P = Permission

ROLE_LABELS: dict[Role, str] = {
    Role.REQUESTING_OFFICER: N_("Requesting-state officer"),
    Role.CENTRAL_OFFICER: N_("Central-authority officer"),
    Role.PROVINCIAL_OFFICER: N_("Provincial officer"),
    Role.IOM_CASEWORKER: N_("IOM caseworker"),
    Role.ANALYST: N_("Analyst"),
    Role.ADMIN: N_("Administrator"),
    Role.CONSULAR_OFFICER: N_("Consular officer (mission)"),
    Role.CONSULAR_CENTRE: N_("Consular protection centre officer"),
    Role.CONSULAR_GATEWAY: N_("Consular gateway (system account)"),
}
"""English labels of the roles (translated where shown)."""

OUTCOME_LABELS: dict[str, str] = {"ok": N_("ok"), "failed": N_("failed"), "refused": N_("refused"), "skipped": N_("skipped")}

LEVEL_LABELS: dict[str, str] = {"national": N_("national"), "provincial": N_("provincial"), "international": N_("international"), "mission": N_("mission abroad")}
"""English labels of the organisation levels."""

define_labels("security.role", {role.value: text for role, text in ROLE_LABELS.items()})
define_labels("security.outcome", OUTCOME_LABELS)
define_labels("security.organisation_level", LEVEL_LABELS)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.REQUESTING_OFFICER: frozenset(
        {P.PROFILE, P.AGREEMENTS_READ, P.READMISSION_READ, P.READMISSION_CREATE, P.READMISSION_ACT, P.READMISSION_STATS,
         P.BIOMETRICS_ENROL, P.BIOMETRICS_READ, P.HEALTH_READ, P.ASYLUM_READ, P.DIALOGUE_READ, P.FORMS_READ}
    ),
    Role.CENTRAL_OFFICER: frozenset(
        {P.PROFILE, P.AGREEMENTS_READ, P.READMISSION_READ, P.READMISSION_ACT, P.READMISSION_STATS, P.IDENTITY_SEARCH,
         P.BIOMETRICS_READ, P.DIALOGUE_READ, P.FORMS_READ}
    ),
    Role.PROVINCIAL_OFFICER: frozenset(
        {P.PROFILE, P.AGREEMENTS_READ, P.READMISSION_READ, P.READMISSION_ACT, P.IDENTITY_SEARCH, P.IDENTITY_DECIDE,
         P.BIOMETRICS_READ, P.DIALOGUE_READ, P.FORMS_READ}
    ),
    Role.IOM_CASEWORKER: frozenset(
        {P.PROFILE, P.AGREEMENTS_READ, P.AVRR_READ, P.AVRR_MANAGE, P.AVRR_STATS, P.HEALTH_READ, P.FORMS_READ,
         P.FORMS_SUBMIT, P.DTM_READ, P.DIALOGUE_READ, P.DIALOGUE_MANAGE, P.DIALOGUE_CONTACTS_READ}
    ),
    Role.ANALYST: frozenset(
        {P.PROFILE, P.AGREEMENTS_READ, P.READMISSION_STATS, P.AVRR_STATS, P.FORMS_READ, P.FORMS_MANAGE, P.FORMS_SUBMIT,
         P.DTM_READ, P.DTM_MANAGE, P.MOBILITY_READ, P.MOBILITY_RUN, P.DIALOGUE_READ}
    ),
    Role.ADMIN: frozenset(
        {P.PROFILE, P.USERS_READ, P.USERS_MANAGE, P.AUDIT_READ, P.KEYS_MANAGE, P.IDENTITY_INDEX_MANAGE, P.AGREEMENTS_READ, P.AGREEMENTS_MANAGE,
         P.FORMS_READ, P.FORMS_MANAGE, P.DIALOGUE_READ, P.DIALOGUE_MANAGE}
    ),
    Role.CONSULAR_OFFICER: frozenset(
        {P.PROFILE, P.CONSULAR_READ, P.CONSULAR_MANAGE, P.CONSULAR_SUBMIT, P.CONSULAR_EVACUATE, P.CONSULAR_STATS,
         P.HEALTH_READ, P.FORMS_READ}
    ),
    Role.CONSULAR_CENTRE: frozenset(
        {P.PROFILE, P.CONSULAR_READ, P.CONSULAR_MANAGE, P.CONSULAR_SUBMIT, P.CONSULAR_EVACUATE, P.CONSULAR_ADVICE,
         P.CONSULAR_STATS, P.HEALTH_READ, P.FORMS_READ}
    ),
    Role.CONSULAR_GATEWAY: frozenset({P.PROFILE, P.CONSULAR_SUBMIT, P.CONSULAR_OUTBOX}),
}

ROLES_SEEING_PERSONAL_DATA: frozenset[Role] = frozenset(
    {Role.REQUESTING_OFFICER, Role.CENTRAL_OFFICER, Role.PROVINCIAL_OFFICER, Role.IOM_CASEWORKER, Role.ADMIN,
     Role.CONSULAR_OFFICER, Role.CONSULAR_CENTRE, Role.CONSULAR_GATEWAY}
)
"""Every role that can see personal data must pass a TOTP second factor (RFC 6238)."""


GRANTABLE_ROLES: dict[OrganisationLevel, frozenset[Role]] = {
    OrganisationLevel.NATIONAL: frozenset({Role.REQUESTING_OFFICER, Role.CENTRAL_OFFICER, Role.CONSULAR_CENTRE, Role.CONSULAR_GATEWAY,
                                           Role.ANALYST, Role.ADMIN}),
    OrganisationLevel.PROVINCIAL: frozenset({Role.PROVINCIAL_OFFICER, Role.ANALYST, Role.ADMIN}),
    OrganisationLevel.INTERNATIONAL: frozenset({Role.IOM_CASEWORKER, Role.ANALYST, Role.ADMIN}),
    OrganisationLevel.MISSION: frozenset({Role.CONSULAR_OFFICER, Role.ANALYST, Role.ADMIN}),
}
"""The roles a user of an organisation of each kind may hold: a national authority requests readmission or
answers centrally (or, for a foreign ministry, runs the consular centre and its hotline gateway), a provincial
bureau verifies, an international organisation (IOM) does casework, a mission abroad protects its nationals."""

PLATFORM_OPERATOR_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.ANALYST})
"""An international organisation at the root of the tree (no parent: the platform's secretariat) administers
and analyses; it handles no cases itself."""


def grantable_roles(level: OrganisationLevel, *, is_root: bool) -> frozenset[Role]:
    """The roles that fit an organisation of this level (and, for an international one, place in the tree)."""
    if is_root and level == OrganisationLevel.INTERNATIONAL:
        return PLATFORM_OPERATOR_ROLES
    return GRANTABLE_ROLES[level]


def needs_second_approval(current: frozenset[Role] | set[Role], requested: frozenset[Role] | set[Role]) -> bool:
    """Granting a role that sees personal data, which the user does not already hold, needs a second
    administrator's approval (four-eyes principle; ISO/IEC 27002:2022 control 5.3, segregation of duties)."""
    return bool((set(requested) - set(current)) & ROLES_SEEING_PERSONAL_DATA)


def permissions_for(roles: frozenset[Role] | set[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def requires_second_factor(roles: frozenset[Role] | set[Role]) -> bool:
    return bool(set(roles) & ROLES_SEEING_PERSONAL_DATA)
