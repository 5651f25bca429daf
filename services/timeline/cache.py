"""Rendered timeline pages, served again while the chronology has not changed.

Storage announces every change it commits on the change feed (`pw:timeline`), right after the
commit. A rendered page is kept with the feed's last entry id as it was before the page was
computed, and is served again only while that is still the feed's last id. A change that
committed before a request began has its feed entry by then, so a reader never gets a page older
than a change it could know of. `timeline_cache_seconds` bounds how long a page lives anyway (a
write that announced nothing, an operator's SQL). When Redis cannot be asked, the page is
computed: the database is the truth.

What a hit costs is what decides the timeline's throughput on a hot page, so hits are answered
by `PageCacheMiddleware`, a pure ASGI layer in front of FastAPI's routing, dependencies and query
validation (about half of a hit's CPU when the route answered it), behind the layers every
response passes (hardening, metrics, correlation id, CORS). The feed's last id is asked by one
XREVRANGE shared by all the requests that arrived while the one before it was in flight
(`FeedClock`): never an answer from before a request arrived, and one round trip per Redis
latency, not per request, however many readers there are.

The cache is per process and bounded in entries and bytes (least recently used goes first);
`timeline_cache_entries = 0` turns it off.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import lookup, parse_bearer
from shared.redis_keys import TIMELINE_STREAM

# A page larger than this (an export of thousands of events) is not kept.
MAX_ENTRY_BYTES = 1 << 20
# The header a timeline route marks a cacheable page with ("miss"); a page from the cache says
# "hit". Nothing without it is kept.
CACHE_HEADER = b"x-pivotwatch-cache"
HIT = (CACHE_HEADER, b"hit")
Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    headers: Headers  # as the route sent them, the cache header included
    feed_id: bytes
    at: float
    route: Any = None  # the route that rendered it (scope["route"]): metrics label hits by it


class PageCache:
    def __init__(self, entries: int, seconds: float, max_bytes: int = 16 << 20) -> None:
        self.entries = entries
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[Hashable, Rendered] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.entries > 0

    def get(self, key: Hashable, feed_id: bytes, now: float | None = None) -> Rendered | None:
        page = self._pages.get(key)
        now = time.monotonic() if now is None else now
        if page is None or page.feed_id != feed_id or now - page.at > self.seconds:
            if page is not None:
                self._drop(key)
            self.misses += 1
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        return page

    def put(self, key: Hashable, page: Rendered) -> None:
        if not self.enabled or len(page.body) > MAX_ENTRY_BYTES:
            return
        if key in self._pages:
            self._drop(key)
        self._pages[key] = page
        self.size += len(page.body)
        while len(self._pages) > self.entries or self.size > self.max_bytes:
            self._drop(next(iter(self._pages)))

    def _drop(self, key: Hashable) -> None:
        self.size -= len(self._pages.pop(key).body)

    def __len__(self) -> int:
        return len(self._pages)


async def feed_last_id(client: aioredis.Redis) -> bytes | None:
    """The change feed's last entry id (b"" while it is empty); None if Redis can't say."""
    try:
        last = await client.xrevrange(TIMELINE_STREAM, count=1)
    except aioredis.RedisError:
        return None
    if not last:
        return b""
    raw = last[0][0]
    return raw if isinstance(raw, bytes) else str(raw).encode()


class FeedClock:
    """The feed's last id for a request, from a fetch that began after the request arrived.

    Requests that arrive while a fetch is in flight wait for the next one, which starts as soon as
    the one in flight ends and answers all of them: at any number of readers, one fetch per fetch
    time instead of one per request, and no reader gets an id from before it arrived.
    """

    def __init__(self, fetch: Callable[[], Awaitable[bytes | None]]) -> None:
        self._fetch = fetch
        self._next: asyncio.Future[bytes | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.fetches = 0

    async def last_id(self) -> bytes | None:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        waiting = self._next
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        # Shielded: a reader that goes away does not cancel the answer the others wait for.
        return await asyncio.shield(waiting)

    async def _run(self) -> None:
        try:
            while (waiting := self._next) is not None:
                self._next = None
                self.fetches += 1
                try:
                    waiting.set_result(await self._fetch())
                except asyncio.CancelledError:
                    waiting.cancel()
                    raise
                except Exception as exc:  # the readers waiting on it get it, as if they had asked
                    waiting.set_exception(exc)
        finally:
            self._task = None


def _key(scope: Scope) -> Hashable:
    """What a page depends on: the URL as the client gave it (its links are built from it)."""
    host = b""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
            break
    return (scope["scheme"], host, scope["root_path"], scope["path"], scope["query_string"])


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return parse_bearer(value.decode("latin-1"))
    return None


class PageCacheMiddleware:
    """Pure ASGI: answers a GET for a page the cache holds, current as of the feed, before routing;
    otherwise runs the app and keeps a 200 that a timeline route marked with CACHE_HEADER.

    With `require_read_key`, a hit is served only to a request whose key is valid now (the same
    lookup the routes make); any other request goes to the app, which answers it as it would.
    """

    def __init__(self, app: ASGIApp, pages: PageCache, require_key: bool) -> None:
        self.app = app
        self.pages = pages
        self.require_key = require_key
        self.clock = FeedClock(self._feed_id)
        self._redis: aioredis.Redis | None = None

    async def _feed_id(self) -> bytes | None:
        assert self._redis is not None
        return await feed_last_id(self._redis)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not self.pages.enabled
            or not (path.endswith("/timeline") and path.startswith("/v1/"))
        ):
            await self.app(scope, receive, send)
            return
        self._redis = scope["app"].state.redis
        feed_id = await self.clock.last_id()
        if feed_id is None:
            await self.app(scope, receive, send)
            return
        key = _key(scope)
        hit = self.pages.get(key, feed_id)
        if hit is not None and (not self.require_key or await self._authorised(scope)):
            scope["route"] = hit.route
            headers = [HIT if n == CACHE_HEADER else (n, v) for n, v in hit.headers]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": hit.body})
            return
        await self.app(scope, receive, self._keeping(scope, key, feed_id, send))

    async def _authorised(self, scope: Scope) -> bool:
        token = _bearer(scope)
        if not token or self._redis is None:
            return False
        try:
            return await lookup(self._redis, token) is not None
        except aioredis.RedisError:
            return False  # the app answers: 503 from its own lookup

    def _keeping(self, scope: Scope, key: Hashable, feed_id: bytes, send: Send) -> Send:
        """`send`, keeping a copy of a marked 200 page as it goes out."""
        headers: Headers | None = None  # copied now: the layers outside add to the message's
        chunks: list[bytes] = []
        size = 0

        async def wrapped(message: Message) -> None:
            nonlocal headers, size
            if message["type"] == "http.response.start":
                raw = tuple((bytes(n), bytes(v)) for n, v in message.get("headers", ()))
                marked = message["status"] == 200 and any(n == CACHE_HEADER for n, _ in raw)
                headers = raw if marked else None
            elif message["type"] == "http.response.body" and headers is not None:
                body: bytes = message.get("body", b"")
                size += len(body)
                if size > MAX_ENTRY_BYTES:
                    headers = None
                    chunks.clear()
                else:
                    chunks.append(body)
                    if not message.get("more_body", False):
                        page = Rendered(
                            b"".join(chunks), headers, feed_id, time.monotonic(), scope.get("route")
                        )
                        self.pages.put(key, page)
            await send(message)

        return wrapped
