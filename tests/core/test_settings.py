"""Settings refuse a default or short secret key outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from passage.core.settings import DEVELOPMENT_SECRET, Settings


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="PASSAGE_SECRET_KEY"):
        Settings(environment="production", secret_key=DEVELOPMENT_SECRET)


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="production", secret_key="short")


def test_production_accepts_a_real_secret_and_derives_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PASSAGE_DATABASE_URL", "PASSAGE_KEY_FILE", "PASSAGE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(environment="production", secret_key="x" * 40, data_dir="/srv/passage")  # type: ignore[arg-type]
    assert settings.database_url == "sqlite:////srv/passage/passage.db"
    assert str(settings.key_file) == "/srv/passage/keys.json"


def test_postgres_url_is_kept() -> None:
    url = "postgresql://passage@db/passage"
    assert Settings(database_url=url).database_url == url


def test_postgresql_pool_and_workers_follow_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/deploy.md sizes the pool per worker with these variables: the engine must use them."""
    from passage.core.db import make_engine
    from passage.core.settings import get_settings, reset_settings_cache

    for name, value in (("PASSAGE_DB_POOL_SIZE", "7"), ("PASSAGE_DB_MAX_OVERFLOW", "3"), ("PASSAGE_DB_POOL_TIMEOUT", "4.5"), ("PASSAGE_WORKERS", "4")):
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    try:
        engine = make_engine("postgresql://passage@/passage?host=/nonexistent")  # no connection is made
        assert (engine.pool.size(), engine.pool._max_overflow, engine.pool._timeout) == (7, 3, 4.5)  # type: ignore[attr-defined]
        assert get_settings().workers == 4
        with pytest.raises(ValidationError):
            Settings(db_pool_size=0)
    finally:
        monkeypatch.undo()
        reset_settings_cache()
