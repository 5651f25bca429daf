"""Prometheus metrics: one registry per process, `/metrics` on every HTTP service.

Worker processes expose theirs through the `pivotwatch` CLI's `--metrics-port` when asked.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

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


def install_http_metrics(app: FastAPI, service: str) -> None:
    """Count and time requests, carry the correlation id, and serve `/metrics`."""

    @app.middleware("http")
    async def _observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        cid = request.headers.get("x-correlation-id") or new_correlation_id()
        token = correlation_id.set(cid[:64])
        start = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            correlation_id.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(service, path, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, path).observe(time.perf_counter() - start)
        response.headers["x-correlation-id"] = cid[:64]
        return response

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
