"""The relay: moves what waits on the ingest log into Celery, a chunk per task.

XREADGROUP takes whatever is waiting (up to `relay_chunk_max`), the chunk goes out as one
`enrich.store_chunk` task, and only then are the entries XACKed: a relay killed in between leaves
them pending, and XAUTOCLAIM hands them to the next relay. Entries that every consumer has seen
and acknowledged are trimmed from the log (never the unprocessed ones).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.redis_keys import INGEST_STREAM, RELAY_GROUP
from shared.settings import Settings

log = logging.getLogger("pivotwatch.relay")

Publish = Callable[[list[dict[str, str]]], None]


class Relay:
    def __init__(
        self, client: Redis, settings: Settings, publish: Publish, heartbeat: Path | None = None
    ) -> None:
        self.client = client
        self.heartbeat = heartbeat
        self.settings = settings
        self.publish = publish
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self._last_claim = 0.0
        self._last_trim = 0.0

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(INGEST_STREAM, RELAY_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _claim(self) -> list[dict[str, str]]:
        reply = self.client.xautoclaim(
            INGEST_STREAM,
            RELAY_GROUP,
            self.consumer,
            min_idle_time=self.settings.relay_claim_idle_ms,
            start_id="0-0",
            count=self.settings.relay_chunk_max,
        )
        return entries_from_stream(reply[1]) if reply and reply[1] else []

    def run_once(self, block_ms: int | None = None) -> int:
        """Move one chunk; returns how many entries it moved."""
        now = time.monotonic()
        entries: list[dict[str, str]] = []
        if now - self._last_claim > self.settings.relay_claim_idle_ms / 4000:
            self._last_claim = now
            entries = self._claim()
        if not entries:
            reply: Any = self.client.xreadgroup(
                RELAY_GROUP,
                self.consumer,
                {INGEST_STREAM: ">"},
                count=self.settings.relay_chunk_max,
                block=self.settings.relay_block_ms if block_ms is None else block_ms,
            )
            if reply:
                entries = entries_from_stream(reply[0][1])
        if not entries:
            self._maybe_trim()
            return 0
        self.publish(entries)
        self.client.xack(INGEST_STREAM, RELAY_GROUP, *[e["stream_id"] for e in entries])
        self._maybe_trim()
        return len(entries)

    def _maybe_trim(self) -> None:
        now = time.monotonic()
        if now - self._last_trim < 5:
            return
        self._last_trim = now
        self.trim()

    def trim(self) -> None:
        """Drop entries older than both the group's position and its oldest pending entry."""
        groups = self.client.xinfo_groups(INGEST_STREAM)
        group = next((g for g in groups if _s(g["name"]) == RELAY_GROUP), None)
        if group is None:
            return
        floor = _s(group["last-delivered-id"])
        pending = self.client.xpending(INGEST_STREAM, RELAY_GROUP)
        if pending and pending.get("pending"):
            oldest = _s(pending["min"])
            if _id(oldest) < _id(floor):
                floor = oldest
        if floor != "0-0":
            self.client.xtrim(INGEST_STREAM, minid=floor, approximate=True)

    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                self.ensure_group()
                while not stop.is_set():
                    self.run_once()
                    if self.heartbeat is not None:
                        self.heartbeat.touch()
                    backoff = 0.5
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis unavailable, retrying in %.1fs: %s", backoff, exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:  # the relay must outlive any one failure (a broker hiccup on publish)
                log.exception("relay iteration failed; entries stay pending and are retried")
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _id(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def entries_from_stream(raw: Any) -> list[dict[str, str]]:
    out = []
    for stream_id, fields in raw:
        entry = {k.decode(): v.decode() for k, v in fields.items()}
        entry["stream_id"] = stream_id.decode() if isinstance(stream_id, bytes) else str(stream_id)
        out.append(entry)
    return out
