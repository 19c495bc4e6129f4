"""Locust users for `bench_load_locust.py`: the readmission mix against Passage (`PassageUser`) or its peer (`PeerUser`).

Not run on its own: the benchmark writes the work file (tokens, case pools) and reads back what this records.
Each user sends at the moments of its own Poisson process, one request per `BENCH_PACING` seconds on average
(`MixUser`), so N users offer N / pacing requests per second; a slow server lowers the achieved rate, which the
benchmark reports beside the offered one. Mix: 55 % inbox pages (a random filter and page), 25 % case reads,
15 % transitions (acknowledge, route, verify identity), 5 % evidence uploads (40 KB PDF); when a pool of
transitions or drafts runs out the request becomes an inbox page, as in `bench_api.py`.
Every response is recorded (latency from locust's own timer, status) and written to `BENCH_OUT` at exit, with
what is left of the pools.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import gevent
from locust import FastHttpUser, events, task

WORK = json.loads(open(os.environ["BENCH_WORK"]).read())  # noqa: SIM115
TARGET = os.environ["BENCH_TARGET"]
PACING = float(os.environ.get("BENCH_PACING", "1"))
PDF = b"%PDF-1.4\n% bench evidence\n" + b"0" * 40_000 + b"\n%%EOF\n"
FILTERS = [{}, {"due": "flagged"}, {"state": "acknowledged"}, {"sort": "due"}, {"requesting_state": "NL"}, {"q": "BENCH-00"}, {"needs_action": "true"}]
PEER_ACTION_STATE = {"mps.central": "submitted", "fj.officer": "routed", "nl.officer": "draft"}
pools: dict[str, Any] = {"work": list(WORK["work"][TARGET]), "drafts": list(WORK["drafts"][TARGET])}
latencies: dict[str, list[float]] = {}
REFUSED = "refused (429)"
statuses: dict[str, int] = {}
rng = random.Random(11)


@events.request.add_listener
def _record(request_type: str, name: str, response_time: float, response_length: int, response: Any = None, exception: Any = None, **_: Any) -> None:
    status = getattr(response, "status_code", None) or 0
    # a 429 (admission limit) is a refusal to serve, not an answer: kept apart, so neither the answered count nor
    # the latency percentiles of the benchmark count it
    latencies.setdefault(REFUSED if status == 429 else name, []).append(response_time)
    key = str(status) if exception is None or status else f"0 {type(exception).__name__}"
    statuses[key] = statuses.get(key, 0) + 1


@events.init.add_listener
def _fresh_clock(**_: Any) -> None:
    # Locust arms its --run-time timer with gevent.spawn_later right after this event, before the event loop has
    # run: libev's cached "now" still dates from the hub's creation, seconds earlier when the import was slow on
    # a busy core, and the run ended at once (found here: 10 of 60 requests sent). Refresh it first.
    gevent.get_hub().loop.update_now()


@events.quitting.add_listener
def _write(**_: Any) -> None:
    with open(os.environ["BENCH_OUT"], "w") as out:
        json.dump({"latencies": latencies, "statuses": statuses, "left": pools}, out)


def multipart(fields: dict[str, str], filename: str, content: bytes, media_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\nContent-Type: {media_type}\r\n\r\n'.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class MixUser(FastHttpUser):
    """Each user sends at the moments of its own Poisson process of rate 1 / `PACING` (exponential gaps), so N
    users offer N / `PACING` requests per second as independent users do: an open arrival process, the model
    Schroeder, Wierman and Harchol-Balter ("Open Versus Closed: A Cautionary Tale", NSDI 2006) recommend for
    web workloads. A request whose moment has passed while the user waited for its previous answer is sent at
    once, so a slow server meets its backlog and the answered rate falls below the offered one.

    Not `constant_pacing`: it counts the random start-up delay of `on_start` as the first task's run time, so
    every user's second request went out in the same few milliseconds, a burst each second (found 2026-12-07:
    16 users sent their requests within 10 ms of each other), and the median latency measured half a burst's
    service time, not the server's latency at that rate."""

    abstract = True
    network_timeout = 120.0
    connection_timeout = 120.0

    def on_start(self) -> None:
        self.arrivals = random.Random(rng.random())
        self.due = time.monotonic() + self.arrivals.expovariate(1 / PACING)
        gevent.sleep(max(0.0, self.due - time.monotonic()))

    def wait_time(self) -> float:
        self.due += self.arrivals.expovariate(1 / PACING)
        return max(0.0, self.due - time.monotonic())

    def send(self, kind: str, method: str, path: str, **kwargs: Any) -> None:
        with self.client.request(method, path, name=kind, catch_response=True, **kwargs) as response:
            response.success()  # statuses are counted by `_record`; locust's own failure log is not used

    @task
    def one(self) -> None:
        roll = rng.random()
        if roll < 0.55 or (0.80 <= roll < 0.95 and not pools["work"]) or (roll >= 0.95 and not pools["drafts"]):
            self.inbox(rng.choice(["nl.officer", "mps.central", "fj.officer"]), dict(rng.choice(FILTERS)), rng.choice([0, 25, 50, 500]))
        elif roll < 0.80:
            self.read(rng.choice(WORK["readable"]))
        elif roll < 0.95:
            self.transition(*pools["work"].pop())
        else:
            self.upload(*pools["drafts"].pop())


