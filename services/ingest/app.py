"""The ingest service: accepts strategy events and articles, answers 202 once they are durable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import redis.asyncio as aioredis
from fastapi import FastAPI

from services.ingest.endpoints import router
from services.ingest.openapi import install_openapi
from services.ingest.publisher import Publisher
from services.ingest.ratelimit import RateLimiter
from services.ingest.service import ARTICLE_TOKEN_CHARS, IngestState
from shared.auth import PrincipalCache
from shared.db import make_async_engine
from shared.http import install_common, redis_check, telemetry
from shared.metrics import refresh_queue_gauges
from shared.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=10,
            max_connections=256,
        )
        # Where the shared dependencies (the key lookup, readiness, metrics) look for them.
        app.state.redis = client
        app.state.metrics_refresh = partial(refresh_queue_gauges, client)
        engine = None
        try:
            # Inside the try: a start that fails here still closes the Redis client.
            if settings.database_url:
                engine = make_async_engine(settings, pool_size=1, read_only=True)
            app.state.ingest = IngestState(
                redis=client,
                publisher=Publisher(
                    client, settings.status_ttl_seconds, settings.ingest_stream_maxlen
                ),
                principals=PrincipalCache(settings.auth_cache_seconds),
                limiter=RateLimiter(
                    client, settings.rate_limit_per_second, settings.rate_limit_burst
                ),
                engine=engine,
            )
            yield
        finally:
            await client.aclose()
            if engine is not None:
                await engine.dispose()

    app = FastAPI(
        telemetry=telemetry(settings),
        title="pivotwatch ingest",
        version="0.1.0",
        lifespan=lifespan,
        description=description(settings),
    )
    app.state.settings = settings
    install_common(app, "ingest", lambda a: {"redis": redis_check(a.state.redis)})
    app.include_router(router)
    install_openapi(app)
    return app


def description(settings: Settings) -> str:
    """The OpenAPI description, with the limits this deployment enforces."""
    days = settings.status_ttl_seconds / 86400
    return (
        "Accepts CloudEvents 1.0 in every HTTP content mode (structured "
        "`application/cloudevents+json`, binary `ce-*` headers, batch "
        "`application/cloudevents-batch+json`) and plain `application/json` StrategyEvents. "
        "`202` means the event is durable on the ingest log; `source` + `id` is the idempotency "
        "key, so a re-post answers `202` with the same id and `duplicate: true`. Every error "
        "has one shape: `{error, detail, field}`.\n\n"
        "**Limits**\n\n"
        f"- event size: {settings.max_event_bytes} bytes (413)\n"
        f"- request size: {settings.max_request_bytes} bytes (413)\n"
        f"- batch size: {settings.max_batch_events} events (413)\n"
        f"- rate per key: {settings.rate_limit_per_second:g} events/s, burst "
        f"{settings.rate_limit_burst} (429 + Retry-After); an article costs one token per "
        f"started {ARTICLE_TOKEN_CHARS} characters of its `text` (at least one)\n"
        f"- statuses are answered for {days:g} days\n"
        "- Redis unreachable: 503 + Retry-After, nothing written\n"
        f"- ingest log holding {settings.ingest_stream_maxlen} events the workers have not taken "
        "yet: 503 + Retry-After, nothing more written\n"
    )
