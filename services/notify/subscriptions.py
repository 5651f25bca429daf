"""Subscription and delivery routes of the notify API (scope `subscriptions:write`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.delivery import create_test_delivery
from services.notify.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    Filter,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from services.notify.ssrf import UnsafeTarget, parse_url, vet
from shared.auth import Principal, Scope
from shared.db import Delivery, DeliveryAttempt, Subscription
from shared.errors import InvalidInput, NotFound
from shared.http import SettingsDep, require
from shared.settings import Settings
from shared.webhooks import generate_secret

router = APIRouter(prefix="/v1", tags=["subscriptions"])
Manager = Annotated[Principal, Depends(require(Scope.SUBSCRIPTIONS_WRITE))]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commit on success, roll back on error."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


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


def _check_url(url: str, settings: Settings) -> None:
    try:
        parse_url(url)
        vet(url, settings.allow_private_webhook_targets, settings.webhook_allow_networks)
    except UnsafeTarget as exc:
        raise InvalidInput(str(exc), field="url") from exc


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidInput("not a valid id (a UUID)", field=field) from exc


async def _owned(session: AsyncSession, principal: Principal, sub_id: str) -> Subscription:
    sub = await session.get(Subscription, _uuid(sub_id, "subscription_id"))
    owner_ok = sub is not None and (
        principal.allows(Scope.ADMIN) or str(sub.owner_key_id) == principal.key_id
    )
    if sub is None or not owner_ok:
        raise NotFound("no such subscription", field="subscription_id")
    return sub


@router.post("/subscriptions", status_code=201, response_model=SubscriptionCreated)
async def create_subscription(
    body: SubscriptionIn, principal: Manager, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    _check_url(body.url, settings)
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


@router.get("/subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(principal: Manager, session: SessionDep) -> list[dict[str, Any]]:
    q = select(Subscription).order_by(Subscription.created_at)
    if not principal.allows(Scope.ADMIN):
        q = q.where(Subscription.owner_key_id == uuid.UUID(principal.key_id))
    return [_out(s) for s in (await session.scalars(q)).all()]


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(
    subscription_id: str, principal: Manager, session: SessionDep
) -> dict[str, Any]:
    return _out(await _owned(session, principal, subscription_id))


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def update_subscription(
    subscription_id: str,
    body: SubscriptionPatch,
    principal: Manager,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    sub = await _owned(session, principal, subscription_id)
    changes = body.model_dump(exclude_unset=True, mode="json")
    if "url" in changes:
        _check_url(changes["url"], settings)
    for name, value in changes.items():
        setattr(sub, name, value)
    sub.updated_at = datetime.now(UTC)
    return _out(sub)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(
    subscription_id: str, principal: Manager, session: SessionDep
) -> None:
    sub = await _owned(session, principal, subscription_id)
    await session.delete(sub)


def _delivery(d: Delivery) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "subscription_id": str(d.subscription_id),
        "event_id": str(d.event_id) if d.event_id else None,
        "event_type": d.event_type,
        "webhook_id": d.webhook_id,
        "sequence": d.sequence,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
    }


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    subscription_id: str,
    principal: Manager,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(pending|succeeded|failed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    sub = await _owned(session, principal, subscription_id)
    q = select(Delivery).where(Delivery.subscription_id == sub.id)
    if status:
        q = q.where(Delivery.status == status)
    rows = (await session.scalars(q.order_by(Delivery.sequence.desc()).limit(limit))).all()
    return [_delivery(d) for d in rows]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(delivery_id: str, principal: Manager, session: SessionDep) -> dict[str, Any]:
    d = await session.get(Delivery, _uuid(delivery_id, "delivery_id"))
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
    return {**_delivery(d), "attempts_log": log}


@router.post("/subscriptions/{subscription_id}/test", status_code=202, response_model=DeliveryOut)
async def send_test(
    subscription_id: str, principal: Manager, session: SessionDep
) -> dict[str, Any]:
    """Queue a `subscription.test` delivery; the dispatcher sends it within a second."""
    sub = await _owned(session, principal, subscription_id)
    delivery_id = await session.run_sync(lambda s: create_test_delivery(s, s.merge(sub)))
    d = await session.get(Delivery, delivery_id)
    assert d is not None
    return _delivery(d)
