"""Subscription and delivery routes of the notify API (scope `subscriptions:write`)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.notify.deliveries import (
    decode_cursor,
    delivery_view,
    encode_cursor,
    filtered,
    newest_first,
    owned_by,
)
from services.notify.delivery import active_secrets, create_test_delivery, enable, replay, requeue
from services.notify.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    EnabledOut,
    EnableIn,
    EndpointRecordOut,
    Filter,
    ReplayIn,
    ReplayOut,
    RotatedSecret,
    RotateSecretIn,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from services.notify.ssrf import UnsafeTarget, parse_url, vet
from services.notify.states import State
from shared.auth import Principal, Scope
from shared.db import Delivery, DeliveryAttempt, EndpointRecord, Subscription
from shared.errors import (
    INVALID_ANSWER,
    KEY_ANSWERS,
    Conflict,
    InvalidInput,
    NotFound,
    RateLimited,
)
from shared.http import SessionDep, SettingsDep, UUIDPath, path_uuid, require
from shared.settings import Settings
from shared.webhooks import generate_secret

router = APIRouter(prefix="/v1", responses={**KEY_ANSWERS, **INVALID_ANSWER})
Manager = Annotated[Principal, Depends(require(Scope.SUBSCRIPTIONS_WRITE))]


def _out(sub: Subscription) -> dict[str, Any]:
    return {
        "id": str(sub.id),
        "url": sub.url,
        "description": sub.description,
        "event_types": sub.event_types,
        "filter": Filter.model_validate(sub.filter),
        "enabled": sub.enabled,
        "disabled_reason": sub.disabled_reason,
        "rate_limit_per_second": sub.rate_limit_per_second,
        "fifo": sub.fifo,
        "created_at": sub.created_at,
    }


async def _check_url(url: str, settings: Settings) -> None:
    try:
        parse_url(url)
        # Resolving the name blocks: keep it off the event loop.
        await asyncio.to_thread(
            vet, url, settings.allow_private_webhook_targets, settings.webhook_allow_networks
        )
    except UnsafeTarget as exc:
        raise InvalidInput(str(exc), field="url") from exc


async def _owned(session: AsyncSession, principal: Principal, sub_id: str) -> Subscription:
    sub = await session.get(Subscription, path_uuid(sub_id, "subscription_id"))
    owner_ok = sub is not None and (
        principal.allows(Scope.ADMIN) or str(sub.owner_key_id) == principal.key_id
    )
    if sub is None or not owner_ok:
        raise NotFound("no such subscription", field="subscription_id")
    return sub


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    operation_id="createSubscription",
    tags=["subscriptions"],
)
async def create_subscription(
    body: SubscriptionIn,
    principal: Manager,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"  # the answer carries the secret
    await _check_url(body.url, settings)
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
    return {**_out(sub), "secret": secret}


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionOut],
    operation_id="listSubscriptions",
    tags=["subscriptions"],
)
async def list_subscriptions(principal: Manager, session: SessionDep) -> list[dict[str, Any]]:
    q = select(Subscription).order_by(Subscription.created_at)
    if not principal.allows(Scope.ADMIN):
        q = q.where(Subscription.owner_key_id == uuid.UUID(principal.key_id))
    return [_out(s) for s in (await session.scalars(q)).all()]


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    operation_id="getSubscription",
    tags=["subscriptions"],
)
async def get_subscription(
    subscription_id: UUIDPath, principal: Manager, session: SessionDep
) -> dict[str, Any]:
    return _out(await _owned(session, principal, subscription_id))


@router.patch(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    operation_id="updateSubscription",
    tags=["subscriptions"],
)
async def update_subscription(
    subscription_id: UUIDPath,
    body: SubscriptionPatch,
    principal: Manager,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    sub = await _owned(session, principal, subscription_id)
    changes = body.model_dump(exclude_unset=True, mode="json")
    if "url" in changes:
        await _check_url(changes["url"], settings)
    for name, value in changes.items():
        setattr(sub, name, value)
    sub.updated_at = datetime.now(UTC)
    return _out(sub)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    operation_id="deleteSubscription",
    tags=["subscriptions"],
)
async def delete_subscription(
    subscription_id: UUIDPath, principal: Manager, session: SessionDep
) -> None:
    sub = await _owned(session, principal, subscription_id)
    await session.delete(sub)


StatusFilter = Annotated[
    str | None, Query(pattern="^(pending|succeeded|failed)$", description="the stored status")
]
StateFilter = Annotated[State | None, Query(description="the derived state (see `state`)")]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    response_model=list[DeliveryOut],
    operation_id="listSubscriptionDeliveries",
    tags=["deliveries"],
)
async def list_deliveries(
    subscription_id: UUIDPath,
    principal: Manager,
    session: SessionDep,
    status: StatusFilter = None,
    state: StateFilter = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    sub = await _owned(session, principal, subscription_id)
    now = datetime.now(UTC)
    q = filtered(select(Delivery).where(Delivery.subscription_id == sub.id), status, state, now)
    rows = (await session.scalars(q.order_by(Delivery.sequence.desc()).limit(limit))).all()
    return [delivery_view(d, now) for d in rows]


@router.get(
    "/deliveries",
    response_model=list[DeliveryOut],
    operation_id="listDeliveries",
    tags=["deliveries"],
)
async def list_all_deliveries(
    request: Request,
    response: Response,
    principal: Manager,
    session: SessionDep,
    status: StatusFilter = None,
    state: StateFilter = None,
    subscription_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    before: Annotated[
        str | None,
        Query(max_length=200, description="the cursor of the next page (the `Link` header)"),
    ] = None,
) -> list[dict[str, Any]]:
    """The deliveries of every subscription the key owns (an admin key: every one), newest
    first. When more match, the next page's URL is in a `Link: <...>; rel="next"` header."""
    now = datetime.now(UTC)
    if subscription_id is not None:
        sub = await _owned(session, principal, subscription_id)
        q = select(Delivery).where(Delivery.subscription_id == sub.id)
    elif principal.allows(Scope.ADMIN):
        q = select(Delivery)
    else:
        q = select(Delivery).where(Delivery.subscription_id.in_(owned_by(principal.key_id)))
    q = newest_first(filtered(q, status, state, now), decode_cursor(before) if before else None)
    rows = (await session.scalars(q.limit(limit + 1))).all()
    if len(rows) > limit:
        rows = rows[:limit]
        url = request.url.include_query_params(before=encode_cursor(rows[-1]))
        response.headers["link"] = f'<{url}>; rel="next"'
    return [delivery_view(d, now) for d in rows]


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    operation_id="getDelivery",
    tags=["deliveries"],
)
async def get_delivery(
    delivery_id: UUIDPath, principal: Manager, session: SessionDep
) -> dict[str, Any]:
    d = await session.get(Delivery, path_uuid(delivery_id, "delivery_id"))
    if d is None:
        raise NotFound("no such delivery", field="delivery_id")
    await _owned(session, principal, str(d.subscription_id))
    attempts = (
        await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == d.id)
            .order_by(DeliveryAttempt.attempted_at)
        )
    ).all()
    log = [AttemptOut.model_validate(a, from_attributes=True) for a in attempts]
    return {**delivery_view(d), "attempts_log": log}


