"""Schema management: import every module's models, and run Alembic migrations."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
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


def _after_upgrade_hooks() -> list[Callable[[Engine], None]]:
    """Each module's `models.after_upgrade(engine)`, if it defines one (e.g. security creates the data key)."""
    hooks = []
    for module in MODULES:
        if importlib.util.find_spec(f"passage.{module}") is None or importlib.util.find_spec(f"passage.{module}.models") is None:
            continue
        hook = getattr(importlib.import_module(f"passage.{module}.models"), "after_upgrade", None)
        if hook is not None:
            hooks.append(hook)
    return hooks


def upgrade_database(engine: Engine | None = None, *, url: str | None = None, revision: str = "head") -> None:
    """Bring the database to `revision` with the project's single linear migration history, then run each
    module's `after_upgrade` hook (core imports no module: it finds them through `passage.MODULES`)."""
    from passage.core.db import make_engine
    from passage.core.settings import get_settings

    config = alembic_config(url)
    own_engine = engine is None
    target = engine if engine is not None else make_engine(url or get_settings().database_url)
    try:
        with target.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        for hook in _after_upgrade_hooks():
            hook(target)
    finally:
        if own_engine:
            target.dispose()
