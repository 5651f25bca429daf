"""What a dead worker held goes back to its queue, against real Redis and kombu's own bookkeeping.

A message is taken from a real queue without acknowledgement (kombu puts it in its `unacked` hash
exactly as a Celery worker's consumer does), recorded as held by a worker, and then that worker
is made to look dead in each of the ways shared.workers tells apart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from celery import Celery
from kombu import Connection
from redis import Redis

from shared.celery_app import make_celery
from shared.redis_keys import HELD_MESSAGES, UNACKED, WORKERS, worker_key
from shared.settings import Settings
from shared.workers import Presence, host_id, read_workers

QUEUE = "redelivery-test"


@pytest.fixture
def app(settings: Settings) -> Celery:
    return make_celery(settings)


@pytest.fixture
def held(app: Celery, redis_client: Redis) -> Iterator[tuple[Connection, str]]:
    """One message on QUEUE, delivered and not acknowledged: (the consumer's connection, tag)."""
    conn = app.connection_for_write()
    queue = conn.SimpleQueue(QUEUE)
    queue.put({"chunk": [1, 2, 3]})
    message = queue.get(timeout=5)
    assert redis_client.hexists(UNACKED, message.delivery_tag)
    assert redis_client.llen(QUEUE) == 0
    yield conn, str(message.delivery_tag)
    conn.release()


def _presence(app: Celery, settings: Settings, name: str, **over: float) -> Presence:
    return Presence(app, settings.model_copy(update=over), name, [QUEUE])


class TestReaper:
    def test_a_message_of_a_dead_process_on_this_host_is_back_at_once(
        self, app: Celery, settings: Settings, held: tuple[Connection, str], redis_client: Redis
    ) -> None:
        _, tag = held
        # Recorded by a worker on this host whose process is gone (pid 0x7ffffff is never used).
        dead = f"enrich@x|{host_id()}|{0x7FFFFFF}|dead"
        redis_client.set(worker_key(dead), b"1", ex=60)  # its heartbeat has not even expired
        redis_client.hset(HELD_MESSAGES, tag, dead)
        successor = _presence(app, settings, "enrich@x")
        successor.beat()  # just started: it trusts no expired heartbeat yet
        assert successor.reap() == [tag]
        assert not redis_client.hexists(UNACKED, tag)
        assert redis_client.llen(QUEUE) == 1
        assert not redis_client.hexists(HELD_MESSAGES, tag)

    def test_a_live_holder_keeps_its_message(
        self, app: Celery, settings: Settings, held: tuple[Connection, str], redis_client: Redis
    ) -> None:
        _, tag = held
        holder = _presence(app, settings, "enrich@a")
        # Another live process on this host (both presences live in this test's process).
        holder.wid = f"enrich@a|{host_id()}|{os.getppid()}|live"
        holder.received(tag)
        holder.beat()
        other = _presence(app, settings, "enrich@b", worker_dead_after_seconds=0.2)
        other.beat()
        time.sleep(0.3)  # `other` now trusts expiry; the holder's key lives for 1 s at least
        assert other.reap() == []
        assert redis_client.hexists(UNACKED, tag)
        assert redis_client.llen(QUEUE) == 0

    def test_an_expired_heartbeat_on_another_host_gives_the_message_back(
        self, app: Celery, settings: Settings, held: tuple[Connection, str], redis_client: Redis
    ) -> None:
        _, tag = held
        gone = "enrich@c|elsewhere/1|7|gone"  # no heartbeat key: expired
        redis_client.hset(HELD_MESSAGES, tag, gone)
        reaper = _presence(app, settings, "enrich@d", worker_dead_after_seconds=0.5)
        reaper.beat()
        assert reaper.reap() == [], "a worker that just (re)connected trusts no expiry"
        time.sleep(0.6)
        reaper.beat()
        assert reaper.reap() == [tag]
        assert redis_client.llen(QUEUE) == 1

    def test_the_restored_message_is_delivered_again_with_its_body(
        self, app: Celery, settings: Settings, held: tuple[Connection, str], redis_client: Redis
    ) -> None:
        _, tag = held
        redis_client.hset(HELD_MESSAGES, tag, f"enrich@x|{host_id()}|{0x7FFFFFF}|dead")
        _presence(app, settings, "enrich@y").reap()
        with app.connection_for_write() as conn:
            again = conn.SimpleQueue(QUEUE).get(timeout=5)
            assert again.payload == {"chunk": [1, 2, 3]}
            assert again.delivery_info.get("redelivered") or again.headers.get("redelivered")
            again.ack()
        assert redis_client.hlen(UNACKED) == 0

    def test_an_acknowledged_message_is_never_restored(
        self, app: Celery, settings: Settings, held: tuple[Connection, str], redis_client: Redis
    ) -> None:
        _, tag = held
        redis_client.hset(HELD_MESSAGES, tag, f"enrich@x|{host_id()}|{0x7FFFFFF}|dead")
        redis_client.hdel(UNACKED, tag)  # acknowledged between the reaper's reads
        _presence(app, settings, "enrich@y").reap()
        assert redis_client.llen(QUEUE) == 0


class TestHeartbeat:
    def test_beat_publishes_the_worker_and_stop_withdraws_its_key(
        self, app: Celery, settings: Settings, redis_client: Redis
    ) -> None:
        p = _presence(app, settings, "enrich@h")
        p.beat()
        assert redis_client.exists(worker_key(p.wid))
        assert 0 < redis_client.ttl(worker_key(p.wid)) <= 20
        (seen,) = [w for w in read_workers(redis_client) if w.wid == p.wid]
        assert seen.name == "enrich@h" and seen.queues == (QUEUE,)
        p.stop()
        assert not redis_client.exists(worker_key(p.wid))
        assert redis_client.hexists(WORKERS, p.wid)  # its last beat stays visible to status

    def test_records_of_acknowledged_messages_are_dropped(
        self, app: Celery, settings: Settings, held: tuple[Connection, str], redis_client: Redis
    ) -> None:
        _, tag = held
        p = _presence(app, settings, "enrich@h")
        p.received(tag)
        p.beat()
        assert redis_client.hget(HELD_MESSAGES, tag) == p.wid.encode()
        redis_client.hdel(UNACKED, tag)
        redis_client.zrem("unacked_index", tag)
        p.beat()
        p.reap()
        assert not redis_client.hexists(HELD_MESSAGES, tag)


class TestRecords:
    def test_a_message_redelivered_under_the_same_tag_belongs_to_its_new_holder(
        self, app: Celery, settings: Settings, held: tuple[Connection, str], redis_client: Redis
    ) -> None:
        # kombu restores a message under its old tag (a warm shutdown, the visibility timeout):
        # the worker that had it must not claim it back from the one that has it now.
        _, tag = held
        old, new = _presence(app, settings, "enrich@old"), _presence(app, settings, "enrich@new")
        old.beat()
        new.beat()
        old.received(tag)
        new.received(tag)  # delivered again, same tag
        old.beat()
        assert redis_client.hget(HELD_MESSAGES, tag) == new.wid.encode()
        assert not old.holds(tag)

    def test_nothing_is_recorded_before_the_first_heartbeat(
        self, app: Celery, settings: Settings, held: tuple[Connection, str], redis_client: Redis
    ) -> None:
        # A record naming a worker without a heartbeat key would read as dead.
        _, tag = held
        p = _presence(app, settings, "enrich@new")
        p.received(tag)
        assert not redis_client.hexists(HELD_MESSAGES, tag)
        p.beat()
        assert redis_client.hget(HELD_MESSAGES, tag) == p.wid.encode()

    def test_a_stale_record_of_ones_own_beats_trusts_no_expiry(
        self, app: Celery, settings: Settings, redis_client: Redis
    ) -> None:
        from shared import workers

        fast = settings.model_copy(
            update={"worker_dead_after_seconds": 0.2, "worker_heartbeat_seconds": 0.1}
        )
        me = Presence(app, fast, "notify@me", [QUEUE])
        me.beat()
        time.sleep(0.3)  # long enough to trust expiry, had the record stayed fresh
        me.beat()
        gone = "notify@gone|elsewhere/1|7|gone"
        workers.install(me)
        try:
            assert workers.dead_among(redis_client, [gone], fast) == [gone]
            # The main process stopped beating (Redis away): its last record is not enough.
            assert workers.dead_among(redis_client, [gone], fast, now=time.time() + 1) == []
        finally:
            workers.install(None)