class PassageUser(MixUser):
    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {WORK['tokens'][user]}"}

    def inbox(self, user: str, params: dict[str, str], offset: int) -> None:
        self.send("inbox", "GET", "/api/v1/readmission/cases?" + urlencode({**params, "offset": offset, "limit": 25}), headers=self.headers(user))

    def read(self, case_id: str) -> None:
        self.send("case read", "GET", f"/api/v1/readmission/cases/{case_id}", headers=self.headers("mps.central"))

    def transition(self, user: str, case_id: str, action: str, payload: dict[str, Any], version: int) -> None:
        self.send("transition", "POST", f"/api/v1/readmission/cases/{case_id}/transitions", json={"action": action, "version": version, "payload": payload}, headers=self.headers(user))

    def upload(self, case_id: str, version: int) -> None:
        body, media_type = multipart({"evidence_type": "passport", "version": str(version)}, "e.pdf", PDF, "application/pdf")
        self.send("upload", "POST", f"/api/v1/readmission/cases/{case_id}/evidence", data=body, headers={**self.headers("nl.officer"), "Content-Type": media_type})


class PeerUser(MixUser):
    def inbox(self, user: str, params: dict[str, str], offset: int) -> None:
        scope = WORK["scopes"][user]
        query: dict[str, Any] = {"org": scope["org"], "country": scope["country"], "offset": offset, "limit": 25}
        if params.get("due") == "flagged":
            query["due_before"] = (dt.date.today() + dt.timedelta(days=3)).isoformat()
        if params.get("needs_action"):
            query["state"] = PEER_ACTION_STATE[user]
        for key in ("state", "requesting_state", "q", "sort"):
            if key in params:
                query[key] = params[key]
        self.send("inbox", "GET", "/peer/cases?" + urlencode(query))

    def read(self, case_id: str) -> None:
        self.send("case read", "GET", f"/peer/cases/{case_id}")

    def transition(self, user: str, case_id: str, action: str, payload: dict[str, Any], version: int) -> None:
        self.send("transition", "POST", f"/peer/cases/{case_id}/transitions", json={"action": action, "version": version})

    def upload(self, case_id: str, version: int) -> None:
        body, media_type = multipart({"version": str(version)}, "e.pdf", PDF, "application/pdf")
        self.send("upload", "POST", f"/peer/cases/{case_id}/evidence", data=body, headers={"Content-Type": media_type})
