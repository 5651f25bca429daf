"""The notify service: webhook subscriptions, their deliveries and attempt logs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from services.notify.endpoints import router
from services.notify.metrics import refresh_queue_depth_async
from shared.http import database_and_redis, database_and_redis_checks, install_common, telemetry
from shared.settings import Settings, get_settings

log = logging.getLogger("pivotwatch.notify")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        telemetry=telemetry(settings),
        title="pivotwatch notify",
        version="0.1.0",
        lifespan=database_and_redis(settings),
        description="Webhook subscriptions signed per Standard Webhooks, with retries and logs.",
    )
    app.state.settings = settings
    install_common(app, "notify", database_and_redis_checks)
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
