"""The timeline's page cache: kept while the feed id is the same, for a bounded time and size;
and the feed clock: one fetch for the readers that arrived during the one before, never an answer
that began before a reader arrived."""

from __future__ import annotations

import asyncio

import pytest

from services.timeline.cache import MAX_ENTRY_BYTES, FeedClock, PageCache, Rendered


def page(body: bytes, feed_id: bytes = b"1-0", at: float = 0.0) -> Rendered:
    return Rendered(body, ((b"link", b"<x>"),), feed_id, at)


def test_served_while_the_feed_has_not_moved() -> None:
    cache = PageCache(entries=4, seconds=30)
    cache.put("/a", page(b"A"))
    hit = cache.get("/a", b"1-0", now=1.0)
    assert hit is not None and hit.body == b"A" and hit.headers == ((b"link", b"<x>"),)
    assert (cache.hits, cache.misses) == (1, 0)


def test_a_new_feed_entry_or_age_makes_it_stale_and_drops_it() -> None:
    cache = PageCache(entries=4, seconds=30)
    cache.put("/a", page(b"A"))
    assert cache.get("/a", b"2-0", now=1.0) is None
    assert len(cache) == 0
    cache.put("/a", page(b"A", at=0.0))
    assert cache.get("/a", b"1-0", now=30.5) is None
    assert cache.get("/b", b"1-0", now=1.0) is None
    assert cache.misses == 3


def test_least_recently_used_goes_first_by_count() -> None:
    cache = PageCache(entries=2, seconds=30)
    cache.put("/a", page(b"A"))
    cache.put("/b", page(b"B"))
    assert cache.get("/a", b"1-0", now=1.0) is not None  # /a is now the most recent
    cache.put("/c", page(b"C"))
    assert cache.get("/b", b"1-0", now=1.0) is None
    assert {k for k in ("/a", "/c") if cache.get(k, b"1-0", now=1.0)} == {"/a", "/c"}


def test_bounded_in_bytes_and_oversized_pages_are_not_kept() -> None:
    cache = PageCache(entries=100, seconds=30, max_bytes=10)
    cache.put("/a", page(b"123456"))
    cache.put("/b", page(b"123456"))
    assert len(cache) == 1 and cache.size == 6
    assert cache.get("/b", b"1-0", now=1.0) is not None
    cache.put("/big", page(b"x" * (MAX_ENTRY_BYTES + 1)))
    assert cache.get("/big", b"1-0", now=1.0) is None


def test_replacing_a_key_keeps_the_size_right() -> None:
    cache = PageCache(entries=4, seconds=30)
    cache.put("/a", page(b"AAAA"))
    cache.put("/a", page(b"AA"))
    assert (len(cache), cache.size) == (1, 2)


def test_zero_entries_turns_it_off() -> None:
    cache = PageCache(entries=0, seconds=30)
    assert not cache.enabled
    cache.put("/a", page(b"A"))
    assert len(cache) == 0


class Feed:
    """A fetch the test drives: each call records when it began and waits to be answered."""

    def __init__(self) -> None:
        self.started: list[asyncio.Future[bytes | None]] = []

    async def fetch(self) -> bytes | None:
        answer: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self.started.append(answer)
        return await answer


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_readers_that_arrive_during_a_fetch_share_the_next_one() -> None:
    feed = Feed()
    clock = FeedClock(feed.fetch)
    first = asyncio.ensure_future(clock.last_id())
    await settle()
    assert len(feed.started) == 1
    # Ten readers arrive while the first fetch is in flight: its answer may predate them.
    later = [asyncio.ensure_future(clock.last_id()) for _ in range(10)]
    await settle()
    assert len(feed.started) == 1
    feed.started[0].set_result(b"1-0")
    await settle()
    assert first.result() == b"1-0" and not any(r.done() for r in later)
    assert len(feed.started) == 2  # begun after all ten arrived
    feed.started[1].set_result(b"2-0")
    await settle()
    assert [r.result() for r in later] == [b"2-0"] * 10
    assert clock.fetches == 2
    # Idle again: the next reader starts a fetch of its own.
    alone = asyncio.ensure_future(clock.last_id())
    await settle()
    feed.started[2].set_result(b"3-0")
    assert await alone == b"3-0" and clock.fetches == 3


async def test_a_failed_fetch_reaches_its_readers_and_the_clock_recovers() -> None:
    feed = Feed()
    clock = FeedClock(feed.fetch)
    readers = [asyncio.ensure_future(clock.last_id()) for _ in range(3)]
    await settle()
    feed.started[0].set_exception(RuntimeError("boom"))
    await settle()
    for r in readers:
        with pytest.raises(RuntimeError):
            r.result()
    again = asyncio.ensure_future(clock.last_id())
    await settle()
    feed.started[1].set_result(None)
    assert await again is None


async def test_a_reader_that_goes_away_does_not_cancel_the_others() -> None:
    feed = Feed()
    clock = FeedClock(feed.fetch)
    gone, stays = clock.last_id(), clock.last_id()
    gone_task, stays_task = asyncio.ensure_future(gone), asyncio.ensure_future(stays)
    await settle()
    gone_task.cancel()
    await settle()
    feed.started[0].set_result(b"7-0")
    assert await stays_task == b"7-0"
    assert gone_task.cancelled()
