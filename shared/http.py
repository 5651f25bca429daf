"""What every FastAPI service shares: app construction, health/readiness, auth and session
dependencies, the request body reader that enforces size limits before parsing, and the
hardening every response gets (`X-Content-Type-Options: nosniff`; a NUL in the path or query
refused with 422)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

import redis.asyncio as aioredis
from fastapi import Depends, FastAPI, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from shared.auth import Principal, Scope, lookup, parse_bearer
from shared.db import async_session_factory, make_async_engine
from shared.errors import (
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    Unauthorized,
    error_response,
    install_error_handlers,
    unavailable,
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


NOSNIFF = (b"x-content-type-options", b"nosniff")


class Hardening:
    """Pure ASGI middleware: every response says `nosniff`, so no browser guesses a JSON error or
    an export to be HTML; and a NUL in the path or query string is refused with 422 before any
    route sees it (PostgreSQL cannot hold NUL in text, and no pivotwatch value contains one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        field = None
        if "\x00" in scope["path"]:  # the path arrives percent-decoded
            field = "path"
        elif b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            field = "query"
        if field is not None:
            error = InvalidInput("NUL characters (%00) are not accepted", field=field)
            await error_response(error)(scope, receive, self._with_nosniff(send))
            return
        await self.app(scope, receive, self._with_nosniff(send))

    @staticmethod
    def _with_nosniff(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == NOSNIFF[0] for name, _ in headers):
                    headers.append(NOSNIFF)
                message["headers"] = headers
            await send(message)

        return wrapped


# Probes and scrapes begin no trace: they would be most of them.
UNTRACED_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def telemetry(settings: Settings) -> TelemetryConfig:
    """FastAPI's native OpenTelemetry. Its request span is where a pivotwatch trace begins, so
    tracing is on with `otel_endpoint` (shared/tracing.py sets the provider); metrics and logs
    only with `opentelemetry` (ours are Prometheus and JSON lines). All off by default: while
    any is on FastAPI asks on every request whether a provider is configured (environment
    lookups: a tenth of a cached timeline page's CPU)."""
    native = settings.opentelemetry
    return TelemetryConfig(
        tracing=native or bool(settings.otel_endpoint),
        metrics=native,
        logs=native,
        exclude=_untraced,
    )


def install_common(
    app: FastAPI, service: str, checks: Callable[[FastAPI], dict[str, Check]]
) -> None:
    """Error handlers, metrics, hardening, `/healthz` (alive) and `/readyz` (dependencies
    reachable)."""
    install_error_handlers(app)
    install_http_metrics(app, service)
    app.add_middleware(Hardening)  # added last, so it runs first: before metrics and routes

    @app.get("/healthz", tags=["health"], operation_id="getHealth")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["health"], operation_id="getReadiness")
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


def database_and_redis(
    settings: Settings, *, pool_size: int = 10, read_only: bool = False
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The lifespan of a service that reads PostgreSQL and Redis: clients built at start-up,
    on app state (`engine`, `sessions`, `redis`), closed at shutdown. `read_only` services run
    their statements in autocommit (see `make_async_engine`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_async_engine(settings, pool_size=pool_size, read_only=read_only)
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

    return lifespan


def database_and_redis_checks(app: FastAPI) -> dict[str, Check]:
    return {"postgres": postgres_check(app.state.engine), "redis": redis_check(app.state.redis)}


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_redis(request: Request) -> aioredis.Redis:
    client: aioredis.Redis = request.app.state.redis
    return client


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commit on success, roll back on error. On a read-only engine
    (autocommit) begin and commit send nothing: each statement is its own transaction."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# scope="function": the transaction commits when the route returns, before the response is sent;
# by default the exit code runs after it, and a client could act on a 201 not yet committed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
# An id in the path: a UUID in the OpenAPI document (so generated clients and fuzzers send one),
# validated by the route (`path_uuid`), which answers a malformed one in the project's error shape.
UUIDPath = Annotated[str, Path(description="a UUID", json_schema_extra={"format": "uuid"})]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]

# What a malformed event id is answered with (ingest's status, the timeline's event routes).
EVENT_ID_DETAIL = "not a pivotwatch event id (a UUID)"


def path_uuid(raw: str, field: str, detail: str = "not a valid id (a UUID)") -> uuid.UUID:
    """A `UUIDPath` value as a UUID; a malformed one is a 422 naming `field`."""
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise InvalidInput(detail, field=field) from exc


# The API key as the OpenAPI documents declare it, an HTTP bearer scheme: /docs gets its Authorize
# button and generated clients a token. Declared only: with auto_error off, reading and refusing
# the key stay with `bearer_token`, in the project's error shape (FastAPI's would be its own).
API_KEY = HTTPBearer(
    scheme_name="apiKey",
    description="An API key (`pivotwatch keys create`), sent as `Authorization: Bearer <key>`.",
    auto_error=False,
)
# The same requirement for a route that reads its key by itself (`openapi_extra=`).
KEY_REQUIRED: dict[str, Any] = {"security": [{API_KEY.scheme_name: []}]}
DeclaredKey = Annotated[HTTPAuthorizationCredentials | None, Security(API_KEY)]


def bearer_token(request: Request) -> str:
    """The presented API key; 401 when there is none."""
    token = parse_bearer(request.headers.get("authorization", ""))
    if token is None:
        raise Unauthorized(
            "an API key is required: 'Authorization: Bearer <key>'", field="authorization"
        )
    return token


async def authenticate(request: Request) -> Principal:
    token = bearer_token(request)
    with unavailable():
        principal = await lookup(request.app.state.redis, token)
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked", field="authorization")
    return principal


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A route that depends on this needs a key with `scope`; its OpenAPI operation says so."""

    async def dependency(
        principal: Annotated[Principal, Depends(authenticate)], _: DeclaredKey
    ) -> Principal:
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
