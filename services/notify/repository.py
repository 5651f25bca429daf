"""The notify service's SQL: outbox rows become deliveries (fan-out), due deliveries are claimed,
and the outcomes of their attempts are written with the attempt log; and the delivery listings'
filters, order and cursor.

A delivery is claimed by moving its `next_attempt_at` past a lease and stamping `claimed_at`
(`FOR UPDATE SKIP LOCKED`, committed before any network I/O), sent (`dispatcher.py`), and its
outcome written with the attempt log (clearing `claimed_at`). A worker that dies mid-send leaves
the lease to expire and the delivery is tried again with the same `webhook-id`, so receivers can
de-duplicate. Nothing is scheduled in the broker.

What is written is cleaned first (no NUL, no lone surrogate, a status code only in 100-599), so
one hostile receiver cannot keep a batch from being recorded and the other endpoints' deliveries
from settling.

Two per-endpoint options shape the claim:
- FIFO: only the endpoint's oldest pending delivery (lowest sequence) may be claimed, so the next
  waits until the previous one succeeded or failed for good.
- Rate limit R/s: each claimed delivery gets a send slot 1/R after the endpoint's previous one
  (`subscriptions.rate_next_at`, a GCRA theoretical arrival time shared by every dispatcher);
  only slots within the next dispatch interval are claimed, and the sender waits for its slot.
  So at most R*W + 1 attempts start in any window of W seconds.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Select, exists, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased

from services.notify.matching import matches
from services.notify.metrics import DELIVERED, GIVEN_UP, LAG
from services.notify.schedule import next_delay
from services.notify.states import State, state_clause
from shared import procmetrics, tracing, workers
from shared.db import Delivery, EndpointRecord, Event, Outbox, Subscription
from shared.errors import InvalidInput
from shared.logs import correlation_id
from shared.metrics import DELIVERIES
from shared.settings import Settings
from shared.views import event_document

log = logging.getLogger("pivotwatch.notify")


EXCERPT_BYTES = 1024


ERROR_CHARS = 500


SOURCE = "/pivotwatch/notify"


# The most deliveries one dispatcher pass claims.
MAX_IN_FLIGHT = 100


# Requests in flight at once, and the pool's size: httpcore polls every pooled connection to
# place each request, so a larger pool costs CPU per delivery (docs/benchmarks.md, "Notify
# worker"). A claimed delivery waits for the gate, not for a pooled connection (it would time out
# unsent).
SEND_CONCURRENCY = 32


_OUTBOX_HOP = procmetrics.hop("outbox")


def active_secrets(sub: Subscription, now: datetime) -> list[str]:
    """Secrets that sign now: the newest, plus older ones still inside their grace period."""
    out = []
    for entry in sub.secrets:
        expires = entry.get("expires_at")
        if expires is None or datetime.fromisoformat(expires) > now:
            out.append(str(entry["secret"]))
    return out


def build_body(
    webhook_id: str, kind: str, sequence: int, data: dict[str, Any], subject: str | None = None
) -> str:
    """A structured-mode CloudEvent; `sequence` (the CloudEvents sequence extension, a string)
    lets a receiver put deliveries of one subscription in order."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": webhook_id,
        "source": SOURCE,
        "type": f"dev.pivotwatch.{kind}",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "sequence": str(sequence),
    }
    if subject is not None:
        envelope["subject"] = subject
    envelope["data"] = {"kind": kind, "sequence": sequence, **data}
    return orjson.dumps(envelope).decode()


def _insert_delivery(
    session: Session, sub: Subscription, kind: str, data: dict[str, Any], now: datetime
) -> uuid.UUID | None:
    """Give the subscription its next sequence number and queue one delivery."""
    values = _delivery_values(sub, kind, data, now, traceparent=tracing.traceparent() or None)
    stmt = pg_insert(Delivery).values(values).returning(Delivery.id)
    inserted: uuid.UUID | None = session.execute(stmt).scalar()
    return inserted


# Deliveries per fan-out INSERT: a fan-out holds its bodies and the statement's parameter in
# memory, so a large one built at once grows the worker for good (glibc keeps the pages); chunks
# of 500 bound that at the same CPU per delivery (docs/benchmarks.md, "Notify worker").
FAN_INSERT_ROWS = 500


_FAN_COLUMNS = (
    "id",
    "subscription_id",
    "outbox_id",
    "event_id",
    "event_type",
    "webhook_id",
    "sequence",
    "body",
    "correlation_id",
    "traceparent",
)


