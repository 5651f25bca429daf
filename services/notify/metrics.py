"""Delivery metrics: queue depth, lag, attempt outcomes and the given-up count.

Attempt outcomes (`pivotwatch_webhook_attempts_total{outcome}`, from `shared.metrics`), settled
deliveries by outcome, the lag histogram and the given-up counter are recorded where attempts are
recorded (a notify worker sums its pool processes': shared/procmetrics). Queue depth is read
from PostgreSQL — the queue lives there — whenever the dispatcher runs and whenever `/metrics` of
the notify API is scraped, so it is right whichever process answers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.db import Delivery
from shared.metrics import DELIVERIES

QUEUE_DEPTH = Gauge(
    "pivotwatch_webhook_queue_depth",
    "pending webhook deliveries: due now, or scheduled for a later retry",
    ["state"],
    # A notify worker's pool processes each set it from the same query: the latest is right,
    # and a dead process's value must not linger (shared/procmetrics).
    multiprocess_mode="livemostrecent",
)
LAG = Histogram(
    "pivotwatch_webhook_lag_seconds",
    "seconds from when a delivery attempt was due to when it began",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
GIVEN_UP = Counter(
    "pivotwatch_webhook_given_up_total", "deliveries failed for good (schedule spent, or disabled)"
)
_DELIVERED = Counter(
    "pivotwatch_webhook_deliveries_total",
    "deliveries settled, by outcome: succeeded, or failed for good",
    ["outcome"],
)
# Created up front, so both series exist (at zero) before the first delivery settles.
DELIVERED = {outcome: _DELIVERED.labels(outcome) for outcome in ("succeeded", "failed")}
# The attempts' outcomes (shared.metrics.DELIVERIES), likewise.
for _outcome in ("succeeded", "http_error", "network_error", "refused"):
    DELIVERIES.labels(_outcome)


def _depth_query(now: datetime) -> Select[int, int]:
    due = func.count(case((Delivery.next_attempt_at <= now, 1)))
    later = func.count(case((Delivery.next_attempt_at > now, 1)))
    return select(due, later).where(Delivery.status == "pending")


def refresh_queue_depth(session: Session) -> tuple[int, int]:
    due, later = session.execute(_depth_query(datetime.now(UTC))).one()
    QUEUE_DEPTH.labels("due").set(due)
    QUEUE_DEPTH.labels("scheduled").set(later)
    return int(due), int(later)


async def refresh_queue_depth_async(session: AsyncSession) -> tuple[int, int]:
    due, later = (await session.execute(_depth_query(datetime.now(UTC)))).one()
    QUEUE_DEPTH.labels("due").set(due)
    QUEUE_DEPTH.labels("scheduled").set(later)
    return int(due), int(later)