@router.post(
    "/subscriptions/{subscription_id}/test",
    status_code=202,
    response_model=DeliveryOut,
    operation_id="sendTestDelivery",
    tags=["subscriptions"],
)
async def send_test(
    subscription_id: UUIDPath, principal: Manager, session: SessionDep
) -> dict[str, Any]:
    """Queue a `subscription.test` delivery; the dispatcher sends it within a second."""
    sub = await _owned(session, principal, subscription_id)
    delivery_id = await session.run_sync(lambda s: create_test_delivery(s, s.merge(sub)))
    d = await session.get(Delivery, delivery_id)
    assert d is not None
    return delivery_view(d)


def _locked(s: Session, sub_id: uuid.UUID) -> Subscription:
    sub = s.get(Subscription, sub_id, with_for_update=True, populate_existing=True)
    if sub is None:
        raise NotFound("no such subscription", field="subscription_id")
    return sub


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    status_code=201,
    response_model=RotatedSecret,
    operation_id="rotateSubscriptionSecret",
    tags=["subscriptions"],
)
async def rotate_secret(
    subscription_id: UUIDPath,
    principal: Manager,
    session: SessionDep,
    response: Response,
    body: RotateSecretIn | None = None,
) -> dict[str, Any]:
    """Make a new secret (shown once, now). Until the grace period ends, deliveries carry a
    signature by the previous secrets too, so receivers can switch without losing any."""
    response.headers["Cache-Control"] = "no-store"  # the answer carries the new secret
    grace = (body or RotateSecretIn()).grace_seconds
    owned = await _owned(session, principal, subscription_id)
    # Locked: two rotations at once must not lose a secret.
    sub = await session.get(Subscription, owned.id, with_for_update=True, populate_existing=True)
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


