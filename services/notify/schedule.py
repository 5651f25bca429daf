"""When to try a failed delivery again: the schedule, jitter, and a bounded Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(
    attempts: int,
    schedule: list[float],
    jitter: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after `attempts` made, or None when the schedule is spent.

    Retry-After is honoured but clamped to 1x-2x the scheduled delay, so a receiver can slow us
    down without parking a delivery for days.
    """
    if attempts >= len(schedule):
        return None
    base = float(schedule[attempts])
    r = rng or random.Random()
    delay = base * (1 + r.uniform(-jitter, jitter)) if base > 0 else 0.0
    if retry_after is not None:
        delay = min(max(delay, retry_after), max(base * 2, delay))
    return max(0.0, delay)
