"""A delivery's state as the API reports it, derived from its stored row.

The stored `status` is pending|succeeded|failed; `pending` covers three situations a consumer
wants told apart. `delivery_state` decides them from the row and a moment; `state_clause` is the
same rule as SQL, for filters (a test checks the two agree on a row in each state):

- `processing`: a worker holds it — claimed (`claimed_at`) and the lease (`next_attempt_at`)
  not yet run out;
- `retrying`: pending after at least one attempt of the current round (which failed), due again
  at `next_attempt_at`;
- `waiting`: pending with no attempt yet in the current round (new, or queued again by a manual
  retry, a replay or a re-enable), due at `next_attempt_at`;
- `succeeded`, `failed`: final (until a retry or replay queues it again).

A lease that ran out (claimed, `next_attempt_at` <= now, still pending) means the worker died or
lost it: the delivery will be claimed again, so it is `waiting` or `retrying`, not `processing`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import ColumnElement, and_, not_

from shared.db import Delivery

State = Literal["processing", "waiting", "retrying", "succeeded", "failed"]
STATES: tuple[State, ...] = get_args(State)
STATE_PATTERN = f"^({'|'.join(STATES)})$"


def delivery_state(
    status: str,
    attempts: int,
    schedule_from: int,
    claimed_at: datetime | None,
    next_attempt_at: datetime | None,
    now: datetime,
) -> State:
    """The state of a delivery row at `now`. Pure."""
    if status == "succeeded":
        return "succeeded"
    if status == "failed":
        return "failed"
    if claimed_at is not None and next_attempt_at is not None and next_attempt_at > now:
        return "processing"
    return "retrying" if attempts > schedule_from else "waiting"


def state_of(d: Delivery, now: datetime) -> State:
    """`delivery_state` of a loaded row."""
    return delivery_state(
        d.status, d.attempts, d.schedule_from, d.claimed_at, d.next_attempt_at, now
    )


def state_clause(state: State, now: datetime) -> ColumnElement[bool]:
    """The rows `delivery_state` puts in `state` at `now`, as a WHERE clause. Written per state
    (not as a CASE over every row) so PostgreSQL can use the indexes on pending rows."""
    if state in ("succeeded", "failed"):
        return Delivery.status == state
    held = and_(
        Delivery.claimed_at.is_not(None),
        Delivery.next_attempt_at.is_not(None),
        Delivery.next_attempt_at > now,
    )  # never NULL (the IS NOT NULLs guard the comparison), so its negation is exact too
    if state == "processing":
        return and_(Delivery.status == "pending", held)
    tried = Delivery.attempts > Delivery.schedule_from
    return and_(
        Delivery.status == "pending", not_(held), tried if state == "retrying" else not_(tried)
    )
