"""The demo operation loads through the forms engine and the DTM service, and gives the map something to show."""

from __future__ import annotations

from sqlalchemy import func, select

from passage.core.db import unit_of_work
from passage.dtm import service
from passage.dtm.demo import OPERATION, boundaries, load_demo_records
from passage.dtm.geography import parse_cod_ab
from passage.security.demo import DemoContext
from passage.security.models import AuditEntry, Organisation, User


def load_demo(session) -> list[str]:  # type: ignore[no-untyped-def]
    context = DemoContext(
        organisations={"iom": session.scalar(select(Organisation).where(Organisation.name == "IOM China"))},
        users={"analyst": session.scalar(select(User).where(User.username == "analyst")), "iom_caseworker": session.scalar(select(User).where(User.username == "iom.caseworker"))},
    )
    return load_demo_records(session, context=context)


def test_generated_boundaries_are_a_valid_cod_ab_layer() -> None:
    areas = parse_cod_ab(boundaries())
    levels = sorted({a.level for a in areas})
    assert levels == [0, 1, 2]
    assert sum(1 for a in areas if a.level == 2) == 16
    assert all(a.parent_pcode and a.pcode.startswith(a.parent_pcode) for a in areas if a.level == 2)


def test_demo_loads_three_processed_rounds_with_real_audit(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        summary = load_demo(session)
    assert "3 rounds" in summary[0] and "48 baseline and 12 site figures" in summary[0]
    with unit_of_work() as session:
        rounds = service.list_rounds(session, operation=OPERATION)
        assert [r.number for r in rounds] == [1, 2, 3]
        series = service.round_series(session, operation=OPERATION, level=1)
        assert series[2]["idp_individuals"] > series[0]["idp_individuals"] > 0
        # the planted problems are caught: breakdown sum (round 2), name mismatch and outlier (round 3)
        assert service.issue_counts(session, round_id=rounds[1].id, component="baseline") == {"sex_age_sum": 1}
        assert service.issue_counts(session, round_id=rounds[2].id, component="baseline") == {"outlier_last_round": 1, "pcode_name_mismatch": 1}
        sites = service.site_features(session, round_=rounds[2])
        assert len(sites) == 4 and all(s["latitude"] is not None for s in sites)
        actions = dict(session.execute(select(AuditEntry.action, func.count()).where(AuditEntry.entity_type.like("dtm_%")).group_by(AuditEntry.action)).tuples().all())
        assert actions == {"load": 1, "create": 3, "record_figures": 6}
