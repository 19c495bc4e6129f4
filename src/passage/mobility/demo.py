"""Demo data for `make run`: a small synthetic operator dataset with a planted crisis, ingested and analysed.

`synth` generates 3,000 subscribers over 42 days in 9 districts; on day 28, 40% of district D01's
residents flee to D02, D05 and D09. The events are pseudonymised and ingested under
`<data_dir>/mobility/demo` with a random key (nobody holds it, as for a throw-away demo), registered as a
dataset, and one flows-above-normal analysis runs as the demo analyst through the service, so the audit
log, the run record and the map are real. Every figure is invented.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from passage.mobility import service
from passage.mobility.pseudonymise import PseudonymKey
from passage.mobility.synth import SynthConfig, generate

DEMO = SynthConfig(subscribers=3_000, days=42, areas=9, regions=3, crisis_day=28, affected_area="D01", displaced_share=0.4,
                   destinations={"D02": 0.5, "D05": 0.3, "D09": 0.2}, background_migration=0.03, seed=2026)


def load_demo_records(session: Session, *, context: Any) -> list[str]:
    analyst = context.users["analyst"]
    with tempfile.TemporaryDirectory(prefix="passage-mobility-demo-") as raw:
        truth = generate(DEMO, Path(raw))
        dataset = service.ingest_and_register(
            session, actor=analyst, name="Synthetic crisis (demo)", events=Path(raw) / "events", cells=Path(raw) / "cells.csv",
            areas=Path(raw) / "areas.geojson", key=PseudonymKey.random(), folder="demo", overwrite=True,
        )
    windows = DEMO.windows()
    run = service.start_run(session, actor=analyst, dataset_id=dataset.id, analysis="flows_above_normal", parameters=windows, level=2)
    service.run_now(session, run_id=run.id)
    return [f"mobility: dataset '{dataset.name}' ({truth['events']:,} events) and one flows-above-normal run ({run.rows_published} published rows)"]
