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
    audit_key_file: Path | None = None
    """JSON key ring of the audit chain's MAC keys (older keys kept for verification); `<data_dir>/audit-keys.json`."""
    audit_signing_key_file: Path | None = None
    """Ed25519 private key (PKCS#8 PEM) that signs audit checkpoints; `<data_dir>/audit-signing-key.pem`, generated if absent."""
    audit_checkpoint_file: Path | None = None
    """Where signed checkpoints are appended (one JSON line each); `<data_dir>/audit-checkpoints.jsonl`."""
    audit_sealer_thread: bool = True
    """Run the audit sealer as a background thread of the server (one process seals at a time)."""
    audit_seal_interval_seconds: float = Field(default=0.5, gt=0)
    audit_gap_grace_seconds: float = Field(default=1.0, ge=0)
    """How long a missing sequence number (a transaction still open or rolled back) may hold up sealing before it is claimed as skipped."""
    audit_checkpoint_interval_seconds: float = Field(default=60.0, gt=0)

    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    api_token_hours: int = 12
    login_max_failures: int = 5
    """Failed sign-in steps on one account (any address) after which its owner gets a notification."""
    login_lockout_minutes: int = 15
    """Longest back-off of one (username, address) pair, and how long a guessed-at second factor stays locked."""
    login_backoff_after: int = 3
    """Failures of one (username, address) pair before the exponential back-off starts."""
    login_rate_per_minute: int = 10
    totp_session_max_failures: int = 5
    """Wrong codes in one half-signed-in session before it ends (the password must be typed again)."""
    totp_user_max_failures: int = 10
    """Wrong codes on one account, from any session or address, before its second factor is locked."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed; empty trusts none."""
    max_request_bytes: int = 25 * 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024
    import_max_expanded_bytes: int = 256 * 1024 * 1024
    """An uploaded XLSX/ZIP may expand to at most this many bytes (checked while decompressing, before parsing)."""
    import_max_rows: int = 500_000
    """An uploaded workbook may hold at most this many rows over all its sheets."""
    import_worker_memory_bytes: int = 1536 * 1024 * 1024
    import_worker_seconds: int = 120
    """Address-space and time limits of the worker process that reads an uploaded file first."""
    db_pool_size: int = Field(default=20, ge=1)
    """PostgreSQL: connections each worker process keeps open (SQLAlchemy `pool_size`; see docs/deploy.md)."""
    db_max_overflow: int = Field(default=20, ge=0)
    """PostgreSQL: extra connections a worker may open at a peak, closed again when returned (`max_overflow`)."""
    db_pool_timeout: float = Field(default=30.0, gt=0)
    """Seconds a request waits for a free connection before the answer is 503 with Retry-After."""
    workers: int = Field(default=1, ge=1)
    """Worker processes of `passage serve` when `--workers` is not given."""
    max_in_flight: int = Field(default=20, ge=1)
    """Requests a worker process handles at once (default: `db_pool_size`'s default, so an admitted request never
    queues for a database connection); more wait up to `admission_wait_seconds` for a turn."""
    admission_wait_seconds: float = Field(default=2.0, gt=0)
    """How long a request waits for a turn before the answer is 429 with Retry-After: under overload the server
    sheds what it cannot serve soon, instead of letting every request queue for a connection until 503."""
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
        if self.audit_key_file is None:
            self.audit_key_file = self.data_dir / "audit-keys.json"
        if self.audit_signing_key_file is None:
            self.audit_signing_key_file = self.data_dir / "audit-signing-key.pem"
        if self.audit_checkpoint_file is None:
            self.audit_checkpoint_file = self.data_dir / "audit-checkpoints.jsonl"
        return self


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests and the CLI change the environment and call this to re-read it."""
    get_settings.cache_clear()
