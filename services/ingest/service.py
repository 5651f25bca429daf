"""What the ingest API does, without HTTP: events (single and batch) and articles checked against
the posting key, its rate and the ingest log's room, then published; an event's status read back
for the key that posted it; the operator's pipeline report. Routes are in `endpoints.py`;
failures are the domain errors of `shared.errors`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.modes import (
    JSON,
    Accepted,
    Parsed,
    Rejected,
    media_type,
    nul_field,
    parse_batch,
    parse_single,
)
from services.ingest.publisher import FORBIDDEN, FULL, Entry, Outcome, Poster, Publisher, Rejection
from services.ingest.ratelimit import RateLimiter
from services.ingest.schemas import EventStatus
from shared import opstatus, tracing
from shared.auth import Cached, Principal, PrincipalCache, Scope, hash_key, lookup
from shared.content_hash import content_hash
from shared.errors import (
    UNAVAILABLE_ERRORS,
    DependencyUnavailable,
    Forbidden,
    NotFound,
    PivotwatchError,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
    from_validation_error,
    unavailable,
)
from shared.events import ARTICLE_TYPE, Article, event_uuid
from shared.http import EVENT_ID_DETAIL, path_uuid
from shared.logs import correlation_id
from shared.metrics import EVENTS_ACCEPTED, EVENTS_REJECTED
from shared.redis_keys import status_key, worker_key
from shared.settings import Settings

Body = Callable[[int], Awaitable[bytes]]
"""The request body, read when the service asks for it and refused (413) past the given limit;
asked for after the checks that come first (the key, the rate), so a refused post is not read."""

_NOT_WRITTEN = "Redis is unreachable; nothing was written, retry later"
_UNKNOWN_KEY = "the API key is unknown or revoked"
_FULL_RETRY_AFTER = 5  # the workers drain a full log at hundreds to thousands of events a second

# An article costs its extraction's work: one token per started ARTICLE_TOKEN_CHARS of its text.
ARTICLE_TOKEN_CHARS = 4096


@dataclass(frozen=True, slots=True)
class IngestState:
    """The clients ingest works with, built in the app's lifespan."""

    redis: aioredis.Redis
    publisher: Publisher
    principals: PrincipalCache
    limiter: RateLimiter
    # Only the operator's /v1/status reads PostgreSQL: accepting events never waits on it.
    engine: AsyncEngine | None


