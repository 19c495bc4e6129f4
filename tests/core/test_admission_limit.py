"""`core.app.AdmissionLimit`: at most N requests at once; one that cannot start in time is 429 and never runs."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import anyio
import httpx

from passage.core.app import AdmissionLimit


def _run(scenario: Any) -> None:
    """Run the scenario on an event loop of its own thread (an earlier test in this process may have left one
    marked running on the main thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, scenario).result(timeout=30)


def _held_app(release: anyio.Event, started: list[str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        started.append(scope["path"])
        if scope["path"] == "/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_a_request_beyond_the_limit_waits_then_gets_429_and_never_reaches_the_app() -> None:
    async def scenario() -> None:
        release, started = anyio.Event(), list[str]()
        limited = AdmissionLimit(_held_app(release, started), max_in_flight=1, wait_seconds=0.2)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://test") as client:
            answers: dict[str, httpx.Response] = {}

            async def call(name: str, path: str) -> None:
                answers[name] = await client.get(path)

            async with anyio.create_task_group() as group:
                group.start_soon(call, "first", "/slow")
                await anyio.sleep(0.05)
                await call("second", "/other")  # the one turn is taken for longer than the wait
                await call("health", "/healthz")  # never held back
                release.set()
            assert answers["first"].status_code == 200
            assert answers["second"].status_code == 429
            assert answers["second"].headers["retry-after"] == "1"
            assert answers["second"].json()["code"] == "too_many_requests"
            assert answers["health"].status_code == 200
            assert started == ["/slow", "/healthz"]  # the refused request changed nothing: it never ran
            # the turn was given back: the next request runs
            assert (await client.get("/other")).status_code == 200

    _run(scenario)


def test_a_waiting_request_is_admitted_when_a_turn_frees_within_the_wait() -> None:
    async def scenario() -> None:
        release, started = anyio.Event(), list[str]()
        limited = AdmissionLimit(_held_app(release, started), max_in_flight=1, wait_seconds=5.0)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://test") as client:
            statuses: list[int] = []

            async def call(path: str) -> None:
                statuses.append((await client.get(path)).status_code)

            async with anyio.create_task_group() as group:
                group.start_soon(call, "/slow")
                await anyio.sleep(0.05)
                group.start_soon(call, "/other")
                await anyio.sleep(0.1)
                assert started == ["/slow"]  # the second waits for its turn
                release.set()
            assert sorted(statuses) == [200, 200]

    _run(scenario)
