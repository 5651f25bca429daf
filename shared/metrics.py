"""Prometheus metrics: one registry per process, `/metrics` on every HTTP service.

The relay and the Celery workers, which have no HTTP API, serve theirs on ports of their own when
asked; a prefork worker serves the sum of its pool processes' (shared/procmetrics.py).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logs import correlation_id, new_correlation_id

HTTP_REQUESTS = Counter(
    "pivotwatch_http_requests_total", "HTTP requests", ["service", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "pivotwatch_http_request_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENTS_ACCEPTED = Counter("pivotwatch_events_accepted_total", "events written to the ingest log")
EVENTS_REJECTED = Counter("pivotwatch_events_rejected_total", "events rejected", ["reason"])
EVENTS_STORED = Counter("pivotwatch_events_stored_total", "events stored", ["outcome"])
DELIVERIES = Counter("pivotwatch_webhook_attempts_total", "webhook attempts", ["outcome"])


class _Observe:
    """Pure ASGI middleware (BaseHTTPMiddleware costs a task and a queue per request): carries the
    correlation id in and out, and counts and times every request by route."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # Labelled children by (route, status): `labels()` builds and locks on every call.
        self._counters: dict[tuple[str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = b""
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                cid = value[:64]
                break
        cid_text = cid.decode("latin-1") if cid else new_correlation_id()
        token = correlation_id.set(cid_text)
        status = 500
        header = (b"x-correlation-id", cid_text.encode("latin-1"))

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            correlation_id.reset(token)
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            counter = self._counters.get((path, status))
            if counter is None:
                counter = HTTP_REQUESTS.labels(self.service, path, str(status))
                self._counters[(path, status)] = counter
            timer = self._timers.get(path)
            if timer is None:
                timer = self._timers[path] = HTTP_LATENCY.labels(self.service, path)
            counter.inc()
            timer.observe(time.perf_counter() - start)


def install_http_metrics(app: FastAPI, service: str) -> None:
    """Count and time requests, carry the correlation id, and serve `/metrics`."""
    app.add_middleware(_Observe, service=service)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        refresh = getattr(app.state, "metrics_refresh", None)
        if refresh is not None:
            with contextlib.suppress(Exception):  # a scrape still answers without Redis
                await refresh()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


CELERY_UNACKED = Gauge(
    "pivotwatch_celery_unacknowledged_messages",
    "Celery messages delivered to a worker and not yet acknowledged (kombu's unacked set)",
)
CELERY_OLDEST_UNACKED = Gauge(
    "pivotwatch_celery_oldest_unacknowledged_seconds",
    "age of the oldest Celery message a worker holds unacknowledged (0 when none): a chunk "
    "or fan-out takes seconds; minutes mean a worker is stuck or died and nothing took its "
    "work back",
)


async def refresh_queue_gauges(client: Any) -> None:
    """Read the held messages' gauges from Redis at scrape time (ingest's /metrics)."""
    from shared.opstatus import oldest_unacknowledged

    n, age = await oldest_unacknowledged(client)
    CELERY_UNACKED.set(n)
    CELERY_OLDEST_UNACKED.set(age)
