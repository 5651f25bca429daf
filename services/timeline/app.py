"""The timeline service: the sourced chronology, read from PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, Security
from starlette.middleware.cors import CORSMiddleware

from services.timeline import stream
from services.timeline.cache import PageCache, PageCacheMiddleware
from services.timeline.endpoints import router
from services.timeline.web import router as web_router
from shared.errors import KEY_ANSWERS
from shared.http import (
    API_KEY,
    database_and_redis,
    database_and_redis_checks,
    install_common,
    telemetry,
)
from shared.settings import Settings, get_settings


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The shared clients, plus the live streams' own Redis pool and their slots."""
    common = database_and_redis(settings, pool_size=32, read_only=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with common(app):
            streams = aioredis.Redis.from_url(
                settings.redis_url,
                socket_timeout=5,  # XREAD BLOCK waits at most MAX_BLOCK_SECONDS (2 s)
                socket_connect_timeout=2,
                max_connections=settings.stream_max_connections + 2,  # + the feed position
            )
            app.state.stream_redis = streams
            app.state.stream_slots = stream.Slots(
                settings.stream_max_connections, settings.stream_max_per_client
            )
            try:
                yield
            finally:
                await streams.aclose()

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        telemetry=telemetry(settings),
        title="pivotwatch timeline",
        version="0.1.0",
        # Pool as large as the concurrency it serves: connections past the pool are closed on
        # return, and reconnecting costs more than the query.
        lifespan=_lifespan(settings),
        description="The sourced chronology of company strategy, at each event's real precision.",
    )
    app.state.settings = settings
    app.state.pages = PageCache(settings.timeline_cache_entries, settings.timeline_cache_seconds)
    # Innermost of the middleware: a cached page still passes CORS, metrics and hardening.
    app.add_middleware(
        PageCacheMiddleware, pages=app.state.pages, require_key=settings.require_read_key
    )
    # CORS: the chronology is public data, so any origin may read it from a browser: GET only,
    # never with the browser's credentials (cookies are not used; a page that holds an API key
    # sends it itself). Ingest and notify have no CORS at all, so no other origin's page may call
    # them. Added before install_common so its hardening middleware wraps the preflights too.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD"],
        allow_headers=["authorization", "last-event-id"],
        allow_credentials=False,
        expose_headers=["link", "x-correlation-id"],
        max_age=600,
    )
    install_common(app, "timeline", database_and_redis_checks)
    # The reads are public unless `require_read_key` (deps.read_access checks the key); when
    # they are not, their OpenAPI operations say so.
    locked = settings.require_read_key
    app.include_router(
        router,
        dependencies=[Security(API_KEY)] if locked else None,
        responses={401: KEY_ANSWERS[401]} if locked else None,
    )
    app.include_router(web_router)
    return app
