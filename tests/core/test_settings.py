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
