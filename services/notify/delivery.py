"""Fan-out and delivery: outbox rows become deliveries; deliveries become signed POSTs.

A delivery is claimed by moving its `next_attempt_at` past a lease (`FOR UPDATE SKIP LOCKED`,
committed before any network I/O), sent, and its outcome written with the attempt log. A worker
that dies mid-send leaves the lease to expire and the delivery is tried again with the same
`webhook-id`, so receivers can de-duplicate. Nothing is scheduled in the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from services.notify.matching import matches
from services.notify.schedule import next_delay, parse_retry_after
from services.notify.ssrf import UnsafeTarget, vet
from shared.db import Delivery, DeliveryAttempt, EndpointRecord, Event, Outbox, Subscription
from shared.metrics import DELIVERIES
from shared.settings import Settings
from shared.views import event_document
from shared.webhooks import signature_header

log = logging.getLogger("pivotwatch.notify")

EXCERPT_BYTES = 1024


def active_secrets(sub: Subscription, now: datetime) -> list[str]:
    out = []
    for entry in sub.secrets:
        expires = entry.get("expires_at")
        if expires is None or datetime.fromisoformat(expires) > now:
            out.append(str(entry["secret"]))
    return out


def build_body(webhook_id: str, kind: str, sequence: int, data: dict[str, Any]) -> str:
    envelope = {
        "specversion": "1.0",
        "id": webhook_id,
        "source": "/pivotwatch/notify",
        "type": f"dev.pivotwatch.{kind}",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "sequence": str(sequence),
        "data": {"kind": kind, "sequence": sequence, **data},
    }
    return orjson.dumps(envelope).decode()


def _new_delivery(
    sub: Subscription, kind: str, data: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    delivery_id = uuid.uuid4()
    webhook_id = f"msg_{delivery_id.hex}"
    return {
        "id": delivery_id,
        "subscription_id": sub.id,
        "event_type": kind,
        "webhook_id": webhook_id,
        "data": data,
        **extra,
    }


def fanout(session: Session, outbox_ids: list[int]) -> list[uuid.UUID]:
    """Create the deliveries for these outbox rows (idempotent) and mark the rows processed."""
    rows = session.scalars(
        select(Outbox)
        .where(Outbox.id.in_(outbox_ids), Outbox.processed_at.is_(None))
        .order_by(Outbox.id)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    events = {
        e.id: e
        for e in session.scalars(select(Event).where(Event.id.in_({r.event_id for r in rows})))
    }
    subs = session.scalars(
        select(Subscription)
        .where(Subscription.enabled.is_(True))
        .order_by(Subscription.id)
        .with_for_update()
    ).all()
    now = datetime.now(UTC)
    created: list[uuid.UUID] = []
    for row in rows:
        ev = events.get(row.event_id)
        if ev is None or ev.duplicate_of is not None or not ev.published:
            continue
        doc = event_document(ev)
        for sub in subs:
            if not matches(sub.event_types, sub.filter, row.kind, doc):
                continue
            sub.sequence += 1
            d = _new_delivery(sub, row.kind, {"event": doc}, outbox_id=row.id, event_id=ev.id)
            body = build_body(d["webhook_id"], row.kind, sub.sequence, d.pop("data"))
            inserted = session.execute(
                pg_insert(Delivery)
                .values(
                    **d,
                    sequence=sub.sequence,
                    body=body,
                    status="pending",
                    next_attempt_at=now,
                    correlation_id=row.correlation_id,
                )
                .on_conflict_do_nothing(constraint="uq_deliveries_subscription_outbox")
                .returning(Delivery.id)
            ).scalar()
            if inserted is None:
                sub.sequence -= 1  # already fanned out by an earlier run
            else:
                created.append(inserted)
    session.execute(
        update(Outbox).where(Outbox.id.in_([r.id for r in rows])).values(processed_at=now)
    )
    return created


def create_test_delivery(session: Session, sub: Subscription) -> uuid.UUID:
    sub.sequence += 1
    d = _new_delivery(sub, "subscription.test", {"message": "pivotwatch test event"})
    body = build_body(d["webhook_id"], "subscription.test", sub.sequence, d.pop("data"))
    row = Delivery(
        **d, sequence=sub.sequence, body=body, status="pending", next_attempt_at=datetime.now(UTC)
    )
    session.add(row)
    session.flush()
    return row.id


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    webhook_id: str
    body: bytes
    secrets: list[str]
    attempts: int


def claim(
    session: Session, settings: Settings, ids: list[uuid.UUID] | None = None, limit: int = 200
) -> list[Claimed]:
    """Lease due deliveries (or the given ones) to this worker; commit before sending."""
    now = datetime.now(UTC)
    q = (
        select(Delivery, Subscription)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
            Subscription.enabled.is_(True),
        )
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
        .with_for_update(of=Delivery, skip_locked=True)
    )
    if ids is not None:
        q = q.where(Delivery.id.in_(ids))
    lease = now + timedelta(seconds=settings.webhook_timeout_seconds + 30)
    out = []
    for d, sub in session.execute(q).all():
        d.next_attempt_at = lease
        out.append(
            Claimed(
                d.id,
                sub.id,
                sub.url,
                d.webhook_id,
                d.body.encode(),
                active_secrets(sub, now),
                d.attempts,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Result:
    delivery_id: uuid.UUID
    status_code: int | None
    duration_ms: float
    excerpt: str
    error: str | None
    retry_after: float | None


async def _send_one(client: httpx.AsyncClient, c: Claimed, settings: Settings) -> Result:
    start = time.perf_counter()
    try:
        target = vet(c.url, settings.allow_private_webhook_targets, settings.webhook_allow_networks)
    except UnsafeTarget as exc:
        return Result(c.id, None, 0.0, "", f"refused: {exc}", None)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "pivotwatch-webhooks/0.1",
        "webhook-id": c.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(c.secrets, c.webhook_id, timestamp, c.body),
        "host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
    }
    # Connect to the vetted address itself; Host and SNI carry the name.
    ip = f"[{target.address}]" if ":" in target.address else target.address
    url = f"{target.scheme}://{ip}:{target.port}{target.path}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        resp = await client.post(url, content=c.body, headers=headers, extensions=extensions)
        excerpt = resp.content[:EXCERPT_BYTES].decode("utf-8", "replace")
        retry_after = parse_retry_after(resp.headers.get("retry-after"), datetime.now(UTC))
        return Result(
            c.id, resp.status_code, (time.perf_counter() - start) * 1000, excerpt, None, retry_after
        )
    except httpx.HTTPError as exc:
        return Result(
            c.id,
            None,
            (time.perf_counter() - start) * 1000,
            "",
            f"{type(exc).__name__}: {exc}"[:500],
            None,
        )


async def send_all(claimed: list[Claimed], settings: Settings) -> list[Result]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
    async with httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,
        limits=limits,
        trust_env=False,
    ) as client:
        return list(await asyncio.gather(*(_send_one(client, c, settings) for c in claimed)))


def record(session: Session, settings: Settings, results: list[Result]) -> None:
    """Write each attempt and decide: succeeded, retry at a time, failed, or endpoint disabled."""
    now = datetime.now(UTC)
    for r in results:
        d = session.get(Delivery, r.delivery_id, with_for_update=True)
        if d is None or d.status != "pending":
            continue
        sub = session.get(Subscription, d.subscription_id, with_for_update=True)
        assert sub is not None
        session.add(
            DeliveryAttempt(
                delivery_id=d.id,
                status_code=r.status_code,
                duration_ms=r.duration_ms,
                response_excerpt=r.excerpt,
                error=r.error,
            )
        )
        d.attempts += 1
        d.last_status_code = r.status_code
        d.last_error = r.error
        d.updated_at = now
        ok = r.status_code is not None and 200 <= r.status_code < 300
        if ok:
            DELIVERIES.labels("succeeded").inc()
            d.status, d.delivered_at, d.next_attempt_at = "succeeded", now, None
            sub.first_failure_at = None
            continue
        DELIVERIES.labels("failed_attempt").inc()
        sub.first_failure_at = sub.first_failure_at or now
        if r.status_code == 410:
            _disable(session, sub, "endpoint answered 410 Gone", now)
        elif (now - sub.first_failure_at).total_seconds() >= settings.disable_after_failing_seconds:
            _disable(session, sub, "every attempt failed for the configured period", now)
        delay = next_delay(
            d.attempts, settings.retry_schedule_seconds, settings.retry_jitter, r.retry_after
        )
        if delay is None or r.status_code == 410:
            DELIVERIES.labels("given_up").inc()
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
            },
        )


def _disable(session: Session, sub: Subscription, reason: str, now: datetime) -> None:
    if not sub.enabled:
        return
    sub.enabled, sub.disabled_reason, sub.disabled_at = False, reason, now
    session.add(EndpointRecord(subscription_id=sub.id, kind="endpoint.disabled", detail=reason))
    log.warning("endpoint disabled", extra={"subscription_id": str(sub.id), "reason": reason})


def deliver(
    sessions: sessionmaker[Session], settings: Settings, ids: list[uuid.UUID] | None = None
) -> int:
    """Claim, send, record. Returns how many were attempted."""
    with sessions() as session, session.begin():
        claimed = claim(session, settings, ids)
    if not claimed:
        return 0
    results = asyncio.run(send_all(claimed, settings))
    with sessions() as session, session.begin():
        record(session, settings, results)
    return len(results)
