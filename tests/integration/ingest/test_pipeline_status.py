"""GET /v1/status and `pivotwatch status`: what waits where, from real Redis and PostgreSQL.

A chunk is held the way a Celery worker holds one (delivered by kombu, not acknowledged, recorded
by the worker's presence); the report shows it with its age and its worker, alive or stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from celery import Celery
from redis import Redis

from shared.auth import Scope
from shared.celery_app import make_celery
from shared.redis_keys import ENRICH_QUEUE, INGEST_STREAM, worker_key
from shared.settings import Settings
from shared.workers import Presence

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def app(settings: Settings) -> Celery:
    return make_celery(settings)


@pytest.fixture
def held_chunk(app: Celery, settings: Settings) -> Iterator[Presence]:
    """An `enrich.store_chunk` message delivered to a (live) worker and not acknowledged."""
    app.send_task("enrich.store_chunk", args=[[]], queue=ENRICH_QUEUE)
    conn = app.connection_for_write()
    message = conn.SimpleQueue(ENRICH_QUEUE).get(timeout=5)
    worker = Presence(app, settings, "enrich@status-test", [ENRICH_QUEUE])
    worker.received(str(message.delivery_tag))
    worker.beat()
    yield worker
    conn.release()


class TestStatusRoute:
    async def test_shows_the_held_chunk_its_worker_and_the_backlog(
        self,
        ingest: httpx.AsyncClient,
        make_key: Callable[..., str],
        held_chunk: Presence,
        redis_client: Redis,
    ) -> None:
        redis_client.xadd(INGEST_STREAM, {"id": "x", "kind": "event", "ce": "{}"})
        admin = {"authorization": f"Bearer {make_key(Scope.ADMIN)}"}
        r = await ingest.get("/v1/status", headers=admin)
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["redis"], report["postgres"]) == ("ok", "ok")
        assert report["ingest_log"]["waiting"] == 1
        held = report["unacknowledged"]
        assert held["messages"] == 1 and held["held_by_stopped_workers"] == 0
        (message,) = held["oldest"]
        assert message["task"] == "enrich.store_chunk"
        assert message["worker"] == "enrich@status-test" and message["worker_alive"] is True
        (worker,) = report["workers"]
        assert worker["alive"] and worker["queues"] == [ENRICH_QUEUE]
        assert worker["heartbeat_age_seconds"] >= 0 and worker["last_heartbeat"]
        assert report["deliveries"] == {
            "processing": 0, "waiting": 0, "retrying": 0, "failed": 0, "oldest_pending": None,
        }  # fmt: skip
        assert report["outbox_waiting"]["rows"] == 0

        redis_client.delete(worker_key(held_chunk.wid))  # the worker died holding it
        after = (await ingest.get("/v1/status", headers=admin)).json()
        assert after["unacknowledged"]["held_by_stopped_workers"] == 1
        assert after["workers"][0]["alive"] is False

    async def test_needs_the_admin_scope(
        self, ingest: httpx.AsyncClient, make_key: Callable[..., str]
    ) -> None:
        writer = {"authorization": f"Bearer {make_key(Scope.EVENTS_WRITE)}"}
        r = await ingest.get("/v1/status", headers=writer)
        assert r.status_code == 403
        assert r.json()["error"] and r.json()["field"] == "authorization"
        assert (await ingest.get("/v1/status")).status_code == 401

    async def test_metrics_carry_the_oldest_unacknowledged_age(
        self, ingest: httpx.AsyncClient, held_chunk: Presence
    ) -> None:
        text = (await ingest.get("/metrics")).text
        lines = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line.startswith("pivotwatch_celery_")
        }
        assert lines["pivotwatch_celery_unacknowledged_messages"] == 1
        assert lines["pivotwatch_celery_oldest_unacknowledged_seconds"] > 0  # one is held


class TestStatusCommand:
    def _run(self, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PIVOTWATCH_")},
            "PIVOTWATCH_DATABASE_URL": settings.database_url,
            "PIVOTWATCH_REDIS_URL": settings.redis_url,
            "PIVOTWATCH_HOME": str(settings.home),
        }
        return subprocess.run(
            [sys.executable, "-m", "pivotwatch.cli", "status", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_json_is_the_routes_report(self, settings: Settings, held_chunk: Presence) -> None:
        done = self._run(settings, "--json")
        assert done.returncode == 0, done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        assert report["unacknowledged"]["oldest"][0]["worker"] == "enrich@status-test"

    def test_text_names_the_held_chunk_and_the_worker(
        self, settings: Settings, held_chunk: Presence
    ) -> None:
        done = self._run(settings)
        assert done.returncode == 0, done.stderr
        assert "1 message(s) in workers" in done.stdout
        assert "enrich.store_chunk for" in done.stdout and "enrich@status-test" in done.stdout
        assert "alive" in done.stdout
        assert orjson.dumps(settings.redis_url).decode().strip('"') not in done.stdout
