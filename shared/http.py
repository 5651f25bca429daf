"""What every FastAPI service shares: app construction, health/readiness, auth dependencies,
and the request body reader that enforces size limits before parsing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, FastAPI, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal, Scope, lookup
from shared.errors import (
    DependencyUnavailable,
    Forbidden,
    PayloadTooLarge,
    Unauthorized,
    install_error_handlers,
)
from shared.metrics import install_http_metrics
from shared.responses import JSONResponse
from shared.settings import Settings

Check = Callable[[], Awaitable[None]]


def redis_check(client: aioredis.Redis) -> Check:
    async def check() -> None:
        await client.ping()

    return check


def postgres_check(engine: AsyncEngine) -> Check:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def install_common(
    app: FastAPI, service: str, checks: Callable[[FastAPI], dict[str, Check]]
) -> None:
    """Error handlers, metrics, `/healthz` (alive) and `/readyz` (dependencies reachable)."""
    install_error_handlers(app)
    install_http_metrics(app, service)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks(request.app).items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready"; say which and why
                results[name] = f"unreachable: {type(exc).__name__}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "service": service, "checks": results},
            status_code=200 if ready else 503,
            headers=None if ready else {"Retry-After": "5"},
        )


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_redis(request: Request) -> aioredis.Redis:
    client: aioredis.Redis = request.app.state.redis
    return client


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]


def bearer_token(request: Request) -> str:
    """The presented API key; 401 when there is none."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "an API key is required: 'Authorization: Bearer <key>'", field="authorization"
        )
    return token.strip()


async def authenticate(request: Request) -> Principal:
    token = bearer_token(request)
    try:
        principal = await lookup(request.app.state.redis, token)
    except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
        raise DependencyUnavailable("Redis is unreachable; try again", retry_after=2) from exc
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked", field="authorization")
    return principal


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.allows(scope):
            raise Forbidden(f"this key lacks the '{scope.value}' scope", field="authorization")
        return principal

    return dependency


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) as soon as it is known to exceed `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body is {declared} bytes; the limit is {limit}", field="body"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)
