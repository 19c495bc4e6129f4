"""Forms API shapes (Pydantic v2), in and out."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from passage.core.api_schemas import RequestModel


class FormOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    form_key: str
    title: str
    organisation_id: str | None
    current_version_id: str | None
    version: int


class FormVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: int
    version_label: str
    filename: str
    sha256: str
    loaded_by: str | None
    created_at: dt.datetime


class LoadOut(BaseModel):
    form: FormOut
    version: FormVersionOut
    created: bool
    warnings: list[str]


class NotEvaluatedOut(BaseModel):
    """A check of the form that Passage loads but does not evaluate: where it is and why."""

    sheet: str
    row: int | None
    column: str
    field: str
    expression: str | None
    reason: str


class ImportOut(BaseModel):
    batch_id: str
    form_key: str
    version_labels: list[str]
    rows_read: int
    accepted: int
    duplicates: int
    quarantined: int
    quarantined_by_reason: dict[str, int]
    attachments: int = 0
    not_evaluated: list[NotEvaluatedOut] = []


class QuarantineErrorOut(BaseModel):
    field: str
    reason: str
    message: str


class QuarantineEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    form_id: str
    form_version_id: str
    batch_id: str | None
    row_number: int
    sheet: str | None
    uuid: str | None
    field: str
    reason: str
    errors: list[QuarantineErrorOut]
    data: dict[str, Any]
    status: str
    submission_id: str | None
    version: int


class QuarantineFix(RequestModel):
    """Field fixes keyed by field path (`members[2]/age` in a repeat; `_uuid` for the row's uuid)."""

    changes: dict[str, Any] = Field(max_length=500)
    version: int = Field(ge=1)


class RevalidateIn(RequestModel):
    use_current_version: bool = False


class RevalidationOut(BaseModel):
    checked: int
    accepted: int
    duplicates: int
    still_open: int


class SubmissionIn(RequestModel):
    """Submission data keyed by field path; a repeat is a list of instance dicts (see docs/forms.md)."""

    data: dict[str, Any] = Field(max_length=2000)
    uuid: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9:._-]+$")


class SubmissionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    form_id: str
    form_version_id: str
    uuid: str
    submission_time: dt.datetime | None
    source: str
    batch_id: str | None
    source_row: int | None
    data: dict[str, Any]
    created_at: dt.datetime
