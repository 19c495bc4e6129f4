"""Alembic environment: one linear history covering every module's tables."""

from __future__ import annotations

from typing import Any

from alembic import context

from passage.core.db import make_engine
from passage.core.models import Base
from passage.core.schema import import_all_models
from passage.core.settings import get_settings
from passage.security.crypto import _EncryptedBase

import_all_models()
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Encrypted columns are plain binary columns in the database; the cipher lives in the ORM type.
    if type_ == "type" and isinstance(obj, _EncryptedBase):
        return "sa.LargeBinary()"
    return False


def run_migrations() -> None:
    connectable = context.config.attributes.get("connection")
    if connectable is None:
        url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url
        engine = make_engine(url)
        with engine.connect() as connection:
            _configure_and_run(connection)
        engine.dispose()
    else:
        _configure_and_run(connectable)


def _configure_and_run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
