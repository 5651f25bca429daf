"""The timeline's page cache: kept while the feed id is the same, for a bounded time and size."""

from __future__ import annotations

from services.timeline.cache import MAX_ENTRY_BYTES, PageCache, Rendered


def page(body: bytes, feed_id: bytes = b"1-0", at: float = 0.0) -> Rendered:
    return Rendered(body, "application/json", (("link", "<x>"),), feed_id, at)


def test_served_while_the_feed_has_not_moved() -> None:
    cache = PageCache(entries=4, seconds=30)
    cache.put("/a", page(b"A"))
    hit = cache.get("/a", b"1-0", now=1.0)
    assert hit is not None and hit.body == b"A" and hit.headers == (("link", "<x>"),)
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
