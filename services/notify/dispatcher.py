"""Sending claimed deliveries: each target vetted again (the SSRF guard), the body signed and
POSTed on the process's sender loop, the outcomes recorded; and the dispatcher pass beat runs
(leases of dead workers released, due deliveries claimed and sent). Outbox rows become
deliveries, and deliveries are claimed, in `repository.py`; here deliveries become signed POSTs.

Every attempt ends as its delivery's recorded outcome, whatever the receiver does: an exception
in one attempt (a malformed answer, a name that cannot be sent, a bug) becomes that attempt's
error, never the batch's, and what is written is cleaned first (`repository.sanitized`), so one
hostile receiver cannot keep a batch from being recorded and the other endpoints' deliveries
from settling.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.notify.http1 import HTTPError
from services.notify.metrics import refresh_queue_depth
from services.notify.repository import (
    ERROR_CHARS,
    EXCERPT_BYTES,
    SEND_CONCURRENCY,
    Claimed,
    Result,
    claim,
    clean_text,
    outcome_of,
    record,
    sanitized,
)
from services.notify.schedule import parse_retry_after
from services.notify.sender import Sender, sender
from services.notify.ssrf import Target, UnsafeTarget, VetCache, is_literal, parse_url, vet
from shared import tracing, workers
from shared.settings import Settings
from shared.webhooks import signature_header

log = logging.getLogger("pivotwatch.notify")


async def _vet(s: Sender, url: str, settings: Settings) -> Target:
    """Vetted again at every delivery: DNS may now answer differently (rebinding), and the
    allowed networks may have changed since the subscription was made. An IP address in the URL
    is checked inline (no lookup); a host name's vetted address is reused for
    `webhook_vet_cache_seconds`, and concurrent checks of one name share a single lookup."""
    allow_private = settings.allow_private_webhook_targets
    networks = settings.webhook_allow_networks
    key = VetCache.key(url, allow_private, networks)
    if is_literal(key[1]):
        return vet(url, allow_private, networks)
    hit = s.vetted.get(url, key)
    if hit is not None:
        return hit
    pending = s.vetting.get(key)
    if pending is None:
        pending = s.vetting[key] = asyncio.ensure_future(
            asyncio.to_thread(vet, url, allow_private, networks)
        )
        pending.add_done_callback(lambda _: s.vetting.pop(key, None))
    target = await asyncio.shield(pending)
    s.vetted.put(key, target, settings.webhook_vet_cache_seconds)
    scheme, host, port, path = parse_url(url)  # the same host and port; this URL's path
    return Target(url, scheme, host, port, path, target.address)


def _error(exc: BaseException) -> str:
    name, message = type(exc).__name__, str(exc)
    return clean_text(f"{name}: {message}" if message else name, ERROR_CHARS)


def host_header(target: Target) -> str:
    """The Host header for `target`: the name as IDNA A-labels (ASCII), an IPv6 literal in
    brackets, the port when it is not the scheme's default."""
    host = target.host
    if not host.isascii():
        host = host.encode("idna").decode("ascii")  # parse_url refuses these; a stored old URL
    if ":" in host:
        host = f"[{ipaddress.ip_address(host.split('%', 1)[0]).compressed}]"
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


async def _send_one(s: Sender, c: Claimed, settings: Settings) -> Result:
    """One attempt, and its outcome whatever happens in it: this never raises (short of the
    loop being cancelled), so one delivery cannot fail the batch it is sent in."""
    wait = (c.send_at - datetime.now(UTC)).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    started_at = datetime.now(UTC)
    start = time.perf_counter()
    try:
        if tracing.enabled():
            return await _traced_attempt(s, c, settings, started_at, start)
        return await _attempt(s, c, settings, started_at, start)
    except Exception as exc:
        log.warning(
            "webhook attempt failed unexpectedly",
            exc_info=True,
            extra={"delivery_id": str(c.id), "subscription_id": str(c.subscription_id)},
        )
        ms = (time.perf_counter() - start) * 1000
        return Result(c.id, started_at, c.due_at, None, ms, "", _error(exc))


