"""Notify integration fixtures: a real loopback HTTP receiver, events with outbox rows, and a
driver that runs the dispatcher pass (the plain function beat's task calls) until a condition."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.notify.delivery import dispatch, fanout
from shared.auth import Scope
from shared.db import Delivery, DeliveryAttempt, EndpointRecord, Event, Outbox, Subscription
from shared.settings import Settings
from shared.webhooks import generate_secret


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0
    hold: threading.Event | None = None  # answer only once this is set


@dataclass
class Got:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def doc(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value

    @property
    def sequence(self) -> int:
        return int(self.doc["sequence"])


class Receiver:
    """A webhook receiver on 127.0.0.1 in a thread. `respond(got, nth)` decides each answer, where
    `nth` counts earlier requests with the same webhook-id (0 for the first)."""

    Reply = Reply

    def __init__(self) -> None:
        self.got: list[Got] = []
        self.lock = threading.Lock()
        self.respond: Callable[[Got, int], Reply] = lambda got, nth: Reply()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                got = Got(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.lock:
                    wid = got.headers.get("webhook-id")
                    nth = sum(1 for g in receiver.got if g.headers.get("webhook-id") == wid)
                    receiver.got.append(got)
                    reply = receiver.respond(got, nth)
                if reply.hold is not None:
                    reply.hold.wait(60)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the sender gave up (timeout) or died: that is the point of some tests

            def log_message(self, *args: Any) -> None:
                return None

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # the default (5) refuses a sender's burst of connections

            def handle_error(self, request: Any, client_address: Any) -> None:
                return None

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self) -> list[Got]:
        with self.lock:
            return list(self.got)

    def wait_for(self, n: int, timeout: float = 30) -> list[Got]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.snapshot()
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError(f"expected {n} requests, got {len(self.snapshot())}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_receiver() -> Iterator[Callable[[], Receiver]]:
    """More receivers, for tests with several endpoints."""
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def nsettings(settings: Settings) -> Settings:
    """Loopback allowed (as `pivotwatch up` does), a tiny schedule, short timeout and lease."""
    return settings.model_copy(
        update={
            "webhook_timeout_seconds": 1.0,
            "webhook_lease_grace_seconds": 0.5,
            "dispatch_interval_seconds": 0.2,
        }
    )


@pytest.fixture
def manager(make_key: Callable[..., str]) -> dict[str, str]:
    return {"authorization": f"Bearer {make_key(Scope.SUBSCRIPTIONS_WRITE)}"}


class Kit:
    """What the notify tests do to the database and the dispatcher, bound to one settings."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def add_event(
        self,
        *,
        title: str = "OpenAI LP created as a capped-profit company",
        company: str = "openai",
        category: str = "governance",
        phase: str | None = "capped-profit",
        importance: int = 60,
        kind: str = "event.created",
    ) -> int:
        """Store an event and its outbox row as the enrich worker does; returns the outbox id."""
        with self.sessions() as session, session.begin():
            ev = Event(
                id=uuid.uuid4(),
                source="/tests/notify",
                ce_id=uuid.uuid4().hex,
                type="dev.pivotwatch.strategy.reported",
                company=company,
                occurred="2019-03-11",
                occurred_start=date(2019, 3, 11),
                occurred_end=date(2019, 3, 11),
                precision="day",
                title=title,
                category=category,
                phase=phase,
                importance=importance,
                received_at=datetime.now(UTC),
                raw={},
            )
            session.add(ev)
            session.flush()
            row = Outbox(event_id=ev.id, version=1, kind=kind)
            session.add(row)
            session.flush()
            return row.id

    def subscribe(self, url: str, **over: Any) -> tuple[uuid.UUID, str]:
        """A subscription straight in the table (API tests go through the routes)."""
        secret = generate_secret()
        sub = Subscription(
            id=uuid.uuid4(),
            url=url,
            secrets=[{"secret": secret, "expires_at": None}],
            filter=over.pop("filter", {}),
            event_types=over.pop("event_types", ["event.created", "event.updated"]),
            **over,
        )
        with self.sessions() as session, session.begin():
            session.add(sub)
        return sub.id, secret

    def fanout(self, *outbox_ids: int) -> list[uuid.UUID]:
        with self.sessions() as session, session.begin():
            return fanout(session, list(outbox_ids))

    def drive(
        self, done: Callable[[], bool], settings: Settings | None = None, timeout: float = 30
    ) -> None:
        """Run dispatcher passes (what beat's `notify.dispatch_due` runs) until `done()`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dispatch(self.sessions, settings or self.settings)
            if done():
                return
            time.sleep(0.02)
        raise AssertionError("the dispatcher did not get there in time")

    def deliveries(self, sub_id: str | uuid.UUID) -> list[Delivery]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Delivery)
                    .where(Delivery.subscription_id == uuid.UUID(str(sub_id)))
                    .order_by(Delivery.sequence)
                )
            )

    def settled(self, sub_id: str | uuid.UUID, n: int = 1) -> Callable[[], bool]:
        """True once the subscription has at least `n` deliveries and none is pending."""

        def check() -> bool:
            ds = self.deliveries(sub_id)
            return len(ds) >= n and all(d.status != "pending" for d in ds)

        return check

    def attempts(self, delivery_id: uuid.UUID) -> list[DeliveryAttempt]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(DeliveryAttempt)
                    .where(DeliveryAttempt.delivery_id == delivery_id)
                    .order_by(DeliveryAttempt.attempted_at)
                )
            )

    def records(self, sub_id: str | uuid.UUID) -> list[EndpointRecord]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(EndpointRecord)
                    .where(EndpointRecord.subscription_id == uuid.UUID(str(sub_id)))
                    .order_by(EndpointRecord.id)
                )
            )


@pytest.fixture
def kit(sessions: sessionmaker[Session], nsettings: Settings) -> Kit:
    return Kit(sessions, nsettings)


@pytest.fixture
def make_kit() -> type[Kit]:
    """For tests that bring their own database (a server they stop and start)."""
    return Kit
