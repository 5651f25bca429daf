"""What a chunk task does, as plain functions the tests call directly.

Store the chunk in one transaction; after the commit, announce it: the notify fan-out for the new
outbox rows, the change feed for the timeline's live stream, and each event's status for ingest.

A chunk that fails for a reason other than a lost connection is split in halves and each half
retried at once, down to single entries, so the good entries of a chunk are stored and only the
entry that fails (a poison message) is set aside: retried alone a few times, then dead-lettered.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from celery.exceptions import SoftTimeLimitExceeded
from kombu.exceptions import OperationalError as BrokerUnavailable
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.enrich import deadletter
from services.enrich.decide import ChunkResult, Outcome, store_chunk
from services.enrich.persist import ConcurrentWrite
from shared import feed, procmetrics, tracing
from shared.db import Outbox
from shared.metrics import EVENTS_STORED
from shared.redis_keys import status_key

log = logging.getLogger("pivotwatch.enrich")

SendFanout = Callable[[list[int]], None]
# As long as ingest keeps a status (Settings.status_ttl_seconds' default): process_chunk's
# signature is shared with other services' tests, so the value is not passed in.
STATUS_TTL_SECONDS = 7 * 24 * 3600
Requeue = Callable[[dict[str, str]], None]

_STORE_HOP = procmetrics.hop("store")
_ANNOUNCE_HOP = procmetrics.hop("announce")
_VISIBLE_HOP = procmetrics.hop("visible")


@dataclass(slots=True)
class Clock:
    """When a chunk passed the hops after the ingest log (epoch seconds; None: not known, e.g.
    a retried or requeued chunk has no publish time of its own). The task sets `published` and
    `started`, `process_chunk` `stored` once the commit returned; `announce` writes them into
    each event's status, beside the entry's `received_at` and `read_at`, and times the hops."""

    published: float | None = None
    started: float | None = None
    stored: float | None = None


# Failures that say nothing about the entries (a lost connection, a deadlock, a concurrent write,
# the time limit): the whole chunk is retried later, nobody is dead-lettered for them. Celery's
# broker being unreachable when the fan-out is sent surfaces as kombu's own OperationalError.
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    BrokerUnavailable,
    ConcurrentWrite,
    SoftTimeLimitExceeded,
)


# KEYS: the entries' status keys; ARGV: since (ISO time), worker id. Only what still waits turns
# to processing: a status already stored, duplicate or rejected (a redelivered chunk) stays.
_MARK_PROCESSING = """
for _, key in ipairs(KEYS) do
  local state = redis.call('HGET', key, 'state')
  if state == 'accepted' or state == 'processing' then
    redis.call('HSET', key, 'state', 'processing', 'processing_since', ARGV[1], 'worker', ARGV[2])
  end
