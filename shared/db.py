"""SQLAlchemy 2 models and engine/session factories (psycopg 3, sync for workers, async for APIs).

The schema itself is owned by Alembic (`migrations/`); a test checks that these models and the
migrations agree. Engines are built by whoever owns the process (a FastAPI lifespan, a worker's
init signal), never at import time.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from shared.settings import Settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return func.now()


class Event(Base):
    """The current version of one happening, keyed by CloudEvents source + id."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "ce_id", name="uq_events_source_ce_id"),
        Index("ix_events_company_chrono", "company", "occurred_start", "occurred_end", "id"),
        Index("ix_events_chrono", "occurred_start", "occurred_end", "id"),
        Index("ix_events_search", "search", postgresql_using="gin"),
        Index("ix_events_entities", "entity_values", postgresql_using="gin"),
        Index("ix_events_fingerprint", "company", "fingerprint"),
        Index(
            "ix_events_company_category_chrono",
            "company",
            "category",
            "occurred_start",
            "occurred_end",
            "id",
        ),
        Index("ix_events_companies", "companies", postgresql_using="gin"),
        # Canonical events spanning over a month (the enrich candidate query, migration 0007).
        Index(
            "ix_events_wide_spans",
            "occurred_end",
            "occurred_start",
            postgresql_where=text("duplicate_of IS NULL AND occurred_end - occurred_start > 31"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    ce_id: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    company: Mapped[str] = mapped_column(Text)
    companies: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    occurred: Mapped[str] = mapped_column(Text)
    occurred_start: Mapped[date] = mapped_column(Date)
    occurred_end: Mapped[date] = mapped_column(Date)
    precision: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, server_default="")
    body: Mapped[str] = mapped_column(Text, server_default="")
    category: Mapped[str] = mapped_column(Text)
    category_confidence: Mapped[float] = mapped_column(Float, server_default="0")
    phase: Mapped[str | None] = mapped_column(Text)
    transition_to: Mapped[str | None] = mapped_column(Text)
    stance: Mapped[float] = mapped_column(Float, server_default="0")
    importance: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    entity_values: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    # What identifies the happening (services/enrich/coref.py: "kind:value", "+kind:value" from
    # the summary): read with the candidates, so stored events are not parsed again.
    anchors: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    actors: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    fingerprint: Mapped[int] = mapped_column(BigInteger, server_default="0")
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("events.id", ondelete="SET NULL")
    )
    extracted: Mapped[bool] = mapped_column(Boolean, server_default="false")
    published: Mapped[bool] = mapped_column(Boolean, server_default="true")
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    correlation_id: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)
    search: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(summary, '') "
            "|| ' ' || coalesce(body, ''))",
            persisted=True,
        ),
    )


