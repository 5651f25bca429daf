"""Ingest integration fixtures: a writer key, event factories, and the app served over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from services.ingest.app import create_app
from shared.auth import Scope
from shared.settings import Settings

EventFactory = Callable[..., dict[str, Any]]


def _strategy(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "company": "OpenAI LP",
        "occurred": "2019-03-11",
        "title": "OpenAI LP created as a capped-profit company",
        "sources": [{"url": "https://openai.com/index/openai-lp/", "publisher": "OpenAI"}],
    }
    data.update(over)
    return data


@pytest.fixture
def strategy() -> EventFactory:
    """A valid StrategyEvent; keyword arguments replace its fields."""
    return _strategy


@pytest.fixture
def envelope() -> EventFactory:
    """A valid structured CloudEvent; keyword arguments replace fields of its data."""

    def make(ce_id: str = "e-1", source: str = "/tests/ingest", **data: Any) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": ce_id,
            "source": source,
            "type": "dev.pivotwatch.strategy.reported",
            "time": "2019-03-11T17:00:00Z",
            "data": _strategy(**data),
        }

    return make


@pytest.fixture
def writer(make_key: Callable[..., str]) -> dict[str, str]:
    return {"authorization": f"Bearer {make_key(Scope.EVENTS_WRITE)}"}


@pytest.fixture
async def ingest(settings: Settings, serve: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The ingest app with the test settings, lifespan running."""
    async with serve(create_app(settings)) as client:
        yield client
