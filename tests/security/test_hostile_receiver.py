"""A hostile webhook receiver beside a good one, both subscribed to the same events: whatever the
hostile one answers (or makes the sender do), the batch they share is recorded in full and the
good one gets every delivery in it.

Each batch is the real one: `deliver` (what a dispatcher pass runs: claim, `send_all` on the
process's sender loop, `record`) against the suite's real PostgreSQL, and real loopback
receivers (threaded HTTP servers) answering over real sockets. Before the isolation, each of
these answers raised out of `send_all` or out of the batch's write, so nothing of the batch was
recorded and every delivery in it stayed leased.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.notify import http1
from services.notify.dispatcher import deliver
from shared.db import Delivery
from shared.settings import Settings
from tests.fixtures.receiver import Receiver, Reply
from tests.integration.notify.conftest import Kit, make_receiver

EVENTS = 5
FULL_WIDTH_LOOPBACK = "\uff11\uff12\uff17.\uff10.\uff10.\uff11"  # IDNA maps it to 127.0.0.1


@pytest.fixture
def hsettings(settings: Settings) -> Settings:
    """Loopback allowed (as `pivotwatch up` does), a short timeout and lease."""
    return settings.model_copy(
        update={"webhook_timeout_seconds": 1.0, "webhook_lease_grace_seconds": 0.5}
    )


@pytest.fixture
def hkit(sessions: sessionmaker[Session], hsettings: Settings) -> Kit:
    return Kit(sessions, hsettings)


def raise_for(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """Any exception no handler anticipated, raised while sending to `port` only: the sender
    must contain even a bug, not only the failures it knows."""
    real = http1.Client.post

    async def post(self: http1.Client, origin: http1.Origin, *args: Any) -> http1.Response:
        if origin[2] == port:
            raise RuntimeError("a receiver-triggered bug")
        return await real(self, origin, *args)

    monkeypatch.setattr(http1.Client, "post", post)


# name -> (how the hostile endpoint is set up, what its attempts record: status code, the start
# of the error, the excerpt)
ATTACKS: dict[str, tuple[str, int | None, str | None, str]] = {
    "retry-after-superscript": ("reply", 503, None, "ok"),  # '²'.isdigit() is True
    "status-overflow": ("reply", None, "RemoteProtocolError: malformed status line", ""),
    "nul-in-body": ("reply", 500, None, "boom"),
    "raises-mid-batch": ("raise", None, "RuntimeError: a receiver-triggered bug", ""),
    "full-width-ip-host": ("url", None, "refused: webhook URL host must be ASCII", ""),
}
REPLIES = {
    "retry-after-superscript": Reply(503, headers={"retry-after": "\u00b2"}),
    "status-overflow": Reply(99999999999),  # int4 overflow in the attempt log
    "nul-in-body": Reply(500, body=b"\x00boom\x00"),  # jsonb and text refuse NUL
}


def hostile_endpoint(
    name: str, kit: Kit, make: Callable[[], Receiver], monkeypatch: pytest.MonkeyPatch
) -> tuple[uuid.UUID, Receiver]:
    bad = make()
    how = ATTACKS[name][0]
    url = bad.url
    if how == "reply":
        reply = REPLIES[name]
        bad.respond = lambda got, nth: reply
    elif how == "raise":
        raise_for(monkeypatch, bad.port)
    else:  # a row made before subscriptions refused such hosts
        url = f"http://{FULL_WIDTH_LOOPBACK}:{bad.port}/hook"
    sub_id, _ = kit.subscribe(url)
    return sub_id, bad


def one_batch(kit: Kit, n: int = EVENTS) -> None:
    kit.fanout(*(kit.add_event(title=f"event {i}") for i in range(n)))
    attempted = deliver(kit.sessions, kit.settings)  # claim, send_all, record: one batch
    assert attempted == n * len({d.subscription_id for d in all_deliveries(kit)})


def all_deliveries(kit: Kit) -> list[Delivery]:
    with kit.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.sequence)))


def assert_good_got_everything(kit: Kit, good: Receiver, good_id: uuid.UUID) -> None:
    ds = kit.deliveries(good_id)
    assert len(ds) == EVENTS
    assert all(d.status == "succeeded" for d in ds), [(d.status, d.last_error) for d in ds]
    assert sorted(g.webhook_id for g in good.snapshot()) == sorted(d.webhook_id for d in ds)
    for d in ds:
        assert [(a.status_code, a.error) for a in kit.attempts(d.id)] == [(200, None)]


def assert_hostile_recorded(kit: Kit, name: str, bad_id: uuid.UUID, attempts: int = 1) -> None:
    _, status, error, excerpt = ATTACKS[name]
    ds = kit.deliveries(bad_id)
    assert len(ds) == EVENTS
    for d in ds:
        log = kit.attempts(d.id)
        assert d.attempts == attempts and len(log) == attempts
        assert d.claimed_at is None  # the lease was given back: the outcome is written
        for a in log:
            assert a.status_code == status
            assert (a.error or "").startswith(error or ""), a.error
            assert error is not None or a.error is None
            assert a.response_excerpt == excerpt
            assert "\x00" not in (a.response_excerpt or "") + (a.error or "")


class TestOneHostileReceiverInABatch:
    @pytest.mark.parametrize("name", list(ATTACKS))
    def test_the_batch_is_recorded_and_the_good_receiver_gets_every_delivery(
        self,
        name: str,
        hkit: Kit,
        make_receiver: Callable[[], Receiver],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        good = make_receiver()
        good_id, _ = hkit.subscribe(good.url)
        bad_id, _ = hostile_endpoint(name, hkit, make_receiver, monkeypatch)
        one_batch(hkit)
        assert_good_got_everything(hkit, good, good_id)
        assert_hostile_recorded(hkit, name, bad_id)


class TestEveryHostileReceiverAtOnce:
    def test_retries_to_them_never_resend_the_good_ones_deliveries(
        self,
        hkit: Kit,
        make_receiver: Callable[[], Receiver],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        good = make_receiver()
        good_id, _ = hkit.subscribe(good.url)
        bad = {
            name: hostile_endpoint(name, hkit, make_receiver, monkeypatch)[0] for name in ATTACKS
        }
        one_batch(hkit)
        assert_good_got_everything(hkit, good, good_id)
        for name, sub_id in bad.items():
            assert_hostile_recorded(hkit, name, sub_id)
        # The hostile endpoints' retries run their schedule out, each attempt recorded; the good
        # endpoint's deliveries, settled in the first batch, are never sent again.
        schedule = len(hkit.settings.retry_schedule_seconds)

        def settled() -> bool:
            return all(d.status != "pending" for d in all_deliveries(hkit))

        hkit.drive(settled)
        assert_good_got_everything(hkit, good, good_id)
        for name, sub_id in bad.items():
            assert_hostile_recorded(hkit, name, sub_id, attempts=schedule)
            assert all(d.status == "failed" for d in hkit.deliveries(sub_id))


class Counting:
    """A loopback receiver that answers after `delay` and counts requests in flight at once."""

    def __init__(self, delay: float, tenant: Counting | None = None) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.lock = threading.Lock()
        self.now = self.peak = self.done = 0
        tallies = [self] if tenant is None else [self, tenant]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import time

                self.rfile.read(int(self.headers.get("content-length", 0)))
                for t in tallies:
                    with t.lock:
                        t.now += 1
                        t.peak = max(t.peak, t.now)
                time.sleep(delay)
                for t in tallies:
                    with t.lock:
                        t.now -= 1
                        t.done += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TestSlowTenantsShareTheSlots:
    """A slow endpoint, or a tenant with many slow endpoints, holds only its share of a batch's
    send slots; a good endpoint's deliveries in the same batch all go out beside them."""

    def test_one_slow_endpoint_holds_at_most_its_share(
        self, sessions: sessionmaker[Session], hsettings: Settings
    ) -> None:
        kit = Kit(sessions, hsettings.model_copy(update={"webhook_timeout_seconds": 3.0}))
        slow, good = Counting(delay=0.4), Counting(delay=0.0)
        try:
            slow_id, _ = kit.subscribe(slow.url())
            good_id, _ = kit.subscribe(good.url())
            kit.fanout(*(kit.add_event(title=f"event {i}") for i in range(12)))
            assert deliver(kit.sessions, kit.settings) == 24  # one batch, both endpoints
            assert slow.peak <= hsettings.webhook_endpoint_concurrency == 4
            assert (slow.done, good.done) == (12, 12)
            assert all(d.status == "succeeded" for d in kit.deliveries(good_id))
            assert all(d.status == "succeeded" for d in kit.deliveries(slow_id))
        finally:
            slow.close()
            good.close()

    def test_one_tenants_endpoints_together_hold_at_most_its_share(
        self, sessions: sessionmaker[Session], hsettings: Settings
    ) -> None:
        tight = hsettings.model_copy(
            update={
                "webhook_timeout_seconds": 3.0,
                "webhook_endpoint_concurrency": 2,
                "webhook_owner_concurrency": 3,
            }
        )
        kit = Kit(sessions, tight)
        greedy = uuid.uuid4()
        tenant = Counting(delay=0.0)  # only its tally: every request to the tenant's endpoints
        slow = [Counting(delay=0.3, tenant=tenant) for _ in range(3)]
        good = Counting(delay=0.0)
        try:
            for r in slow:
                kit.subscribe(r.url(), owner_key_id=greedy)
            kit.subscribe(good.url(), owner_key_id=uuid.uuid4())
            kit.fanout(*(kit.add_event(title=f"event {i}") for i in range(4)))
            assert deliver(kit.sessions, kit.settings) == 16
            # Each endpoint got its 2 at a time at most, the tenant 3 across its three.
            assert all(r.peak <= 2 for r in slow)
            assert tenant.peak == 3  # the cap is reached, never passed
            assert good.done == 4 and tenant.done == 12
        finally:
            for r in [*slow, good, tenant]:
                r.close()


__all__ = ["make_receiver"]  # the fixture, shared with the notify integration tests
