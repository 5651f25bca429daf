"""The timeline service: the sourced chronology, read from PostgreSQL."""

from __future__ import annotations

from fastapi import FastAPI

from services.timeline.routes import router
from services.timeline.web import router as web_router
from shared.http import database_and_redis, database_and_redis_checks, install_common
from shared.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="pivotwatch timeline",
        version="0.1.0",
        lifespan=database_and_redis(settings),
        description="The sourced chronology of company strategy, at each event's real precision.",
    )
    app.state.settings = settings
    install_common(app, "timeline", database_and_redis_checks)
    app.include_router(router)
    app.include_router(web_router)
    return app
