"""Issue 17 item 7: uploaded workbooks are read first in a worker limited in memory and time."""

from __future__ import annotations

import pytest

from passage.core.errors import InvalidInput
from passage.core.worker import WorkerLimitExceeded, run_limited


def _allocate(megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def _spin(seconds: float) -> int:
    import time

    end = time.process_time() + seconds
    count = 0
    while time.process_time() < end:
        count += 1
    return count


def _refuse() -> None:
    raise InvalidInput("row 3: bad value")


def test_the_worker_returns_its_result() -> None:
    assert run_limited(_allocate, 10, memory_bytes=1024 * 1024 * 1024, seconds=30) == 10 * 1024 * 1024


def test_the_memory_limit_stops_the_worker_not_the_caller() -> None:
    with pytest.raises(WorkerLimitExceeded) as refused:
        run_limited(_allocate, 2048, memory_bytes=512 * 1024 * 1024, seconds=30)
    assert refused.value.status == 413


def test_the_time_limit_stops_the_worker() -> None:
    with pytest.raises(WorkerLimitExceeded):
        run_limited(_spin, 30, memory_bytes=1024 * 1024 * 1024, seconds=1)


def test_a_domain_error_in_the_worker_reaches_the_caller() -> None:
    with pytest.raises(Exception, match="row 3: bad value") as refused:
        run_limited(_refuse, memory_bytes=1024 * 1024 * 1024, seconds=30)
    assert getattr(refused.value, "status", None) == 422
