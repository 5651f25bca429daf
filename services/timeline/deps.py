"""The dependencies of the timeline routes, as `Annotated` aliases: the settings, the request's
session (`shared.http`: one unit of work; the timeline's engine reads in autocommit), the session
factory and Redis client a split writes with, the live streams' own Redis pool and slots, the
admin key, the read-key check, and the filters every timeline read takes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.timeline import stream
from services.timeline.exports import Format
from services.timeline.service import EXPORT_MAX, Filters
from shared.auth import Principal, Scope
from shared.http import RedisDep, SessionDep, SettingsDep, authenticate, require

__all__ = [
    "Admin",
    "AsOf",
    "FiltersDep",
    "FormatParam",
    "RedisDep",
    "SessionDep",
    "Sessions",
    "SettingsDep",
    "StreamRedis",
    "StreamSlots",
    "read_access",
]


async def read_access(request: Request) -> None:
    """With `require_read_key` on, every read needs an API key (any scope)."""
    if request.app.state.settings.require_read_key:
        await authenticate(request)


async def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


async def get_stream_redis(request: Request) -> aioredis.Redis:
    client: aioredis.Redis = request.app.state.stream_redis
    return client


async def get_stream_slots(request: Request) -> stream.Slots:
    slots: stream.Slots = request.app.state.stream_slots
    return slots


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
# Streams hold their Redis connection for their whole life: a pool of their own, so that many of
# them never starve the read-key checks and pages of the shared one.
StreamRedis = Annotated[aioredis.Redis, Depends(get_stream_redis)]
StreamSlots = Annotated[stream.Slots, Depends(get_stream_slots)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]

AsOf = Annotated[
    datetime | None,
    Query(description="read as recorded at this moment (RFC 3339; no offset means UTC)"),
]
FormatParam = Annotated[Format, Query(description="json, timelinejs, ics, atom or csv")]


async def filters(
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    category: Annotated[list[str] | None, Query()] = None,
    phase: Annotated[str | None, Query(max_length=100)] = None,
    entity: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=500)] = None,
    min_importance: Annotated[int | None, Query(ge=0, le=100)] = None,
    include_duplicates: bool = False,
    as_of: AsOf = None,
    limit: Annotated[
        int | None, Query(ge=1, le=EXPORT_MAX, description="JSON: at most 500")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Filters:
    """The query parameters every timeline route takes. A coroutine: FastAPI would run a plain
    class dependency in a worker thread, a thread hand-off on every request."""
    return Filters(
        from_,
        to,
        category,
        phase,
        entity,
        q,
        min_importance,
        include_duplicates,
        as_of,
        limit,
        cursor,
    )


FiltersDep = Annotated[Filters, Depends(filters)]
