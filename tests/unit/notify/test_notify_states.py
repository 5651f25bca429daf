"""A delivery's derived state (`delivery_state`) and the listing cursor, as pure functions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.repository import decode_cursor, encode_cursor
from services.notify.states import STATES, delivery_state
from shared.db import Delivery
from shared.errors import InvalidInput

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SOON = NOW + timedelta(seconds=5)
AGO = NOW - timedelta(seconds=5)

# (status, attempts, schedule_from, claimed_at, next_attempt_at) -> state at NOW
CASES = [
    # new, due now or later: waiting for its first attempt
    (("pending", 0, 0, None, NOW), "waiting"),
    (("pending", 0, 0, None, SOON), "waiting"),
    # an attempt failed, the next one is scheduled
    (("pending", 1, 0, None, SOON), "retrying"),
    (("pending", 3, 0, None, AGO), "retrying"),
    # claimed, lease not run out: a worker holds it, first attempt or a retry alike
    (("pending", 0, 0, AGO, SOON), "processing"),
    (("pending", 2, 0, AGO, SOON), "processing"),
    # the lease ran out (the worker died): it will be claimed again
    (("pending", 0, 0, AGO, AGO), "waiting"),
    (("pending", 2, 0, AGO, AGO), "retrying"),
    (("pending", 0, 0, AGO, NOW), "waiting"),  # runs out at exactly now
    (("pending", 0, 0, AGO, None), "waiting"),  # no lease at all: not held
    # a manual retry or replay starts a new round: waiting until its first attempt
    (("pending", 2, 2, None, NOW), "waiting"),
    (("pending", 3, 2, None, SOON), "retrying"),
    (("pending", 2, 2, AGO, SOON), "processing"),
    # final, whatever else the row says
    (("succeeded", 1, 0, None, None), "succeeded"),
    (("failed", 8, 0, None, None), "failed"),
    (("failed", 1, 0, AGO, SOON), "failed"),  # failed by a disable while a worker held it
]


class TestDeliveryState:
    @pytest.mark.parametrize(("row", "state"), CASES)
    def test_state_of_a_row(
        self, row: tuple[str, int, int, datetime | None, datetime | None], state: str
    ) -> None:
        assert delivery_state(*row, now=NOW) == state

    def test_every_state_is_reachable(self) -> None:
        assert {state for _, state in CASES} == set(STATES)


def _delivery(created_at: datetime, sequence: int) -> Delivery:
    return Delivery(id=uuid.uuid4(), created_at=created_at, sequence=sequence)


class TestCursor:
    def test_round_trip(self) -> None:
        d = _delivery(datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC), 42)
        assert decode_cursor(encode_cursor(d)) == (d.created_at, 42, d.id)

    @pytest.mark.parametrize(
        "cursor",
        [
            "",
            "nope",
            "%00",
            "W10",  # []
            "WyIyMDI2LTAxLTAxIiwxLCJ4Il0",  # ["2026-01-01",1,"x"]: naive time, bad id
            "eyJhIjoxfQ",  # {"a":1}
        ],
    )
    def test_anything_else_is_invalid_naming_before(self, cursor: str) -> None:
        with pytest.raises(InvalidInput) as err:
            decode_cursor(cursor)
        assert err.value.field == "before"