@router.post(
    "/subscriptions/{subscription_id}/enable",
    response_model=EnabledOut,
    operation_id="enableSubscription",
    tags=["subscriptions"],
)
async def enable_subscription(
    subscription_id: UUIDPath,
    principal: Manager,
    session: SessionDep,
    body: EnableIn | None = None,
) -> dict[str, Any]:
    """Re-enable a disabled endpoint; with `replay`, queue what it missed."""
    want_replay = (body or EnableIn()).replay
    sub = await _owned(session, principal, subscription_id)
    replayed = await session.run_sync(lambda s: enable(s, _locked(s, sub.id), want_replay))
    return {**_out(sub), "replayed": replayed}


@router.post(
    "/subscriptions/{subscription_id}/replay",
    status_code=202,
    response_model=ReplayOut,
    operation_id="replaySubscription",
    tags=["deliveries"],
)
async def replay_window(
    subscription_id: UUIDPath, body: ReplayIn, principal: Manager, session: SessionDep
) -> dict[str, int]:
    """Send again every settled delivery (or only the failed ones) created in [since, until)."""
    until = body.until or datetime.now(UTC)
    if until <= body.since:
        raise InvalidInput("must be after 'since'", field="until")
    sub = await _owned(session, principal, subscription_id)
    if not sub.enabled:
        raise Conflict("the subscription is disabled; enable it first", field="subscription_id")
    queued = await session.run_sync(
        lambda s: replay(s, _locked(s, sub.id), body.since, until, body.only_failed)
    )
    return {"queued": queued}


@router.post(
    "/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryOut,
    operation_id="retryDelivery",
    tags=["deliveries"],
)
async def retry_delivery(
    delivery_id: UUIDPath, principal: Manager, session: SessionDep
) -> dict[str, Any]:
    """Send one delivery again now, with the same webhook-id and a fresh retry schedule."""
    d = await session.get(
        Delivery,
        path_uuid(delivery_id, "delivery_id"),
        with_for_update=True,
        populate_existing=True,
    )
    if d is None:
        raise NotFound("no such delivery", field="delivery_id")
    sub = await _owned(session, principal, str(d.subscription_id))
    if d.status == "pending":
        raise Conflict(
            "the delivery is still pending; it is tried at next_attempt_at", field="delivery_id"
        )
    if not sub.enabled:
        raise Conflict("the subscription is disabled; enable it first", field="subscription_id")
    requeue(d, datetime.now(UTC))
    return delivery_view(d)


@router.get(
    "/subscriptions/{subscription_id}/records",
    response_model=list[EndpointRecordOut],
    operation_id="listEndpointRecords",
    tags=["subscriptions"],
)
async def list_records(
    subscription_id: UUIDPath, principal: Manager, session: SessionDep
) -> list[EndpointRecordOut]:
    """Operational records: `endpoint.disabled` (with the reason) and `endpoint.enabled`."""
    sub = await _owned(session, principal, subscription_id)
    rows = await session.scalars(
        select(EndpointRecord)
        .where(EndpointRecord.subscription_id == sub.id)
        .order_by(EndpointRecord.id)
    )
    return [EndpointRecordOut.model_validate(r, from_attributes=True) for r in rows]
