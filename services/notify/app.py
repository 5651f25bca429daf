"""The notify service: webhook subscriptions, their deliveries and attempt logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from services.notify.metrics import refresh_queue_depth_async
from services.notify.subscriptions import router
from shared.db import async_session_factory, make_async_engine
from shared.http import install_common, postgres_check, redis_check
from shared.settings import Settings, get_settings

log = logging.getLogger("pivotwatch.notify")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_async_engine(settings)
        client = aioredis.Redis.from_url(
            settings.redis_url, socket_timeout=5, socket_connect_timeout=2
        )
        app.state.engine = engine
        app.state.sessions = async_session_factory(engine)
        app.state.redis = client
        try:
            yield
        finally:
            await client.aclose()
            await engine.dispose()

    app = FastAPI(
        title="pivotwatch notify",
        version="0.1.0",
        lifespan=lifespan,
        description="Webhook subscriptions signed per Standard Webhooks, with retries and logs.",
    )
    app.state.settings = settings
    install_common(
        app,
        "notify",
        lambda a: {"postgres": postgres_check(a.state.engine), "redis": redis_check(a.state.redis)},
    )
    app.include_router(router)

    @app.middleware("http")
    async def _queue_depth(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """The queue lives in PostgreSQL: read its depth when `/metrics` is scraped."""
        if request.url.path == "/metrics":
            try:
                async with request.app.state.sessions() as session:
                    await refresh_queue_depth_async(session)
            except SQLAlchemyError as exc:  # serve the other metrics; the gauge keeps its value
                log.warning("queue depth unavailable", extra={"error": type(exc).__name__})
        return await call_next(request)

    return app
