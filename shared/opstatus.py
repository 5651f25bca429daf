"""Where the work is right now: the one report behind `pivotwatch status` and ingest's /v1/status.

Redis tells what waits (the ingest log, the Celery queues, messages workers hold and since when,
each worker's last heartbeat); PostgreSQL what waits after storage (outbox rows not fanned out,
deliveries by state, dead letters). Without PostgreSQL the Redis half is still reported.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.redis_keys import (
    ENRICH_QUEUE,
    HELD_MESSAGES,
    INGEST_STREAM,
    NOTIFY_QUEUE,
    RELAY_GROUP,
    UNACKED,
    UNACKED_INDEX,
    WORKERS,
    worker_key,
)

# Redis < 7 does not report a group's lag: the entries after the group's last read are counted,
# up to this many.
LAG_COUNT_CAP = 100_000
_COUNT_AFTER = """
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
return #entries
"""

# Deliveries by state: the rules of services/notify/states.py (delivery_state), in SQL; a test
# (tests/integration/ingest/test_pipeline_status.py) holds the counts to the API's states.
_DELIVERIES = text(
    """
    WITH d AS (
      SELECT status, attempts, schedule_from, created_at,
             (claimed_at IS NOT NULL AND next_attempt_at IS NOT NULL
              AND next_attempt_at > now()) AS held
      FROM deliveries
    )
    SELECT
      count(*) FILTER (WHERE status = 'pending' AND held) AS processing,
      count(*) FILTER (WHERE status = 'pending' AND NOT held
                       AND attempts <= schedule_from) AS waiting,
      count(*) FILTER (WHERE status = 'pending' AND NOT held
                       AND attempts > schedule_from) AS retrying,
      count(*) FILTER (WHERE status = 'failed') AS failed,
      min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending
    FROM d
    """
)
_OUTBOX = text("SELECT count(*), min(created_at) FROM outbox WHERE processed_at IS NULL")
_DEAD_LETTERS = text("SELECT status, count(*) FROM dead_letters GROUP BY status")


async def redis_part(client: aioredis.Redis, now: float | None = None) -> dict[str, Any]:
    now = now or time.time()
    pipe = client.pipeline(transaction=False)
    pipe.xlen(INGEST_STREAM)
    pipe.llen(ENRICH_QUEUE)
    pipe.llen(NOTIFY_QUEUE)
    pipe.zcard(UNACKED_INDEX)
    pipe.zrange(UNACKED_INDEX, 0, -1, withscores=True)
    pipe.hgetall(HELD_MESSAGES)
    pipe.hvals(WORKERS)
    length, enrich, notify, unacked, delivered, held, workers_raw = await pipe.execute()
    waiting, pending = await _ingest_lag(client, int(length))

    workers = []
    for raw in workers_raw:
        try:
            w = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # not written by shared/workers.py: no reason to fail the whole report
        if isinstance(w, dict) and "id" in w:
            workers.append(w)
    pipe = client.pipeline(transaction=False)
    for w in workers:
        pipe.exists(worker_key(str(w.get("id", ""))))
    for w, alive in zip(workers, await pipe.execute(), strict=True):
        w["alive"] = bool(alive)
        w["last_heartbeat"] = _iso(float(w.get("beat_at", 0.0)))
        w["heartbeat_age_seconds"] = round(now - float(w.get("beat_at", now)), 1)
    workers.sort(key=lambda w: (not w["alive"], str(w.get("name")), -float(w.get("beat_at", 0))))
    names = {str(w["id"]): str(w.get("name", "")) for w in workers}
    alive_ids = {str(w["id"]) for w in workers if w["alive"]}

    owners = {_s(k): _s(v) for k, v in held.items()}
    messages: list[dict[str, Any]] = []
    for tag, score in delivered:
        tag = _s(tag)
        owner = owners.get(tag)
        messages.append(
            {
                "tag": tag,
                "age_seconds": round(now - float(score), 1),
                "worker": names.get(owner, owner) if owner else None,
                "worker_alive": owner in alive_ids if owner else None,
            }
        )
    messages.sort(key=lambda m: -float(m["age_seconds"]))
    tasks = await _task_names(client, [m["tag"] for m in messages[:20]])
    for m in messages[:20]:
        m["task"] = tasks.get(str(m["tag"]))
    return {
        "ingest_log": {
            "entries": int(length),
            "waiting": waiting,
            "read_not_acknowledged": pending,
        },
        "queues": {ENRICH_QUEUE: int(enrich), NOTIFY_QUEUE: int(notify)},
        "unacknowledged": {
            "messages": int(unacked),
            "oldest_age_seconds": messages[0]["age_seconds"] if messages else 0.0,
            "held_by_stopped_workers": sum(1 for m in messages if m["worker_alive"] is False),
            "oldest": messages[:20],
        },
        "workers": [
            {
                "name": w.get("name"),
                "host": w.get("host"),
                "pid": w.get("pid"),
                "queues": w.get("queues", []),
                "started_at": _iso(float(w.get("started_at", 0.0))),
                "last_heartbeat": w["last_heartbeat"],
                "heartbeat_age_seconds": w["heartbeat_age_seconds"],
                "alive": w["alive"],
            }
            for w in workers
        ],
    }


async def postgres_part(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        d = (await conn.execute(_DELIVERIES)).one()
        outbox_n, outbox_oldest = (await conn.execute(_OUTBOX)).one()
        dead = {str(s): int(n) for s, n in (await conn.execute(_DEAD_LETTERS)).all()}
    return {
        "outbox_waiting": {"rows": int(outbox_n), "oldest": _dt(outbox_oldest)},
        "deliveries": {
            "processing": int(d.processing),
            "waiting": int(d.waiting),
            "retrying": int(d.retrying),
            "failed": int(d.failed),
            "oldest_pending": _dt(d.oldest_pending),
        },
        "dead_letters": {
            "retrying": dead.get("retrying", 0),
            "dead": dead.get("dead", 0),
            "retried": dead.get("retried", 0),
        },
    }


async def collect(client: aioredis.Redis, engine: AsyncEngine | None) -> dict[str, Any]:
    """The whole report; a part whose server is unreachable says so instead of its figures."""
    out: dict[str, Any] = {"at": datetime.now(UTC).isoformat()}
    try:
        out.update(await redis_part(client))
        out["redis"] = "ok"
    except (aioredis.RedisError, OSError) as exc:
        out["redis"] = f"unreachable: {type(exc).__name__}"
    if engine is not None:
        try:
            out.update(await postgres_part(engine))
            out["postgres"] = "ok"
        except Exception as exc:  # any driver error: the Redis half is still worth reporting
            out["postgres"] = f"unreachable: {type(exc).__name__}"
    return out


async def oldest_unacknowledged(client: aioredis.Redis) -> tuple[int, float]:
    """(messages held unacknowledged, age in seconds of the oldest): the metrics' two gauges."""
    pipe = client.pipeline(transaction=False)
    pipe.zcard(UNACKED_INDEX)
    pipe.zrange(UNACKED_INDEX, 0, 0, withscores=True)
    n, first = await pipe.execute()
    return int(n), (time.time() - float(first[0][1])) if first else 0.0


async def _ingest_lag(client: aioredis.Redis, length: int) -> tuple[int, int]:
    try:
        groups = await client.xinfo_groups(INGEST_STREAM)
    except aioredis.ResponseError:  # no stream yet
        return 0, 0
    group = next((g for g in groups if _s(g["name"]) == RELAY_GROUP), None)
    if group is None:
        return length, 0
    pending = int(group.get("pending") or 0)
    lag = group.get("lag")
    if lag is not None:  # Redis >= 7
        return int(lag), pending
    after = _s(group["last-delivered-id"])
    counted = await client.eval(_COUNT_AFTER, 1, INGEST_STREAM, after, LAG_COUNT_CAP)
    return int(counted), pending


async def _task_names(client: aioredis.Redis, tags: list[str]) -> dict[str, str]:
    """The Celery task of each held message (kombu keeps the message in its unacked hash)."""
    if not tags:
        return {}
    out = {}
    for tag, raw in zip(tags, await client.hmget(UNACKED, tags), strict=True):
        if raw is None:
            continue
        try:
            message = orjson.loads(raw)[0]
            out[tag] = str(message.get("headers", {}).get("task", ""))
        except (ValueError, IndexError, KeyError, AttributeError, TypeError):
            continue
    return out


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
