"""Field groups that need their own read permission: biometrics, health, asylum.

A schema or service names which of its fields belong to a sensitive group; `redact` blanks the fields the
user may not read and says which were withheld, so a page can show "withheld" instead of an empty value, and
`audit_details` lists the groups that *were* read, for the audit entry of the read (ASVS 4.0.3 V8.3.4, V4.1.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from passage.security.models import User
from passage.security.permissions import Permission, permissions_for

SENSITIVE_GROUPS: dict[str, Permission] = {
    "biometrics": Permission.BIOMETRICS_READ,
    "health": Permission.HEALTH_READ,
    "asylum": Permission.ASYLUM_READ,
}


def readable_groups(user: User | Any) -> frozenset[str]:
    granted = permissions_for(user.role_set)
    return frozenset(group for group, permission in SENSITIVE_GROUPS.items() if permission in granted)


def redact(payload: Mapping[str, Any], *, user: User | Any, field_groups: Mapping[str, str]) -> dict[str, Any]:
    """Copy `payload`, replacing each field of a group the user may not read with None.

    `field_groups` maps field name -> group (`"health"`). The result carries `withheld_fields`, the sorted
    names that were blanked. An unknown group is a programming error and raises KeyError: failing closed.
    """
    allowed = readable_groups(user)
    result = dict(payload)
    withheld = []
    for name, group in field_groups.items():
        if group not in SENSITIVE_GROUPS:
            raise KeyError(f"unknown sensitive group {group!r}")
        if group not in allowed and name in result:
            result[name] = None
            withheld.append(name)
    result["withheld_fields"] = sorted(withheld)
    return result


def audit_details(*, user: User | Any, field_groups: Mapping[str, str], present: Mapping[str, Any]) -> dict[str, Any]:
    """The sensitive groups actually disclosed by a read (fields present and permitted), for its audit entry."""
    allowed = readable_groups(user)
    disclosed = sorted({group for name, group in field_groups.items() if group in allowed and present.get(name) is not None})
    return {"sensitive_groups_read": disclosed}
