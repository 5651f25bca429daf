"""What the notify API does, without HTTP: subscriptions created, changed, rotated and deleted
for the key that owns them (a per-key cap, the target checked by the SSRF guard), deliveries
listed, retried and replayed, endpoints re-enabled with what they missed. Routes are in
`endpoints.py`; failures are the domain errors of `shared.errors`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.notify.repository import (
    active_secrets,
    create_test_delivery,
    decode_cursor,
    encode_cursor,
    fan,
    filtered,
    newest_first,
    owned_by,
)
from services.notify.schemas import (
    AttemptOut,
    EndpointRecordOut,
    ReplayIn,
    SubscriptionIn,
    SubscriptionPatch,
    delivery_view,
    subscription_view,
)
from services.notify.ssrf import UnsafeTarget, parse_url, vet
from services.notify.states import State
from shared.auth import Principal, Scope
from shared.db import Delivery, DeliveryAttempt, EndpointRecord, Outbox, Subscription
from shared.errors import Conflict, InvalidInput, NotFound, RateLimited
from shared.http import path_uuid
from shared.settings import Settings
from shared.webhooks import generate_secret


async def check_url(url: str, settings: Settings) -> None:
    try:
        parse_url(url)
        # Resolving the name blocks: keep it off the event loop.
        await asyncio.to_thread(
            vet, url, settings.allow_private_webhook_targets, settings.webhook_allow_networks
        )
    except UnsafeTarget as exc:
        raise InvalidInput(str(exc), field="url") from exc


async def owned(session: AsyncSession, principal: Principal, sub_id: str) -> Subscription:
    sub = await session.get(Subscription, path_uuid(sub_id, "subscription_id"))
    if sub is None or not principal.owns(sub.owner_key_id):
        raise NotFound("no such subscription", field="subscription_id")
    return sub


async def create_subscription(
    session: AsyncSession, settings: Settings, principal: Principal, body: SubscriptionIn
) -> dict[str, Any]:
    await check_url(body.url, settings)
    if not principal.allows(Scope.ADMIN):
        cap = settings.max_subscriptions_per_key
        # Serialized per key: two creations at once must not both pass the count.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"subs:{principal.key_id}"}
        )
        held = await session.scalar(
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.owner_key_id == uuid.UUID(principal.key_id))
        )
        if (held or 0) >= cap:
            raise RateLimited(
                f"this key already holds {cap} subscriptions, the limit; delete one first",
                field="subscriptions",
                retry_after=60,
            )
    secret = generate_secret()
    sub = Subscription(
        id=uuid.uuid4(),
        url=body.url,
        description=body.description,
        secrets=[{"secret": secret, "expires_at": None}],
        filter=body.filter.model_dump(mode="json"),
        event_types=list(body.event_types),
        rate_limit_per_second=body.rate_limit_per_second,
        fifo=body.fifo,
        owner_key_id=uuid.UUID(principal.key_id),
        created_at=datetime.now(UTC),
    )
    session.add(sub)
    await session.flush()
    return {**subscription_view(sub), "secret": secret}


async def list_subscriptions(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    q = select(Subscription).order_by(Subscription.created_at)
    if not principal.allows(Scope.ADMIN):
        q = q.where(Subscription.owner_key_id == uuid.UUID(principal.key_id))
    return [subscription_view(s) for s in (await session.scalars(q)).all()]


async def get_subscription(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> dict[str, Any]:
    return subscription_view(await owned(session, principal, subscription_id))


async def update_subscription(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    subscription_id: str,
    body: SubscriptionPatch,
) -> dict[str, Any]:
    sub = await owned(session, principal, subscription_id)
    changes = body.model_dump(exclude_unset=True, mode="json")
    if "url" in changes:
        await check_url(changes["url"], settings)
    for name, value in changes.items():
        setattr(sub, name, value)
    sub.updated_at = datetime.now(UTC)
    return subscription_view(sub)


async def delete_subscription(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> None:
    sub = await owned(session, principal, subscription_id)
    await session.delete(sub)


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    subscription_id: str,
    status: str | None,
    state: State | None,
    limit: int,
) -> list[dict[str, Any]]:
    sub = await owned(session, principal, subscription_id)
    now = datetime.now(UTC)
    q = filtered(select(Delivery).where(Delivery.subscription_id == sub.id), status, state, now)
    rows = (await session.scalars(q.order_by(Delivery.sequence.desc()).limit(limit))).all()
    return [delivery_view(d, now) for d in rows]


async def list_all_deliveries(
    session: AsyncSession,
    principal: Principal,
    status: str | None,
    state: State | None,
    subscription_id: str | None,
    limit: int,
    before: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The deliveries of every subscription the key owns (an admin key: every one), newest
    first, and the cursor of the next page when more match."""
    now = datetime.now(UTC)
    if subscription_id is not None:
        sub = await owned(session, principal, subscription_id)
        q = select(Delivery).where(Delivery.subscription_id == sub.id)
    elif principal.allows(Scope.ADMIN):
        q = select(Delivery)
    else:
        q = select(Delivery).where(Delivery.subscription_id.in_(owned_by(principal.key_id)))
    q = newest_first(filtered(q, status, state, now), decode_cursor(before) if before else None)
    rows = (await session.scalars(q.limit(limit + 1))).all()
    cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        cursor = encode_cursor(rows[-1])
    return [delivery_view(d, now) for d in rows], cursor