class EventRecord:
    """One events row as plain attributes, without ORM state (no instrumentation, no session):
    what the enrich worker reads, changes and writes in bulk. `vars(record)` is the row: column
    name -> value, every column but the generated `search`."""

    id: uuid.UUID
    source: str
    ce_id: str
    type: str
    company: str
    companies: list[str]
    occurred: str
    occurred_start: date
    occurred_end: date
    precision: str
    title: str
    summary: str
    body: str
    category: str
    category_confidence: float
    phase: str | None
    transition_to: str | None
    stance: float
    importance: int
    entities: list[dict[str, Any]]
    entity_values: list[str]
    anchors: list[str]
    evidence: dict[str, Any]
    sources: list[dict[str, Any]]
    tags: list[str]
    actors: list[str]
    fingerprint: int
    duplicate_of: uuid.UUID | None
    extracted: bool
    published: bool
    reported_at: datetime | None
    received_at: datetime
    recorded_at: datetime
    updated_at: datetime
    version: int
    correlation_id: str | None
    raw: dict[str, Any]

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class EventVersion(Base):
    """Every recorded version of an event, so the timeline can be read as of any moment."""

    __tablename__ = "event_versions"
    __table_args__ = (
        Index("ix_event_versions_recorded", "recorded_at"),
        # As-of reads start from the events that ever belonged to (or named) the company.
        Index("ix_event_versions_company", text("(data ->> 'company')")),
        Index("ix_event_versions_companies", text("(data -> 'companies')"), postgresql_using="gin"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)


class EventLink(Base):
    __tablename__ = "event_links"
    __table_args__ = (Index("ix_event_links_b", "b"),)

    a: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    b: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class Outbox(Base):
    """Written in the same transaction as the event; drives the notify fan-out."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "created_at",
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    correlation_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text, unique=True)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    # [{"secret": "whsec_...", "expires_at": iso-or-null}], newest first; all unexpired ones sign.
    secrets: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    filter: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sequence: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rate_limit_per_second: Mapped[float | None] = mapped_column(Float)
    fifo: Mapped[bool] = mapped_column(Boolean, server_default="false")
    owner_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    # Next free send slot of a rate-limited endpoint (GCRA), shared by every dispatcher.
    rate_next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """One message to one subscription; retried on a schedule that lives here, not in Celery."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "outbox_id", name="uq_deliveries_subscription_outbox"),
        Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_deliveries_subscription", "subscription_id", "created_at"),
        Index(
            "ix_deliveries_pending_sequence",
            "subscription_id",
            "sequence",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    event_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    event_type: Mapped[str] = mapped_column(Text)
    webhook_id: Mapped[str] = mapped_column(Text)
    sequence: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When a worker claimed it; its lease runs to next_attempt_at. Cleared with the outcome.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The worker (shared/workers.py) holding the lease: a dead one's leases are released early.
    claimed_by: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str | None] = mapped_column(Text)
    # The fan-out's W3C trace context when traced (shared/tracing.py): every attempt, a retry
    # sent by beat included, is a span of the event's trace.
    traceparent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Attempt count when the current retry round began (a manual retry or replay starts a new one).
    schedule_from: Mapped[int] = mapped_column(Integer, server_default="0")


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery", "delivery_id", "attempted_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    response_excerpt: Mapped[str] = mapped_column(Text, server_default="")
    error: Mapped[str | None] = mapped_column(Text)


class EndpointRecord(Base):
    """Operational records about an endpoint (`endpoint.disabled`, `endpoint.enabled`)."""

    __tablename__ = "endpoint_records"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class DeadLetter(Base):
    """An enrich entry that kept failing: kept with its error, out of the queue's way.

    `status` is "retrying" while attempts remain, "dead" after the last one, "retried" once an
    operator sent it back (`pivotwatch dlq retry`).
    """

    __tablename__ = "dead_letters"
    __table_args__ = (
        UniqueConstraint("entry_id", name="uq_dead_letters_entry_id"),
        Index("ix_dead_letters_status", "status", "last_failed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(Text)
    stream_id: Mapped[str | None] = mapped_column(Text)
    entry: Mapped[dict[str, Any]] = mapped_column(JSONB)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(Text, server_default="retrying")
    first_failed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now()
    )
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retried_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def make_engine(settings: Settings, pool_size: int = 5) -> Engine:
    return create_engine(
        settings.sync_database_url, pool_size=pool_size, pool_pre_ping=True, max_overflow=5
    )


def make_async_engine(
    settings: Settings, pool_size: int = 10, read_only: bool = False
) -> AsyncEngine:
    """`read_only`: a service that only reads runs its statements in autocommit, so a request
    costs no BEGIN and no ROLLBACK round trip (each statement is its own snapshot, as under
    READ COMMITTED anyway)."""
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if read_only else {}
    return create_async_engine(
        settings.async_database_url,
        pool_size=pool_size,
        pool_pre_ping=True,
        max_overflow=10,
        # JSONB columns (a page's entities and sources) parsed by orjson, not the json module.
        json_deserializer=orjson.loads,
        **options,
    )


def session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


def async_session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
