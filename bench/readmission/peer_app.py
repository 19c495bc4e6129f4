"""The peer for the readmission load benchmark: a bare FastAPI app, hand-written SQL, no auth, scope or audit.

It serves the same four kinds of request as the readmission mix of `bench_load_locust.py`, on the same tables
and the same seeded cases: an inbox page (count, then 25 ids in the requested order, then those rows), a case
read, a state change with an optimistic version check (409 on a stale version) and an evidence upload (the file's
SHA-256 and a row). What it leaves out is what Passage adds per request: sign-in tokens, permissions, record
scope, the audit chain, field encryption, deadline computation and problem-details validation. The ratio between
the two is what those cost under load. The benchmark creates its `peer_evidence` table before starting it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sqlite3
import threading
import uuid
from typing import Any

from fastapi import FastAPI, HTTPException, Request

DATABASE_URL = os.environ["PEER_DATABASE_URL"]
SQLITE = DATABASE_URL.startswith("sqlite")
P = "?" if SQLITE else "%s"
app = FastAPI()
_local = threading.local()
NEXT_STATE = {"acknowledge": "acknowledged", "route": "routed", "verify_identity": "identity_verified"}
SORTS = {"-updated": "updated_at DESC, id DESC", "reference": "reference, id", "due": "next_due_on IS NULL, next_due_on, id"}


def _connection() -> Any:
    connection = getattr(_local, "connection", None)
    if connection is None:
        if SQLITE:
            connection = sqlite3.connect(DATABASE_URL.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=30000")
        else:
            import psycopg

            connection = psycopg.connect(DATABASE_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        _local.connection = connection
    return connection


@app.get("/peer/cases")
def inbox(org: str, country: str, state: str | None = None, requesting_state: str | None = None, q: str | None = None,
          due_before: str | None = None, sort: str = "-updated", offset: int = 0, limit: int = 25) -> dict[str, Any]:
    where = [f"(requesting_org_id = {P} OR requested_state = {P} OR routed_province_org_id = {P})", f"(requesting_org_id = {P} OR submitted_on IS NOT NULL)"]
    args: list[Any] = [org, country, org, org]
    for column, value in (("state", state), ("requesting_state", requesting_state)):
        if value:
            where.append(f"{column} = {P}")
            args.append(value)
    if q:
        where.append(f"reference LIKE {P}")
        args.append(f"%{q}%")
    if due_before:
        where.append(f"next_due_on <= {P}")
        args.append(due_before)
    clause = " AND ".join(where)
    connection = _connection()
    total = connection.execute(f"SELECT count(*) FROM readmission_case WHERE {clause}", args).fetchone()[0]  # noqa: S608
    ids = [r[0] for r in connection.execute(f"SELECT id FROM readmission_case WHERE {clause} ORDER BY {SORTS.get(sort, SORTS['-updated'])} LIMIT {int(limit)} OFFSET {int(offset)}", args)]  # noqa: S608
    rows = []
    if ids:
        marks = ", ".join([P] * len(ids))
        found = {r[0]: r for r in connection.execute(f"SELECT id, reference, state, requesting_state, province_code, submitted_on, updated_at, next_due_on, version FROM readmission_case WHERE id IN ({marks})", ids)}  # noqa: S608
        rows = [{"id": r[0], "reference": r[1], "state": r[2], "requesting_state": r[3], "province": r[4], "submitted_on": str(r[5]), "updated_at": str(r[6]), "next_due": str(r[7]), "version": r[8]} for r in (found[i] for i in ids)]
    return {"items": rows, "total": total, "offset": offset, "limit": limit}


@app.get("/peer/cases/{case_id}")
def read_case(case_id: str) -> dict[str, Any]:
    row = _connection().execute(f"SELECT id, reference, state, surname, given_names, date_of_birth, version FROM readmission_case WHERE id = {P}", (case_id,)).fetchone()  # noqa: S608
    if row is None:
        raise HTTPException(404)
    deadlines = _connection().execute(f"SELECT kind, due FROM readmission_case_deadline WHERE case_id = {P}", (case_id,)).fetchall()  # noqa: S608
    # the peer has no field encryption: the stored (encrypted) bytes stand in for plaintext of the same size
    person = [value.hex() if isinstance(value, bytes | memoryview) else value for value in (bytes(v) if isinstance(v, memoryview) else v for v in row[3:6])]
    return {"id": row[0], "reference": row[1], "state": row[2], "surname": person[0], "given_names": person[1], "date_of_birth": person[2], "version": row[6],
            "deadlines": [{"kind": k, "due": str(d)} for k, d in deadlines]}


@app.post("/peer/cases/{case_id}/transitions")
def transition(case_id: str, body: dict[str, Any]) -> dict[str, Any]:
    state = NEXT_STATE.get(str(body.get("action")))
    if state is None:
        raise HTTPException(422)
    cursor = _connection().execute(
        f"UPDATE readmission_case SET state = {P}, version = version + 1, updated_at = {P} WHERE id = {P} AND version = {P}",  # noqa: S608
        (state, dt.datetime.now(dt.UTC), case_id, body.get("version")),
    )
    if cursor.rowcount != 1:
        raise HTTPException(409)
    return {"id": case_id, "state": state, "version": int(body["version"]) + 1}


@app.post("/peer/cases/{case_id}/evidence", status_code=201)
async def upload(case_id: str, request: Request) -> dict[str, Any]:
    form = await request.form()
    content = await form["file"].read()  # type: ignore[union-attr]
    digest = hashlib.sha256(content).hexdigest()
    cursor = _connection().execute(f"UPDATE readmission_case SET version = version + 1, updated_at = {P} WHERE id = {P} AND version = {P}",  # noqa: S608
                                   (dt.datetime.now(dt.UTC), case_id, int(str(form["version"]))))
    if cursor.rowcount != 1:
        raise HTTPException(409)
    document = uuid.uuid4().hex
    _connection().execute(f"INSERT INTO peer_evidence (id, case_id, sha256, size, content) VALUES ({P}, {P}, {P}, {P}, {P})",  # noqa: S608
                          (document, case_id, digest, len(content), content))
    return {"id": document, "sha256": digest, "size": len(content)}

