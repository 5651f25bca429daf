"""Subscription and delivery routes of the notify API (scope `subscriptions:write`): each parses
the request, calls `service.py` and answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from services.notify import service
from services.notify.deps import Manager, SessionDep, SettingsDep
from services.notify.schemas import (
    DeliveryDetail,
    DeliveryOut,
    EnabledOut,
    EnableIn,
    EndpointRecordOut,
    ReplayIn,
    ReplayOut,
    RotatedSecret,
    RotateSecretIn,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from services.notify.states import State
from shared.errors import INVALID_ANSWER, KEY_ANSWERS
from shared.http import UUIDPath

router = APIRouter(prefix="/v1", responses={**KEY_ANSWERS, **INVALID_ANSWER})


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
    return await service.create_subscription(session, settings, principal, body)


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionOut],
    operation_id="listSubscriptions",
    tags=["subscriptions"],
)
async def list_subscriptions(principal: Manager, session: SessionDep) -> list[dict[str, Any]]:
    return await service.list_subscriptions(session, principal)


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    operation_id="getSubscription",
    tags=["subscriptions"],
)
async def get_subscription(
    subscription_id: UUIDPath, principal: Manager, session: SessionDep
) -> dict[str, Any]:
    return await service.get_subscription(session, principal, subscription_id)


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
    return await service.update_subscription(session, settings, principal, subscription_id, body)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    operation_id="deleteSubscription",
    tags=["subscriptions"],
)
async def delete_subscription(
    subscription_id: UUIDPath, principal: Manager, session: SessionDep
) -> None:
    await service.delete_subscription(session, principal, subscription_id)


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
    return await service.list_deliveries(session, principal, subscription_id, status, state, limit)


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
    rows, cursor = await service.list_all_deliveries(
        session, principal, status, state, subscription_id, limit, before
    )
    if cursor is not None:
        url = request.url.include_query_params(before=cursor)
        response.headers["link"] = f'<{url}>; rel="next"'
    return rows


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    operation_id="getDelivery",
    tags=["deliveries"],
)
async def get_delivery(
    delivery_id: UUIDPath, principal: Manager, session: SessionDep
) -> dict[str, Any]:
    return await service.get_delivery(session, principal, delivery_id)


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
    return await service.send_test(session, principal, subscription_id)


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
    return await service.rotate_secret(session, principal, subscription_id, grace)


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
    return await service.enable_subscription(session, principal, subscription_id, want_replay)


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
    return await service.replay_window(session, principal, subscription_id, body)


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
    return await service.retry_delivery(session, principal, delivery_id)


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
    return await service.list_records(session, principal, subscription_id)
