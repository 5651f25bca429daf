"""Timeline tests: data made by the real storage (the worker's `process_chunk`), real servers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from pivotwatch.seed import seed_events
from services.enrich.decide import ChunkResult
from services.enrich.service import process_chunk
from shared.events import EVENT_TYPE, event_uuid

SOURCE = "/tests/timeline"
Store = Callable[..., ChunkResult]


def report(
    ce_id: str, title: str, occurred: str, company: str = "acme-ai", **data: Any
) -> dict[str, Any]:
    """A CloudEvent as a reporter would post it."""
    body: dict[str, Any] = {
        "company": company,
        "occurred": occurred,
        "title": title,
        "sources": [{"url": f"https://news.example/{ce_id}", "publisher": "Example News"}],
    }
    body.update(data)
    return {
        "specversion": "1.0",
        "id": ce_id,
        "source": data.pop("source", SOURCE) if "source" in data else SOURCE,
        "type": EVENT_TYPE,
        "data": body,
    }


def entry(ce: dict[str, Any]) -> dict[str, str]:
    """The ingest-log entry ingest would have written for `ce`."""
    return {
        "id": str(event_uuid(ce["source"], ce["id"])),
        "kind": "event",
        "ce": orjson.dumps(ce).decode(),
        "received_at": datetime.now(UTC).isoformat(),
        "cid": "",
    }


def event_id(ce: dict[str, Any]) -> str:
    return str(event_uuid(ce["source"], ce["id"]))


@pytest.fixture
def store(sessions: sessionmaker[Session], redis_client: Redis) -> Store:
    """Store CloudEvents through the worker's own code path, as one chunk."""

    def run(*ces: dict[str, Any]) -> ChunkResult:
        result = process_chunk(sessions, redis_client, [entry(c) for c in ces], lambda _: None)
        assert not result.rejected, result.rejected
        return result

    return run


@pytest.fixture
def seeded(store: Store) -> list[dict[str, Any]]:
    """The seed timelines in `data/seed/`, stored a file-sized chunk at a time."""
    events = seed_events()
    by_source: dict[str, list[dict[str, Any]]] = {}
    for ce in events:
        by_source.setdefault(ce["source"], []).append(ce)
    for chunk in by_source.values():
        store(*chunk)
    return events
