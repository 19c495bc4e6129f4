"""Identity API: 1:N search (`POST /identity/search`) and index status (`GET /identity/index`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from passage.core.deps import DbSession
from passage.core.errors import InvalidInput
from passage.core.i18n import N_
from passage.identity import compare, dates, service
from passage.identity.schemas import CandidateOut, EvidenceOut, IndexStatusOut, SearchIn, SearchOut
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission

router = APIRouter(prefix="/identity", tags=["identity"])
warm_up = service.warm_up
"""Run by the application in the background at start (`core.app`): the romanisation tables of name look-ups."""


def _query(body: SearchIn) -> compare.Query:
    sex = body.sex.upper()
    if sex and sex not in ("M", "F", "X", "U"):
        raise InvalidInput(N_("sex: expected M, F or empty"))
    return compare.Query(
        family_name=body.family_name.strip(), given_name=body.given_name.strip(), full_name=body.full_name.strip(),
        sex=sex if sex in ("M", "F") else "", birth_date=dates.parse_partial(body.birth_date.strip(), where="birth_date"),
        birth_place=body.birth_place.strip(), id_number=body.id_number.strip(), nationality=body.nationality.strip(),
    )


@router.post("/search", response_model=SearchOut)
def search_registry(body: SearchIn, db: DbSession, user: Annotated[User, require(Permission.IDENTITY_SEARCH)]) -> SearchOut:
    """Ranked registry candidates with match probability, decision and per-field evidence."""
    result = service.search_person(db, actor=user, query=_query(body), top=body.top, case_id=body.case_id)
    return SearchOut(
        decision=result.decision, probability_not_in_registry=result.probability_not_in_registry, notes=result.notes,
        tied_beyond=result.tied_beyond,
        candidates=[CandidateOut(rank=c.rank, person_id=c.person_id, match_probability=c.match_probability, decision=c.decision,
                                 log2_bayes_factor=round(c.log2_bf, 3),
                                 evidence=[EvidenceOut(**e.as_dict()) for e in c.evidence])  # type: ignore[arg-type]
                    for c in result.candidates],
    )


@router.get("/index", response_model=IndexStatusOut)
def index_status(user: Annotated[User, require(Permission.IDENTITY_SEARCH)]) -> IndexStatusOut:
    """Whether the registry index is built and how many records it holds."""
    status = service.index_status()
    return IndexStatusOut(built=status.built, records=status.records, segments=status.segments,
                          prior_in_registry=status.prior_in_registry)
