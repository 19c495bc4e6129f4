"""Gallery and comparison pages: NAV only with BIOMETRICS_READ, minutiae pairs drawn, revoke through the form."""

from __future__ import annotations

from typing import Any

from passage.biometrics import service
from passage.biometrics.demo import load_demo_records
from passage.core.db import unit_of_work
from passage.security.demo import DemoContext
from passage.security.models import Organisation, User
from tests.security.test_views import HTML, _csrf, sign_in


def _load_demo() -> dict[str, str]:
    from sqlalchemy import select

    from passage.biometrics.models import BiometricTemplate

    service.reset_indexes()
    with unit_of_work() as session:
        context = DemoContext()
        context.users["nl_officer"] = session.scalars(select(User).where(User.username == "nl.officer")).one()
        context.organisations["fujian"] = session.scalars(select(Organisation).where(Organisation.name.like("Fujian%"))).one()
        assert load_demo_records(session, context=context)
    with unit_of_work() as session:
        return {r.record_ref: r.id for r in session.scalars(select(BiometricTemplate))}


def test_comparison_page_draws_pairs_and_gallery_revokes(app_client: Any) -> None:
    ids = _load_demo()
    sign_in(app_client, "fj.officer")
    home = app_client.get("/", headers=HTML)
    assert 'href="/biometrics"' in home.text
    page = app_client.get(f"/biometrics/compare?probe={ids['demo-p1-2']}", headers=HTML)
    assert page.status_code == 200 and "demo-person-1" in page.text
    compared = app_client.get(f"/biometrics/compare?probe={ids['demo-p1-2']}&candidate={ids['demo-p1-1']}", headers=HTML)
    assert compared.status_code == 200
    assert compared.text.count('<circle') > 40 and 'class="pairs"' in compared.text
    pairs = compared.text.split('class="pairs"')[1].split("</g>")[0].count("<line")
    assert pairs >= 12  # true mates: Hough-aligned pairing finds many pairs
    other = app_client.get(f"/biometrics/compare?probe={ids['demo-p1-2']}&candidate={ids['demo-p2-1']}", headers=HTML)
    assert other.text.split('class="pairs"')[1].split("</g>")[0].count("<line") < pairs
    chinese = app_client.get("/biometrics", headers={**HTML, "accept-language": "zh-CN"}, cookies={"passage_locale": "zh_Hans"})
    assert chinese.status_code == 200


def test_nav_hidden_without_permission_and_revoke_form(app_client: Any) -> None:
    ids = _load_demo()
    sign_in(app_client, "iom.caseworker")
    assert 'href="/biometrics"' not in app_client.get("/", headers=HTML).text
    assert app_client.get("/biometrics", headers=HTML).status_code == 403
    app_client.cookies.clear()
    sign_in(app_client, "nl.officer")
    gallery = app_client.get("/biometrics", headers=HTML)
    assert gallery.status_code == 200 and "demo-p1-1" in gallery.text
    done = app_client.post("/biometrics/revoke", data={"person_id": "demo-person-2", "csrf_token": _csrf(gallery.text)}, headers=HTML, follow_redirects=False)
    assert done.status_code == 303
    with unit_of_work() as session:
        from passage.biometrics.models import BiometricTemplate

        row = session.get(BiometricTemplate, ids["demo-p2-1"])
        assert row is not None and row.revoked_at is not None and row.template is None
