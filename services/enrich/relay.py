"""The relay: moves what waits on the ingest log into Celery, a chunk per task.

XREADGROUP takes whatever is waiting (up to `relay_chunk_max`: one entry under light load, full
chunks under a flood), the chunk goes out as one `enrich.store_chunk` task, and only then are the
entries XACKed. A publish that fails leaves them pending and this relay sends them again first; a
relay killed in between leaves them pending too, and XAUTOCLAIM hands them to the next relay once
they have been idle for `relay_claim_idle_ms`. Entries that every group has seen and acknowledged
are trimmed from the log (never the unprocessed ones). The lag (entries waiting to be read plus
entries read but not acknowledged) and the oldest such entry's age are Prometheus gauges; the
time each entry spent on the log is the `log` hop (shared/procmetrics.py).

While `relay_queue_max` chunks already wait on the enrich queue the relay reads nothing: new
entries gather on the log, and the next chunk, sent once a worker has taken one, carries all of
them. Without that hold a flood of single events became a queue of one-event tasks, each paying
a task's and a transaction's fixed cost, and drained several times slower.
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

from celery import Celery
from prometheus_client import Gauge
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared import procmetrics, tracing
from shared.celery_app import ENRICH_QUEUE, PUBLISHED_AT
from shared.redis_keys import INGEST_STREAM, RELAY_GROUP
from shared.settings import Settings

log = logging.getLogger("pivotwatch.relay")

Publish = Callable[[list[dict[str, str]]], None]

RELAY_LAG = Gauge(
    "pivotwatch_relay_lag_entries",
    "ingest log entries not yet handed to Celery: waiting to be read plus read but unacknowledged",
)
RELAY_ENTRIES = Gauge("pivotwatch_relay_entries", "ingest log entries by relay state", ["state"])
RELAY_OLDEST = Gauge(
    "pivotwatch_relay_oldest_entry_seconds",
    "age of the oldest ingest log entry not yet handed to Celery (read and unacknowledged, or "
    "waiting to be read); 0 when none",
)
_LOG_HOP = procmetrics.hop("log")
_RELAY_HOP = procmetrics.hop("relay")
LAG_INTERVAL = 1.0  # seconds between lag measurements
HOLD_INTERVAL = 0.01  # seconds between looks at the enrich queue while it is full
TRIM_INTERVAL = 5.0  # seconds between trims
# Redis < 7 does not report a group's lag; it is then counted, up to this many entries.
_LAG_COUNT_CAP = 100_000
_COUNT_AFTER = """
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
return #entries
"""


def celery_publish(app: Celery) -> Publish:
    """One `enrich.store_chunk` task per chunk, on the enrich queue. Its headers say when it was
    sent (the worker times the queue's hop) and, traced, the chunk's context: the entries' own
    when they share one, else a new trace linking to each (shared/tracing.py)."""

    def publish(entries: list[dict[str, str]]) -> None:
        with tracing.span(
            "relay.publish",
            kind="producer",
            follows=(e.get(tracing.ENTRY_FIELD, "") for e in entries),
            attributes={"pivotwatch.entries": len(entries)},
        ):
            headers = tracing.headers({PUBLISHED_AT: time.time()})
            app.send_task("enrich.store_chunk", args=[entries], queue=ENRICH_QUEUE, headers=headers)

    return publish


class Relay:
    def __init__(
        self, client: Redis, settings: Settings, publish: Publish, heartbeat: Path | None = None
    ) -> None:
        self.client = client
        self.heartbeat = heartbeat
        self.settings = settings
        self.publish = publish
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self._last_claim = float("-inf")
        self._last_trim = float("-inf")
        self._last_lag = float("-inf")
        # Entries this consumer read but did not acknowledge (a publish failed) go out first.
        self._own_pending = True
        self._count_after = client.register_script(_COUNT_AFTER)

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

    def _read_own_pending(self) -> list[dict[str, str]]:
        reply: Any = self.client.xreadgroup(
            RELAY_GROUP,
            self.consumer,
            {INGEST_STREAM: "0"},
            count=self.settings.relay_chunk_max,
        )
        entries = entries_from_stream(reply[0][1]) if reply else []
        if not entries:
            self._own_pending = False
        return entries

    def queue_full(self) -> bool:
        """Whether `relay_queue_max` chunks already wait on the enrich queue for a worker."""
        return int(self.client.llen(ENRICH_QUEUE)) >= self.settings.relay_queue_max

    def run_once(self, block_ms: int | None = None) -> int:
        """Move one chunk; returns how many entries it moved."""
        if self.queue_full():
            time.sleep(HOLD_INTERVAL)
            self._housekeeping()
            return 0
        now = time.monotonic()
        entries: list[dict[str, str]] = []
        if self._own_pending:
            entries = self._read_own_pending()
        if not entries and now - self._last_claim >= self.settings.relay_claim_idle_ms / 4000:
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
            self._housekeeping()
            return 0
        read = time.time()
        read_at = f"{read:.6f}"
        for e in entries:  # carried with the event: the worker writes it into the status
            e[procmetrics.READ_AT] = read_at
        try:
            self.publish(entries)
        except Exception:
            self._own_pending = True  # they stay pending; the next round sends them again
            raise
        published = time.time()
        self.client.xack(INGEST_STREAM, RELAY_GROUP, *[e["stream_id"] for e in entries])
        read_ms = read * 1000
        for e in entries:  # an entry's id is the time of its XADD
            _LOG_HOP.observe(max(0.0, read_ms - _id(e["stream_id"])[0]) / 1000)
            _RELAY_HOP.observe(published - read)
        self._housekeeping()
        return len(entries)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_trim >= TRIM_INTERVAL:
            self._last_trim = now
            self.trim()
        if now - self._last_lag >= LAG_INTERVAL:
            self._last_lag = now
            self.measure_lag()

    def _floors(self) -> list[tuple[str, str, int]]:
        """Per group: its name, the id below which it has acknowledged everything, its pending."""
        out = []
        for group in self.client.xinfo_groups(INGEST_STREAM):
            name = _s(group["name"])
            floor = _s(group["last-delivered-id"])
            pending = self.client.xpending(INGEST_STREAM, name)
            count = int(pending.get("pending") or 0) if pending else 0
            if count:
                oldest = _s(pending["min"])
                if _id(oldest) < _id(floor):
                    floor = oldest
            else:
                # Everything up to and including the last delivered entry is acknowledged.
                ms, seq = _id(floor)
                floor = f"{ms}-{seq + 1}"
            out.append((name, floor, count))
        return out

    def trim(self) -> int:
        """Drop the entries every group has read and acknowledged; returns how many went.

        Exact MINID trimming: an approximate trim removes only whole stream nodes, which keeps
        small logs forever and makes the invariant impossible to check.
        """
        floors = self._floors()
        if not floors:
            return 0
        floor = min((f for _, f, _ in floors), key=_id)
        if floor in ("0-0", "0-1"):
            return 0
        return int(self.client.xtrim(INGEST_STREAM, minid=floor, approximate=False))

    def measure_lag(self) -> tuple[int, int]:
        """(waiting, pending) for the relay's group; sets the lag gauges."""
        groups = self.client.xinfo_groups(INGEST_STREAM)
        group = next((g for g in groups if _s(g["name"]) == RELAY_GROUP), None)
        if group is None:
            waiting, pending = int(self.client.xlen(INGEST_STREAM)), 0
        else:
            pending = int(group.get("pending") or 0)
            lag = group.get("lag")
            if lag is not None:  # Redis >= 7
                waiting = int(lag)
            else:
                after = _s(group["last-delivered-id"])
                waiting = int(self._count_after(keys=[INGEST_STREAM], args=[after, _LAG_COUNT_CAP]))
        RELAY_ENTRIES.labels("waiting").set(waiting)
        RELAY_ENTRIES.labels("pending").set(pending)
        RELAY_LAG.set(waiting + pending)
        RELAY_OLDEST.set(self._oldest_age(group, pending, waiting))
        return waiting, pending

    def _oldest_age(self, group: dict[str, Any] | None, pending: int, waiting: int) -> float:
        """Seconds since the oldest entry not handed on entered the log (its id is that time,
        by Redis's clock, which is also the one compared with)."""
        oldest: str | None = None
        if pending:
            summary = self.client.xpending(INGEST_STREAM, RELAY_GROUP)
            oldest = _s(summary["min"]) if summary and summary.get("min") else None
        elif waiting:
            after = _s(group["last-delivered-id"]) if group is not None else "0-0"
            first = self.client.xrange(INGEST_STREAM, min=f"({after}", count=1)
            oldest = _s(first[0][0]) if first else None
        if oldest is None:
            return 0.0
        seconds, micros = self.client.time()
        return max(0.0, (seconds * 1000 + micros / 1000 - _id(oldest)[0]) / 1000)

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
