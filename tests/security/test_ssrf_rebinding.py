"""SSRF by DNS rebinding: a webhook host that resolves to a public address when the subscription
is made and to a private one when a delivery is due. The resolver is simulated by replacing
`socket.getaddrinfo` (what `services.notify.ssrf.resolve` calls) for one made-up host name; the
dispatcher is the real one (`dispatch`, what beat's task runs), the subscription is made through
the real notify API, and a real listening socket on the private address shows whether anything
connected to it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from services.notify.app import create_app as notify_app
from shared.auth import Scope
from shared.settings import Settings
from tests.fixtures.receiver import Receiver
from tests.integration.notify.conftest import Kit

HOST = "hooks.rebind.invalid"  # never resolvable for real (RFC 6761)
PUBLIC = "93.184.215.14"

_real_getaddrinfo = socket.getaddrinfo


@dataclass
class FakeDns:
    """Answers for HOST, switchable mid-test; every other name goes to the real resolver."""

    answers: list[str] = field(default_factory=lambda: [PUBLIC])
    lookups: int = 0

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host != HOST:
            return _real_getaddrinfo(host, port, *args, **kw)
        self.lookups += 1
        out = []
        for address in self.answers:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port), 0, 0) if ":" in address else (address, int(port))
            out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return out


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


@contextmanager
def listener() -> Iterator[socket.socket]:
    """A bare TCP listener on 127.0.0.1: the kernel completes any connection attempt into its
    backlog, so a non-blocking accept() afterwards tells whether anyone connected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def connections(sock: socket.socket) -> int:
    n = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """Production-like: no private target allowed; a tiny retry schedule."""
    return settings.model_copy(
        update={
            "webhook_allow_networks": [],
            "allow_private_webhook_targets": False,
            "webhook_timeout_seconds": 1.0,
            "webhook_lease_grace_seconds": 0.5,
            "retry_schedule_seconds": [0, 0.1],
        }
    )


async def subscribe(strict: Settings, serve: Any, key: str, port: int) -> str:
    # A public target may use only ports 80 and 443; the test's listener has a random port, so
    # the public address is allowed explicitly while subscribing (and only then).
    allow = [*strict.webhook_allow_networks, f"{PUBLIC}/32"]
    at_subscribe = strict.model_copy(update={"webhook_allow_networks": allow})
    async with serve(notify_app(at_subscribe)) as client:
        r = await client.post(
            "/v1/subscriptions",
            json={"url": f"http://{HOST}:{port}/hook"},
            headers={"authorization": f"Bearer {key}"},
        )
    assert r.status_code == 201, r.text  # public when subscribed
    sub_id: str = r.json()["id"]
    return sub_id


class TestRebindingAtDelivery:
    @pytest.mark.parametrize(
        "private",
        [
            ["127.0.0.1"],
            [PUBLIC, "127.0.0.1"],
            ["::ffff:127.0.0.1"],
            ["10.0.0.7"],
            ["169.254.169.254"],
        ],
    )
    async def test_a_host_that_turns_private_is_refused_recorded_and_never_connected(
        self,
        strict: Settings,
        serve: Any,
        make_key: Callable[..., str],
        sessions: sessionmaker[Session],
        dns: FakeDns,
        private: list[str],
    ) -> None:
        with listener() as sock:
            port = sock.getsockname()[1]
            sub_id = await subscribe(strict, serve, make_key(Scope.SUBSCRIPTIONS_WRITE), port)
            assert dns.lookups == 1
            dns.answers = private  # the rebinding: same name, now an internal address
            kit = Kit(sessions, strict)
            kit.fanout(kit.add_event())
            await asyncio.to_thread(kit.drive, kit.settled(sub_id))
            (delivery,) = kit.deliveries(sub_id)
            attempts = kit.attempts(delivery.id)
            assert delivery.status == "failed"
            assert len(attempts) == len(strict.retry_schedule_seconds)
            assert dns.lookups == 1 + len(attempts)  # vetted again at every attempt
            bad = ipaddress.ip_address(next(a for a in private if a != PUBLIC))
            for attempt in attempts:
                assert attempt.status_code is None
                # The reason, never the DNS answer: that is internal information.
                assert attempt.error == "refused: the webhook target is not a public address"
                assert str(bad) not in attempt.error
            assert delivery.last_error == attempts[-1].error
            assert connections(sock) == 0  # nothing ever connected to the private address


class TestTheVettedAddressIsTheOneUsed:
    async def test_one_lookup_per_attempt_and_the_request_goes_to_that_address(
        self,
        settings: Settings,
        serve: Any,
        make_key: Callable[..., str],
        sessions: sessionmaker[Session],
        dns: FakeDns,
    ) -> None:
        # Loopback allowed (as `pivotwatch up` does), and the made-up name resolves to it only
        # through the fake: a second lookup by the HTTP client would fail to resolve at all.
        receiver = Receiver()
        try:
            dns.answers = ["127.0.0.1"]
            sub_id = await subscribe(
                settings, serve, make_key(Scope.SUBSCRIPTIONS_WRITE), receiver.port
            )
            kit = Kit(sessions, settings)
            kit.fanout(kit.add_event())
            await asyncio.to_thread(kit.drive, kit.settled(sub_id))
            (delivery,) = kit.deliveries(sub_id)
            assert delivery.status == "succeeded"
            assert dns.lookups == 2  # one at subscribe time, one for the single attempt
            (got,) = receiver.snapshot()
            assert got.headers["host"] == f"{HOST}:{receiver.port}"
            assert uuid.UUID(str(delivery.subscription_id)) == uuid.UUID(sub_id)
        finally:
            receiver.close()
