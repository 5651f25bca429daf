"""Enrich integration helpers: stream entries shaped exactly as ingest writes them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest

from shared.events import ARTICLE_TYPE, EVENT_TYPE, event_uuid
from tests.conftest import Servers


@pytest.fixture(autouse=True)
def _clean_dead_letters(migrated: Servers) -> Iterator[None]:
    # The suite-wide `clean` fixture predates this table.
    with psycopg.connect(migrated.database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE dead_letters RESTART IDENTITY")
    yield


def event_entry(
    ce_id: str,
    data: dict[str, Any],
    source: str = "urn:test:enrich",
    time: str | None = None,
) -> dict[str, str]:
    """What the ingest publisher XADDs for one event (without the stream id)."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": ce_id,
        "source": source,
        "type": EVENT_TYPE,
        "data": data,
    }
    if time:
        envelope["time"] = time
    return {
        "id": str(event_uuid(source, ce_id)),
        "kind": "event",
        "ce": orjson.dumps(envelope).decode(),
        "received_at": datetime.now(UTC).isoformat(),
        "cid": "",
    }


def article_entry(
    url: str, article: dict[str, Any], source: str = "urn:test:articles"
) -> dict[str, str]:
    envelope = {
        "specversion": "1.0",
        "id": url,
        "source": source,
        "type": ARTICLE_TYPE,
        "data": {"url": url, **article},
    }
    return {
        "id": str(event_uuid(source, url)),
        "kind": "article",
        "ce": orjson.dumps(envelope).decode(),
        "received_at": datetime.now(UTC).isoformat(),
        "cid": "",
    }


def report(
    title: str,
    occurred: str,
    url: str,
    company: str = "openai",
    summary: str = "",
    publisher: str | None = None,
) -> dict[str, Any]:
    return {
        "company": company,
        "occurred": occurred,
        "title": title,
        "summary": summary,
        "sources": [{"url": url, "publisher": publisher}],
    }
