"""Fan-out, signed delivery, retries, endpoint health, FIFO and rate limits, driven through the
plain functions the Celery tasks call (fanout, dispatch), against a real loopback receiver."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from standardwebhooks import Webhook

from pivotwatch.embedded import free_port
from services.notify import dispatcher, repository
from services.notify.app import create_app
from services.notify.dispatcher import dispatch
from services.notify.repository import EXCERPT_BYTES, Claimed, fanout
from services.notify.sender import sender
from shared.db import Subscription, make_engine, session_factory
from shared.settings import Settings
from shared.webhooks import generate_secret


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class TestFanout:
    def test_a_matching_change_arrives_as_a_verified_cloudevent(
        self, kit: Any, receiver: Any
    ) -> None:
        sub_id, secret = kit.subscribe(receiver.url, filter={"companies": ["openai"]})
        outbox = kit.add_event(title="OpenAI LP created")
        (delivery_id,) = kit.fanout(outbox)
        kit.drive(kit.settled(sub_id))
        (got,) = receiver.snapshot()
        doc = Webhook(secret).verify(got.body, got.headers)  # the reference verifier
        (d,) = kit.deliveries(sub_id)
        assert d.id == delivery_id and d.status == "succeeded"
        assert got.headers["webhook-id"] == d.webhook_id
        assert got.headers["webhook-timestamp"].isdigit()
        assert got.headers["webhook-signature"].startswith("v1,")
        assert got.headers["content-type"] == "application/json"
        assert doc["specversion"] == "1.0"
        assert doc["id"] == d.webhook_id
        assert doc["source"] == "/pivotwatch/notify"
        assert doc["type"] == "dev.pivotwatch.event.created"
        assert doc["sequence"] == "1"
        assert doc["subject"] == str(d.event_id)
        assert doc["data"]["sequence"] == 1
        assert doc["data"]["event"]["title"] == "OpenAI LP created"
        assert doc["data"]["event"]["company"] == "openai"

    def test_filters_and_event_types_select_what_is_sent(self, kit: Any, receiver: Any) -> None:
        other_company, _ = kit.subscribe(receiver.url, filter={"companies": ["meta"]})
        too_low, _ = kit.subscribe(receiver.url, filter={"min_importance": 90})
        wrong_cat, _ = kit.subscribe(receiver.url, filter={"categories": ["funding"]})
        phases_only, _ = kit.subscribe(receiver.url, event_types=["phase.changed"])
        wanted, _ = kit.subscribe(
            receiver.url,
            filter={
                "companies": ["openai"],
                "categories": ["governance"],
                "phases": ["capped-profit"],
            },
        )
        created = kit.fanout(kit.add_event(importance=60))
        assert len(created) == 1
        assert kit.deliveries(wanted)
        for sub in (other_company, too_low, wrong_cat, phases_only):
            assert kit.deliveries(sub) == []

    def test_each_subscription_numbers_its_own_deliveries_and_fanout_is_idempotent(
        self, kit: Any, receiver: Any
    ) -> None:
        a, _ = kit.subscribe(receiver.url)
        b, _ = kit.subscribe(receiver.url, filter={"min_importance": 50})
        ids = [kit.add_event(importance=i) for i in (40, 60, 70)]
        for outbox in ids:
            kit.fanout(outbox)
        assert kit.fanout(*ids) == []  # already processed: nothing twice
        assert [d.sequence for d in kit.deliveries(a)] == [1, 2, 3]
        assert [d.sequence for d in kit.deliveries(b)] == [1, 2]
        kit.drive(lambda: kit.settled(a, 3)() and kit.settled(b, 2)())
        by_sub: dict[str, list[int]] = {}
        for got in receiver.snapshot():
            by_sub.setdefault(got.webhook_id, []).append(got.sequence)
        assert sorted(s for seqs in by_sub.values() for s in seqs) == [1, 1, 2, 2, 3]

    def test_a_fanout_of_several_inserts_numbers_every_delivery_once(
        self, kit: Any, receiver: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(repository, "FAN_INSERT_ROWS", 2)  # 9 deliveries: 5 INSERTs
        subs = [kit.subscribe(receiver.url)[0] for _ in range(3)]
        ids = [kit.add_event(title=f"e{i}") for i in range(3)]
        created = kit.fanout(*ids)
        assert len(created) == len(set(created)) == 9
        assert kit.fanout(*ids) == []
        kit.fanout(kit.add_event(title="e3"))  # the endpoints' sequence numbers were saved
        for sub_id in subs:
            got = kit.deliveries(sub_id)
            assert [d.sequence for d in got] == [1, 2, 3, 4]
            docs = [orjson.loads(d.body) for d in got]
            assert [doc["sequence"] for doc in docs] == ["1", "2", "3", "4"]
            assert [doc["data"]["event"]["title"] for doc in docs] == ["e0", "e1", "e2", "e3"]

    def test_a_fanout_takes_waiting_rows_along_and_the_tasks_behind_find_them_done(
        self, kit: Any, receiver: Any
    ) -> None:
        sub_id, _ = kit.subscribe(receiver.url)
        first, *waiting = [kit.add_event(title=f"e{i}") for i in range(3)]
        with kit.sessions() as session, session.begin():
            created = fanout(session, [first], budget=10_000)
        assert len(created) == 3
        assert kit.fanout(*waiting) == []  # their own tasks, later: nothing left to do
        kit.drive(kit.settled(sub_id, 3))
        assert [d.sequence for d in kit.deliveries(sub_id)] == [1, 2, 3]
        got = receiver.snapshot()
        assert len(got) == 3 and len({g.webhook_id for g in got}) == 3
        assert sorted(g.doc["data"]["event"]["title"] for g in got) == ["e0", "e1", "e2"]


class TestRetries:
    def test_500_then_timeout_then_success_with_the_same_webhook_id(
        self, kit: Any, receiver: Any
    ) -> None:
        replies = [receiver.Reply(500, body=b"boom"), receiver.Reply(200, delay=1.5)]
        receiver.respond = lambda got, nth: replies[nth] if nth < 2 else receiver.Reply(200)
        sub_id, secret = kit.subscribe(receiver.url)
        kit.fanout(kit.add_event())
        kit.drive(kit.settled(sub_id))
        got = receiver.snapshot()
        assert len(got) == 3
        assert len({g.webhook_id for g in got}) == 1
        for g in got:
            Webhook(secret).verify(g.body, g.headers)
        (d,) = kit.deliveries(sub_id)
        assert d.status == "succeeded" and d.attempts == 3
        log = kit.attempts(d.id)
        assert [a.status_code for a in log] == [500, None, 200]
        assert log[0].response_excerpt == "boom"
        assert log[1].error is not None and "Timeout" in log[1].error
        assert all(a.duration_ms > 0 for a in log)
        assert log[1].duration_ms >= 900  # the timeout (1 s), measured by the sender

    def test_outcomes_sent_while_postgresql_is_away_are_recorded_when_it_is_back(
        self, kit: Any, receiver: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The batch was sent; the database refuses the outcome twice (restarting), then takes
        # it. Given up, the deliveries would wait out their lease and be sent again.
        from sqlalchemy.exc import OperationalError

        real, calls = dispatcher.record, []

        def flaky(*args: Any, **kw: Any) -> Any:
            calls.append(1)
            if len(calls) <= 2:
                raise OperationalError("INSERT ...", {}, Exception("the database is starting up"))
            return real(*args, **kw)

        monkeypatch.setattr(dispatcher, "record", flaky)
        sub_id, _ = kit.subscribe(receiver.url)
        kit.fanout(kit.add_event())
        assert dispatcher.deliver(kit.sessions, kit.settings) == 1
        (d,) = kit.deliveries(sub_id)
        assert len(calls) == 3 and d.status == "succeeded" and d.claimed_at is None
        assert len(receiver.snapshot()) == 1  # sent once

    def test_the_response_excerpt_is_bounded(self, kit: Any, receiver: Any) -> None:
        big = receiver.Reply(500, body=b"x" * 10_000)
        receiver.respond = lambda got, nth: big if nth == 0 else receiver.Reply(200)
        sub_id, _ = kit.subscribe(receiver.url)
        kit.fanout(kit.add_event())
        kit.drive(kit.settled(sub_id))
        (d,) = kit.deliveries(sub_id)
        first = kit.attempts(d.id)[0]
        assert len(first.response_excerpt) == EXCERPT_BYTES

    def test_a_spent_schedule_fails_the_delivery_for_good(self, kit: Any, receiver: Any) -> None:
        receiver.respond = lambda got, nth: receiver.Reply(500)
        given_up = sample("pivotwatch_webhook_given_up_total")
        sub_id, _ = kit.subscribe(receiver.url)
        kit.fanout(kit.add_event())
        kit.drive(kit.settled(sub_id))
        for _ in range(5):
            dispatch(kit.sessions, kit.settings)
        (d,) = kit.deliveries(sub_id)
        assert d.status == "failed"
        assert d.next_attempt_at is None
        assert d.attempts == len(kit.settings.retry_schedule_seconds)
        assert len(receiver.snapshot()) == d.attempts  # nothing retries forever
        assert sample("pivotwatch_webhook_given_up_total") == given_up + 1

    def test_retry_after_is_honoured_within_bounds(
        self, kit: Any, receiver: Any, nsettings: Settings
    ) -> None:
        s = nsettings.model_copy(update={"retry_schedule_seconds": [0, 1, 1, 1]})
        polite, _ = kit.subscribe(receiver.url + "?who=polite")
        greedy, _ = kit.subscribe(receiver.url + "?who=greedy")
        plain, _ = kit.subscribe(receiver.url + "?who=plain")
        answers = {
            "/hook?who=polite": receiver.Reply(429, headers={"Retry-After": "2"}),
            "/hook?who=greedy": receiver.Reply(503, headers={"Retry-After": "86400"}),
            "/hook?who=plain": receiver.Reply(500),
        }
        receiver.respond = lambda got, nth: answers[got.path] if nth == 0 else receiver.Reply(200)
        kit.fanout(kit.add_event())
        dispatch(kit.sessions, s)
        waits = {}
        for name, sub in (("polite", polite), ("greedy", greedy), ("plain", plain)):
            (d,) = kit.deliveries(sub)
            # updated_at is when the attempt's outcome was recorded and the next one set.
            waits[name] = (d.next_attempt_at - d.updated_at).total_seconds()
        assert waits["polite"] == 2.0  # asked for 2 s instead of the scheduled 1 s
        assert waits["greedy"] == 2.0  # asked for a day: held to 2x the schedule
        assert waits["plain"] == 1.0  # no header: the schedule
        kit.drive(
            lambda: all(kit.settled(x)() for x in (polite, greedy, plain)), settings=s, timeout=20
        )
        (d,) = kit.deliveries(polite)
        first, second = kit.attempts(d.id)
        assert (second.attempted_at - first.attempted_at).total_seconds() >= 2.0

    def test_a_redirect_is_a_failure_and_never_followed(self, kit: Any, receiver: Any) -> None:
        moved = receiver.Reply(302, headers={"Location": f"http://127.0.0.1:{receiver.port}/x"})
        receiver.respond = lambda got, nth: moved
        sub_id, _ = kit.subscribe(receiver.url)
        kit.fanout(kit.add_event())
        kit.drive(kit.settled(sub_id))
        (d,) = kit.deliveries(sub_id)
        assert d.status == "failed"
        assert {a.status_code for a in kit.attempts(d.id)} == {302}
        assert {g.path for g in receiver.snapshot()} == {"/hook"}


class TestSlowEndpoint:
    def test_a_slow_endpoint_does_not_fail_another_endpoints_deliveries(
        self, kit: Any, receiver: Any, make_receiver: Any
    ) -> None:
        # More deliveries to a slow endpoint than the sender has connections, then a few to a
        # healthy one: the healthy ones must not wait for a connection until their own timeout
        # (recorded as a failed attempt the endpoint never saw).
        healthy = make_receiver()
        receiver.respond = lambda got, nth: receiver.Reply(200, delay=1.5)
        slow_id, _ = kit.subscribe(receiver.url, filter={"companies": ["slowco"]})
        ok_id, _ = kit.subscribe(healthy.url, filter={"companies": ["okco"]})
        kit.fanout(*[kit.add_event(company="slowco", title=f"slow {i}") for i in range(110)])
        kit.fanout(*[kit.add_event(company="okco", title=f"ok {i}") for i in range(5)])
        kit.drive(kit.settled(ok_id, 5), timeout=20)
        for d in kit.deliveries(ok_id):
            assert [(a.status_code, a.error) for a in kit.attempts(d.id)] == [(200, None)]
        assert len(healthy.snapshot()) == 5
        assert len(kit.deliveries(slow_id)) == 110


class TestSsrfAtDelivery:
    def test_a_target_no_longer_allowed_is_refused_and_recorded(
        self, kit: Any, receiver: Any, nsettings: Settings
    ) -> None:
        sub_id, _ = kit.subscribe(receiver.url)  # allowed when made (loopback allowed)
        kit.fanout(kit.add_event())
        strict = nsettings.model_copy(update={"webhook_allow_networks": []})
        kit.drive(kit.settled(sub_id), settings=strict)
        (d,) = kit.deliveries(sub_id)
        assert d.status == "failed"
        log = kit.attempts(d.id)
        assert log and all(a.error.startswith("refused:") for a in log)
        assert all(a.status_code is None for a in log)
        assert "not a public address" in log[0].error
        assert receiver.snapshot() == []  # no request ever left


class TestEndpointHealth:
    def test_410_disables_at_once_and_records_it(self, kit: Any, receiver: Any) -> None:
        receiver.respond = lambda got, nth: receiver.Reply(410)
        given_up = sample("pivotwatch_webhook_given_up_total")
        failed = sample("pivotwatch_webhook_deliveries_total", outcome="failed")
        sub_id, _ = kit.subscribe(receiver.url)
        kit.fanout(kit.add_event(), kit.add_event(title="second"))
        kit.drive(kit.settled(sub_id, 2))
        for _ in range(3):
            dispatch(kit.sessions, kit.settings)
        # Each delivery is counted once, whether the 410 itself or the disabling failed it.
        assert sample("pivotwatch_webhook_given_up_total") == given_up + 2
        assert sample("pivotwatch_webhook_deliveries_total", outcome="failed") == failed + 2
        with kit.sessions() as session:
            sub = session.get(Subscription, sub_id)
            assert sub is not None and sub.enabled is False
            assert "410" in (sub.disabled_reason or "")
        assert all(d.status == "failed" and d.attempts <= 1 for d in kit.deliveries(sub_id))
        assert len(receiver.snapshot()) <= 2  # no retry after a 410
        (rec,) = kit.records(sub_id)
        assert rec.kind == "endpoint.disabled" and "410" in rec.detail

    def test_sustained_failure_disables_after_the_configured_period(
        self, kit: Any, receiver: Any, nsettings: Settings
    ) -> None:
        s = nsettings.model_copy(
            update={"disable_after_failing_seconds": 0.3, "retry_schedule_seconds": [0, 0.2] * 5}
        )
        receiver.respond = lambda got, nth: receiver.Reply(500)
        sub_id, _ = kit.subscribe(receiver.url)
        kit.fanout(kit.add_event())

        def disabled() -> bool:
            with kit.sessions() as session:
                sub = session.get(Subscription, sub_id)
                return sub is not None and not sub.enabled

        kit.drive(disabled, settings=s)
        (d,) = kit.deliveries(sub_id)
        assert d.status == "failed"
        assert 2 <= d.attempts < 10  # disabled before the schedule was spent
        (rec,) = kit.records(sub_id)
        assert rec.kind == "endpoint.disabled"
        assert "every attempt failed" in rec.detail


class TestFifo:
    def test_order_is_held_under_failures_with_two_dispatchers(
        self, kit: Any, receiver: Any
    ) -> None:
        def respond(got: Any, nth: int) -> Any:
            if got.sequence == 1 and nth < 2:
                return receiver.Reply(500)  # succeeds on its third attempt
            if got.sequence == 3:
                return receiver.Reply(503)  # fails for good
            return receiver.Reply(200)

        receiver.respond = respond
        sub_id, _ = kit.subscribe(receiver.url, fifo=True)
        kit.fanout(*[kit.add_event(title=f"e{i}") for i in range(1, 6)])
        threads = [
            threading.Thread(target=kit.drive, args=(kit.settled(sub_id, 5),), daemon=True)
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        order = [g.sequence for g in receiver.snapshot()]
        assert order == sorted(order), order  # never a later one before an earlier one settled
        assert order.count(1) == 3
        assert order.count(3) == len(kit.settings.retry_schedule_seconds)
        assert set(order) == {1, 2, 3, 4, 5}
        statuses = [d.status for d in kit.deliveries(sub_id)]
        assert statuses == ["succeeded", "succeeded", "failed", "succeeded", "succeeded"]

    def test_without_fifo_later_deliveries_do_not_wait(self, kit: Any, receiver: Any) -> None:
        receiver.respond = lambda got, nth: (
            receiver.Reply(500) if got.sequence == 1 and nth < 2 else receiver.Reply(200)
        )
        sub_id, _ = kit.subscribe(receiver.url)
        kit.fanout(*[kit.add_event(title=f"e{i}") for i in range(1, 4)])
        kit.drive(kit.settled(sub_id, 3))
        order = [g.sequence for g in receiver.snapshot()]
        assert order != sorted(order)  # the contrast: 2 and 3 went while 1 was retrying


class TestRateLimit:
    def test_attempts_respect_the_endpoint_rate_across_two_dispatchers(
        self, kit: Any, receiver: Any
    ) -> None:
        rate, n = 5.0, 15
        sub_id, _ = kit.subscribe(receiver.url, rate_limit_per_second=rate)
        free_id, _ = kit.subscribe(receiver.url + "?free")
        kit.fanout(*[kit.add_event(title=f"e{i}") for i in range(n)])
        done = lambda: kit.settled(sub_id, n)() and kit.settled(free_id, n)()  # noqa: E731
        threads = [threading.Thread(target=kit.drive, args=(done,), daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(d.status == "succeeded" for d in kit.deliveries(sub_id))
        times = sorted(a.attempted_at for d in kit.deliveries(sub_id) for a in kit.attempts(d.id))
        assert len(times) == n
        window = 1.0
        for start in times:
            inside = [t for t in times if 0 <= (t - start).total_seconds() < window]
            assert len(inside) <= rate * window + 1, [str(t) for t in inside]

    def test_slots_reached_late_still_start_an_interval_apart(
        self, nsettings: Settings, receiver: Any
    ) -> None:
        """A slot is the earliest an attempt may start; a sender that reaches two slots late
        (its loop busy, here slots already past) starts them an interval apart, not together.
        (Seen in a full-suite run: two attempts 0.7 ms apart at 5 per second.)"""
        endpoint, interval = uuid.uuid4(), 0.2
        late = datetime.now(UTC) - timedelta(seconds=1)
        claimed = [
            Claimed(
                uuid.uuid4(), endpoint, receiver.url, f"msg_{i}", b"{}", [generate_secret()],
                0, late, late + timedelta(seconds=interval * i), interval,
            )
            for i in range(3)
        ]  # fmt: skip
        results = sender().run(dispatcher.send_all(claimed, nsettings))
        assert [r.status_code for r in results] == [200, 200, 200]
        starts = sorted(r.started_at for r in results)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        assert all(gap >= interval - 0.005 for gap in gaps), gaps


class TestOperationsApi:
    async def _sub(self, client: Any, manager: dict[str, str], url: str) -> dict[str, Any]:
        r = await client.post("/v1/subscriptions", json={"url": url}, headers=manager)
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def test_manual_retry_resends_a_failed_delivery_with_the_same_id(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        receiver.respond = lambda got, nth: receiver.Reply(500)
        async with serve(create_app(nsettings)) as client:
            sub = await self._sub(client, manager, receiver.url)
            kit.fanout(kit.add_event())
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"]))
            (d,) = kit.deliveries(sub["id"])
            assert d.status == "failed"
            receiver.respond = lambda got, nth: receiver.Reply(200)
            r = await client.post(f"/v1/deliveries/{d.id}/retry", headers=manager)
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "pending"
            again = await client.post(f"/v1/deliveries/{d.id}/retry", headers=manager)
            assert again.status_code == 409
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"]))
            detail = await client.get(f"/v1/deliveries/{d.id}", headers=manager)
            missing = await client.post(
                "/v1/deliveries/00000000-0000-0000-0000-000000000000/retry", headers=manager
            )
            bad = await client.post("/v1/deliveries/nope/retry", headers=manager)
        attempts = len(nsettings.retry_schedule_seconds)
        assert detail.json()["status"] == "succeeded"
        assert detail.json()["attempts"] == attempts + 1
        log = detail.json()["attempts_log"]
        assert [a["status_code"] for a in log] == [500] * attempts + [200]
        assert {g.webhook_id for g in receiver.snapshot()} == {d.webhook_id}
        assert missing.status_code == 404
        assert bad.status_code == 422 and bad.json()["field"] == "delivery_id"

    async def test_replay_resends_every_delivery_in_the_window(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            sub = await self._sub(client, manager, receiver.url)
            for i in range(3):
                kit.fanout(kit.add_event(title=f"e{i}"))
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"], 3))
            ds = kit.deliveries(sub["id"])
            since: datetime = ds[1].created_at
            until: datetime = ds[2].created_at
            r = await client.post(
                f"/v1/subscriptions/{sub['id']}/replay",
                json={"since": since.isoformat(), "until": until.isoformat()},
                headers=manager,
            )
            assert r.status_code == 202, r.text
            assert r.json() == {"queued": 1}
            r2 = await client.post(
                f"/v1/subscriptions/{sub['id']}/replay",
                json={"since": since.isoformat()},
                headers=manager,
            )
            assert r2.json() == {"queued": 1}  # until defaults to now; d1 is pending already
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"], 3))
            backwards = await client.post(
                f"/v1/subscriptions/{sub['id']}/replay",
                json={"since": until.isoformat(), "until": since.isoformat()},
                headers=manager,
            )
            naive = await client.post(
                f"/v1/subscriptions/{sub['id']}/replay",
                json={"since": "2026-01-01T00:00:00"},
                headers=manager,
            )
        ids = [g.webhook_id for g in receiver.snapshot()]
        assert len(ids) == 5
        assert ids.count(ds[0].webhook_id) == 1
        assert ids.count(ds[1].webhook_id) == 2
        assert ids.count(ds[2].webhook_id) == 2
        assert backwards.status_code == 422 and backwards.json()["field"] == "until"
        assert naive.status_code == 422 and naive.json()["field"] == "since"

    async def test_reenable_replays_what_was_missed_when_asked(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        receiver.respond = lambda got, nth: receiver.Reply(410)
        async with serve(create_app(nsettings)) as client:
            sub = await self._sub(client, manager, receiver.url)
            kit.fanout(kit.add_event(title="before"))
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"]))
            shown = (await client.get(f"/v1/subscriptions/{sub['id']}", headers=manager)).json()
            assert shown["enabled"] is False and "410" in shown["disabled_reason"]
            assert kit.fanout(kit.add_event(title="while disabled")) == []
            retry = await client.post(
                f"/v1/deliveries/{kit.deliveries(sub['id'])[0].id}/retry", headers=manager
            )
            assert retry.status_code == 409  # enable first
            receiver.respond = lambda got, nth: receiver.Reply(200)
            r = await client.post(
                f"/v1/subscriptions/{sub['id']}/enable", json={"replay": True}, headers=manager
            )
            assert r.status_code == 200, r.text
            assert r.json()["enabled"] is True and r.json()["replayed"] == 2
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"], 2))
            records = await client.get(f"/v1/subscriptions/{sub['id']}/records", headers=manager)
        titles = [g.doc["data"]["event"]["title"] for g in receiver.snapshot()]
        # The 410 first; the two replayed deliveries are sent together, in either order.
        assert titles[0] == "before"
        assert sorted(titles[1:]) == ["before", "while disabled"]
        assert [x["kind"] for x in records.json()] == ["endpoint.disabled", "endpoint.enabled"]
        assert all(d.status == "succeeded" for d in kit.deliveries(sub["id"]))

    async def test_reenable_without_replay_sends_only_new_changes(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        receiver.respond = lambda got, nth: receiver.Reply(410)
        async with serve(create_app(nsettings)) as client:
            sub = await self._sub(client, manager, receiver.url)
            kit.fanout(kit.add_event(title="before"))
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"]))
            kit.fanout(kit.add_event(title="while disabled"))
            receiver.respond = lambda got, nth: receiver.Reply(200)
            r = await client.post(f"/v1/subscriptions/{sub['id']}/enable", headers=manager)
            assert r.json()["replayed"] == 0
            kit.fanout(kit.add_event(title="after"))
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"], 2))
        titles = [g.doc["data"]["event"]["title"] for g in receiver.snapshot()]
        assert titles == ["before", "after"]

    async def test_deliveries_list_and_detail_show_the_attempt_log(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        receiver.respond = lambda got, nth: (
            receiver.Reply(500, body=b"down") if nth == 0 else receiver.Reply(201, body=b"thanks")
        )
        async with serve(create_app(nsettings)) as client:
            sub = await self._sub(client, manager, receiver.url)
            kit.fanout(kit.add_event(), kit.add_event(title="two"))
            await asyncio.to_thread(kit.drive, kit.settled(sub["id"], 2))
            listed = await client.get(
                f"/v1/subscriptions/{sub['id']}/deliveries?status=succeeded", headers=manager
            )
            bad = await client.get(
                f"/v1/subscriptions/{sub['id']}/deliveries?status=lost", headers=manager
            )
            detail = await client.get(f"/v1/deliveries/{listed.json()[0]['id']}", headers=manager)
        assert [d["sequence"] for d in listed.json()] == [2, 1]
        assert bad.status_code == 422 and bad.json()["field"] == "status"
        log = detail.json()["attempts_log"]
        assert [(a["status_code"], a["response_excerpt"]) for a in log] == [
            (500, "down"),
            (201, "thanks"),
        ]
        assert all(a["duration_ms"] > 0 for a in log)


class TestMetrics:
    async def test_outcomes_lag_given_up_and_queue_depth(
        self, nsettings: Settings, serve: Any, kit: Any, receiver: Any
    ) -> None:
        ok = sample("pivotwatch_webhook_attempts_total", outcome="succeeded")
        http = sample("pivotwatch_webhook_attempts_total", outcome="http_error")
        lag = sample("pivotwatch_webhook_lag_seconds_count")
        receiver.respond = lambda got, nth: receiver.Reply(500) if nth == 0 else receiver.Reply(200)
        sub_id, _ = kit.subscribe(receiver.url)
        kit.fanout(kit.add_event(), kit.add_event(), kit.add_event())
        async with serve(create_app(nsettings)) as client:
            before = (await client.get("/metrics")).text
            await asyncio.to_thread(kit.drive, kit.settled(sub_id, 3))
            after = (await client.get("/metrics")).text
        assert 'pivotwatch_webhook_queue_depth{state="due"} 3.0' in before
        assert 'pivotwatch_webhook_queue_depth{state="due"} 0.0' in after
        assert sample("pivotwatch_webhook_attempts_total", outcome="succeeded") == ok + 3
        assert sample("pivotwatch_webhook_attempts_total", outcome="http_error") == http + 3
        assert sample("pivotwatch_webhook_lag_seconds_count") == lag + 6
        assert "pivotwatch_webhook_given_up_total" in after


class TestDispatcherOutage:
    def test_a_pass_against_an_unreachable_database_ends_quietly(self, nsettings: Settings) -> None:
        down = nsettings.model_copy(
            update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/none"}
        )
        engine = make_engine(down)
        try:
            assert dispatch(session_factory(engine), down) == 0
        finally:
            engine.dispose()
