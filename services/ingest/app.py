"""The ingest service: accepts strategy events and articles, answers 202 once they are durable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from services.ingest.publisher import Publisher
from services.ingest.ratelimit import RateLimiter
from services.ingest.routes import router
from shared.http import install_common, redis_check
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
        app.state.redis = client
        app.state.publisher = Publisher(client, settings.status_ttl_seconds)
        app.state.limiter = RateLimiter(
            client, settings.rate_limit_per_second, settings.rate_limit_burst
        )
        try:
            yield
        finally:
            await client.aclose()

    app = FastAPI(
        title="pivotwatch ingest",
        version="0.1.0",
        lifespan=lifespan,
        description=(
            "Accepts CloudEvents 1.0 (structured, binary, batch) and plain JSON strategy events. "
            f"Limits: {settings.max_event_bytes} bytes per event, {settings.max_request_bytes} "
            f"bytes per request, {settings.max_batch_events} events per batch; "
            f"{settings.rate_limit_per_second:g} events/s per key "
            f"(burst {settings.rate_limit_burst})."
        ),
    )
    app.state.settings = settings
    install_common(app, "ingest", lambda a: {"redis": redis_check(a.state.redis)})
    app.include_router(router)
    return app
