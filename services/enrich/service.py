"""What a chunk task does, as plain functions the tests call directly.

Store the chunk in one transaction; after the commit, announce it: the notify fan-out for the new
outbox rows, the change feed for the timeline's live stream, and each event's status for ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.enrich.storage import ChunkResult, store_chunk
from shared.db import Outbox
from shared.metrics import EVENTS_STORED
from shared.redis_keys import TIMELINE_STREAM, TIMELINE_STREAM_MAXLEN, status_key

log = logging.getLogger("pivotwatch.enrich")

SendFanout = Callable[[list[int]], None]


def process_chunk(
    sessions: sessionmaker[Session],
    client: Redis,
    entries: list[dict[str, str]],
    send_fanout: SendFanout,
) -> ChunkResult:
    with sessions() as session, session.begin():
        result = store_chunk(session, entries)
    announce(client, result, send_fanout)
    return result


def announce(client: Redis, result: ChunkResult, send_fanout: SendFanout) -> None:
    if result.outbox_ids:
        send_fanout(result.outbox_ids)
    now = datetime.now(UTC).isoformat()
    pipe = client.pipeline(transaction=False)
    for item in result.feed:
        pipe.xadd(TIMELINE_STREAM, item, maxlen=TIMELINE_STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
    for o in result.outcomes:
        EVENTS_STORED.labels(o.state).inc()
        fields: dict[str, str] = {"stored_at": now, "version": str(o.version)}
        if o.state == "duplicate" and o.duplicate_of:
            fields.update(state="duplicate", duplicate_of=o.duplicate_of)
        else:
            fields["state"] = "stored"
        # Only update a status that ingest created (it carries the TTL); extracted events have none.
        pipe.hset(status_key(o.event_id), mapping=fields)  # type: ignore[arg-type]
    for event_id, reason in result.rejected.items():
        pipe.hset(status_key(event_id), mapping={"state": "rejected", "reason": reason})
    for article_id, event_ids in result.articles.items():
        pipe.hset(
            status_key(article_id),
            mapping={
                "state": "stored",
                "stored_at": now,
                "events": orjson.dumps(event_ids).decode(),
            },
        )
    pipe.execute()
    for o in result.outcomes:
        log.info("event %s", o.state, extra={"event_id": o.event_id, "version": o.version})


def sweep_outbox(
    sessions: sessionmaker[Session], older_than: float, send_fanout: SendFanout
) -> int:
    """Re-dispatch outbox rows committed but never announced (the worker died after commit)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
    with sessions() as session, session.begin():
        ids = list(
            session.scalars(
                select(Outbox.id)
                .where(Outbox.processed_at.is_(None), Outbox.created_at < cutoff)
                .where((Outbox.dispatched_at.is_(None)) | (Outbox.dispatched_at < cutoff))
                .order_by(Outbox.id)
                .limit(1000)
                .with_for_update(skip_locked=True)
            )
        )
        if ids:
            session.execute(
                update(Outbox).where(Outbox.id.in_(ids)).values(dispatched_at=datetime.now(UTC))
            )
    if ids:
        send_fanout(ids)
        log.warning("re-dispatched %d outbox rows", len(ids))
    return len(ids)