async def owned_delivery(
    session: AsyncSession, principal: Principal, delivery_id: str
) -> tuple[Delivery, Subscription]:
    """The delivery and its subscription, if the principal owns them. Another key's delivery
    answers exactly as an unknown one does, so an id reveals nothing about who has it."""
    d = await session.get(Delivery, path_uuid(delivery_id, "delivery_id"))
    sub = None if d is None else await session.get(Subscription, d.subscription_id)
    if d is None or sub is None or not principal.owns(sub.owner_key_id):
        raise NotFound("no such delivery", field="delivery_id")
    return d, sub


async def get_delivery(
    session: AsyncSession, principal: Principal, delivery_id: str
) -> dict[str, Any]:
    d, _ = await owned_delivery(session, principal, delivery_id)
    attempts = (
        await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == d.id)
            .order_by(DeliveryAttempt.attempted_at)
        )
    ).all()
    log = [AttemptOut.model_validate(a, from_attributes=True) for a in attempts]
    return {**delivery_view(d), "attempts_log": log}


async def send_test(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> dict[str, Any]:
    """Queue a `subscription.test` delivery; the dispatcher sends it within a second."""
    sub = await owned(session, principal, subscription_id)
    delivery_id = await session.run_sync(lambda s: create_test_delivery(s, s.merge(sub)))
    d = await session.get(Delivery, delivery_id)
    assert d is not None
    return delivery_view(d)


def _locked(s: Session, sub_id: uuid.UUID) -> Subscription:
    sub = s.get(Subscription, sub_id, with_for_update=True, populate_existing=True)
    if sub is None:
        raise NotFound("no such subscription", field="subscription_id")
    return sub


async def rotate_secret(
    session: AsyncSession, principal: Principal, subscription_id: str, grace: int
) -> dict[str, Any]:
    """Make a new secret. Until the grace period ends, deliveries carry a signature by the
    previous secrets too, so receivers can switch without losing any."""
    owned_sub = await owned(session, principal, subscription_id)
    # Locked: two rotations at once must not lose a secret.
    sub = await session.get(
        Subscription, owned_sub.id, with_for_update=True, populate_existing=True
    )
    assert sub is not None
    now = datetime.now(UTC)
    until = now + timedelta(seconds=grace)
    kept = []
    if grace > 0:
        for entry in sub.secrets:
            if str(entry["secret"]) not in active_secrets(sub, now):
                continue  # already expired: drop it
            expires = entry.get("expires_at")
            cap = until if expires is None else min(until, datetime.fromisoformat(expires))
            kept.append({"secret": entry["secret"], "expires_at": cap.isoformat()})
    secret = generate_secret()
    sub.secrets = [{"secret": secret, "expires_at": None}, *kept]  # a new list: JSONB change
    sub.updated_at = now
    return {
        "secret": secret,
        "previous_secrets_expire_at": until if kept else None,
        "signing_secrets": 1 + len(kept),
    }


async def enable_subscription(
    session: AsyncSession, principal: Principal, subscription_id: str, want_replay: bool
) -> dict[str, Any]:
    """Re-enable a disabled endpoint; with `want_replay`, queue what it missed."""
    sub = await owned(session, principal, subscription_id)
    replayed = await session.run_sync(lambda s: enable(s, _locked(s, sub.id), want_replay))
    return {**subscription_view(sub), "replayed": replayed}


async def replay_window(
    session: AsyncSession, principal: Principal, subscription_id: str, body: ReplayIn
) -> dict[str, int]:
    """Send again every settled delivery (or only the failed ones) created in [since, until)."""
    until = body.until or datetime.now(UTC)
    if until <= body.since:
        raise InvalidInput("must be after 'since'", field="until")
    sub = await owned(session, principal, subscription_id)
    if not sub.enabled:
        raise Conflict("the subscription is disabled; enable it first", field="subscription_id")
    queued = await session.run_sync(
        lambda s: replay(s, _locked(s, sub.id), body.since, until, body.only_failed)
    )
    return {"queued": queued}


async def retry_delivery(
    session: AsyncSession, principal: Principal, delivery_id: str
) -> dict[str, Any]:
    """Send one delivery again now, with the same webhook-id and a fresh retry schedule."""
    found, sub = await owned_delivery(session, principal, delivery_id)
    # Locked only once ownership is known: another key's id takes no lock.
    d = await session.get(Delivery, found.id, with_for_update=True, populate_existing=True)
    if d is None:
        raise NotFound("no such delivery", field="delivery_id")
    if d.status == "pending":
        raise Conflict(
            "the delivery is still pending; it is tried at next_attempt_at", field="delivery_id"
        )
    if not sub.enabled:
        raise Conflict("the subscription is disabled; enable it first", field="subscription_id")
    requeue(d, datetime.now(UTC))
    return delivery_view(d)


async def list_records(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> list[EndpointRecordOut]:
    """Operational records: `endpoint.disabled` (with the reason) and `endpoint.enabled`."""
    sub = await owned(session, principal, subscription_id)
    rows = await session.scalars(
        select(EndpointRecord)
        .where(EndpointRecord.subscription_id == sub.id)
        .order_by(EndpointRecord.id)
    )
    return [EndpointRecordOut.model_validate(r, from_attributes=True) for r in rows]


def requeue(d: Delivery, now: datetime) -> None:
    """Send a settled delivery again, same webhook-id, with a fresh retry schedule."""
    d.status, d.next_attempt_at, d.updated_at = "pending", now, now
    d.schedule_from = d.attempts
    d.claimed_at = None
    d.claimed_by = None
    d.delivered_at = None


def enable(session: Session, sub: Subscription, replay: bool) -> int:
    """Re-enable an endpoint. With `replay`, also queue what it missed: deliveries that failed
    since its failures began, and the changes it was not sent while disabled. Returns how many."""
    now = datetime.now(UTC)
    if sub.enabled:
        return 0
    since = min(t for t in (sub.first_failure_at, sub.disabled_at, now) if t is not None)
    disabled_at = sub.disabled_at or now
    sub.enabled, sub.disabled_reason, sub.disabled_at = True, None, None
    sub.first_failure_at = None
    sub.updated_at = now
    session.add(
        EndpointRecord(
            subscription_id=sub.id,
            kind="endpoint.enabled",
            detail="re-enabled with replay" if replay else "re-enabled",
        )
    )
    if not replay:
        return 0
    failed = session.scalars(
        select(Delivery)
        .where(
            Delivery.subscription_id == sub.id,
            Delivery.status == "failed",
            Delivery.updated_at >= since,
        )
        .with_for_update()
    ).all()
    for d in failed:
        requeue(d, now)
    missed = session.scalars(
        select(Outbox).where(Outbox.created_at >= disabled_at).order_by(Outbox.id)
    ).all()
    created = fan(session, missed, [sub], now) if missed else []
    return len(failed) + len(created)


def replay(
    session: Session, sub: Subscription, since: datetime, until: datetime, only_failed: bool
) -> int:
    """Send again every settled delivery of the subscription created in [since, until)."""
    now = datetime.now(UTC)
    q = select(Delivery).where(
        Delivery.subscription_id == sub.id,
        Delivery.created_at >= since,
        Delivery.created_at < until,
        Delivery.status == "failed" if only_failed else Delivery.status != "pending",
    )
    rows = session.scalars(q.with_for_update()).all()
    for d in rows:
        requeue(d, now)
    return len(rows)
