"""Mobility API schemas: datasets, analyses, run requests and run status (aggregates only)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from passage.core.api_schemas import RequestModel


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    key_fingerprint: str
    timezone: str
    first_day: dt.date | None
    last_day: dt.date | None
    levels: list[int]
    rows_kept: int
    created_at: dt.datetime


class DatasetDetail(DatasetOut):
    report: dict[str, Any]


class AnalysisOut(BaseModel):
    name: str
    doc: str
    parameters: list[str]
    required: list[str]
    columns: list[str]


class RunCreate(RequestModel):
    """A run request; windows are `YYYY-MM-DD..YYYY-MM-DD` (inclusive)."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(min_length=1, max_length=32)
    analysis: str = Field(min_length=1, max_length=64)
    parameters: dict[str, str | int] = Field(default_factory=dict, max_length=10)
    level: str = Field(default="1", min_length=1, max_length=32)
    engine: Literal["duckdb", "spark"] = "duckdb"
    redaction_threshold: int | None = Field(default=None, ge=0, le=1_000_000)
    override_reason: str | None = Field(default=None, max_length=500)


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    dataset_id: str
    analysis: str
    parameters: dict[str, Any]
    level: str
    engine: str
    threshold: int
    status: str
    progress: float
    stage: str | None
    error: str | None
    run_id: str | None
    rows_published: int | None
    values_redacted: int | None
    seconds: float | None
    created_by_id: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RunResultOut(BaseModel):
    """Redacted aggregates: a value of null is a count of `threshold` or fewer, never a zero."""

    run: RunOut
    columns: list[str]
    rows: list[dict[str, Any]]
    threshold: int
    values_redacted: int
