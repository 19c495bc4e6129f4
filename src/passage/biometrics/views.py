"""Biometrics pages: the gallery (counts, search, revoke) and a probe-versus-candidate fingerprint comparison."""

from __future__ import annotations

import base64
import math
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from passage.biometrics import service
from passage.biometrics.codec import MinutiaeRecord
from passage.biometrics.index import minutiae_array
from passage.biometrics.pairing import pair_minutiae
from passage.core.deps import DbSession
from passage.core.errors import PassageError
from passage.core.i18n import N_, gettext
from passage.security.actors import granted
from passage.security.deps import require
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import PageNumber
from passage.web.panels import HomePanel, PanelItem
from passage.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)

NAV = [NavItem(N_("Fingerprints"), "/biometrics", Permission.BIOMETRICS_READ, order=30)]
PAGE_SIZE = 25
PANEL_WIDTH = 320


def home_panel(session: Session, user: User) -> HomePanel | None:
    if Permission.BIOMETRICS_READ not in granted(user):
        return None
    stats = service.gallery_stats(session, actor=user)
    return HomePanel(title=gettext(N_("Fingerprints")), items=[
        PanelItem(gettext(N_("Enrolled templates")), "/biometrics", str(stats.active)),
        PanelItem(gettext(N_("Persons")), "/biometrics", str(stats.persons)),
    ], more_href="/biometrics", order=30)


@router.get("/biometrics")
def gallery_page(
    request: Request,
    db: DbSession,
    user: Annotated[User, require(Permission.BIOMETRICS_READ)],
    q: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(pattern="^(active|revoked|all)$")] = "active",
    quality: Annotated[str, Query(pattern="^(|low|ok)$")] = "",
    sort: Annotated[str, Query(pattern="^(enrolled|person|record|quality|minutiae)$")] = "enrolled",
    page: PageNumber = 1,
    message: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    stats = service.gallery_stats(db, actor=user)
    low = {"low": True, "ok": False}.get(quality)
    rows, total = service.list_templates(db, actor=user, q=q or None, status=status, low_quality=low, sort=sort,
                                         offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    notice = N_("The person's templates were revoked.") if message == "revoked" else None
    return render(request, "biometrics/gallery.html", {
        "stats": stats, "rows": rows, "total": total, "q": q, "status": status, "quality": quality, "sort": sort,
        "page": page, "pages": pages, "notice": notice, "error": None,
    })


@router.post("/biometrics/revoke")
def revoke_submit(
    request: Request, db: DbSession, user: Annotated[User, require(Permission.BIOMETRICS_ENROL)],
    person_id: Annotated[str, Form(max_length=64)],
) -> Response:
    service.revoke_person(db, actor=user, person_id=person_id)
    return RedirectResponse("/biometrics?message=revoked&status=all", status_code=303)


def _panel(record: MinutiaeRecord, view: int, image: bytes | None, image_format: str | None) -> dict[str, Any]:
    points = minutiae_array(record, view)
    width, height = record.image_size(record.views[view])
    if not width or not height:
        width = int(points[:, 0].max() + 20) if len(points) else 400
        height = int(points[:, 1].max() + 20) if len(points) else 500
    scale = PANEL_WIDTH / width
    minutiae = [{"x": round(x * scale, 1), "y": round(y * scale, 1),
                 "x2": round((x + 12 * math.cos(a)) * scale, 1), "y2": round((y - 12 * math.sin(a)) * scale, 1)}
                for x, y, a in points]
    href = None
    if image is not None:
        href = f"data:image/{image_format or 'png'};base64," + base64.b64encode(image).decode() if image_format == "png" else None
    return {"width": PANEL_WIDTH, "height": round(height * scale), "minutiae": minutiae, "image": href}


@router.get("/biometrics/compare")
def compare_page(
    request: Request, db: DbSession, user: Annotated[User, require(Permission.BIOMETRICS_READ)],
    probe: Annotated[str, Query(max_length=32)] = "",
    candidate: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    context: dict[str, Any] = {"probe_id": probe, "candidate_id": candidate, "hits": None, "comparison": None, "error": None}
    if not probe:
        return render(request, "biometrics/compare.html", context)
    try:
        probe_row, probe_record = service.get_template(db, actor=user, template_id=probe, purpose="compare")
        context["probe_row"] = probe_row
        if not candidate:
            context["hits"] = service.search(db, actor=user, probe=probe_record, top=10, probe_id=probe)
        else:
            cand_row, cand_record = service.get_template(db, actor=user, template_id=candidate, purpose="compare")
            result = service.match(db, actor=user, probe=probe_record, reference=cand_record, probe_id=probe, reference_id=candidate)
            probe_view = result.fingers[0].probe_view if result.fingers else 0
            cand_view = result.fingers[0].reference_view if result.fingers else 0
            pairing = pair_minutiae(probe_record, cand_record, probe_view=probe_view, reference_view=cand_view)
            left = _panel(probe_record, probe_view, probe_row.image, probe_row.image_format)
            right = _panel(cand_record, cand_view, cand_row.image, cand_row.image_format)
            gap = 40
            lines = [{"x1": left["minutiae"][i]["x"], "y1": left["minutiae"][i]["y"],
                      "x2": right["minutiae"][j]["x"] + PANEL_WIDTH + gap, "y2": right["minutiae"][j]["y"]} for i, j in pairing.pairs]
            context["comparison"] = {"left": left, "right": right, "lines": lines, "gap": gap, "result": result, "pairing": pairing,
                                     "height": max(left["height"], right["height"]), "candidate_row": cand_row}
    except PassageError as exc:
        context["error"] = exc.message
        return render(request, "biometrics/compare.html", context, status_code=exc.status)
    return render(request, "biometrics/compare.html", context)
