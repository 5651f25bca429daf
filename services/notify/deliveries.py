"""Deliveries as the notify API shows them: the view of a row with its derived state, and the
listings' filters, order and cursor (the routes are in `subscriptions.py`)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, select, tuple_

from services.notify.states import State, state_clause, state_of
from shared.db import Delivery, Subscription
from shared.errors import InvalidInput

Cursor = tuple[datetime, int, uuid.UUID]


def delivery_view(d: Delivery, now: datetime | None = None) -> dict[str, Any]:
    """A delivery as the API returns it; its `state` as of `now` (a listing passes the moment
    it filtered on, so a row and the filter that selected it agree)."""
    state = state_of(d, now or datetime.now(UTC))
    return {
        "id": str(d.id),
        "subscription_id": str(d.subscription_id),
        "event_id": str(d.event_id) if d.event_id else None,
        "event_type": d.event_type,
        "webhook_id": d.webhook_id,
        "sequence": d.sequence,
        "status": d.status,
        "state": state,
        "processing_since": d.claimed_at if state == "processing" else None,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
    }


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