async def _traced_attempt(
    s: Sender, c: Claimed, settings: Settings, started_at: datetime, start: float
) -> Result:
    """The attempt as a span of the trace its delivery was created in (the fan-out's)."""
    attrs: dict[str, str | int] = {
        "pivotwatch.delivery_id": str(c.id),
        "pivotwatch.attempt": c.attempts + 1,
    }
    with tracing.span(
        "webhook.attempt", kind="client", parent=c.traceparent, attributes=attrs
    ) as span:
        result = await _attempt(s, c, settings, started_at, start)
        if span is not None:
            span.set_attribute("pivotwatch.outcome", outcome_of(result))
            if result.status_code is not None:
                span.set_attribute("http.response.status_code", result.status_code)
        return result


async def _attempt(
    s: Sender, c: Claimed, settings: Settings, started_at: datetime, start: float
) -> Result:
    try:
        target = await _vet(s, c.url, settings)
    except UnsafeTarget as exc:
        error = clean_text(f"refused: {exc}", ERROR_CHARS)
        return Result(c.id, started_at, c.due_at, None, 0.0, "", error, refused=True)
    timestamp = int(time.time())
    try:
        host = host_header(target)
    except (UnicodeError, ValueError) as exc:
        error = clean_text(f"refused: the webhook URL's host cannot be sent ({exc})", ERROR_CHARS)
        return Result(c.id, started_at, c.due_at, None, 0.0, "", error, refused=True)
    headers = [
        ("host", host),
        ("content-type", "application/json"),
        ("user-agent", "pivotwatch-webhooks/0.1"),
        ("webhook-id", c.webhook_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", signature_header(c.secrets, c.webhook_id, timestamp, c.body)),
    ]
    # Connect to the vetted address itself; Host and SNI carry the name.
    https = target.scheme == "https"
    origin = (target.scheme, target.address, target.port, target.host if https else None)
    try:
        resp = await s.http.post(
            origin, target.path, headers, c.body, settings.webhook_timeout_seconds
        )
    except HTTPError as exc:
        return Result(
            c.id, started_at, c.due_at, None, (time.perf_counter() - start) * 1000, "", _error(exc)
        )
    return sanitized(
        Result(
            c.id,
            started_at,
            c.due_at,
            resp.status_code,
            (time.perf_counter() - start) * 1000,
            resp.content[:EXCERPT_BYTES].decode("utf-8", "replace"),
            None,
            parse_retry_after(resp.headers.get("retry-after"), datetime.now(UTC)),
        )
    )


async def send_all(claimed: list[Claimed], settings: Settings) -> list[Result]:
    """Send a claimed batch on the process's sender loop, SEND_CONCURRENCY at a time (the lease
    each claim took assumes that)."""
    s = sender()
    gate = asyncio.Semaphore(SEND_CONCURRENCY)
    # One endpoint, or one tenant's endpoints, that answer slowly hold at most this many of the
    # batch's send slots: the others' deliveries go out beside them.
    endpoints: defaultdict[uuid.UUID, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(settings.webhook_endpoint_concurrency)
    )
    owners: defaultdict[uuid.UUID | None, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(settings.webhook_owner_concurrency)
    )

    async def send(c: Claimed) -> Result:
        wait = (c.send_at - datetime.now(UTC)).total_seconds()
        if wait > 0:  # a rate-limited endpoint's slot: wait without holding a connection
            await asyncio.sleep(wait)
        async with endpoints[c.subscription_id], owners[c.owner]:
            return await paced(c)

    async def paced(c: Claimed) -> Result:
        while True:
            async with gate:
                # The slot is when the attempt may start at the earliest; one that starts late
                # (a busy loop, a full gate) must not start less than the interval after the
                # previous one, which started on time: the process keeps them apart itself.
                wait = s.pace(c.subscription_id, c.interval) if c.interval else 0.0
                if not wait:
                    return await _send_one(s, c, settings)
            await asyncio.sleep(wait)

    return list(await asyncio.gather(*(send(c) for c in claimed)))


def deliver(
    sessions: sessionmaker[Session], settings: Settings, ids: list[uuid.UUID] | None = None
) -> int:
    """Claim, send, record. Returns how many were attempted."""
    with sessions() as session, session.begin():
        claimed = claim(session, settings, ids, limit=max(200, len(ids or ())))
    return send_claimed(sessions, settings, claimed)


def send_claimed(
    sessions: sessionmaker[Session], settings: Settings, claimed: list[Claimed]
) -> int:
    """Send deliveries already claimed (their claim committed) and record the outcomes."""
    if not claimed:
        return 0
    results = sender().run(send_all(claimed, settings))
    _record_until_stored(sessions, settings, results)
    return len(results)


# How long a worker holds the outcomes of a batch it sent while PostgreSQL is away (restarting):
# given up, they would wait out their lease (timeout x rounds + grace: minutes for a large
# batch) and be sent again; kept, they are written the moment the database is back.
RECORD_RETRY_SECONDS = 90.0


def _record_until_stored(
    sessions: sessionmaker[Session], settings: Settings, results: list[Result]
) -> None:
    deadline = time.monotonic() + RECORD_RETRY_SECONDS
    pause = 0.25
    while True:
        try:
            with sessions() as session, session.begin():
                record(session, settings, results)
            return
        except SQLAlchemyError as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("recording %d outcome(s) failed, retrying: %s", len(results), exc)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


_CLAIMERS = text(
    """
    SELECT DISTINCT claimed_by FROM deliveries
    WHERE status = 'pending' AND claimed_by IS NOT NULL AND next_attempt_at > now()
    """
)


_RELEASE = text(
    """
    UPDATE deliveries SET next_attempt_at = now(), claimed_at = NULL, claimed_by = NULL
    WHERE status = 'pending' AND claimed_by = ANY(:dead) AND next_attempt_at > now()
    """
)


def release_dead_claims(sessions: sessionmaker[Session], redis: Redis, settings: Settings) -> int:
    """Leases held by workers that died are released now: sent again (same webhook-id) on this
    pass, not after the lease's length (minutes for a large batch). Returns the rows released."""
    with sessions() as session, session.begin():
        claimers = [str(c) for c in session.scalars(_CLAIMERS)]
        if not claimers:
            return 0
        dead = workers.dead_among(redis, claimers, settings)
        if not dead:
            return 0
        n = session.execute(_RELEASE, {"dead": dead}).rowcount  # type: ignore[attr-defined]
    log.warning(
        "released %d delivery lease(s) of worker(s) no longer running: %s", n, ", ".join(dead)
    )
    return int(n)


def dispatch(
    sessions: sessionmaker[Session],
    settings: Settings,
    max_rounds: int = 20,
    redis: Redis | None = None,
) -> int:
    """One dispatcher pass: send whatever is due, a bounded number of batches.

    A database that is down (or restarting) is logged and the pass ends; the next tick tries
    again, so the dispatcher resumes by itself. A lease taken before the failure expires and the
    delivery is claimed again.
    """
    total = 0
    try:
        if redis is not None:
            try:
                release_dead_claims(sessions, redis, settings)
            except RedisError as exc:  # nothing released this pass; the leases still run out
                log.warning("dispatcher: cannot tell dead workers without Redis: %s", exc)
        for _ in range(max_rounds):
            n = deliver(sessions, settings)
            total += n
            if n == 0:
                break
        with sessions() as session:
            refresh_queue_depth(session)
    except SQLAlchemyError as exc:
        log.warning(
            "dispatcher: database unavailable; will try again on the next tick",
            extra={"error": f"{type(exc).__name__}: {str(exc)[:300]}"},
        )
    return total
