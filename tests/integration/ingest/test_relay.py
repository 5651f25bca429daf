"""The relay against real Redis: adaptive chunks, one publish per chunk, XACK after the publish,
reclaiming a dead relay's entries, trimming only what is acknowledged, and the lag gauge."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import orjson
import pytest
from prometheus_client import REGISTRY
from redis import Redis

from services.enrich.relay import Relay, celery_publish
from shared.celery_app import ENRICH_QUEUE, PUBLISHED_AT, make_celery
from shared.redis_keys import INGEST_STREAM, RELAY_GROUP
from shared.settings import Settings

Chunk = list[dict[str, str]]


def add(client: Redis, n: int, start: int = 0) -> list[str]:
    ids = []
    for i in range(start, start + n):
        sid = client.xadd(INGEST_STREAM, {"id": f"ev-{i}", "kind": "event", "ce": "{}"})
        ids.append(sid.decode())
    return ids


def ids(chunk: Chunk) -> list[str]:
    return [e["id"] for e in chunk]


def pending(client: Redis) -> int:
    return int(client.xpending(INGEST_STREAM, RELAY_GROUP)["pending"])


@pytest.fixture
def relay_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"relay_chunk_max": 3, "relay_claim_idle_ms": 60_000})


@pytest.fixture
def make_relay(
    redis_client: Redis, relay_settings: Settings
) -> Callable[..., tuple[Relay, list[Chunk]]]:
    def make(
        settings: Settings | None = None, consumer: str = "relay-a"
    ) -> tuple[Relay, list[Chunk]]:
        chunks: list[Chunk] = []

        def publish(entries: Chunk) -> None:
            # XACK comes after the publish: while it runs, the chunk is still pending.
            assert pending(redis_client) >= len(entries)
            chunks.append(entries)

        relay = Relay(redis_client, settings or relay_settings, publish)
        relay.consumer = consumer
        relay.ensure_group()
        return relay, chunks

    return make


class TestChunks:
    def test_chunks_adapt_to_what_is_waiting(
        self, redis_client: Redis, make_relay: Callable[..., tuple[Relay, list[Chunk]]]
    ) -> None:
        relay, chunks = make_relay()
        add(redis_client, 7)
        moved = [relay.run_once(block_ms=1) for _ in range(4)]
        assert moved == [3, 3, 1, 0]
        assert [len(c) for c in chunks] == [3, 3, 1]
        assert [i for c in chunks for i in ids(c)] == [f"ev-{i}" for i in range(7)]
        # Under light load a chunk is the one entry that arrived.
        add(redis_client, 1, start=7)
        assert relay.run_once(block_ms=1) == 1
        assert ids(chunks[-1]) == ["ev-7"]
        assert pending(redis_client) == 0

    def test_chunk_entries_carry_their_stream_id(
        self, redis_client: Redis, make_relay: Callable[..., tuple[Relay, list[Chunk]]]
    ) -> None:
        relay, chunks = make_relay()
        stream_ids = add(redis_client, 2)
        relay.run_once(block_ms=1)
        assert [e["stream_id"] for e in chunks[0]] == stream_ids
        assert chunks[0][0]["kind"] == "event"

    def test_one_celery_task_per_chunk(self, redis_client: Redis, relay_settings: Settings) -> None:
        settings = relay_settings.model_copy(update={"relay_queue_max": 10})
        app = make_celery(settings)
        try:
            relay = Relay(redis_client, settings, celery_publish(app))
            relay.ensure_group()
            add(redis_client, 7)
            while relay.run_once(block_ms=1):
                pass
        finally:
            app.close()
        messages = [orjson.loads(m) for m in reversed(redis_client.lrange(ENRICH_QUEUE, 0, -1))]
        assert [m["headers"]["task"] for m in messages] == ["enrich.store_chunk"] * 3
        bodies = [orjson.loads(base64.b64decode(m["body"])) for m in messages]
        assert [[e["id"] for e in args[0]] for args, _kw, _embed in bodies] == [
            ["ev-0", "ev-1", "ev-2"],
            ["ev-3", "ev-4", "ev-5"],
            ["ev-6"],
        ]
        assert pending(redis_client) == 0


class TestHold:
    """While chunks already wait on the enrich queue, new entries gather on the log."""

    def test_a_full_queue_holds_entries_back_and_the_next_chunk_takes_them_together(
        self, redis_client: Redis, relay_settings: Settings
    ) -> None:
        settings = relay_settings.model_copy(update={"relay_queue_max": 2, "relay_chunk_max": 50})
        app = make_celery(settings)
        try:
            relay = Relay(redis_client, settings, celery_publish(app))
            relay.ensure_group()
            # Light load: each entry goes out at once, a chunk of one.
            for i in range(2):
                add(redis_client, 1, start=i)
                assert relay.run_once(block_ms=1) == 1
            assert redis_client.llen(ENRICH_QUEUE) == 2
            # The queue is full: a flood gathers on the log, read by no one and acknowledged by
            # no one, and shows as the relay's lag.
            add(redis_client, 7, start=2)
            assert [relay.run_once(block_ms=1) for _ in range(3)] == [0, 0, 0]
            assert pending(redis_client) == 0
            assert relay.measure_lag() == (7, 0)
            # A worker takes a chunk (the Redis transport pops from the right): the next chunk
            # carries everything that gathered.
            assert redis_client.rpop(ENRICH_QUEUE) is not None
            assert relay.run_once(block_ms=1) == 7
            assert relay.run_once(block_ms=1) == 0  # full again
        finally:
            app.close()
        messages = [orjson.loads(m) for m in reversed(redis_client.lrange(ENRICH_QUEUE, 0, -1))]
        bodies = [orjson.loads(base64.b64decode(m["body"])) for m in messages]
        assert [[e["id"] for e in args[0]] for args, _kw, _embed in bodies] == [
            ["ev-1"],
            [f"ev-{i}" for i in range(2, 9)],
        ]
        assert pending(redis_client) == 0
        assert relay.measure_lag() == (0, 0)


class TestFailures:
    def test_failed_publish_leaves_entries_pending_and_a_later_run_sends_them(
        self, redis_client: Redis, relay_settings: Settings
    ) -> None:
        sent: list[Chunk] = []
        broker_up = False

        def publish(entries: Chunk) -> None:
            if not broker_up:
                raise ConnectionError("broker unreachable")
            sent.append(entries)

        relay = Relay(redis_client, relay_settings, publish)
        relay.ensure_group()
        add(redis_client, 5)
        with pytest.raises(ConnectionError):
            relay.run_once(block_ms=1)
        assert pending(redis_client) == 3
        assert sent == []

        broker_up = True
        while relay.run_once(block_ms=1):
            pass
        assert [ids(c) for c in sent] == [["ev-0", "ev-1", "ev-2"], ["ev-3", "ev-4"]]
        assert pending(redis_client) == 0

    def test_dead_relays_entries_are_reclaimed_once_idle(
        self,
        redis_client: Redis,
        relay_settings: Settings,
        make_relay: Callable[..., tuple[Relay, list[Chunk]]],
    ) -> None:
        redis_client.xgroup_create(INGEST_STREAM, RELAY_GROUP, id="0", mkstream=True)
        add(redis_client, 4)
        # A relay read two entries and died before its publish: they stay pending, its name.
        redis_client.xreadgroup(RELAY_GROUP, "dead-relay", {INGEST_STREAM: ">"}, count=2)
        assert pending(redis_client) == 2

        patient, patient_chunks = make_relay(consumer="relay-b")
        while patient.run_once(block_ms=1):
            pass
        # Not idle for relay_claim_idle_ms yet: a live relay's entries are not taken.
        assert [i for c in patient_chunks for i in ids(c)] == ["ev-2", "ev-3"]
        assert pending(redis_client) == 2

        quick = relay_settings.model_copy(update={"relay_claim_idle_ms": 5})
        time.sleep(0.05)
        reclaimer, chunks = make_relay(settings=quick, consumer="relay-c")
        assert reclaimer.run_once(block_ms=1) == 2
        assert ids(chunks[0]) == ["ev-0", "ev-1"]
        assert pending(redis_client) == 0


class TestTrim:
    def test_only_acknowledged_entries_are_trimmed(
        self, redis_client: Redis, make_relay: Callable[..., tuple[Relay, list[Chunk]]]
    ) -> None:
        relay, _ = make_relay()
        stream_ids = add(redis_client, 6)
        relay.run_once(block_ms=1)  # ev-0..2 published and acknowledged
        redis_client.xreadgroup(RELAY_GROUP, "dead-relay", {INGEST_STREAM: ">"}, count=2)
        # ev-3, ev-4 pending (unacknowledged), ev-5 never read.
        relay.trim()
        left = [sid.decode() for sid, _ in redis_client.xrange(INGEST_STREAM)]
        assert left == stream_ids[3:]

    def test_nothing_is_trimmed_past_the_oldest_pending_entry(
        self, redis_client: Redis, make_relay: Callable[..., tuple[Relay, list[Chunk]]]
    ) -> None:
        relay, _ = make_relay()
        add(redis_client, 5)
        redis_client.xreadgroup(RELAY_GROUP, "dead-relay", {INGEST_STREAM: ">"}, count=1)
        relay.run_once(block_ms=1)  # ev-1..3 acknowledged, but ev-0 before them is pending
        relay.trim()
        assert redis_client.xlen(INGEST_STREAM) == 5

    def test_another_group_that_has_not_read_keeps_everything(
        self, redis_client: Redis, make_relay: Callable[..., tuple[Relay, list[Chunk]]]
    ) -> None:
        relay, _ = make_relay()
        add(redis_client, 3)
        redis_client.xgroup_create(INGEST_STREAM, "replay", id="0")
        relay.run_once(block_ms=1)
        relay.trim()
        assert redis_client.xlen(INGEST_STREAM) == 3

    def test_everything_acknowledged_is_trimmed(
        self, redis_client: Redis, make_relay: Callable[..., tuple[Relay, list[Chunk]]]
    ) -> None:
        relay, _ = make_relay()
        add(redis_client, 5)
        assert relay.run_once(block_ms=1) == 3  # its first housekeeping trims the chunk
        assert redis_client.xlen(INGEST_STREAM) == 2
        assert relay.run_once(block_ms=1) == 2  # the next trim is due in TRIM_INTERVAL
        assert relay.trim() == 2
        assert redis_client.xlen(INGEST_STREAM) == 0


class TestLag:
    def test_lag_counts_waiting_and_pending_entries(
        self, redis_client: Redis, make_relay: Callable[..., tuple[Relay, list[Chunk]]]
    ) -> None:
        relay, _ = make_relay()
        add(redis_client, 5)
        assert relay.measure_lag() == (5, 0)
        assert REGISTRY.get_sample_value("pivotwatch_relay_lag_entries") == 5
        redis_client.xreadgroup(RELAY_GROUP, "dead-relay", {INGEST_STREAM: ">"}, count=2)
        assert relay.measure_lag() == (3, 2)
        assert REGISTRY.get_sample_value("pivotwatch_relay_lag_entries") == 5
        assert REGISTRY.get_sample_value("pivotwatch_relay_entries", {"state": "pending"}) == 2
        relay.run_once(block_ms=1)
        assert relay.measure_lag() == (0, 2)
        assert REGISTRY.get_sample_value("pivotwatch_relay_entries", {"state": "waiting"}) == 0
        assert REGISTRY.get_sample_value("pivotwatch_relay_lag_entries") == 2

    def test_the_oldest_entry_not_handed_on_is_timed(
        self, redis_client: Redis, make_relay: Callable[..., tuple[Relay, list[Chunk]]]
    ) -> None:
        relay, _ = make_relay()
        relay.measure_lag()
        assert REGISTRY.get_sample_value("pivotwatch_relay_oldest_entry_seconds") == 0
        add(redis_client, 2)
        time.sleep(0.3)
        relay.measure_lag()  # waiting: the first entry after the group's last delivered one
        waiting = REGISTRY.get_sample_value("pivotwatch_relay_oldest_entry_seconds")
        assert waiting is not None and 0.3 <= waiting < 5
        redis_client.xreadgroup(RELAY_GROUP, "dead-relay", {INGEST_STREAM: ">"}, count=1)
        add(redis_client, 1, start=2)
        relay.measure_lag()  # pending: the oldest read and unacknowledged, older than the rest
        pending_age = REGISTRY.get_sample_value("pivotwatch_relay_oldest_entry_seconds")
        assert pending_age is not None and pending_age >= waiting


class TestHops:
    def test_the_chunk_says_when_it_was_sent_and_the_log_hop_is_timed(
        self, redis_client: Redis, relay_settings: Settings
    ) -> None:
        before = REGISTRY.get_sample_value("pivotwatch_pipeline_hop_seconds_count", {"hop": "log"})
        app = make_celery(relay_settings)
        try:
            relay = Relay(redis_client, relay_settings, celery_publish(app))
            relay.ensure_group()
            add(redis_client, 2)
            sent = time.time()
            assert relay.run_once(block_ms=1) == 2
        finally:
            app.close()
        (message,) = [orjson.loads(m) for m in redis_client.lrange(ENRICH_QUEUE, 0, -1)]
        assert abs(message["headers"][PUBLISHED_AT] - sent) < 5
        assert "traceparent" not in message["headers"]  # tracing is off
        after = REGISTRY.get_sample_value("pivotwatch_pipeline_hop_seconds_count", {"hop": "log"})
        assert after == (before or 0) + 2