end
return 0
"""


def mark_processing(client: Redis, entries: list[dict[str, str]], worker: str | None) -> None:
    """Say that a worker holds these entries now (their status, for ingest's status route)."""
    if not worker:
        return  # run outside a worker (a test, a command): nobody to say it holds them
    keys = [status_key(e["id"]) for e in entries if e.get("id")]
    if keys:
        client.eval(_MARK_PROCESSING, len(keys), *keys, datetime.now(UTC).isoformat(), worker or "")


def process_chunk(
    sessions: sessionmaker[Session],
    client: Redis,
    entries: list[dict[str, str]],
    send_fanout: SendFanout,
    cpu_seconds: float | None = None,
    clock: Clock | None = None,
) -> ChunkResult:
    with tracing.span("enrich.store", attributes={"pivotwatch.entries": len(entries)}) as span:
        with sessions() as session, session.begin():
            result = store_chunk(session, entries, cpu_seconds)
        if span is not None:
            span.set_attribute("pivotwatch.stored", len(result.outcomes))
    clock = clock or Clock()
    clock.stored = time.time()
    announce(client, result, send_fanout, entries, clock)
    for entry, reason in result.over_budget:
        # Dead at once: running it again would cost the same budget again, for nothing.
        failure = deadletter.record_failure(sessions, entry, reason, max_attempts=1)
        log.error("entry %s dead-lettered: %s", failure.entry_id, reason)
        _mark_dead(client, failure.entry_id, reason)
        result.failed.append(failure.entry_id)
    return result


def _mark_dead(client: Redis, entry_id: str, reason: str) -> None:
    key = status_key(entry_id)
    client.hset(key, mapping={"state": "rejected", "reason": reason[:500]})
    client.expire(key, STATUS_TTL_SECONDS)


def process_resilient(
    sessions: sessionmaker[Session],
    client: Redis,
    entries: list[dict[str, str]],
    send_fanout: SendFanout,
    *,
    max_attempts: int,
    requeue: Requeue,
    cpu_seconds: float | None = None,
    clock: Clock | None = None,
) -> ChunkResult:
    """`process_chunk`, isolating an entry that makes the chunk fail (see the module docstring).

    Transient failures propagate (the caller retries the whole chunk). Returns what was stored.
    """
    try:
        return process_chunk(sessions, client, entries, send_fanout, cpu_seconds, clock)
    except TRANSIENT:
        raise
    except Exception as exc:
        if len(entries) > 1:
            log.warning("chunk of %d failed (%s); splitting it", len(entries), exc)
            mid = len(entries) // 2
            total = ChunkResult()
            for half in (entries[:mid], entries[mid:]):
                part = process_resilient(
                    sessions,
                    client,
                    half,
                    send_fanout,
                    max_attempts=max_attempts,
                    requeue=requeue,
                    cpu_seconds=cpu_seconds,
                    clock=clock,
                )
                total.outcomes += part.outcomes
                total.outbox_ids += part.outbox_ids
                total.feed += part.feed
                total.rejected.update(part.rejected)
                total.articles.update(part.articles)
                total.failed += part.failed
            return total
        entry = entries[0]
        error = f"{type(exc).__name__}: {exc}"
        failure = deadletter.record_failure(sessions, entry, error, max_attempts)
        if failure.dead:
            log.error(
                "entry %s dead-lettered after %d attempts: %s",
                failure.entry_id,
                failure.attempts,
                error,
            )
            key = status_key(failure.entry_id)
            reason = f"dead-lettered after {failure.attempts} attempts: {error}"[:500]
            client.hset(key, mapping={"state": "rejected", "reason": reason})
            client.expire(key, STATUS_TTL_SECONDS)
        else:
            log.warning(
                "entry %s failed (attempt %d of %d): %s",
                failure.entry_id,
                failure.attempts,
                max_attempts,
                error,
            )
            requeue(entry)
        return ChunkResult(failed=[failure.entry_id])


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def announce(
    client: Redis,
    result: ChunkResult,
    send_fanout: SendFanout,
    entries: list[dict[str, str]] | None = None,
    clock: Clock | None = None,
) -> None:
    if result.outbox_ids:
        send_fanout(result.outbox_ids)
    stored = clock.stored if clock is not None and clock.stored is not None else time.time()
    now = _iso(stored)
    # The hops' times, written into each event's status: the chunk's, and the entry's own
    # (an event extracted from an article has its article's entry).
    chunk_times = _chunk_times(clock)
    by_id = _entries_by_id(entries, result.articles)
    owners = _article_owners(client, result.articles)
    pipe = client.pipeline(transaction=False)
    feed.queue(pipe, result.feed)
    for o in result.outcomes:
        EVENTS_STORED.labels(o.state).inc()
        fields = _status_fields(o, now, chunk_times, by_id, owners)
        # Events extracted from an article have no status ingest created (with its TTL): give
        # every status written here a TTL, or those keys would stay in Redis for ever.
        pipe.hset(status_key(o.event_id), mapping=fields)  # type: ignore[arg-type]
        pipe.expire(status_key(o.event_id), STATUS_TTL_SECONDS)
    for event_id, reason in result.rejected.items():
        pipe.hset(status_key(event_id), mapping={"state": "rejected", "reason": reason})
        pipe.expire(status_key(event_id), STATUS_TTL_SECONDS)
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
    _observe_hops(result, by_id, clock, stored, time.time())
    for o in result.outcomes:
        log.info("event %s", o.state, extra={"event_id": o.event_id, "version": o.version})


def _chunk_times(clock: Clock | None) -> dict[str, str]:
    """The chunk's hop times (published, started) as written into each event's status."""
    chunk_times: dict[str, str] = {}
    if clock is not None:
        if clock.published is not None:
            chunk_times["published_at"] = _iso(clock.published)
        if clock.started is not None:
            chunk_times["started_at"] = _iso(clock.started)
    return chunk_times


def _entries_by_id(
    entries: list[dict[str, str]] | None, articles: dict[str, list[str]]
) -> dict[str, dict[str, str]]:
    """Each event's stream entry by event id; an event extracted from an article has its
    article's entry (unless it has its own)."""
    by_id = {e["id"]: e for e in entries or () if e.get("id")}
    for article_id, event_ids in articles.items():
        if article_id in by_id:
            for event_id in event_ids:
                by_id.setdefault(event_id, by_id[article_id])
    return by_id


def _status_fields(
    o: Outcome,
    now: str,
    chunk_times: dict[str, str],
    by_id: dict[str, dict[str, str]],
    owners: dict[str, str],
) -> dict[str, str]:
    """The status an event stored gets: when, its version, the hops' times, the key that may
    read it, and whether it was stored or found a duplicate."""
    fields: dict[str, str] = {"stored_at": now, "version": str(o.version), **chunk_times}
    read_at = by_id[o.event_id].get(procmetrics.READ_AT) if o.event_id in by_id else None
    if read_at:
        fields["read_at"] = _iso(float(read_at))
    if o.event_id in owners:  # extracted from an article: readable by the article's key
        fields["key"] = owners[o.event_id]
    if o.state == "duplicate" and o.duplicate_of:
        fields.update(state="duplicate", duplicate_of=o.duplicate_of)
    else:
        fields["state"] = "stored"
    return fields


def _observe_hops(
    result: ChunkResult,
    by_id: dict[str, dict[str, str]],
    clock: Clock | None,
    stored: float,
    announced: float,
) -> None:
    """Per event stored: the store hop (task start to commit), the announce hop (commit to the
    change feed) and 202 -> visible (ingest's receipt to the change feed)."""
    started = clock.started if clock is not None else None
    received: dict[str, float] = {}
    for o in result.outcomes:
        if started is not None:
            _STORE_HOP.observe(max(0.0, stored - started))
        _ANNOUNCE_HOP.observe(max(0.0, announced - stored))
        entry = by_id.get(o.event_id)
        text = entry.get("received_at") if entry is not None else None
        if text:
            at = received.get(text)
            if at is None:
                with contextlib.suppress(ValueError):
                    at = received[text] = datetime.fromisoformat(text).timestamp()
            if at is not None:
                _VISIBLE_HOP.observe(max(0.0, announced - at))


def _article_owners(client: Redis, articles: dict[str, list[str]]) -> dict[str, str]:
    """Event id -> the key that posted the article it was extracted from (ingest keeps the
    poster in the article's status, `key`)."""
    if not articles:
        return {}
    ids = list(articles)
    pipe = client.pipeline(transaction=False)
    for article_id in ids:
        pipe.hget(status_key(article_id), "key")
    out: dict[str, str] = {}
    for article_id, key in zip(ids, pipe.execute(), strict=True):
        if key:
            owner = key.decode() if isinstance(key, bytes) else str(key)
            out.update(dict.fromkeys(articles[article_id], owner))
    return out


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
