"""Property-based requests against every service's OpenAPI: no input yields a server error."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from services.ingest.app import create_app as ingest_app
from services.notify.app import create_app as notify_app
from services.timeline.app import create_app as timeline_app
from shared.settings import Settings
from tests.fixtures.server import serving

EXAMPLES = int(os.environ.get("PIVOTWATCH_FUZZ_EXAMPLES", "15"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("PIVOTWATCH_FUZZ_RANDOM") is None,
)


@pytest.fixture(scope="module")
def ingest_schema(fuzz_settings: Settings) -> Iterator[Any]:
    with serving(ingest_app(fuzz_settings)) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


@pytest.fixture(scope="module")
def timeline_schema(fuzz_settings: Settings) -> Iterator[Any]:
    with serving(timeline_app(fuzz_settings)) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


@pytest.fixture(scope="module")
def notify_schema(fuzz_settings: Settings) -> Iterator[Any]:
    with serving(notify_app(fuzz_settings)) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


def fuzz(schema: Any, headers: dict[str, str] | None = None) -> int:
    """Run every operation of `schema` with generated cases; returns how many operations ran.
    Prints the requests sent and the statuses they got (`make fuzz` shows it)."""
    ran = 0
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
            statuses[response.status_code] += 1

        check()
        ran += 1
    title = schema.raw_schema.get("info", {}).get("title", "?")
    print(f"\nfuzz {title}: {ran} operations, {statuses.total()} requests, {dict(statuses)}")
    return ran


def test_ingest_never_errors(ingest_schema: Any, admin_key: str) -> None:
    assert fuzz(ingest_schema, {"authorization": f"Bearer {admin_key}"}) >= 4


def test_timeline_never_errors(timeline_schema: Any) -> None:
    assert fuzz(timeline_schema) >= 4


def test_notify_never_errors(notify_schema: Any, admin_key: str) -> None:
    assert fuzz(notify_schema, {"authorization": f"Bearer {admin_key}"}) >= 6
