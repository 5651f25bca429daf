"""Rendered timeline pages, served again while the chronology has not changed.

Storage announces every change it commits on the change feed (`pw:timeline`), right after the
commit. A rendered page is kept with the feed's last entry id as it was before the page was
computed, and is served again only while that is still the feed's last id: one XREVRANGE per
request instead of the query and fifty documents. A change that committed before a request began
has its feed entry by then, so a reader never gets a page older than a change it could know of.
`timeline_cache_seconds` bounds how long a page lives anyway (a write that announced nothing, an
operator's SQL). When Redis cannot be asked, the page is computed: the database is the truth.

The cache is per process and bounded in entries and bytes (least recently used goes first);
`timeline_cache_entries = 0` turns it off.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import redis.asyncio as aioredis

from shared.redis_keys import TIMELINE_STREAM

# A page larger than this (an export of thousands of events) is not kept.
MAX_ENTRY_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    media_type: str
    headers: tuple[tuple[str, str], ...]
    feed_id: bytes
    at: float


class PageCache:
    def __init__(self, entries: int, seconds: float, max_bytes: int = 16 << 20) -> None:
        self.entries = entries
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[str, Rendered] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.entries > 0

    async def feed_id(self, client: aioredis.Redis) -> bytes | None:
        """The change feed's last entry id (b"" while it is empty); None if Redis can't say."""
        try:
            last = await client.xrevrange(TIMELINE_STREAM, count=1)
        except (aioredis.ConnectionError, aioredis.TimeoutError):
            return None
        if not last:
            return b""
        raw = last[0][0]
        return raw if isinstance(raw, bytes) else str(raw).encode()

    def get(self, key: str, feed_id: bytes, now: float | None = None) -> Rendered | None:
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

    def put(self, key: str, page: Rendered) -> None:
        if not self.enabled or len(page.body) > MAX_ENTRY_BYTES:
            return
        if key in self._pages:
            self._drop(key)
        self._pages[key] = page
        self.size += len(page.body)
        while len(self._pages) > self.entries or self.size > self.max_bytes:
            self._drop(next(iter(self._pages)))

    def _drop(self, key: str) -> None:
        self.size -= len(self._pages.pop(key).body)

    def __len__(self) -> int:
        return len(self._pages)
