"""Pydantic models of the DTM API (in and out). Aggregate rows use the CSV/HXL column names of docs/dtm.md."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from passage.core.api_schemas import RequestModel

ComponentName = Literal["baseline", "site"]


class AreaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    pcode: str
    level: int
    name_en: str
    name_zh: str | None
    parent_pcode: str | None
    source: str | None


class LoadAreasOut(BaseModel):
    created: int
    updated: int
    variants_added: int
    by_level: dict[int, int]


MAX_ROUND_NUMBER = 999_999
"""The largest round number accepted anywhere (the API, the round form, the DTM API's round-number filters)."""


class RoundCreate(RequestModel):
    operation: str = Field(min_length=1, max_length=100)
    number: int = Field(ge=1, le=MAX_ROUND_NUMBER)
    reporting_date: dt.date
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    title: str | None = Field(default=None, max_length=200)


class RoundUpdate(RequestModel):
    version: int
    title: str | None = Field(default=None, max_length=200)
    reporting_date: dt.date | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None


class RoundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    operation: str
    number: int
    reporting_date: dt.date
    period_start: dt.date | None
    period_end: dt.date | None
    title: str | None
    version: int


class ProcessRequest(RequestModel):
    component: ComponentName
    household_size: float | None = Field(default=None, gt=0, le=30)
    form: str | None = Field(default=None, max_length=100, description="Form id when it is not the shipped DTM form of the component.")


class IssueOut(BaseModel):
    row: int
    check: str
    field: str
    severity: str
    message: str


class ProcessOut(BaseModel):
    recorded: int
    already_recorded: int
    not_stored: int
    counts: dict[str, int]
    issues: list[IssueOut]


class FigureIssue(BaseModel):
    check: str
    field: str
    severity: str


class FigureOut(BaseModel):
    id: str
    component: str
    submission_uuid: str
    site_id: str | None
    admin_pcode: str
    admin_level: int
    reported_name: str | None
    assessment_date: dt.date | None
    idp_households: int | None
    idp_individuals: int | None
    returnee_households: int | None
    returnee_individuals: int | None
    males: int | None
    females: int | None
    reasons: list[str]
    needs: list[str]
    issues: list[FigureIssue]


class AggregateOut(BaseModel):
    """One admin level of one round: rows keyed by the CSV column names (`admin1Pcode`, `idpIndividuals`, ...)."""

    round_id: str
    operation: str
    round_number: int
    level: int
    component: ComponentName
    rows: list[dict[str, Any]]
    not_rollable: int
    unknown_pcodes: list[str]
    disclosure: dict[str, Any] | None = None
    """The disclosure-control rule and threshold, and how many cells were withheld (withheld counts are null)."""


class ChangeOut(BaseModel):
    pcode: str
    name: str
    previous: int | None
    current: int | None
    change: int | None
    change_percent: float | None
    status: str
    """new, closed, increase, decrease, unchanged, or withheld (a figure withheld by disclosure control)."""


class SeriesPoint(BaseModel):
    round: int
    round_id: str
    reporting_date: dt.date
    idp_individuals: int | None
    returnee_individuals: int | None
    locations_assessed: int
    by_area: dict[str, int | None]
