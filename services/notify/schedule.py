"""When to try a failed delivery again: the schedule, jitter, and a bounded Retry-After."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# delay-seconds is ASCII digits only (RFC 9110 10.2.3): `str.isdigit` also takes '²' or '٣',
# which `float` then refuses.
_SECONDS = re.compile(r"[0-9]+")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a receiver's Retry-After asks for (ASCII digits or an HTTP date), or None for
    anything else: whatever a receiver sends, this never raises."""
    if not value:
        return None
    value = value.strip(" \t")
    if _SECONDS.fullmatch(value):
        return float(value)  # a huge value is inf, which next_delay clamps
    if not value.isascii():
        return None
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    except (TypeError, ValueError, OverflowError, IndexError):
        # A date the parser takes apart but datetime cannot hold (year 10**20, offset -99:99).
        return None


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
