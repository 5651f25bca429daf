"""The live timeline: Server-Sent Events from the `pw:timeline` change feed.

Storage appends a feed entry after each commit, naming the event, the kind of change and the
version it reached. The stream sends that version's document (from `event_versions`, so a later
correction does not leak into an earlier message) when it matches the subscriber's filters. The SSE
`id` is the feed entry's id: a client that reconnects with `Last-Event-ID` (EventSource does so by
itself) resumes just after the last message it received, and nothing in between is lost. The feed
keeps about TIMELINE_STREAM_MAXLEN entries; older ones cannot be replayed, and a client away that
long should reload the timeline. A comment line goes out when nothing else has for
`stream_heartbeat_seconds`, so idle connections survive proxies.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import Event, EventVersion
from shared.errors import InvalidInput, unavailable
from shared.redis_keys import TIMELINE_STREAM

log = logging.getLogger("pivotwatch.timeline.stream")

Doc = dict[str, Any]
KINDS = frozenset({"event.created", "event.updated", "phase.changed"})
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
# A blocking read must end well before the Redis client's socket timeout (5 s).
MAX_BLOCK_SECONDS = 2.0
BATCH = 200


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """The timeline filters that make sense for single changes (no text search, no dates)."""

    companies: tuple[str, ...] = ()
    categories: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    phase: str | None = None
    entity: str | None = None
    min_importance: int | None = None
    include_duplicates: bool = False

    def admits_entry(self, fields: dict[str, str]) -> bool:
        """What the feed entry alone decides, before reading the document."""
        if self.kinds and fields.get("kind") not in self.kinds:
            return False
        if self.categories and fields.get("category") not in self.categories:
            return False
        return not (len(self.companies) == 1 and fields.get("company") != self.companies[0])

    def admits(self, doc: Doc) -> bool:
        # As in the timeline queries: one company means its own events; several also take in
        # the events that involve them.
        if len(self.companies) == 1 and doc.get("company") != self.companies[0]:
            return False
        if len(self.companies) > 1:
            involved = {doc.get("company"), *(doc.get("companies") or [])}
            if not involved & set(self.companies):
                return False
        if self.categories and doc.get("category") not in self.categories:
            return False
        if self.phase and self.phase not in (doc.get("phase"), doc.get("transition_to")):
            return False
        if self.entity:
            values = {str(e.get("value", "")).lower() for e in doc.get("entities") or []}
            if self.entity.lower() not in values:
                return False
        if self.min_importance is not None and int(doc.get("importance") or 0) < (
            self.min_importance
        ):
            return False
        return self.include_duplicates or not doc.get("duplicate_of")


def resume_id(header: str | None, query: str | None) -> str | None:
    """The feed id to resume after: the Last-Event-ID header, else the `last_event_id` parameter."""
    value = (header or query or "").strip()
    if not value:
        return None
    if not _STREAM_ID.match(value):
        field = "last-event-id" if header else "last_event_id"
        raise InvalidInput("not an id this stream sent (<ms>-<seq>)", field=field)
    return value


async def feed_position(client: aioredis.Redis) -> str:
    """The id of the newest feed entry: a new subscriber gets what comes after it."""
    with unavailable():
        newest: Any = await client.xrevrange(TIMELINE_STREAM, count=1)
    return _s(newest[0][0]) if newest else "0-0"


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


async def _documents(
    session: AsyncSession, keys: list[tuple[uuid.UUID, int]]
) -> dict[tuple[uuid.UUID, int], Doc]:
    rows = await session.execute(
        select(EventVersion.event_id, EventVersion.version, EventVersion.data)
        .join(Event, Event.id == EventVersion.event_id)
        .where(tuple_(EventVersion.event_id, EventVersion.version).in_(keys))
        .where(Event.published.is_(True))
    )
    return {(ev_id, version): data for ev_id, version, data in rows.all()}


def message(stream_id: str, kind: str, version: int, doc: Doc) -> bytes:
    body = orjson.dumps({"kind": kind, "version": version, "event": doc})
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (stream_id.encode(), kind.encode(), body)


class Slots:
    """Open streams of this process, in all and per client address (one event loop: no lock)."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.open = 0
        self.by_client: dict[str, int] = {}

    def take(self, client: str) -> str | None:
        """None when a slot was taken; otherwise why not (for the 429)."""
        if self.open >= self.total:
            return f"this server already holds {self.total} live streams"
        if self.by_client.get(client, 0) >= self.per_client:
            return f"this address already holds {self.per_client} live streams"
        self.open += 1
        self.by_client[client] = self.by_client.get(client, 0) + 1
        return None

    def give_back(self, client: str) -> None:
        self.open -= 1
        left = self.by_client.get(client, 1) - 1
        if left > 0:
            self.by_client[client] = left
        else:
            self.by_client.pop(client, None)


async def held(slots: Slots, client: str, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`body`, giving the stream's slot back however it ends (the client left, the feed)."""
    try:
        async for chunk in body:
            yield chunk
    finally:
        slots.give_back(client)


async def events(
    client: aioredis.Redis,
    sessions: async_sessionmaker[AsyncSession],
    after: str,
    flt: StreamFilter,
    heartbeat: float,
    max_seconds: float = 3600.0,
) -> AsyncIterator[bytes]:
    """SSE bytes for every matching change after feed id `after`, until the client leaves or
    `max_seconds` have passed (the client then resumes from the last id it received)."""
    yield b"retry: 3000\n: connected\n\n"
    position = after
    block_ms = max(int(min(heartbeat, MAX_BLOCK_SECONDS, max_seconds) * 1000), 1)
    last_sent = started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        try:
            reply: Any = await client.xread(
                {TIMELINE_STREAM: position}, count=BATCH, block=block_ms
            )
        except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
            # End the response; the client reconnects with Last-Event-ID and loses nothing.
            log.warning("change feed unreachable, closing the stream: %s", exc)
            return
        entries = (
            [(_s(sid), {_s(k): _s(v) for k, v in f.items()}) for sid, f in reply[0][1]]
            if (reply)
            else []
        )
        wanted = [(sid, f) for sid, f in entries if flt.admits_entry(f)]
        docs: dict[tuple[uuid.UUID, int], Doc] = {}
        if wanted:
            keys = [(uuid.UUID(f["id"]), int(f["version"])) for _, f in wanted]
            async with sessions() as session:
                docs = await _documents(session, keys)
        for sid, fields in wanted:
            doc = docs.get((uuid.UUID(fields["id"]), int(fields["version"])))
            if doc is not None and flt.admits(doc):
                yield message(sid, fields["kind"], int(fields["version"]), doc)
                last_sent = time.monotonic()
        if entries:
            position = entries[-1][0]
        if time.monotonic() - last_sent >= heartbeat:
            yield b": heartbeat\n\n"
            last_sent = time.monotonic()
