"""Integration layer: real PostgreSQL and Redis, ASGI apps in-process, a clean slate per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from shared.auth import Scope, create_key
from shared.db import make_engine, session_factory
from shared.settings import Settings


@pytest.fixture(autouse=True)
def _clean(clean: None) -> None:
    return None


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def make_key(sessions: sessionmaker[Session], redis_client: Redis) -> Callable[..., str]:
    def make(*scopes: Scope, name: str = "test") -> str:
        with sessions() as session, session.begin():
            return create_key(session, redis_client, name, list(scopes)).secret

    return make


@pytest.fixture
def serve() -> Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]:
    """Run an app's lifespan and give a client that talks to it over ASGI."""

    @asynccontextmanager
    async def run(app: FastAPI, **kw: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test", **kw) as c:
                yield c

    return run
