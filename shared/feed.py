"""The change feed (`pw:timeline`): one entry per change committed to the chronology, appended
right after the commit. The live stream (SSE) sends from it; the timeline's page cache compares
its last id. Whatever writes events announces here, or neither of them learns of the change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis import Redis
from redis.client import Pipeline

from shared.redis_keys import TIMELINE_STREAM, TIMELINE_STREAM_MAXLEN

Item = dict[str, str]


def item(ev: Any, kind: str, version: int) -> Item:
    """The feed entry for `ev` (an Event) reaching `version` by a change of `kind`."""
    return {
        "id": str(ev.id),
        "kind": kind,
        "company": ev.company,
        "version": str(version),
        "category": ev.category,
        "occurred": ev.occurred,
    }


def queue(pipe: Pipeline, items: Iterable[Item]) -> None:
    """Queue the entries' XADDs on `pipe` (the feed keeps about TIMELINE_STREAM_MAXLEN)."""
    for entry in items:
        pipe.xadd(TIMELINE_STREAM, entry, maxlen=TIMELINE_STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]


def append(client: Redis, items: Iterable[Item]) -> None:
    """Append entries in one round trip."""
    pipe = client.pipeline(transaction=False)
    queue(pipe, items)
    pipe.execute()
