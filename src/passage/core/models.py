"""The declarative base, naming convention and mixins every module's `models.py` uses."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import DateTime, Enum, Integer, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC; every timestamp in Passage is UTC."""
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    """A random, unguessable record id (UUID4 as 32 hex characters)."""
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class VersionedMixin:
    """Optimistic concurrency: SQLAlchemy adds `WHERE version = :old` to every UPDATE.

    A stale write raises `sqlalchemy.orm.exc.StaleDataError`, which the API answers with 409.
    Clients send the version they read (`If-Match` header or a `version` field); services call
    `passage.core.db.check_version(record, expected)` before changing anything.
    """

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, object]:  # noqa: N805
        return {"version_id_col": cls.version}  # type: ignore[attr-defined]


def enum_column_type(enum_class: type[enum.Enum], length: int = 40) -> Enum:
    """A portable enum column that stores the member *values* (readable in SQL and exports) as VARCHAR."""
    return Enum(
        enum_class,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


__all__: list[Any] = ["Base", "IdMixin", "TimestampMixin", "VersionedMixin", "enum_column_type", "new_id", "utcnow"]
