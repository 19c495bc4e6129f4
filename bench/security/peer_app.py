"""The peer for the API benchmark: a bare FastAPI app with hand-written SQL and no auth, scope or audit.

It reads and updates the same `users` rows as Passage's API, so the ratio between the two is what Passage's
authentication, permission checks, audit chain and encryption cost per request.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

from fastapi import FastAPI, HTTPException

DATABASE_URL = os.environ["PEER_DATABASE_URL"]
app = FastAPI()
_local = threading.local()


def _connection() -> Any:
    connection = getattr(_local, "connection", None)
    if connection is None:
        if DATABASE_URL.startswith("sqlite"):
            connection = sqlite3.connect(DATABASE_URL.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
        else:
            import psycopg

            connection = psycopg.connect(DATABASE_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        _local.connection = connection
    return connection


def _placeholder() -> str:
    return "?" if DATABASE_URL.startswith("sqlite") else "%s"


@app.get("/peer/users/{user_id}")
def read_user(user_id: str) -> dict[str, Any]:
    p = _placeholder()
    row = _connection().execute(f"SELECT id, username, display_name, version FROM users WHERE id = {p}", (user_id,)).fetchone()  # noqa: S608
    if row is None:
        raise HTTPException(404)
    return {"id": row[0], "username": row[1], "display_name": row[2], "version": row[3]}


@app.patch("/peer/users/{user_id}")
def update_user(user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    p = _placeholder()
    cursor = _connection().execute(
        f"UPDATE users SET display_name = {p}, version = version + 1 WHERE id = {p} AND version = {p}",  # noqa: S608
        (body["display_name"], user_id, body["version"]),
    )
    if cursor.rowcount != 1:
        raise HTTPException(409)
    return {"id": user_id, "version": body["version"] + 1}