def article_cost(text: str) -> int:
    """Rate-limit tokens an article's text costs (at least one)."""
    return max(1, -(-len(text) // ARTICLE_TOKEN_CHARS))


def _status_url(event_id: str) -> str:
    return f"/v1/events/{event_id}/status"


def _rate_limited(limiter: RateLimiter, wait: int) -> RateLimited:
    return RateLimited(
        f"rate limit of {limiter.rate:g} events/s for this key exceeded", retry_after=wait
    )


async def _limit(state: IngestState, principal: Principal, cost: int) -> None:
    with unavailable("Redis is unreachable; nothing was written"):
        wait = await state.limiter.take(principal.key_id, cost)
    if wait is not None:
        raise _rate_limited(state.limiter, wait)


def _poster(principal: Principal) -> Poster:
    """An admin key may post under any source; any other only under its own (see publisher)."""
    return Poster(principal.key_id, Scope.ADMIN.value in principal.scopes)


def _foreign(source: str, prefix: str = "") -> Forbidden:
    return Forbidden(
        f"source '{source}' belongs to another API key: the first key to post under a source "
        "owns it; post under a source of your own",
        field=f"{prefix}.source" if prefix else "source",
    )


async def _publish(
    state: IngestState,
    poster: Poster,
    entries: list[Entry],
    rejections: list[Rejection] | None = None,
) -> list[Outcome]:
    with unavailable(_NOT_WRITTEN):
        outcomes = await state.publisher.publish(poster, entries, rejections)
    written = sum(1 for o in outcomes if o.written)
    EVENTS_ACCEPTED.inc(written)
    refused = sum(1 for o in outcomes if o.state == FULL)
    if refused:
        raise _full(
            state.publisher,
            f"{refused} of {len(entries)} not written"
            + (f" ({written} were; posting them again answers 'duplicate')" if written else ""),
        )
    return outcomes


def _full(publisher: Publisher, what: str) -> DependencyUnavailable:
    """The ingest log holds as many entries as it may: the workers are that far behind."""
    return DependencyUnavailable(
        f"the ingest log holds {publisher.max_waiting} or more events the workers have not taken "
        f"yet; {what}, retry later",
        retry_after=_FULL_RETRY_AFTER,
    )


def _entry(parsed: Accepted) -> Entry:
    ev = parsed.event
    # What the reporter said (data and time), not when it was received.
    digest = content_hash(ev.data.model_dump(mode="json"), ev.time)
    cid = correlation_id.get() or ""
    return Entry(
        str(ev.event_id), "event", parsed.encoded, cid, ev.source, digest, tracing.traceparent()
    )


def _reason(error: PivotwatchError) -> str:
    return f"{error.field}: {error.detail}" if error.field else error.detail


def _rejections(items: list[Rejected]) -> list[Rejection]:
    return [Rejection(r.event_id, _reason(r.error), r.source) for r in items if r.event_id]


def _result(parsed: Accepted, outcome: Outcome) -> dict[str, Any]:
    return {
        "index": parsed.index,
        "id": outcome.event_id,
        "source": parsed.event.source,
        "ce_id": parsed.event.id,
        "status": "accepted" if outcome.written else "duplicate",
        "duplicate": not outcome.written,
        "correction": outcome.correction,
        "status_url": _status_url(outcome.event_id),
    }


def _rejection(r: Rejected) -> dict[str, Any]:
    EVENTS_REJECTED.labels(r.error.code).inc()
    known = {"id": r.event_id, "status_url": _status_url(r.event_id)} if r.event_id else {}
    return {"index": r.index, "status": "rejected", **known, **r.error.body()}


async def _record_rejection(state: IngestState, poster: Poster, rejected: Rejected) -> None:
    """Remember why an identifiable event was refused, for its status; best effort."""
    if rejected.event_id is None:
        return
    try:
        await state.publisher.publish(poster, [], _rejections([rejected]))
    except UNAVAILABLE_ERRORS:
        return  # the 422/413 itself is the answer; the status is a convenience


async def post_event(
    state: IngestState, settings: Settings, token: str, headers: Mapping[str, str], body: Body
) -> dict[str, Any]:
    """Publish one event posted with the key `token`; its result (accepted or duplicate)."""
    # One Redis round trip for a good event: the key comes from an in-process cache, and one
    # script checks that the key is still current, takes the rate token and publishes.
    cached = await _cached_writer(state, token)
    principal = cached.principal
    try:
        raw = await body(min(settings.max_request_bytes, settings.max_event_bytes * 2))
        parsed = parse_single(headers, raw, principal.key_id, settings.max_event_bytes)
    except PivotwatchError:
        await _recheck(state, token, cached)
        raise
    if isinstance(parsed, Rejected):
        await _recheck(state, token, cached)
        EVENTS_REJECTED.labels(parsed.error.code).inc()
        await _record_rejection(state, _poster(principal), parsed)
        if parsed.event_id:
            parsed.error.extra.update(id=parsed.event_id, status_url=_status_url(parsed.event_id))
        raise parsed.error
    entry = _entry(parsed)
    limiter, publisher = state.limiter, state.publisher
    for _attempt in range(2):
        with unavailable(_NOT_WRITTEN):
            done = await publisher.publish_one(
                entry, _poster(principal), cached.generation, limiter.args(1)
            )
        if isinstance(done, Outcome):
            if done.state == FULL:
                raise _full(publisher, "nothing was written")
            if done.state == FORBIDDEN:
                raise _foreign(parsed.event.source)
            EVENTS_ACCEPTED.inc(int(done.written))
            return _result(parsed, done)
        if not done.stale:
            raise _rate_limited(limiter, limiter.wait_seconds(done.wait_ms))
        # A key was revoked (or the mirror rebuilt) since this one was cached: look it up again.
        state.principals.forget(hash_key(token))
        cached = await _cached_writer(state, token)
    raise DependencyUnavailable("the API key mirror keeps changing; retry", retry_after=1)


async def _cached_writer(state: IngestState, token: str) -> Cached:
    """The caller's principal (cached, see `PrincipalCache`), with the events:write scope."""
    with unavailable():
        cached = await state.principals.lookup(state.redis, token, time.monotonic())
    if cached is None:
        raise Unauthorized(_UNKNOWN_KEY, field="authorization")
    if not cached.principal.allows(Scope.EVENTS_WRITE):
        raise Forbidden(
            f"this key lacks the '{Scope.EVENTS_WRITE.value}' scope", field="authorization"
        )
    return cached


async def _recheck(state: IngestState, token: str, cached: Cached) -> None:
    """Before answering a bad event: the key is still valid (uncached) and its rate allows it,
    so a revoked key learns nothing and a flood of bad events is refused like good ones."""
    with unavailable():
        principal = await lookup(state.redis, token)
    if principal is None or principal.key_id != cached.principal.key_id:
        raise Unauthorized(_UNKNOWN_KEY, field="authorization")
    await _limit(state, principal, 1)


async def post_batch(
    state: IngestState,
    settings: Settings,
    principal: Principal,
    headers: Mapping[str, str],
    body: Body,
) -> tuple[dict[str, Any], int]:
    """Publish a batch; its report and status: 202, or 403/422 when every event was refused."""
    raw = await body(settings.max_request_bytes)
    items: list[Parsed] = parse_batch(
        headers, raw, principal.key_id, settings.max_event_bytes, settings.max_batch_events
    )
    if items:
        await _limit(state, principal, len(items))
    accepted = [p for p in items if isinstance(p, Accepted)]
    rejected = [p for p in items if isinstance(p, Rejected)]
    # One round trip for the whole batch, rejections' statuses included. The same event twice
    # in one batch is written once: the script sees the first one's status.
    poster = _poster(principal)
    outcomes = await _publish(state, poster, [_entry(p) for p in accepted], _rejections(rejected))
    results: list[dict[str, Any]] = []
    for p, o in zip(accepted, outcomes, strict=True):
        if o.state == FORBIDDEN:
            # Refused like an invalid entry, by itself: the batch's other entries stand.
            rejected.append(Rejected(p.index, _foreign(p.event.source, str(p.index))))
        else:
            results.append(_result(p, o))
    results += [_rejection(p) for p in rejected]
    results.sort(key=lambda r: int(r["index"]))
    counts = {
        "accepted": sum(1 for r in results if r["status"] == "accepted"),
        "duplicate": sum(1 for r in results if r["status"] == "duplicate"),
        "rejected": len(rejected),
    }
    status = 202
    if items and len(rejected) == len(items):
        status = 403 if all(isinstance(r.error, Forbidden) for r in rejected) else 422
    return {**counts, "results": results}, status


async def post_article(
    state: IngestState,
    settings: Settings,
    principal: Principal,
    headers: Mapping[str, str],
    body: Body,
) -> dict[str, Any]:
    """Queue an article for event extraction; charged by the length of its text."""
    await _limit(state, principal, 1)
    if media_type(headers) not in (JSON, ""):
        raise UnsupportedMediaType(
            f"unsupported content type '{media_type(headers)}'; use {JSON}",
            field="content-type",
        )
    raw = await body(settings.max_request_bytes)
    try:
        article = Article.model_validate_json(raw)
    except ValidationError as exc:
        raise from_validation_error(exc) from exc
    nul = nul_field(article.model_dump())
    if nul is not None:
        raise nul.with_prefix("")
    # The first token was taken before reading it; the whole is capped at the burst, as a batch's.
    if (extra := state.limiter.cost(article_cost(article.text)) - 1) > 0:
        await _limit(state, principal, extra)
    source = f"urn:pivotwatch:article:{principal.key_id}"
    ce_id = str(article.url)
    article_id = str(event_uuid(source, ce_id))
    envelope = {
        "specversion": "1.0",
        "id": ce_id,
        "source": source,
        "type": ARTICLE_TYPE,
        "data": article.model_dump(mode="json", exclude_none=True),
    }
    cid = correlation_id.get() or ""
    entry = Entry(
        article_id,
        "article",
        orjson.dumps(envelope),
        cid,
        source,
        traceparent=tracing.traceparent(),
    )
    (outcome,) = await _publish(state, _poster(principal), [entry])
    return {
        "id": article_id,
        "status": "accepted" if outcome.written else "duplicate",
        "duplicate": not outcome.written,
        "correction": outcome.correction,
        "status_url": _status_url(article_id),
    }


_STATUS_FIELDS = (
    "kind",
    "received_at",
    "read_at",
    "published_at",
    "started_at",
    "stored_at",
    "reason",
    "duplicate_of",
    "events",
)


async def event_status(
    redis: aioredis.Redis, settings: Settings, principal: Principal, event_id: str
) -> dict[str, Any]:
    """Where an event is in the pipeline, for the key that posted it (or an admin)."""
    path_uuid(event_id, "event_id", EVENT_ID_DETAIL)  # validated only: the key uses it as sent
    with unavailable("Redis is unreachable"):
        raw: Any = await redis.hgetall(status_key(event_id))
    fields = {k.decode(): v.decode() for k, v in (raw or {}).items()}
    # Another key's event is answered as unknown, so that its existence is not revealed. A status
    # with no owner (the events the worker extracted from an article) is an admin's to read.
    if not fields or (
        fields.get("key") != principal.key_id and Scope.ADMIN.value not in principal.scopes
    ):
        days = settings.status_ttl_seconds / 86400
        raise NotFound(
            f"no event with this id was received in the last {days:g} days", field="event_id"
        )
    out: dict[str, Any] = {"id": event_id, "status": fields.get("state", "accepted")}
    if out["status"] == "processing":
        with unavailable("Redis is unreachable"):
            held = bool(await redis.exists(worker_key(fields.get("worker", ""))))
        if held:
            out["processing_since"] = fields.get("processing_since")
        else:
            # The worker that took it stopped before finishing: its chunk goes back to the queue
            # (shared/workers.py), so the event waits again.
            out["status"] = "accepted"
            out["detail"] = (
                "the worker that was processing it stopped; it is queued again "
                f"(taken at {fields.get('processing_since', '?')})"
            )
    for name in _STATUS_FIELDS:
        if name in fields:
            out[name] = fields[name]
    if out["status"] in ("stored", "duplicate") and fields.get("kind") != "article":
        out["timeline_url"] = f"/v1/events/{fields.get('duplicate_of') or event_id}"
    return EventStatus.model_validate(out).model_dump(exclude_none=True)


async def pipeline_status(state: IngestState) -> dict[str, Any]:
    """The operator's view (`pivotwatch status --json` prints the same report)."""
    return await opstatus.collect(state.redis, state.engine)
