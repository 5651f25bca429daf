"""Where an event's 202 -> visible time goes, hop by hop, from the times each event carries.

Ingest writes `received_at` on the ingest log entry; the relay adds `read_at` to the entry and
sends the chunk's task with its publish time (a header); the worker writes those, its task's
`started_at` and the commit's `stored_at` into the event's status (Redis); the change feed
entry's id is the time of its XADD, and the outbox row's `processed_at` the fan-out's. For the
events received since `since` (epoch seconds), `per_hop` gives each hop's p50 and p99 in ms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bench.loadgen import percentile

# (name, from, to): the hops in the order an event passes them.
HOPS = (
    ("log", "received", "read"),  # ingest's XADD, then waiting on the ingest log
    ("relay", "read", "published"),  # the relay's read to its publish of the chunk's task
    ("queue", "published", "started"),  # on the enrich queue until the worker starts the task
    ("store", "started", "stored"),  # enrichment and the transaction, to its commit
    ("feed", "stored", "feed"),  # the commit to the change feed entry (visible)
    ("outbox", "stored", "fanned_out"),  # the commit to the notify fan-out of its outbox row
    ("visible", "received", "feed"),  # 202 -> visible: what P3 measures
)
_STATUS_FIELDS = ("read_at", "published_at", "started_at", "stored_at")


def _epoch(value: Any) -> float | None:
    if not value:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def event_times(
    database_url: str, redis: Any, since: float, cursor: bytes
) -> list[dict[str, float]]:
    """Per event received since `since`: the epoch time it passed each point of `HOPS`."""
    import psycopg

    from shared.redis_keys import TIMELINE_STREAM, status_key

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id::text, extract(epoch from received_at)::float8 FROM events"
            " WHERE received_at >= to_timestamp(%s)",
            (since,),
        ).fetchall()
        fanned = dict(
            conn.execute(
                "SELECT event_id::text, extract(epoch from min(processed_at))::float8 FROM outbox"
                " WHERE created_at >= to_timestamp(%s) GROUP BY event_id",
                (since,),
            ).fetchall()
        )
    feed: dict[str, float] = {}
    for sid, fields in redis.xrange(TIMELINE_STREAM, min=cursor):
        event_id = fields[b"id"].decode()
        feed.setdefault(event_id, int(sid.split(b"-")[0]) / 1000)
    pipe = redis.pipeline(transaction=False)
    for event_id, _ in rows:
        pipe.hmget(status_key(event_id), *_STATUS_FIELDS)
    out = []
    for (event_id, received), status in zip(rows, pipe.execute(), strict=True):
        times = {"received": float(received)}
        for name, value in zip(("read", "published", "started", "stored"), status, strict=True):
            at = _epoch(value)
            if at is not None:
                times[name] = at
        if event_id in feed:
            times["feed"] = feed[event_id]
        if fanned.get(event_id) is not None:
            times["fanned_out"] = float(fanned[event_id])
        out.append(times)
    return out


def per_hop(times: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each hop's p50 and p99 (ms) and how many events it was measured for."""
    out: dict[str, dict[str, float]] = {}
    for name, start, end in HOPS:
        spans = sorted(
            max(0.0, (t[end] - t[start]) * 1000) for t in times if start in t and end in t
        )
        out[name] = {
            "p50_ms": round(percentile(spans, 0.5), 1),
            "p99_ms": round(percentile(spans, 0.99), 1),
            "n": len(spans),
        }
    return out


def flat(hops: dict[str, dict[str, float]]) -> dict[str, Any]:
    """`per_hop` as report figures: hop_<name>_ms = "p50 / p99"."""
    return {
        f"hop_{name}_ms": f"{f['p50_ms']:g} / {f['p99_ms']:g}" for name, f in hops.items() if f["n"]
    }
