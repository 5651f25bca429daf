"""The naive pipelines the targets are measured against, built the obvious way: one Celery task
per event (or per delivery) with default Celery settings, a row-by-row INSERT on a fresh
connection, a new HTTP connection per webhook."""

from __future__ import annotations

import os
from typing import Any

import httpx
import psycopg
from celery import Celery

app = Celery("naive", broker=os.environ.get("NAIVE_BROKER_URL", "redis://127.0.0.1:6379/1"))
DATABASE_URL = os.environ.get("NAIVE_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres")

SCHEMA = "CREATE TABLE IF NOT EXISTS naive_events (id text PRIMARY KEY, data jsonb NOT NULL)"


@app.task(name="naive.store")  # type: ignore[untyped-decorator]
def store(event_id: str, data: str) -> None:
    with psycopg.connect(DATABASE_URL) as conn:
        conn.execute(
            "INSERT INTO naive_events (id, data) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (event_id, data),
        )


@app.task(name="naive.deliver")  # type: ignore[untyped-decorator]
def deliver(url: str, body: str) -> int:
    with httpx.Client(timeout=15) as client:
        return client.post(
            url, content=body, headers={"content-type": "application/json"}
        ).status_code


def publish_events(n: int, prefix: str) -> None:
    for i in range(n):
        store.delay(f"{prefix}-{i}", '{"title": "naive"}')


def publish_deliveries(n: int, url: str) -> None:
    body = '{"type": "dev.pivotwatch.event.created"}'
    for _ in range(n):
        deliver.delay(url, body)


def count(prefix: str) -> int:
    with psycopg.connect(DATABASE_URL) as conn:
        row: Any = conn.execute(
            "SELECT count(*) FROM naive_events WHERE id LIKE %s", (prefix + "-%",)
        ).fetchone()
        return int(row[0])
