"""The physical floor of this machine for P1: what storing the same events costs with nothing but
the unavoidable work, each part at its fastest (issue 16 item 3).

- **log**: the same ingest log entries (the bytes ingest XADDs) appended to a scratch Redis stream,
  pipelined, 500 per round trip;
- **enrich**: the enrichment steps alone (`decode.prepare` of every report: decoding, the
  pipeline, the anchors), CPU time in this process;
- **copy**: the same rows (the columns storage writes, ids and all) written with COPY into a copy
  of the events table (`LIKE events INCLUDING ALL`: the same columns, defaults and indexes), in
  the same database, committed.

The floor rate is events / (log + enrich + copy): the three run one after another, on one core;
P1 has two cores but also runs ingest, the relay, the notify worker and the load generator, so
the serial floor is the honest one to compare with. Returns the seconds of each part too.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import orjson
from psycopg.types.json import Jsonb
from sqlalchemy.dialects.postgresql import JSONB

from services.enrich.decode import decode_entry, prepare
from shared.db import Event
from shared.events import event_uuid

_TABLE = "pw_floor_events"
_STREAM = "pw:floor"
_BATCH = 500


def _rows(entries: list[dict[str, str]]) -> tuple[list[dict[str, Any]], float]:
    """Each report's stored columns, and the CPU seconds enrichment took."""
    rows: list[dict[str, Any]] = []
    t0 = time.process_time()
    for entry in entries:
        for inc in decode_entry(entry):
            p = prepare(inc)
            rows.append(
                {
                    **p.cols,
                    "id": event_uuid(inc.source, inc.ce_id),
                    "source": inc.source,
                    "ce_id": inc.ce_id,
                }
            )
    return rows, time.process_time() - t0


def measure(database_url: str, redis_url: str, entries: list[dict[str, str]]) -> dict[str, Any]:
    import psycopg
    from redis import Redis

    client = Redis.from_url(redis_url)
    try:
        client.delete(_STREAM)
        t0 = time.perf_counter()
        for i in range(0, len(entries), _BATCH):
            pipe = client.pipeline(transaction=False)
            for e in entries[i : i + _BATCH]:
                pipe.xadd(_STREAM, e)  # type: ignore[arg-type]
            pipe.execute()
        log_s = time.perf_counter() - t0
    finally:
        client.delete(_STREAM)
        client.close()

    rows, enrich_s = _rows(entries)
    table = Event.__table__
    columns = [c.name for c in table.columns if c.name in rows[0]]  # the rest: their defaults
    jsonb = {c.name for c in table.columns if isinstance(c.type, JSONB)}
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {_TABLE}")
        conn.execute(f"CREATE TABLE {_TABLE} (LIKE events INCLUDING ALL)")
        conn.commit()
        try:
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                names = ", ".join(columns)
                with cur.copy(f"COPY {_TABLE} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([Jsonb(row[c]) if c in jsonb else row[c] for c in columns])
            conn.commit()
            copy_s = time.perf_counter() - t0
            copied = conn.execute(f"SELECT count(*) FROM {_TABLE}").fetchone()
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {_TABLE}")
            conn.commit()
    events = len(rows)
    assert copied is not None and copied[0] == events
    total = log_s + enrich_s + copy_s
    return {
        "events": events,
        "log_seconds": log_s,
        "enrich_seconds": enrich_s,
        "copy_seconds": copy_s,
        "events_per_s": events / total,
    }


def entries_of(bodies: list[bytes], events: int) -> list[dict[str, str]]:
    """Ingest log entries for P1's first `events` events ({n} filled as the load generator does,
    one request number per batch)."""
    from bench.loadgen import EPOCH

    out: list[dict[str, str]] = []
    n = 0
    while len(out) < events:
        day = (EPOCH + timedelta(days=n % 9000)).isoformat()
        raw = bodies[n % len(bodies)].decode().replace("{n}", f"floor{n}")
        raw = raw.replace("{d}", day).replace("{md}", day[5:])
        for ce in orjson.loads(raw):
            out.append(
                {
                    "id": str(event_uuid(ce["source"], ce["id"])),
                    "kind": "event",
                    "ce": orjson.dumps(ce).decode(),
                    "received_at": "2026-01-01T00:00:00+00:00",
                    "cid": uuid.uuid4().hex,
                }
            )
        n += 1
    return out[:events]
