"""The base of every API request body: unknown fields are refused, never silently dropped.

A mass-assignment attempt (`{"roles": [...]}` sent to an endpoint that does not take roles) or a typo in a
field name is answered with 422 naming the field (OWASP API Security Top 10 2023, API3: broken object
property level authorisation). `tests/core/test_api_schemas.py` walks every route and fails on a request
body that does not derive from `RequestModel`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """Base class of request bodies (`extra="forbid"`); response models derive from `BaseModel` directly."""

    model_config = ConfigDict(extra="forbid")


__all__ = ["RequestModel"]
