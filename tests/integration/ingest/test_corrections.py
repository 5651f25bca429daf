"""A re-post under the same source+id: the same content is a duplicate, other content a correction
that reaches storage as a new version."""

from __future__ import annotations

from typing import Any

import orjson
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.enrich.relay import entries_from_stream
from services.enrich.service import process_chunk
from shared.db import Event, EventVersion
from shared.redis_keys import INGEST_STREAM

STRUCTURED = {"content-type": "application/cloudevents+json"}


class TestCorrections:
    async def test_changed_content_is_a_correction_and_a_new_version(
        self,
        ingest: Any,
        writer: dict[str, str],
        envelope: Any,
        sessions: sessionmaker[Session],
        redis_client: Redis,
    ) -> None:
        headers = {**writer, **STRUCTURED}
        first = await ingest.post("/v1/events", content=orjson.dumps(envelope()), headers=headers)
        same = await ingest.post("/v1/events", content=orjson.dumps(envelope()), headers=headers)
        fixed = envelope(summary="Returns for first-round investors are capped at 100x.")
        corrected = await ingest.post("/v1/events", content=orjson.dumps(fixed), headers=headers)

        assert first.json()["correction"] is False
        assert same.json()["duplicate"] is True
        body = corrected.json()
        assert corrected.status_code == 202
        assert body["id"] == first.json()["id"]
        assert body["duplicate"] is False and body["correction"] is True
        assert redis_client.xlen(INGEST_STREAM) == 2

        entries = entries_from_stream(redis_client.xrange(INGEST_STREAM))
        process_chunk(sessions, redis_client, entries, lambda ids: None)
        with sessions() as session:
            event = session.scalars(select(Event)).one()
            versions = session.scalars(
                select(EventVersion.version).order_by(EventVersion.version)
            ).all()
        assert event.version == 2
        assert event.summary.startswith("Returns for first-round investors")
        assert list(versions) == [1, 2]

    async def test_a_repeated_correction_is_a_duplicate(
        self, ingest: Any, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        headers = {**writer, **STRUCTURED}
        fixed = envelope(summary="Corrected summary.")
        await ingest.post("/v1/events", content=orjson.dumps(envelope()), headers=headers)
        await ingest.post("/v1/events", content=orjson.dumps(fixed), headers=headers)
        again = await ingest.post("/v1/events", content=orjson.dumps(fixed), headers=headers)
        assert again.json()["duplicate"] is True
        assert redis_client.xlen(INGEST_STREAM) == 2
