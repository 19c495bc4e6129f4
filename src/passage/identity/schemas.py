"""Pydantic models for the identity API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from passage.core.api_schemas import RequestModel


class SearchIn(RequestModel):
    """A query as the requesting state recorded it; any field may be empty. birth_date: YYYY, YYYY-MM or YYYY-MM-DD."""

    family_name: str = Field(default="", max_length=200)
    given_name: str = Field(default="", max_length=200)
    full_name: str = Field(default="", max_length=400)
    sex: str = Field(default="", max_length=1)
    birth_date: str = Field(default="", max_length=10)
    birth_place: str = Field(default="", max_length=200)
    id_number: str = Field(default="", max_length=32)
    nationality: str = Field(default="", max_length=3)
    case_id: str | None = Field(default=None, max_length=64)
    top: int = Field(default=10, ge=1, le=100)


class EvidenceOut(BaseModel):
    kind: str
    level: str | None
    log2_bf: float
    explanation: str


class CandidateOut(BaseModel):
    rank: int
    person_id: str
    match_probability: float
    decision: str
    log2_bayes_factor: float
    evidence: list[EvidenceOut]


class SearchOut(BaseModel):
    decision: str
    probability_not_in_registry: float
    notes: list[str]
    candidates: list[CandidateOut]
    tied_beyond: int = Field(default=0, description="Candidates left out of the list whose score equals the last listed one's: "
                                                    "the list was cut through a tie; add a date, place or ID number to separate them.")


class IndexStatusOut(BaseModel):
    built: bool
    records: int
    segments: int
    prior_in_registry: float | None
