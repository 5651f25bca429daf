"""Faults during a load: what was answered 202 is stored exactly once and notified at least once.

Each test runs the whole stack (tests/faults/harness.py), posts a few thousand events through the
ingest API while it breaks one thing, lets the stack recover by itself (the supervisor restarts a
killed process; nothing else is done by hand), and ends with the audit, printed then asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.conftest import EVENTS, LOAD_SECONDS, PG_SECONDS, REDIS_SECONDS
from tests.faults.harness import (
    VISIBILITY_TIMEOUT,
    WEBHOOK_TIMEOUT,
    Load,
    Scenario,
    attempts_by_answer,
    audit,
    ingest_pending_by_consumer,
    kill_enrich_mid_chunk,
    received_then_not_succeeded,
)
from tests.fixtures.receiver import Reply
from tests.fixtures.waiting import poll

pytestmark = pytest.mark.timeout(600)


def _started(load: Load, fraction: float = 0.25) -> None:
    """Wait until the load is well under way: a share of it answered 202."""
    assert poll(lambda: load.accepted_count() >= EVENTS * fraction, 60, 0.02)


class TestEnrichWorkerKilled:
    def test_sigkill_mid_chunk_loses_and_duplicates_nothing(self, sc: Scenario) -> None:
        load = sc.load(EVENTS, LOAD_SECONDS)
        _started(load)
        in_flight, kills, _ = kill_enrich_mid_chunk(sc, load)
        result = audit("enrich worker SIGKILL mid-chunk", sc, load)
        # The held chunk comes back (its successor takes it back at start; the visibility timeout
        # is the last resort), whether or not its events were committed before the kill (then
        # the outbox sweep has announced them already).
        poll(
            lambda: not in_flight & received_then_not_succeeded(sc.stack.log("enrich-worker")),
            VISIBILITY_TIMEOUT + 20,
            0.2,
        )
        finished = in_flight - received_then_not_succeeded(sc.stack.log("enrich-worker"))
        result.counts["kills"] = kills
        result.counts["chunks in flight at the kill / finished after redelivery"] = (
            f"{len(in_flight)} / {len(finished)}"
        )
        print(f"  chunks in flight at the kill / redelivered: {len(in_flight)} / {len(finished)}")
        assert in_flight, "no kill landed while a chunk was in the worker"
        assert finished == in_flight, "a chunk the dead worker held was never run again"
        result.check()


class TestRelayKilled:
    def test_sigkill_of_the_relay_loses_nothing(self, sc: Scenario) -> None:
        load = sc.load(EVENTS, LOAD_SECONDS)
        _started(load)
        left = 0
        kills = 0
        # SIGKILL while the relay holds entries it read and has not acknowledged (between its
        # XREADGROUP and XACK); those must reach the next relay through XAUTOCLAIM.
        while not left and kills < 5 and load.is_alive():
            pid = sc.stack.child("relay").proc.pid  # type: ignore[union-attr]
            poll(lambda p=pid: _pending_of(sc, p), 10, 0.001)
            sc.stack.kill("relay")
            kills += 1
            left = _pending_of(sc, pid)
            sc.stack.note(f"entries the killed relay read and never acknowledged: {left}")
            sc.stack.wait_restarted("relay")
        result = audit("relay SIGKILL", sc, load)
        result.counts["kills / entries left pending by the killed relay"] = f"{kills} / {left}"
        print(f"  kills / entries left pending by the killed relay: {kills} / {left}")
        assert left, "no kill landed while the relay held unacknowledged entries"
        assert sc.stack.child("relay").restarts == kills
        result.check()


def _pending_of(sc: Scenario, pid: int) -> int:
    """Entries the relay process `pid` (consumer "<host>-<pid>") read and has not acknowledged."""
    return sum(
        n
        for name, n in ingest_pending_by_consumer(sc.stack.stack.redis_url).items()
        if name.endswith(f"-{pid}")
    )


class TestRedisRestarted:
    def test_503_with_retry_after_while_down_and_everything_resumes(self, sc: Scenario) -> None:
        load = sc.load(EVENTS, max(LOAD_SECONDS, REDIS_SECONDS + 6))
        _started(load)
        sc.stack.stop_redis()
        time.sleep(1)  # a 202 for an XADD made just before the stop may still be on its way
        accepted_down = load.accepted_count()
        time.sleep(max(REDIS_SECONDS - 1, 1))
        accepted_up = load.accepted_count()
        sc.stack.start_redis()
        result = audit(f"Redis stopped {REDIS_SECONDS:g}s and started again", sc, load)
        assert accepted_up == accepted_down, "a 202 was given while Redis was down"
        assert load.unavailable >= 1, "the load never met the outage"
        result.check()


class TestPostgresStopped:
    def test_ingest_accepts_while_down_and_the_pipeline_catches_up(self, sc: Scenario) -> None:
        load = sc.load(EVENTS, max(LOAD_SECONDS, PG_SECONDS + 6))
        _started(load, 0.1)
        sc.stack.stop_postgres()
        accepted_down = load.accepted_count()
        time.sleep(PG_SECONDS)
        accepted_up = load.accepted_count()
        sc.stack.note(
            f"events answered 202 while PostgreSQL was down: {accepted_up - accepted_down}"
        )
        ready_while_down = sc.stack.ready()
        sc.stack.start_postgres()
        result = audit(f"PostgreSQL stopped {PG_SECONDS:g}s and started again", sc, load)
        result.counts["202 while PostgreSQL was down"] = accepted_up - accepted_down
        result.counts["readyz while PostgreSQL was down"] = ready_while_down
        print(f"  202 while PostgreSQL was down: {accepted_up - accepted_down}")
        assert accepted_up > accepted_down, "ingest stopped accepting without PostgreSQL"
        assert ready_while_down["ingest"] == 200 and ready_while_down["timeline"] == 503
        result.check()


class TestNotifyWorkerKilled:
    def test_sigkill_mid_delivery_resends_with_the_same_webhook_id(self, sc: Scenario) -> None:
        # Endpoints that take a moment to answer, so that deliveries are in flight at the kill.
        sc.receiver.respond = lambda got, nth: Reply(delay=0.3)
        load = sc.load(EVENTS, LOAD_SECONDS)
        _started(load)
        assert poll(lambda: sc.receiver.in_flight > 0, 30, 0.005)
        in_flight = sc.receiver.in_flight
        sc.stack.kill("notify-worker")
        sc.receiver.respond = lambda got, nth: Reply()
        sc.stack.wait_restarted("notify-worker")
        result = audit("notify worker SIGKILL mid-delivery", sc, load)
        repeats = sum(1 for _ in sc.receiver.answered()) - len(
            {g.webhook_id for g in sc.receiver.answered()}
        )
        result.counts["requests in flight at the kill / repeats seen"] = f"{in_flight} / {repeats}"
        print(f"  requests in flight at the kill / repeats seen: {in_flight} / {repeats}")
        # The requests the dead worker was sending were answered to no one: sent again, same id.
        assert repeats >= 1
        result.check()


class TestReceiverMisbehaves:
    def test_down_slow_500_429_then_recovers_and_gets_everything(self, sc: Scenario) -> None:
        # Each phase lasts at least PHASE seconds and until attempts have met it: retries are
        # spread by the schedule, so a phase measured by the clock alone could fall between them.
        load = sc.load(EVENTS, max(LOAD_SECONDS, 4 * PHASE + 2))
        _started(load, 0.05)
        sc.receiver.down()
        sc.stack.note("receiver down (connections refused)")
        _phase(lambda: attempts_by_answer(sc).get("ConnectError", 0) >= 1)
        slow = Reply(delay=WEBHOOK_TIMEOUT + 1)
        for reply, what in (
            (slow, "answering after the timeout"),
            (Reply(status=500), "answering 500"),
            (Reply(status=429, headers={"Retry-After": "1"}), "answering 429, Retry-After: 1"),
        ):
            answered = sc.receiver.answer(reply)
            if reply is slow:
                sc.receiver.up()
            sc.stack.note(f"receiver {what}")
            _phase(lambda n=answered: n() >= 1)
        sc.receiver.answer(Reply())
        sc.stack.note("receiver recovered")
        result = audit("webhook receiver down, slow, 500, 429, then recovered", sc, load)
        answers = result.counts["delivery attempts by answer"]
        for kind in ("ConnectError", "ReadTimeout", "500", "429", "200"):
            assert answers.get(kind, 0) >= 1, f"no attempt met {kind}: {answers}"
        result.check()


PHASE = 3.0


def _phase(met: Callable[[], bool]) -> None:
    time.sleep(PHASE)
    assert poll(met, 60, 0.2), "no delivery attempt met this phase of the receiver"
