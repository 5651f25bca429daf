"""The timeline service: the sourced chronology, read from PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from services.timeline.routes import router
from services.timeline.web import router as web_router
from shared.db import async_session_factory, make_async_engine
from shared.http import install_common, postgres_check, redis_check
from shared.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Pool as large as the concurrency it serves: connections past the pool are closed on
        # return, and reconnecting costs more than the query.
        engine = make_async_engine(settings, pool_size=32, read_only=True)
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
        title="pivotwatch timeline",
        version="0.1.0",
        lifespan=lifespan,
        description="The sourced chronology of company strategy, at each event's real precision.",
    )
    app.state.settings = settings
    install_common(
        app,
        "timeline",
        lambda a: {"postgres": postgres_check(a.state.engine), "redis": redis_check(a.state.redis)},
    )
    app.include_router(router)
    app.include_router(web_router)
    return app
