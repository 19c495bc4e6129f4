"""Mobility tables: registered datasets (ingested folders) and analysis runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from passage.core.models import Base, IdMixin, TimestampMixin, VersionedMixin


class MobilityDataset(Base, IdMixin, TimestampMixin, VersionedMixin):
    """An ingested, pseudonymised dataset folder with its ingest report (counts only, no identifiers)."""

    __tablename__ = "mobility_dataset"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    path: Mapped[str] = mapped_column(String(1000))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    first_day: Mapped[dt.date | None] = mapped_column(Date)
    last_day: Mapped[dt.date | None] = mapped_column(Date)
    levels: Mapped[list[int]] = mapped_column(JSON, default=list)
    rows_kept: Mapped[int] = mapped_column(BigInteger, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)


class MobilityRun(Base, IdMixin, TimestampMixin, VersionedMixin):
    """One run of a named analysis on a dataset: parameters, status and progress, redacted result files.

    Status: queued -> running -> succeeded | failed. `worker` names the process that claimed the run
    (host:pid:boot) and `heartbeat_at` is refreshed while it runs, so a run orphaned by a restart is
    recognised and marked failed.
    """

    __tablename__ = "mobility_run"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("mobility_dataset.id"), index=True)
    analysis: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    level: Mapped[str] = mapped_column(String(32))
    engine: Mapped[str] = mapped_column(String(16), default="duckdb")
    threshold: Mapped[int] = mapped_column(Integer, default=15)
    override_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(String(500))
    run_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    result_dir: Mapped[str | None] = mapped_column(String(1000))
    rows_published: Mapped[int | None] = mapped_column(Integer)
    values_redacted: Mapped[int | None] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float)
    worker: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
