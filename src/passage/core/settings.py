"""Settings from the environment (prefix PASSAGE_) or a `.env` file, via pydantic-settings."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "development-only-secret-change-me"  # noqa: S105 - refused outside development


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSAGE_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = DEVELOPMENT_SECRET
    key_file: Path | None = None
    """JSON key ring of key-encryption keys; defaults to `<data_dir>/keys.json`."""

    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    api_token_hours: int = 12
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_rate_per_minute: int = 10
    max_request_bytes: int = 25 * 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024
    default_locale: Literal["en", "zh_Hans"] = "en"
    secure_cookies: bool = False
    redaction_threshold: int = Field(default=15, ge=0)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and (self.secret_key == DEVELOPMENT_SECRET or len(self.secret_key) < 32):
            raise ValueError("PASSAGE_SECRET_KEY must be set to a random value of at least 32 characters in production")
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'passage.db').as_posix()}"
        if self.key_file is None:
            self.key_file = self.data_dir / "keys.json"
        return self


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests and the CLI change the environment and call this to re-read it."""
    get_settings.cache_clear()
