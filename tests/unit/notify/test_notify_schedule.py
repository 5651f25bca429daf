"""The retry schedule: its steps, jitter, the end of it, and Retry-After held within bounds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.schedule import next_delay, parse_retry_after

SVIX = [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


class TestNextDelay:
    @pytest.mark.parametrize(("attempts", "expected"), list(enumerate(SVIX)))
    def test_follows_the_schedule_without_jitter(self, attempts: int, expected: float) -> None:
        assert next_delay(attempts, SVIX, 0.0) == expected

    def test_ends_when_the_schedule_is_spent(self) -> None:
        assert next_delay(len(SVIX), SVIX, 0.2) is None
        assert next_delay(len(SVIX) + 5, SVIX, 0.2) is None

    def test_jitter_stays_within_its_fraction(self) -> None:
        rng = random.Random(7)
        delays = [next_delay(2, SVIX, 0.2, rng=rng) for _ in range(500)]
        assert all(d is not None and 240.0 <= d <= 360.0 for d in delays)
        assert len({round(d or 0, 3) for d in delays}) > 100

    def test_the_immediate_first_step_has_no_jitter(self) -> None:
        assert next_delay(0, SVIX, 0.2) == 0.0

    @pytest.mark.parametrize(
        ("retry_after", "expected"),
        [
            (None, 300.0),
            (100.0, 300.0),  # asks for less than the schedule: the schedule wins
            (450.0, 450.0),  # within 2x: honoured
            (86400.0, 600.0),  # a day: held to 2x the scheduled delay
        ],
    )
    def test_retry_after_is_clamped_to_one_to_two_times_the_schedule(
        self, retry_after: float | None, expected: float
    ) -> None:
        assert next_delay(2, SVIX, 0.0, retry_after) == expected


class TestParseRetryAfter:
    def test_seconds(self) -> None:
        assert parse_retry_after("120", datetime.now(UTC)) == 120.0

    def test_http_date(self) -> None:
        now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        header = format_datetime(now + timedelta(seconds=90), usegmt=True)
        assert parse_retry_after(header, now) == 90.0

    def test_a_date_in_the_past_means_now(self) -> None:
        now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "",
            "soon",
            "-5",
            "1.5e9x",
            "1.5",
            "\u00b2",  # '²'.isdigit() is True and float('²') raises
            "\u0663",  # ARABIC-INDIC DIGIT THREE
            "\uff15",  # FULLWIDTH DIGIT FIVE: float() would take it
            "1_0",
            "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",  # a year datetime cannot hold
            "Mon, 01 Jan 2026 00:00:00 -9999",  # an offset timezone() refuses
        ],
    )
    def test_garbage_is_ignored(self, value: str | None) -> None:
        assert parse_retry_after(value, datetime.now(UTC)) is None

    def test_a_huge_number_is_clamped_by_the_schedule(self) -> None:
        seconds = parse_retry_after("9" * 5000, datetime.now(UTC))
        assert seconds is not None
        assert next_delay(2, SVIX, 0.0, seconds) == 2 * SVIX[2]

    @given(st.text())
    def test_never_raises(self, value: str) -> None:
        seconds = parse_retry_after(value, datetime.now(UTC))
        assert seconds is None or seconds >= 0
