"""The whole path with real processes: ingest -> stream -> relay -> Celery -> PostgreSQL ->
timeline, and a signed webhook to a subscriber; then a clean stop and a restart that keeps data."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from tests.e2e.conftest import Stack, start_stack
from tests.fixtures.receiver import Receiver
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.e2e


def timeline_titles(stack: Stack, slug: str) -> list[str]:
    r = httpx.get(f"{stack.timeline}/v1/companies/{slug}/timeline", params={"limit": 500})
    return [e["title"] for e in r.json()["events"]] if r.status_code == 200 else []


def test_event_flows_to_timeline_and_webhook(stack_home: Path, receiver: Receiver) -> None:
    stack = start_stack(stack_home)
    try:
        key = stack.key
        auth = {"authorization": f"Bearer {key}"}
        # Every service reports ready and exposes metrics.
        for url in (stack.ingest, stack.timeline, stack.notify):
            assert httpx.get(f"{url}/readyz").status_code == 200
            assert "pivotwatch_http_requests_total" in httpx.get(f"{url}/metrics").text

        # The seed timeline arrived through the ingest API.
        titles = wait_until(
            lambda: (
                len(timeline_titles(stack, "openai")) >= 20 and timeline_titles(stack, "openai")
            ),
            30,
        )
        assert len(titles) >= 20

        sub = httpx.post(
            f"{stack.notify}/v1/subscriptions",
            headers=auth,
            json={"url": receiver.url, "filter": {"companies": ["acme-ai"]}},
        )
        assert sub.status_code == 201, sub.text
        secret = sub.json()["secret"]

        event = {
            "specversion": "1.0",
            "id": "e2e-1",
            "source": "/tests/e2e",
            "type": "dev.pivotwatch.strategy.reported",
            "data": {
                "company": "Acme AI",
                "occurred": "2026-03",
                "title": "Acme AI releases open weights",
                "sources": [{"url": "https://example.org/acme"}],
            },
        }
        r = httpx.post(
            f"{stack.ingest}/v1/events",
            content=orjson.dumps(event),
            headers={
                **auth,
                "content-type": "application/cloudevents+json",
                "x-correlation-id": "corr-e2e-1",
            },
        )
        assert r.status_code == 202, r.text
        event_id = r.json()["id"]

        titles = wait_until(lambda: timeline_titles(stack, "acme-ai"), 30)
        assert titles == ["Acme AI releases open weights"]
        doc = httpx.get(f"{stack.timeline}/v1/events/{event_id}").json()
        assert doc["occurred"] == "2026-03" and doc["precision"] == "month"

        (hook,) = receiver.wait_for(1)
        body = hook.body
        Webhook(secret).verify(body, hook.headers)  # raises unless the signature is valid
        payload = orjson.loads(body)
        assert payload["type"] == "dev.pivotwatch.event.created"
        assert payload["data"]["event"]["id"] == event_id

        status = httpx.get(f"{stack.ingest}/v1/events/{event_id}/status", headers=auth).json()
        assert status["status"] == "stored"

        # The correlation id followed the event from ingest through the worker to the delivery.
        worker_log = (stack_home / "logs" / "enrich-worker.log").read_text()
        assert "corr-e2e-1" in worker_log
        delivered = wait_until(
            lambda: [
                line
                for line in (stack_home / "logs" / "notify-worker.log").read_text().splitlines()
                if '"delivered"' in line and "corr-e2e-1" in line
            ],
            30,
        )
        assert payload["id"] in delivered[0]
        # The webhook secret and the API key never reach a log.
        for log in (stack_home / "logs").glob("*.log"):
            text = log.read_text()
            assert secret not in text and key not in text, log.name
    finally:
        code = stack.stop()
    assert code == 0, "\n".join(stack.output)
    leftovers = wait_until(lambda: not stack.processes(), timeout=15) and []
    assert leftovers == []

    # A second `up` keeps the data of the first.
    again = start_stack(stack_home, seed=False)
    try:
        assert "Acme AI releases open weights" in timeline_titles(again, "acme-ai")
    finally:
        assert again.stop(signal.SIGTERM) == 0  # SIGTERM stops it as cleanly as Ctrl-C
    assert wait_until(lambda: not again.processes(), timeout=15)


def test_explicit_urls_use_those_servers(stack_home: Path, migrated: Any) -> None:
    stack = start_stack(
        stack_home,
        {
            "PIVOTWATCH_DATABASE_URL": migrated.database_url,
            "PIVOTWATCH_REDIS_URL": migrated.redis_url,
        },
        seed=False,
    )
    try:
        assert not (stack_home / "postgres").exists()
        assert not (stack_home / "redis").exists()
        assert httpx.get(f"{stack.timeline}/readyz").status_code == 200
    finally:
        assert stack.stop() == 0


def test_port_in_use_is_a_clear_error(stack_home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env_port = {"PIVOTWATCH_INGEST_PORT": str(port), "PIVOTWATCH_HOME": str(stack_home)}
        import os

        proc = subprocess.run(
            [sys.executable, "-m", "pivotwatch.cli", "up", "--no-seed"],
            env={**os.environ, **env_port},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"port {port} (ingest) is already in use" in proc.stderr
    assert "Traceback" not in proc.stderr
