"""Pydantic schemas of the security module."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from passage.core.api_schemas import RequestModel
from passage.security.models import OrganisationLevel, Role, RoleGrantStatus
from passage.security.passwords import MIN_PASSWORD_LENGTH

ItemT = TypeVar("ItemT")

MAX_OFFSET = 10_000_000
"""No list in Passage is paged past ten million rows; a larger offset is refused with 422, never passed to SQL
(SQLite's integers are 64-bit: 2**63 overflowed into a 500)."""

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip (0 to 10,000,000).")]
"""The shared `offset` query parameter of every list endpoint."""

PageNumber = Annotated[int, Query(ge=1, le=MAX_OFFSET // 10, description="Page number, from 1.")]
"""The shared `page` query parameter of every paged web page."""


class TokenRequest(RequestModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=500)
    totp_code: str | None = Field(default=None, pattern=r"^\d{6}$")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_at: dt.datetime


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    name_zh: str | None
    country: str
    level: OrganisationLevel
    province: str | None
    parent_id: str | None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    display_name: str
    organisation_id: str
    roles: list[Role]
    is_active: bool
    second_factor_enrolled: bool
    pending_roles: list[Role] | None = None
    """The role set waiting for a second administrator's approval, if any (four eyes)."""
    version: int


class UserCreate(RequestModel):
    username: str = Field(min_length=3, max_length=100, pattern=r"^[a-z0-9._-]+$")
    display_name: str = Field(min_length=1, max_length=200)
    organisation_id: str = Field(min_length=1, max_length=32)
    roles: list[Role] = Field(min_length=1)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=500)

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[Role]) -> list[Role]:
        if len(set(roles)) != len(roles):
            raise ValueError("a role is listed twice")
        return roles


class UserUpdate(RequestModel):
    version: int = Field(ge=1)
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    roles: list[Role] | None = Field(default=None, min_length=1)
    preferred_locale: str | None = Field(default=None, pattern=r"^(en|zh_Hans)$")


class RoleGrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    user_id: str
    roles: list[Role]
    requested_by: str
    requested_at: dt.datetime
    status: RoleGrantStatus
    decided_by: str | None
    decided_at: dt.datetime | None


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    details: dict[str, object]
    created_at: dt.datetime
    read_at: dt.datetime | None


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sequence: int
    occurred_at: dt.datetime
    actor_user_id: str | None
    actor_organisation_id: str | None
    action: str
    entity_type: str
    entity_id: str | None
    outcome: str
    details: dict[str, object]


class Page(BaseModel, Generic[ItemT]):
    """A page of a list: every list endpoint pages (`offset`, `limit`) and reports the total."""

    items: list[ItemT]
    total: int
    offset: int
    limit: int
    total_estimated: bool = False
    """`total` is the database's estimate, not a count (a list that estimates above a threshold says so)."""
