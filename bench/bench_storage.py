"""How much CPU does the enrich worker's storage step cost per event? Milliseconds per event.

Chunks of 500 events of P1's realistic mix (`bench.common.mix_bodies`: 30 companies, eight
categories, varied titles, ~5% near-duplicates a day apart) are stored with `store_chunk` in one
transaction each, as the worker does, into a real PostgreSQL (a fresh database, dropped after).
The first `--fill` chunks build a stored history; the next `--chunks` are measured. For each
measured chunk the same-run baseline is the enrichment alone (`prepare` of every entry, pure CPU):
what the worker must spend per event whatever storage costs. Times are this process's CPU time;
PostgreSQL's is reported apart (its backend process's CPU time, when the server runs on this
machine), and wall time too. Run:

    .venv/bin/python -m bench.bench_storage                      # 127.0.0.1:5432, user postgres
    .venv/bin/python -m bench.bench_storage --database-url postgresql://.../postgres --profile
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import psutil
import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bench.common import mix_bodies
from services.enrich.storage import decode_entry, prepare, store_chunk
from shared.db import Event, EventLink, make_engine, session_factory
from shared.events import event_uuid
from shared.migrate import upgrade
from shared.settings import Settings

EPOCH = date(2000, 1, 1)
BODIES = 16


def entries_for(bodies: list[list[dict[str, Any]]], n: int) -> list[dict[str, str]]:
    """Request n's batch as the ingest log carries it ({n} and {md} filled as loadgen does)."""
    day = (EPOCH + timedelta(days=n % 9000)).isoformat()
    raw = orjson.dumps(bodies[n % len(bodies)]).decode()
    raw = raw.replace("{n}", str(n)).replace("{md}", day[5:])
    now = datetime.now(UTC).isoformat()
    out = []
    for ce in orjson.loads(raw):
        out.append(
            {
                "id": str(event_uuid(ce["source"], ce["id"])),
                "kind": "event",
                "ce": orjson.dumps(ce).decode(),
                "received_at": now,
                "cid": "",
            }
        )
    return out


def _backend(session: Session) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _cpu(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:  # a remote server: its CPU is not visible from here
        return 0.0
    return float(t.user + t.system)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--size", type=int, default=500, help="events per chunk")
    ap.add_argument("--fill", type=int, default=24, help="chunks stored before measuring")
    ap.add_argument("--chunks", type=int, default=8, help="chunks measured")
    ap.add_argument("--profile", action="store_true", help="cProfile the measured chunks")
    args = ap.parse_args()

    name = f"pw_storage_bench_{uuid.uuid4().hex[:6]}"
    base = args.database_url.rsplit("/", 1)[0]
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        settings = Settings(database_url=f"{base}/{name}")
        upgrade(settings.sync_database_url)
        engine = make_engine(settings)
        sessions = session_factory(engine)
        bodies = mix_bodies("sb", args.size, BODIES)
        n = 0
        for _ in range(args.fill):
            with sessions() as s, s.begin():
                store_chunk(s, entries_for(bodies, n))
            n += 1
        prof = cProfile.Profile() if args.profile else None
        store_cpu = base_cpu = wall = pg_cpu = 0.0
        events = 0
        for _ in range(args.chunks):
            entries = entries_for(bodies, n)
            n += 1
            t0 = time.process_time()
            for e in entries:
                for inc in decode_entry(e):
                    prepare(inc)
            base_cpu += time.process_time() - t0
            w0, t0 = time.perf_counter(), time.process_time()
            if prof:
                prof.enable()
            with sessions() as s, s.begin():
                backend = _backend(s)
                pg0 = _cpu(backend)
                store_chunk(s, entries)
                pg_cpu += _cpu(backend) - pg0
            if prof:
                prof.disable()
            store_cpu += time.process_time() - t0
            wall += time.perf_counter() - w0
            events += len(entries)
        with sessions() as s:
            stored = s.scalar(select(func.count()).select_from(Event))
            dups = s.scalar(select(func.count()).where(Event.duplicate_of.is_not(None)))
            links = s.scalar(select(func.count()).select_from(EventLink))
        engine.dispose()
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    per = 1000 / events
    print(f"stored before measuring  {args.fill * args.size} events ({args.fill} chunks)")
    print(f"measured                 {events} events ({args.chunks} chunks of {args.size})")
    print(f"enrich alone (baseline)  {base_cpu * per:7.3f} ms CPU/event")
    print(f"store_chunk (all)        {store_cpu * per:7.3f} ms CPU/event")
    print(f"storage step             {(store_cpu - base_cpu) * per:7.3f} ms CPU/event")
    print(f"ratio                    {store_cpu / base_cpu:7.2f} x baseline")
    print(f"PostgreSQL backend       {pg_cpu * per:7.3f} ms CPU/event")
    print(f"wall                     {wall * per:7.3f} ms/event")
    print(f"totals                   {stored} events, {dups} duplicates, {links} links")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
