"""Fault tests: one whole stack per test, a webhook receiver with its subscriptions, and the knobs.

PIVOTWATCH_FAULT_EVENTS (default 2000) sets the load of each test, PIVOTWATCH_FAULT_PG_SECONDS
(default 8) how long PostgreSQL stays down, PIVOTWATCH_FAULT_REDIS_SECONDS (default 4) how long
Redis does; `make test-faults` runs them with 3000 events and a 30 s PostgreSQL outage.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import (
    WEBHOOK_TIMEOUT,
    FaultStack,
    Scenario,
    env_number,
    scenario,
)
from tests.fixtures.receiver import Receiver

EVENTS = int(env_number("PIVOTWATCH_FAULT_EVENTS", 2000))
PG_SECONDS = env_number("PIVOTWATCH_FAULT_PG_SECONDS", 8)
REDIS_SECONDS = env_number("PIVOTWATCH_FAULT_REDIS_SECONDS", 4)
LOAD_SECONDS = 8.0  # the load is spread over this (or over the fault, when that is longer)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(keep_alive=True, sender_timeout=WEBHOOK_TIMEOUT)
    yield r
    r.close()


@pytest.fixture
def sc(tmp_path: Path, receiver: Receiver, request: pytest.FixtureRequest) -> Iterator[Scenario]:
    stack = FaultStack(tmp_path / "pw")
    try:
        stack.start()
        # Letters only: the companies' names (and so their slugs) carry the tag.
        tag = "".join(ch for ch in request.node.originalname.lower() if ch.isalpha())[-16:]
        yield scenario(stack, receiver, tag)
    finally:
        stack.stop()
