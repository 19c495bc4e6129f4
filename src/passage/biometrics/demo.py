"""Demo fingerprints: three real impressions (two of one finger) enrolled through the service.

The images are the nbis-rs test prints shipped in `data/demo/` (MIT, see NOTICE there). The Dutch
return service enrols them for two demo subjects, addressed to China and routed to Fujian, so the
Fujian officer can search and compare. Images are kept for the demo so the comparison page draws
the prints; a real deployment drops them (PASSAGE_BIOMETRICS_KEEP_IMAGES, default false).
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy.orm import Session

from passage.biometrics import service
from passage.security.demo import DemoContext

DEMO_PRINTS = [
    ("demo-p1-1", "demo-person-1", "p1_1.png"),
    ("demo-p1-2", "demo-person-1-probe", "p1_2.png"),
    ("demo-p2-1", "demo-person-2", "p2_1.png"),
]


def load_demo_records(session: Session, *, context: DemoContext) -> list[str]:
    officer = context.users["nl_officer"]
    fujian = context.organisations["fujian"]
    folder = resources.files("passage.biometrics") / "data" / "demo"
    items = [
        service.EnrolmentRequest(record_ref, person_id, service.parse_upload((folder / name).read_bytes(), finger_position=2),
                                 addressed_country="CN", routed_organisation_id=fujian.id)
        for record_ref, person_id, name in DEMO_PRINTS
    ]
    rows = service.enrol(session, actor=officer, items=items, keep_images=True)
    return [f"enrolled {len(rows)} demo fingerprint templates (real prints, images kept for the demo)"]
