"""Schema management: import every module's models, and run Alembic migrations."""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from passage import MODULES


def import_all_models(modules: tuple[str, ...] | None = None) -> None:
    """Import each module's `models.py` so that `Base.metadata` knows every table.

    `PASSAGE_MIGRATE_MODULES=security,readmission` limits the import while generating one module's
    migration, so that the new revision holds only that module's tables.
    """
    only = os.environ.get("PASSAGE_MIGRATE_MODULES")
    selected = modules or (tuple(m.strip() for m in only.split(",")) if only else MODULES)
    for module in selected:
        if importlib.util.find_spec(f"passage.{module}") is None:
            continue
        if importlib.util.find_spec(f"passage.{module}.models") is not None:
            importlib.import_module(f"passage.{module}.models")


def project_root() -> Path:
    return Path(__file__).resolve().parents[3]


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(project_root() / "alembic.ini"))
    config.set_main_option("script_location", str(project_root() / "migrations"))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(engine: Engine | None = None, *, url: str | None = None, revision: str = "head") -> None:
    """Bring the database to `revision` with the project's single linear migration history."""
    from passage.core.db import make_engine
    from passage.core.settings import get_settings
    from passage.security.crypto import KeyRing, ensure_active_data_key

    config = alembic_config(url)
    own_engine = engine is None
    target = engine if engine is not None else make_engine(url or get_settings().database_url)
    try:
        with target.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        # The data-encryption key is created here, once, outside any request: creating it lazily inside a
        # request's transaction would need a second writer on SQLite.
        ensure_active_data_key(target, KeyRing(get_settings().key_file))
    finally:
        if own_engine:
            target.dispose()
