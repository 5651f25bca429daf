"""Delivery states that tell the truth: `processing` while a worker holds a delivery (with
`processing_since`), `waiting`/`retrying` otherwise, and `GET /v1/deliveries` across a key's
subscriptions — the claim, send and record steps driven one by one against a real receiver."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from services.notify.app import create_app
from services.notify.dispatcher import send_claimed
from services.notify.repository import Claimed, claim
from services.notify.states import STATES, delivery_state, state_clause
from shared.auth import Scope
from shared.db import Delivery
from shared.settings import Settings


async def subscribe(client: Any, headers: dict[str, str], url: str) -> str:
    r = await client.post("/v1/subscriptions", json={"url": url}, headers=headers)
    assert r.status_code == 201, r.text
    sub_id: str = r.json()["id"]
    return sub_id


def claim_all(kit: Any) -> list[Claimed]:
    with kit.sessions() as session, session.begin():
        return claim(session, kit.settings)


def expire_leases(kit: Any, *ids: uuid.UUID) -> None:
    """What a worker that died mid-send leaves behind: a lease that has run out."""
    with kit.sessions() as session, session.begin():
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def row(kit: Any, delivery_id: uuid.UUID | str) -> Delivery:
    with kit.sessions() as session:
        d = session.get(Delivery, uuid.UUID(str(delivery_id)))
        assert d is not None
        return d


class TestProcessing:
    async def test_a_claimed_delivery_is_processing_until_its_outcome_is_recorded(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            sub = await subscribe(client, manager, receiver.url)
            (did,) = kit.fanout(kit.add_event())
            before = (await client.get(f"/v1/deliveries/{did}", headers=manager)).json()
            assert (before["state"], before["status"]) == ("waiting", "pending")
            assert before["processing_since"] is None

            claimed = claim_all(kit)
            held = (await client.get(f"/v1/deliveries/{did}", headers=manager)).json()
            claimed_at = row(kit, did).claimed_at
            assert claimed_at is not None
            assert (held["state"], held["status"]) == ("processing", "pending")
            assert datetime.fromisoformat(held["processing_since"]) == claimed_at
            for path in ("/v1/deliveries", f"/v1/subscriptions/{sub}/deliveries"):
                listed = await client.get(f"{path}?state=processing", headers=manager)
                assert [d["id"] for d in listed.json()] == [str(did)]
                assert listed.json()[0]["processing_since"] == held["processing_since"]
                waiting = await client.get(f"{path}?state=waiting", headers=manager)
                assert waiting.json() == []

            await asyncio.to_thread(send_claimed, kit.sessions, kit.settings, claimed)
            done = (await client.get(f"/v1/deliveries/{did}", headers=manager)).json()
        assert (done["state"], done["status"]) == ("succeeded", "succeeded")
        assert done["processing_since"] is None
        assert row(kit, did).claimed_at is None

    async def test_a_failed_attempt_leaves_it_retrying_and_a_manual_retry_waiting(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        receiver.respond = lambda got, nth: receiver.Reply(500)
        slow = nsettings.model_copy(update={"retry_schedule_seconds": [0, 3600]})
        async with serve(create_app(nsettings)) as client:
            await subscribe(client, manager, receiver.url)
            (did,) = kit.fanout(kit.add_event())
            claimed = claim_all(kit)
            await asyncio.to_thread(send_claimed, kit.sessions, slow, claimed)
            after = (await client.get(f"/v1/deliveries/{did}", headers=manager)).json()
            assert (after["state"], after["status"], after["attempts"]) == (
                "retrying",
                "pending",
                1,
            )
            assert after["processing_since"] is None
            assert row(kit, did).claimed_at is None

            # The second (last) attempt fails too: failed for good; a manual retry starts a new
            # round, waiting for its first attempt.
            expire_leases(kit, did)  # due now instead of in an hour
            await asyncio.to_thread(send_claimed, kit.sessions, slow, claim_all(kit))
            failed = (await client.get(f"/v1/deliveries/{did}", headers=manager)).json()
            retried = (await client.post(f"/v1/deliveries/{did}/retry", headers=manager)).json()
        assert (failed["state"], failed["status"]) == ("failed", "failed")
        assert (retried["state"], retried["status"]) == ("waiting", "pending")


class TestExpiredLease:
    async def test_an_expired_lease_is_waiting_or_retrying_and_a_new_claim_stamps_it_again(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        receiver.respond = lambda got, nth: receiver.Reply(500)
        slow = nsettings.model_copy(update={"retry_schedule_seconds": [0, 3600, 3600]})
        async with serve(create_app(nsettings)) as client:
            await subscribe(client, manager, receiver.url)
            first, second = kit.fanout(kit.add_event(), kit.add_event(title="two"))
            # `second` has failed once; then both are claimed by a worker that dies.
            claim_second = [c for c in claim_all(kit) if c.id == second]
            expire_leases(kit, first)
            await asyncio.to_thread(send_claimed, kit.sessions, slow, claim_second)
            expire_leases(kit, second)
            dead = {c.id: row(kit, c.id).claimed_at for c in claim_all(kit)}
            assert set(dead) == {first, second}
            expire_leases(kit, first, second)

            views = {
                d["id"]: d for d in (await client.get("/v1/deliveries", headers=manager)).json()
            }
            assert views[str(first)]["state"] == "waiting"
            assert views[str(second)]["state"] == "retrying"
            assert all(v["processing_since"] is None for v in views.values())
            processing = await client.get("/v1/deliveries?state=processing", headers=manager)
            assert processing.json() == []

            # Another worker claims them again: processing, since the new claim.
            await asyncio.sleep(0.01)
            claim_all(kit)
            again = {
                d["id"]: d
                for d in (
                    await client.get("/v1/deliveries?state=processing", headers=manager)
                ).json()
            }
        assert set(again) == {str(first), str(second)}
        for did in (first, second):
            since = datetime.fromisoformat(again[str(did)]["processing_since"])
            old = dead[did]
            assert old is not None and since > old
            assert since == row(kit, did).claimed_at


class TestListAll:
    async def test_lists_only_the_keys_own_deliveries_and_an_admin_sees_all(
        self,
        nsettings: Settings,
        serve: Any,
        manager: dict[str, str],
        make_key: Any,
        receiver: Any,
        kit: Any,
    ) -> None:
        other = {"authorization": f"Bearer {make_key(Scope.SUBSCRIPTIONS_WRITE, name='b')}"}
        admin = {"authorization": f"Bearer {make_key(Scope.ADMIN, name='admin')}"}
        async with serve(create_app(nsettings)) as client:
            mine = [await subscribe(client, manager, receiver.url) for _ in range(2)]
            theirs = await subscribe(client, other, receiver.url)
            kit.fanout(kit.add_event(), kit.add_event(title="two"))
            got = (await client.get("/v1/deliveries", headers=manager)).json()
            got_other = (await client.get("/v1/deliveries", headers=other)).json()
            got_admin = (await client.get("/v1/deliveries", headers=admin)).json()
            one = await client.get(f"/v1/deliveries?subscription_id={mine[1]}", headers=manager)
            foreign = await client.get(f"/v1/deliveries?subscription_id={mine[0]}", headers=other)
            anon = await client.get("/v1/deliveries")
        assert len(got) == 4 and {d["subscription_id"] for d in got} == set(mine)
        assert len(got_other) == 2 and {d["subscription_id"] for d in got_other} == {theirs}
        assert len(got_admin) == 6
        assert [(d["subscription_id"], d["sequence"]) for d in one.json()] == [
            (mine[1], 2),
            (mine[1], 1),
        ]
        assert foreign.status_code == 404 and foreign.json()["field"] == "subscription_id"
        assert anon.status_code == 401

    async def test_pages_newest_first_through_the_link_header(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            sub = await subscribe(client, manager, receiver.url)
            kit.fanout(kit.add_event(title="old"))
            # One fan-out: five deliveries with the same created_at, ordered by sequence.
            kit.fanout(*(kit.add_event(title=f"e{i}") for i in range(5)))
            seen: list[int] = []
            url: str | None = "/v1/deliveries?limit=2"
            pages = 0
            while url is not None:
                r = await client.get(url, headers=manager)
                assert r.status_code == 200, r.text
                seen += [d["sequence"] for d in r.json()]
                link = r.headers.get("link")
                url = link.split(";")[0].strip("<>") if link else None
                pages += 1
            filtered = await client.get(
                f"/v1/deliveries?limit=1&state=waiting&subscription_id={sub}", headers=manager
            )
        assert seen == [6, 5, 4, 3, 2, 1]
        assert pages == 3
        assert "state=waiting" in filtered.headers["link"]  # the filters carry over

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("state=sending", "state"),
            ("state=pending", "state"),
            ("status=lost", "status"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=many", "limit"),
            ("subscription_id=nope", "subscription_id"),
            ("before=nope", "before"),
            ("before=W10", "before"),
        ],
    )
    async def test_bad_filters_are_422_naming_the_field(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], query: str, field: str
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            r = await client.get(f"/v1/deliveries?{query}", headers=manager)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid"
        assert r.json()["field"] == field
        assert r.json()["detail"]

    async def test_the_per_subscription_listing_validates_state_too(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            sub = await subscribe(client, manager, receiver.url)
            r = await client.get(f"/v1/subscriptions/{sub}/deliveries?state=x", headers=manager)
        assert r.status_code == 422
        assert (r.json()["error"], r.json()["field"]) == ("invalid", "state")


HOUR = timedelta(hours=1)
# (status, attempts, schedule_from, claimed_at, next_attempt_at) relative to now, with margins
# wide enough for a test's run; the last group sits exactly on the lease boundary (fixed now).
ROWS: list[tuple[str, int, int, timedelta | None, timedelta | None]] = [
    ("pending", 0, 0, None, timedelta(0)),
    ("pending", 0, 0, None, HOUR),
    ("pending", 1, 0, None, HOUR),
    ("pending", 2, 0, None, -HOUR),
    ("pending", 0, 0, -HOUR, HOUR),
    ("pending", 3, 0, -HOUR, HOUR),
    ("pending", 0, 0, -HOUR, -HOUR),
    ("pending", 2, 0, -HOUR, -HOUR),
    ("pending", 0, 0, -HOUR, None),
    ("pending", 2, 2, None, -HOUR),
    ("pending", 3, 2, None, HOUR),
    ("pending", 2, 2, -HOUR, HOUR),
    ("succeeded", 1, 0, None, None),
    ("failed", 8, 0, None, None),
    ("failed", 1, 0, -HOUR, HOUR),
    ("pending", 0, 0, -HOUR, timedelta(0)),
    ("pending", 1, 0, -HOUR, timedelta(0)),
]


class TestStateFilterMatchesTheRule:
    async def test_the_sql_filter_and_delivery_state_agree_on_every_row(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        async with serve(create_app(nsettings)) as client:
            await subscribe(client, manager, receiver.url)
            ids = kit.fanout(*(kit.add_event(title=f"e{i}") for i in range(len(ROWS))))
            now = datetime.now(UTC)
            with kit.sessions() as session, session.begin():
                for did, (status, attempts, sched, claimed, due) in zip(ids, ROWS, strict=True):
                    session.execute(
                        update(Delivery)
                        .where(Delivery.id == did)
                        .values(
                            status=status,
                            attempts=attempts,
                            schedule_from=sched,
                            claimed_at=None if claimed is None else now + claimed,
                            next_attempt_at=None if due is None else now + due,
                        )
                    )
            with kit.sessions() as session:
                rows = session.scalars(select(Delivery)).all()
                expected = {
                    d.id: delivery_state(
                        d.status,
                        d.attempts,
                        d.schedule_from,
                        d.claimed_at,
                        d.next_attempt_at,
                        now,
                    )
                    for d in rows
                }
                by_sql = {
                    state: set(session.scalars(select(Delivery.id).where(state_clause(state, now))))
                    for state in STATES
                }
            # Every state is represented, and each row is in exactly the state the rule says.
            assert set(expected.values()) == set(STATES)
            for state in STATES:
                assert by_sql[state] == {i for i, s in expected.items() if s == state}, state
            # Through the API (its own now, later): rows away from the boundary stay put.
            stable = {
                str(did): expected[did]
                for did, spec in zip(ids, ROWS, strict=True)
                if spec[4] is None or spec[4] != timedelta(0)
            }
            for state in STATES:
                r = await client.get(f"/v1/deliveries?state={state}&limit=500", headers=manager)
                assert r.status_code == 200, r.text
                assert all(d["state"] == state for d in r.json())
                listed = {d["id"] for d in r.json()} & set(stable)
                assert listed == {i for i, s in stable.items() if s == state}, state
            # The operator's report (shared/opstatus.py) counts by the same rule.
            from shared.db import make_async_engine
            from shared.opstatus import postgres_part

            engine = make_async_engine(nsettings, pool_size=1, read_only=True)
            try:
                counts = (await postgres_part(engine))["deliveries"]
            finally:
                await engine.dispose()
            boundary = len(ids) - len(stable)
            for state in ("processing", "waiting", "retrying", "failed"):
                want = sum(1 for s in expected.values() if s == state)
                assert abs(counts[state] - want) <= boundary, (state, counts, want)
            assert sum(counts[k] for k in ("processing", "waiting", "retrying", "failed")) == sum(
                1 for s in expected.values() if s != "succeeded"
            )


class TestDeadClaimer:
    """A worker that died holding leases (SIGKILL mid-send): its deliveries are released at the
    next dispatcher pass, not after the lease's length; a live worker's are left alone."""

    def _claimed_by(self, kit: Any, *wids: str) -> list[uuid.UUID]:
        """One delivery per worker id, claimed as that worker; leases an hour long."""
        ids = [kit.fanout(kit.add_event())[0] for _ in wids]
        hour = datetime.now(UTC) + timedelta(hours=1)
        with kit.sessions() as session, session.begin():
            assert len(claim(session, kit.settings)) == len(wids)
            for did, wid in zip(ids, wids, strict=True):
                session.execute(
                    update(Delivery)
                    .where(Delivery.id == did)
                    .values(claimed_by=wid, next_attempt_at=hour)
                )
        return ids

    async def test_a_dead_workers_lease_is_released_and_a_live_ones_kept(
        self, nsettings: Settings, serve: Any, manager: dict[str, str], receiver: Any, kit: Any
    ) -> None:
        from redis import Redis

        from services.notify.dispatcher import release_dead_claims
        from shared.redis_keys import worker_key
        from shared.workers import host_id

        async with serve(create_app(nsettings)) as client:
            await subscribe(client, manager, receiver.url)
        client_redis = Redis.from_url(nsettings.redis_url)
        try:
            # Same host, a process that no longer exists: certainly dead, heartbeat or not.
            dead = f"notify@x|{host_id()}|{0x7FFFFFF}|dead"
            live = "notify@y|elsewhere/1|1|live"
            client_redis.set(worker_key(dead), b"1", ex=60)
            client_redis.set(worker_key(live), b"1", ex=60)
            gone, kept = self._claimed_by(kit, dead, live)
            assert release_dead_claims(kit.sessions, client_redis, kit.settings) == 1
        finally:
            client_redis.close()
        released, held = row(kit, gone), row(kit, kept)
        assert released.next_attempt_at <= datetime.now(UTC)
        assert (released.claimed_at, released.claimed_by) == (None, None)
        assert held.claimed_by == live and held.next_attempt_at > datetime.now(UTC)
        # The released delivery is claimed again on this pass, with its webhook-id.
        (again,) = claim_all(kit)
        assert again.id == gone and again.webhook_id == released.webhook_id