_FAN_INSERT = text(
    """
    INSERT INTO deliveries (id, subscription_id, outbox_id, event_id, event_type, webhook_id,
                            sequence, body, correlation_id, traceparent,
                            status, next_attempt_at, attempts, schedule_from)
    SELECT u.id, u.subscription_id, u.outbox_id, u.event_id, u.event_type, u.webhook_id,
           u.sequence, u.body, u.correlation_id, u.traceparent, 'pending', :now, 0, 0
    FROM jsonb_populate_recordset(NULL::deliveries, CAST(:rows AS jsonb)) AS u
    ON CONFLICT ON CONSTRAINT uq_deliveries_subscription_outbox DO NOTHING
    RETURNING id
    """
)


def fan(
    session: Session, rows: Sequence[Outbox], subs: Sequence[Subscription], now: datetime
) -> list[uuid.UUID]:
    """Queue a delivery per (outbox row, matching subscription) not queued before.

    A fixed number of statements per FAN_INSERT_ROWS deliveries: one SELECT of the events, one
    of the pairs already queued, then an INSERT per FAN_INSERT_ROWS rows. The caller holds the
    subscriptions' row locks, so the sequence numbers given here are the endpoint's next ones.
    """
    events = {
        e.id: e
        for e in session.scalars(select(Event).where(Event.id.in_({r.event_id for r in rows})))
    }
    known = {
        (sub_id, outbox_id)
        for sub_id, outbox_id in session.execute(
            select(Delivery.subscription_id, Delivery.outbox_id).where(
                Delivery.outbox_id.in_([r.id for r in rows]),
                Delivery.subscription_id.in_([s.id for s in subs]),
            )
        )
    }
    created: list[uuid.UUID] = []
    values: list[dict[str, Any]] = []
    traceparent = tracing.traceparent() or None  # the fan-out's span: each attempt's parent
    for row in rows:
        ev = events.get(row.event_id)
        if ev is None or ev.duplicate_of is not None or not ev.published:
            continue
        doc = event_document(ev)
        for sub in subs:
            if (sub.id, row.id) in known or not matches(sub.event_types, sub.filter, row.kind, doc):
                continue
            values.append(
                _delivery_values(
                    sub,
                    row.kind,
                    {"event": doc},
                    now,
                    outbox_id=row.id,
                    event_id=ev.id,
                    correlation_id=row.correlation_id,
                    traceparent=traceparent,
                )
            )
            if len(values) == FAN_INSERT_ROWS:
                created += _insert_fanned(session, values, now)
                values.clear()
    if values:
        created += _insert_fanned(session, values, now)
    return created


def _insert_fanned(
    session: Session, values: list[dict[str, Any]], now: datetime
) -> list[uuid.UUID]:
    # One short statement whatever the number of rows: the rows go as one JSON array parameter
    # that PostgreSQL expands with jsonb_populate_recordset. A multi-row VALUES statement is
    # re-parsed on every call, and array parameters are dumped element by element: both cost
    # a quarter of the worker's CPU (docs/benchmarks.md, "Notify worker").
    rows_json = orjson.dumps([{c: v[c] for c in _FAN_COLUMNS} for v in values]).decode()
    # The subscriptions' new sequence numbers are flushed once, with the transaction's next
    # statement, not before every INSERT (an UPDATE per subscription each time).
    with session.no_autoflush:
        return list(session.scalars(_FAN_INSERT, {"rows": rows_json, "now": now}))


