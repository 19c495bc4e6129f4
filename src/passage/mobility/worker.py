"""The background runner: executes queued analysis runs one at a time per process.

A run is claimed with a conditional UPDATE (`status = 'queued'` -> `running`, naming this worker), so two
processes never execute the same run. While it runs, a heartbeat thread writes the progress reported by
the engine and a heartbeat time every second in short transactions of their own. At start-up
(`recover_interrupted_runs`, called from the API router's start-up hook) a run still marked `running`
whose worker process is gone (same host, pid not alive or another boot of this pid) or whose heartbeat
is older than `service.STALE_HEARTBEAT` is marked failed with a reason; queued runs are picked up again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from passage.core.db import unit_of_work
from passage.core.models import utcnow
from passage.mobility import service
from passage.mobility.models import MobilityRun

logger = logging.getLogger("passage.mobility")

HOST = socket.gethostname()
BOOT = uuid.uuid4().hex[:12]
WORKER_ID = f"{HOST}:{os.getpid()}:{BOOT}"
HEARTBEAT_SECONDS = 1.0
INTERRUPTED = "interrupted: the server stopped while the run was in progress; start it again"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(run: MobilityRun, now: dt.datetime, current: str | None) -> bool:
    parts = (run.worker or "").rsplit(":", 2)
    if len(parts) == 3 and parts[0] == HOST and parts[1].isdigit():
        pid, boot = int(parts[1]), parts[2]
        if pid == os.getpid():
            return boot != BOOT or run.id != current
        if not _pid_alive(pid):
            return True
    beat = run.heartbeat_at or run.started_at or run.created_at
    if beat is not None and beat.tzinfo is None:
        beat = beat.replace(tzinfo=dt.UTC)
    return beat is None or now - beat > service.STALE_HEARTBEAT


def recover_interrupted_runs(session: Session) -> list[str]:
    """Mark orphaned `running` runs failed (with the reason, audited); returns their ids."""
    now = utcnow()
    current = RUNNER.current
    failed = []
    for run in session.scalars(select(MobilityRun).where(MobilityRun.status == "running")):
        if _orphaned(run, now, current):
            service.record_failure(session, run=run, reason=INTERRUPTED)
            failed.append(run.id)
    return failed


def _claim_next() -> tuple[service.RunSpec, str] | None:
    with unit_of_work() as session:
        candidates = list(session.scalars(select(MobilityRun.id).where(MobilityRun.status == "queued").order_by(MobilityRun.created_at, MobilityRun.id).limit(5)))
        for run_id in candidates:
            now = utcnow()
            claimed = session.execute(
                update(MobilityRun)
                .where(MobilityRun.id == run_id, MobilityRun.status == "queued")
                .values(status="running", worker=WORKER_ID, started_at=now, heartbeat_at=now, stage="starting", version=MobilityRun.version + 1)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) == 1:
                run = session.get(MobilityRun, run_id)
                assert run is not None
                session.refresh(run)
                return service.RunSpec.of(run, service.get_dataset(session, dataset_id=run.dataset_id)), run_id
    return None


class Runner:
    """One daemon thread per process; `wake()` after committing a queued run."""

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.current: str | None = None
        self.spark: Any | None = None

    def wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="passage-mobility-runner", daemon=True)
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._run_one():
                pass

    def _run_one(self) -> bool:
        try:
            claimed = _claim_next()
        except Exception:  # noqa: BLE001 - the database may be unavailable; the next wake-up retries
            logger.exception("mobility runner could not claim a run")
            return False
        if claimed is None:
            return False
        spec, run_id = claimed
        self.current = run_id
        try:
            self.execute(spec)
        finally:
            self.current = None
        return True

    def execute(self, spec: service.RunSpec) -> None:
        """Run one claimed run with a heartbeat; record success or failure."""
        state: dict[str, Any] = {"stage": "starting", "fraction": 0.0}
        stop = threading.Event()

        def report(stage: str, fraction: float) -> None:
            state["stage"], state["fraction"] = stage[:200], max(state["fraction"], min(float(fraction), 0.99))

        def beat() -> None:
            while not stop.wait(HEARTBEAT_SECONDS):
                try:
                    with unit_of_work() as session:
                        session.execute(
                            update(MobilityRun)
                            .where(MobilityRun.id == spec.run_id, MobilityRun.status == "running", MobilityRun.worker == WORKER_ID)
                            .values(progress=state["fraction"], stage=state["stage"], heartbeat_at=utcnow(), version=MobilityRun.version + 1)
                            .execution_options(synchronize_session=False)
                        )
                except Exception:  # noqa: BLE001 - a missed heartbeat is retried a second later
                    logger.warning("mobility heartbeat failed for run %s", spec.run_id)

        heart = threading.Thread(target=beat, name="passage-mobility-heartbeat", daemon=True)
        heart.start()
        outcome: service.AnalysisResult | None = None
        reason: str | None = None
        try:
            outcome = service.execute(spec, report, spark=self.spark)
        except Exception as exc:  # noqa: BLE001 - any failure is recorded on the run, never lost
            if not isinstance(exc, service.PassageError):
                logger.exception("mobility run %s failed", spec.run_id)
            reason = service.failure_message(exc)
        finally:
            stop.set()
            heart.join()
        try:
            with unit_of_work() as session:
                run = session.get(MobilityRun, spec.run_id)
                if run is None or run.status != "running" or run.worker != WORKER_ID:
                    return  # recovered as failed meanwhile; do not overwrite
                if outcome is not None:
                    service.record_success(session, run=run, result=outcome, result_dir=spec.result_dir)
                else:
                    service.record_failure(session, run=run, reason=reason or "failed")
        except Exception:  # noqa: BLE001 - logged; the start-up recovery marks the run failed
            logger.exception("mobility run %s could not be recorded", spec.run_id)


RUNNER = Runner()


def startup() -> None:
    """Start-up hook: fail orphaned runs, then pick up queued ones."""
    try:
        with unit_of_work() as session:
            recovered = recover_interrupted_runs(session)
            queued = session.scalar(select(MobilityRun.id).where(MobilityRun.status == "queued").limit(1))
    except Exception:  # noqa: BLE001 - e.g. the tables do not exist yet before the first migration
        logger.warning("mobility start-up recovery skipped (database not ready)")
        return
    if recovered:
        logger.warning("marked %d interrupted mobility run(s) failed", len(recovered))
    if queued:
        RUNNER.wake()
