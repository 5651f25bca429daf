"""Notify integration fixtures: loopback webhook receivers (tests/fixtures/receiver.py), events
with outbox rows, and a driver that runs the dispatcher pass (the plain function beat's task
calls) until a condition."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.notify.dispatcher import dispatch
from services.notify.repository import fanout
from shared.auth import Scope
from shared.db import Delivery, DeliveryAttempt, EndpointRecord, Event, Outbox, Subscription
from shared.settings import Settings
from shared.webhooks import generate_secret
from tests.fixtures.receiver import Receiver
from tests.fixtures.waiting import wait_until


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

        def dispatched() -> bool:
            dispatch(self.sessions, settings or self.settings)
            return done()

        wait_until(dispatched, timeout, 0.02, "the dispatcher did not get there in time")

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