def _delivery_values(
    sub: Subscription,
    kind: str,
    data: dict[str, Any],
    now: datetime,
    *,
    outbox_id: int | None = None,
    event_id: uuid.UUID | None = None,
    correlation_id: str | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """The row of the subscription's next delivery (its sequence number taken)."""
    delivery_id = uuid.uuid4()
    webhook_id = f"msg_{delivery_id.hex}"
    sub.sequence += 1
    body = build_body(
        webhook_id, kind, sub.sequence, data, str(event_id) if event_id is not None else None
    )
    return {
        "id": delivery_id,
        "subscription_id": sub.id,
        "outbox_id": outbox_id,
        "event_id": event_id,
        "event_type": kind,
        "webhook_id": webhook_id,
        "sequence": sub.sequence,
        "body": body,
        "status": "pending",
        "next_attempt_at": now,
        "correlation_id": correlation_id,
        "traceparent": traceparent,
        "attempts": 0,
        "schedule_from": 0,
    }


def fanout(session: Session, outbox_ids: list[int], budget: int = 0) -> list[uuid.UUID]:
    """Create the deliveries for these outbox rows (idempotent) and mark the rows processed.

    With a `budget` (deliveries), other outbox rows still waiting are taken along, oldest first,
    as many as `budget` / enabled subscriptions (rows locked by another fan-out are skipped):
    when fan-out tasks queue up, the first one does the waiting rows' work in one transaction and
    the tasks behind it find their rows done.
    """
    rows = list(
        session.scalars(
            select(Outbox)
            .where(Outbox.id.in_(outbox_ids), Outbox.processed_at.is_(None))
            .order_by(Outbox.id)
            .with_for_update(skip_locked=True)
        )
    )
    if not rows:
        return []
    # Locking the subscriptions serialises their sequence numbers across fan-out workers.
    subs = session.scalars(
        select(Subscription)
        .where(Subscription.enabled.is_(True))
        .order_by(Subscription.id)
        .with_for_update()
    ).all()
    extra = budget // max(1, len(subs)) - len(rows)
    if extra > 0:
        rows.extend(
            session.scalars(
                select(Outbox)
                .where(Outbox.processed_at.is_(None), Outbox.id.not_in(outbox_ids))
                .order_by(Outbox.created_at, Outbox.id)
                .limit(extra)
                .with_for_update(skip_locked=True)
            )
        )
        rows.sort(key=lambda r: r.id)
    now = datetime.now(UTC)
    for row in rows:
        _OUTBOX_HOP.observe(max(0.0, (now - row.created_at).total_seconds()))
    created = fan(session, rows, subs, now)
    session.execute(
        update(Outbox).where(Outbox.id.in_([r.id for r in rows])).values(processed_at=now)
    )
    return created


def create_test_delivery(session: Session, sub: Subscription) -> uuid.UUID:
    locked = session.get(Subscription, sub.id, with_for_update=True, populate_existing=True)
    assert locked is not None
    new = _insert_delivery(
        session,
        locked,
        "subscription.test",
        {"message": "pivotwatch test event"},
        datetime.now(UTC),
    )
    assert new is not None
    return new


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    webhook_id: str
    body: bytes
    secrets: list[str] = field(repr=False)  # never in a log line or traceback
    attempts: int
    due_at: datetime
    send_at: datetime
    interval: float = 0.0  # seconds between attempts to the endpoint (its rate limit), or 0
    owner: uuid.UUID | None = None  # the key that owns the subscription (its tenant)
    traceparent: str | None = None  # the fan-out's trace context: the attempt is its span


def rate_slot(
    rate_next_at: datetime | None, now: datetime, rate: float, horizon: float
) -> tuple[datetime, datetime] | None:
    """GCRA with no burst: the slot for one more send and the endpoint's next free slot after
    it, or None when the next free slot is beyond the horizon. Pure."""
    slot = max(now, rate_next_at) if rate_next_at is not None else now
    if (slot - now).total_seconds() > horizon:
        return None
    return slot, slot + timedelta(seconds=1.0 / rate)


def claim(
    session: Session,
    settings: Settings,
    ids: list[uuid.UUID] | None = None,
    limit: int = MAX_IN_FLIGHT,
) -> list[Claimed]:
    """Lease due deliveries (or the given ones) to this worker; commit before sending."""
    now = datetime.now(UTC)
    horizon = max(settings.dispatch_interval_seconds, 0.05)
    earlier = aliased(Delivery)
    earlier_pending = exists().where(
        earlier.subscription_id == Delivery.subscription_id,
        earlier.status == "pending",
        earlier.sequence < Delivery.sequence,
    )
    q = (
        select(
            Delivery.id,
            Delivery.subscription_id,
            Delivery.webhook_id,
            Delivery.body,
            Delivery.attempts,
            Delivery.next_attempt_at,
            Delivery.traceparent,
        )
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
            Subscription.enabled.is_(True),
            # FIFO: only the head of the endpoint's queue.
            or_(Subscription.fifo.is_(False), ~earlier_pending),
            # An endpoint whose rate slots are booked past the horizon waits; it must not fill
            # the batch and starve the others.
            or_(
                Subscription.rate_limit_per_second.is_(None),
                Subscription.rate_next_at.is_(None),
                Subscription.rate_next_at <= now + timedelta(seconds=horizon),
            ),
        )
        .order_by(Delivery.next_attempt_at, Delivery.sequence)
        .limit(limit)
        .with_for_update(of=Delivery, skip_locked=True)
    )
    if ids is not None:
        q = q.where(Delivery.id.in_(ids))
    # Plain rows, not ORM instances: the lease is written by one statement below.
    rows = session.execute(q).all()
    if not rows:
        return []
    # Lock the endpoints (in id order, as fan-out does) so rate slots are never handed out twice.
    subs = {
        s.id: s
        for s in session.scalars(
            select(Subscription)
            .where(Subscription.id.in_({d.subscription_id for d in rows}))
            .order_by(Subscription.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    out = []
    leases = []
    # What one endpoint and one tenant have in this batch: they are sent at most
    # webhook_endpoint_concurrency / webhook_owner_concurrency at a time, and leased for it.
    per_endpoint = Counter(d.subscription_id for d in rows)
    per_owner = Counter(subs[d.subscription_id].owner_key_id for d in rows)
    for d in rows:
        sub = subs[d.subscription_id]
        send_at = now
        interval = 0.0
        if sub.rate_limit_per_second:
            interval = 1.0 / sub.rate_limit_per_second
            slot = rate_slot(sub.rate_next_at, now, sub.rate_limit_per_second, horizon)
            if slot is None:
                continue
            send_at, sub.rate_next_at = slot
        due_at = d.next_attempt_at or now
        # The lease covers the worst case of the whole batch: it is sent SEND_CONCURRENCY at a
        # time, each request taking up to the timeout; a lease that ran out mid-batch would let
        # another dispatcher send the same delivery again.
        rounds = max(
            -(-len(rows) // SEND_CONCURRENCY),
            -(-per_endpoint[d.subscription_id] // settings.webhook_endpoint_concurrency),
            -(-per_owner[sub.owner_key_id] // settings.webhook_owner_concurrency),
        )
        lease = send_at + timedelta(
            seconds=settings.webhook_timeout_seconds * rounds + settings.webhook_lease_grace_seconds
        )
        leases.append({"id": d.id, "next_attempt_at": lease})
        out.append(
            Claimed(
                d.id,
                sub.id,
                sub.url,
                d.webhook_id,
                d.body.encode(),
                active_secrets(sub, now),
                d.attempts,
                due_at,
                send_at,
                interval,
                sub.owner_key_id,
                d.traceparent,
            )
        )
    if leases:
        session.execute(
            _LEASE,
            {
                "rows": orjson.dumps(leases).decode(),
                "now": now,
                "worker": workers.current_worker_id(),
            },
        )
    return out


# The leases of a claimed batch: one statement, the rows as one JSON array parameter.
# `claimed_at` says a worker holds the delivery until the lease runs out (the API's
# `processing`); a lease claimed again after it ran out is simply stamped again.
_LEASE = text(
    """
    UPDATE deliveries AS d
    SET next_attempt_at = u.next_attempt_at, claimed_at = :now, claimed_by = :worker
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS u(id uuid, next_attempt_at timestamptz)
    WHERE d.id = u.id
    """
)


@dataclass(frozen=True, slots=True)
class Result:
    delivery_id: uuid.UUID
    started_at: datetime
    due_at: datetime
    status_code: int | None
    duration_ms: float
    excerpt: str
    error: str | None
    retry_after: float | None = None
    refused: bool = False


def clean_text(text: str, limit: int) -> str:
    """`text` as PostgreSQL can store it (text and jsonb refuse NUL; JSON refuses a lone
    surrogate), at most `limit` characters."""
    text = text[:limit]
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def sanitized(r: Result) -> Result:
    """The result as it may be written, whoever built it: a status outside 100-599 (an int4
    column) is a protocol error, excerpt and error cleaned."""
    status, error = r.status_code, r.error
    if status is not None and not 100 <= status <= 599:
        status, error = None, "RemoteProtocolError: status code out of range"
    excerpt = clean_text(r.excerpt, EXCERPT_BYTES)
    error = clean_text(error, ERROR_CHARS) if error is not None else None
    if (status, excerpt, error) == (r.status_code, r.excerpt, r.error):
        return r
    return dataclasses.replace(r, status_code=status, excerpt=excerpt, error=error)


def outcome_of(r: Result) -> str:
    if r.refused:
        return "refused"
    if r.status_code is None:
        return "network_error"
    return "succeeded" if 200 <= r.status_code < 300 else "http_error"


@dataclass(slots=True)
class _Outcome:
    """A claimed delivery's row as `record` reads and rewrites it (no ORM instance)."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    webhook_id: str
    correlation_id: str | None
    status: str
    attempts: int
    schedule_from: int
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


_OUTCOME_COLUMNS = (
    "id",
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "next_attempt_at",
    "delivered_at",
)


# The outcomes of a batch and their attempt log: one statement each, the rows as one JSON array.
_WRITE_OUTCOMES = text(
    """
    UPDATE deliveries AS d
    SET status = u.status, attempts = u.attempts, last_status_code = u.last_status_code,
        last_error = u.last_error, next_attempt_at = u.next_attempt_at,
        delivered_at = COALESCE(u.delivered_at, d.delivered_at), claimed_at = NULL,
        claimed_by = NULL,
        updated_at = :now
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
         AS u(id uuid, status text, attempts integer, last_status_code integer, last_error text,
              next_attempt_at timestamptz, delivered_at timestamptz)
    WHERE d.id = u.id
    """
)


_WRITE_ATTEMPTS = text(
    """
    INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, duration_ms,
                                   response_excerpt, error)
    SELECT u.delivery_id, u.attempted_at, u.status_code, u.duration_ms, u.response_excerpt,
           u.error
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
         AS u(delivery_id uuid, attempted_at timestamptz, status_code integer,
              duration_ms double precision, response_excerpt text, error text)
    """
)


def record(session: Session, settings: Settings, results: list[Result]) -> None:
    """Write each attempt and decide: succeeded, retry at a time, failed, or endpoint disabled."""
    now = datetime.now(UTC)
    results = [sanitized(r) for r in results]
    # Two statements lock what every result needs (deliveries, then their endpoints, each in id
    # order as claim does), instead of two locking reads per delivery. The deliveries are read
    # and written as plain rows: ORM instances for them cost the worker's CPU (docs/benchmarks.md).
    ids = sorted({r.delivery_id for r in results})
    rows = {
        row.id: _Outcome(*row)
        for row in session.execute(
            select(
                Delivery.id,
                Delivery.subscription_id,
                Delivery.webhook_id,
                Delivery.correlation_id,
                Delivery.status,
                Delivery.attempts,
                Delivery.schedule_from,
            )
            .where(Delivery.id.in_(ids))
            .order_by(Delivery.id)
            .with_for_update()
        )
    }
    sub_ids = sorted({d.subscription_id for d in rows.values()})
    # Held here: the identity map only keeps weak references, so an unreferenced endpoint would be
    # loaded again per delivery (a query and an autoflush each).
    subs = (
        {
            s.id: s
            for s in session.scalars(
                select(Subscription)
                .where(Subscription.id.in_(sub_ids))
                .order_by(Subscription.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        }
        if sub_ids
        else {}
    )
    outcomes: list[_Outcome] = []
    attempts: list[dict[str, Any]] = []
    for r in sorted(results, key=lambda x: x.delivery_id):
        d = rows.get(r.delivery_id)
        if d is None or d.status != "pending":
            continue  # deleted, or already settled by another worker after a lease expired
        # The event's correlation id (set at ingest) follows it into its delivery log lines.
        token = correlation_id.set(d.correlation_id)
        try:
            _record_one(
                session,
                settings,
                r,
                d,
                subs[d.subscription_id],
                now,
                lambda: _write_outcomes(session, outcomes, now),
            )
            outcomes.append(d)
            attempts.append(
                {
                    "delivery_id": d.id,
                    "attempted_at": r.started_at,
                    "status_code": r.status_code,
                    "duration_ms": r.duration_ms,
                    "response_excerpt": r.excerpt,
                    "error": r.error,
                }
            )
        finally:
            correlation_id.reset(token)
    _write_outcomes(session, outcomes, now)
    if attempts:
        session.execute(_WRITE_ATTEMPTS, {"rows": orjson.dumps(attempts).decode()})


def _write_outcomes(session: Session, outcomes: list[_Outcome], now: datetime) -> None:
    """Write (and forget) the outcomes decided so far."""
    if not outcomes:
        return
    rows = [{c: getattr(d, c) for c in _OUTCOME_COLUMNS} for d in outcomes]
    session.execute(_WRITE_OUTCOMES, {"rows": orjson.dumps(rows).decode(), "now": now})
    outcomes.clear()


def _record_one(
    session: Session,
    settings: Settings,
    r: Result,
    d: _Outcome,
    sub: Subscription,
    now: datetime,
    write_outcomes: Callable[[], None],
) -> None:
    outcome = outcome_of(r)
    DELIVERIES.labels(outcome).inc()
    LAG.observe(max(0.0, (r.started_at - r.due_at).total_seconds()))
    d.attempts += 1
    d.last_status_code = r.status_code
    d.last_error = r.error
    if outcome == "succeeded":
        DELIVERED["succeeded"].inc()
        d.status, d.delivered_at, d.next_attempt_at = "succeeded", now, None
        sub.first_failure_at = None
        log.info(
            "delivered",
            extra={
                "delivery_id": str(d.id),
                "webhook_id": d.webhook_id,
                "status_code": r.status_code,
                "attempts": d.attempts,
            },
        )
        return
    sub.first_failure_at = sub.first_failure_at or r.started_at
    reason = None
    # A disabled endpoint's pending deliveries were failed, and counted, by `disable`: this
    # one too, whether this result disabled it or another result of the batch did.
    counted = not sub.enabled
    if r.status_code == 410:
        reason = "endpoint answered 410 Gone"
    elif (now - sub.first_failure_at).total_seconds() >= settings.disable_after_failing_seconds:
        reason = "every attempt failed for the configured period"
    if reason is not None and sub.enabled:
        # Disabling fails the endpoint's pending deliveries in one statement: the outcomes
        # decided before this one are written first, and this delivery keeps the reason as
        # its last error (as when its row was written before the statement).
        write_outcomes()
        disable(session, sub, reason, now)  # counts this delivery among those it fails
        d.last_error = f"endpoint disabled: {reason}"
        counted = True
    delay = next_delay(
        d.attempts - d.schedule_from,
        settings.retry_schedule_seconds,
        settings.retry_jitter,
        r.retry_after,
    )
    if delay is None or not sub.enabled:
        if not counted:
            GIVEN_UP.inc()
            DELIVERED["failed"].inc()
        d.status, d.next_attempt_at = "failed", None
    else:
        d.next_attempt_at = now + timedelta(seconds=delay)
    log.info(
        "delivery attempt failed",
        extra={
            "delivery_id": str(d.id),
            "status_code": r.status_code,
            "error": r.error,
            "attempts": d.attempts,
            "status": d.status,
        },
    )


def disable(session: Session, sub: Subscription, reason: str, now: datetime) -> None:
    """Stop sending to an endpoint: its pending deliveries fail (visible, replayable on
    re-enable) and an `endpoint.disabled` record says why."""
    if not sub.enabled:
        return
    sub.enabled, sub.disabled_reason, sub.disabled_at = False, reason, now
    session.add(EndpointRecord(subscription_id=sub.id, kind="endpoint.disabled", detail=reason))
    stranded = session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.status == "pending")
        .values(
            status="failed",
            next_attempt_at=None,
            claimed_at=None,
            claimed_by=None,
            last_error=f"endpoint disabled: {reason}",
            updated_at=now,
        )
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    GIVEN_UP.inc(len(stranded))
    DELIVERED["failed"].inc(len(stranded))
    log.warning("endpoint disabled", extra={"subscription_id": str(sub.id), "reason": reason})


Cursor = tuple[datetime, int, uuid.UUID]


def filtered(
    q: Select[Delivery], status: str | None, state: State | None, now: datetime
) -> Select[Delivery]:
    if status:
        q = q.where(Delivery.status == status)
    if state:
        q = q.where(state_clause(state, now))
    return q


def owned_by(key_id: str) -> Select[uuid.UUID]:
    """The ids of the subscriptions a key owns."""
    return select(Subscription.id).where(Subscription.owner_key_id == uuid.UUID(key_id))


# Newest first. One fan-out gives its deliveries the same created_at (the transaction's start),
# so the sequence orders an endpoint's deliveries among them and the id makes the order total:
# cursor pages never skip or repeat a row.
_ORDER = (Delivery.created_at, Delivery.sequence, Delivery.id)


def newest_first(q: Select[Delivery], before: Cursor | None) -> Select[Delivery]:
    if before is not None:
        q = q.where(tuple_(*_ORDER) < tuple_(*before))
    return q.order_by(*(c.desc() for c in _ORDER))


def encode_cursor(d: Delivery) -> str:
    raw = orjson.dumps([d.created_at.isoformat(), d.sequence, str(d.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    try:
        created, sequence, delivery_id = orjson.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        )
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None or type(sequence) is not int:
            raise ValueError("not a cursor")
        return moment, sequence, uuid.UUID(delivery_id)
    except (ValueError, TypeError, AttributeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("not a cursor this API issued", field="before") from exc
