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

`--dense` measures how that cost grows with the table, on two mixes side by side: the same
sparse mix, and the dense one (`bench.dense`: a year of news, every event within 2025, a few
companies carrying most of them, ~5% retold by another outlet the same or the next day). Each
mix is stored in its own database, in stream order, as the worker stores it (`store_chunk`, one
transaction per chunk); at each checkpoint (`--sizes`, events stored) `--window` chunks of
`--size` events are measured the same way as above (this process's CPU, the backend's CPU, the
enrichment alone as the baseline). Between checkpoints the mixes are filled by the same
`store_chunk` in larger chunks (`--fill-size`: fewer candidate queries, the same decisions), and
nothing is measured. The mixes advance in step (fill both, then measure both), so the two figures
of a checkpoint come from the same minutes of a shared machine. After each window it counts what
the store made of the events: canonical events against the happenings the events tell (the
generator records which one each event tells), retellings merged, distinct happenings merged
wrongly, retellings left apart.

    .venv/bin/python -m bench.bench_storage --dense                            # 10,000 and 100,000
    .venv/bin/python -m bench.bench_storage --dense --sizes 10000,100000,1000000 --keep pwdense
    .venv/bin/python -m bench.bench_storage --dense --quick                    # about a minute

With `--keep NAME` the databases (NAME_sparse, NAME_dense) are kept, with the stream position and
the figures measured so far: the same command again resumes where it stopped (a 1,000,000-event
fill takes hours). Resume only with the code that filled them.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import pstats
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bench.common import mix_bodies
from bench.dense import dense_stream
from services.enrich.decide import store_chunk
from services.enrich.decode import decode_entry, prepare
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
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--size", type=int, default=500, help="events per chunk")
    ap.add_argument("--fill", type=int, default=24, help="chunks stored before measuring")
    ap.add_argument("--chunks", type=int, default=8, help="chunks measured")
    ap.add_argument("--profile", action="store_true", help="cProfile the measured chunks")
    ap.add_argument("--dense", action="store_true", help="checkpoints, sparse and dense mixes")
    ap.add_argument("--mixes", default="sparse,dense", help="with --dense: which mixes")
    ap.add_argument("--sizes", default="10000,100000", help="with --dense: events stored")
    ap.add_argument("--window", type=int, default=8, help="with --dense: chunks measured")
    ap.add_argument("--fill-size", type=int, default=2000, help="with --dense: events per chunk")
    ap.add_argument("--quick", action="store_true", help="with --dense: 1,000 and 5,000 events")
    ap.add_argument("--keep", metavar="NAME", help="with --dense: keep the databases, resume")
    ap.add_argument("--json", type=Path, default=RESULTS / "storage-dense.json")
    ap.add_argument(
        "--embedded",
        type=Path,
        metavar="DIR",
        help="start an embedded PostgreSQL with its data in DIR (kept) instead of --database-url",
    )
    args = ap.parse_args()
    if args.embedded:
        from pivotwatch.embedded import EmbeddedPostgres, free_port

        pg = EmbeddedPostgres(args.embedded.resolve(), free_port())
        args.database_url = pg.start()
        try:
            return _run(args)
        finally:
            pg.stop()
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.dense or args.quick:
        return checkpoints(args)

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


# -- checkpoints: how the cost grows with the table (--dense) ------------------------------------
RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 500  # the sparse mix's batches (and the relay's chunks, PIVOTWATCH_RELAY_CHUNK_MAX)


class _Stream:
    """One mix's events in the order they are stored, and the happening each one tells."""

    name = ""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}  # event id -> happening key
        self.position = 0

    def _next(self) -> tuple[dict[str, str], str]:
        raise NotImplementedError

    def take(self, n: int) -> list[dict[str, str]]:
        out = []
        for _ in range(n):
            entry, key = self._next()
            self.keys[entry["id"]] = key
            out.append(entry)
        self.position += n
        return out

    def skip(self, n: int) -> None:
        """Where a kept database stopped: the same events, not stored again."""
        self.take(n)


class _SparseStream(_Stream):
    """Today's mix, chunk after chunk exactly as the default benchmark stores it
    (`entries_for`): batch b item i in year 1000 + i, on chunk n's day, ~5% of items retelling
    the previous chunk's item i (that chunk's happening)."""

    name = "sparse"

    def __init__(self) -> None:
        super().__init__()
        self.bodies = mix_bodies("sb", CHUNK, BODIES)
        # Which items retell the previous batch's item (mix_item appends a phrase to its title).
        self.retells = [
            [
                b > 0
                and ev["data"]["company"] == prev["data"]["company"]
                and ev["data"]["summary"] == prev["data"]["summary"]
                and ev["data"]["title"] != prev["data"]["title"]
                and ev["data"]["title"].startswith(prev["data"]["title"])
                for ev, prev in zip(body, self.bodies[b - 1], strict=True)
            ]
            for b, body in enumerate(self.bodies)
        ]
        self.chunk = 0
        self.last: list[str] = [""] * CHUNK
        self.buffer: list[tuple[dict[str, str], str]] = []

    def _next(self) -> tuple[dict[str, str], str]:
        if not self.buffer:
            n = self.chunk
            self.chunk += 1
            retells = self.retells[n % len(self.bodies)]
            for i, entry in enumerate(entries_for(self.bodies, n)):
                key = self.last[i] if retells[i] and n else f"{n}:{i}"
                self.last[i] = key
                self.buffer.append((entry, key))
            self.buffer.reverse()
        return self.buffer.pop()


class _DenseStream(_Stream):
    name = "dense"

    def __init__(self) -> None:
        super().__init__()
        self.events = dense_stream(prefix="db")

    def _next(self) -> tuple[dict[str, str], str]:
        e = next(self.events)
        entry = {
            "id": str(event_uuid(e.ce["source"], e.ce["id"])),
            "kind": "event",
            "ce": orjson.dumps(e.ce).decode(),
            "received_at": datetime.now(UTC).isoformat(),
            "cid": "",
        }
        return entry, e.happening


STREAMS: dict[str, type[_Stream]] = {"sparse": _SparseStream, "dense": _DenseStream}

_PROGRESS = """
CREATE TABLE IF NOT EXISTS bench_progress (
    mix text PRIMARY KEY, position bigint NOT NULL, results jsonb NOT NULL,
    fill_seconds double precision NOT NULL, code text NOT NULL)
"""


@functools.cache
def _code() -> str:
    """The commit that ran (a kept database records it)."""
    # A copy of a commit outside git (to measure it while the checkout changes) names it here.
    given = os.environ.get("PIVOTWATCH_BENCH_CODE")
    if given:
        return given
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "services", "shared"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head, dirty = "unknown", ""
    return f"{head}{' + uncommitted changes' if dirty else ''}"


class _Run:
    """One mix stored into its own database, resumable from the progress it records there."""

    def __init__(self, stream: _Stream, database_url: str, base: str, name: str) -> None:
        self.stream = stream
        self.base = base
        self.name = name
        self.url = f"{base}/{name}"
        with psycopg.connect(database_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        settings = Settings(database_url=self.url)
        upgrade(settings.sync_database_url)
        self.engine = make_engine(settings)
        self.sessions = session_factory(engine=self.engine)
        self.results: list[dict[str, Any]] = []
        self.fill_seconds = 0.0
        with self.sessions() as s, s.begin():
            s.execute(text(_PROGRESS))
            row = s.execute(
                text(
                    "SELECT position, results, fill_seconds, code FROM bench_progress"
                    " WHERE mix = :m"
                ),
                {"m": stream.name},
            ).first()
        if row is not None:
            print(f"{stream.name}: resuming at {row.position:,} events (stored by {row.code})")
            t0 = time.monotonic()
            stream.skip(row.position)
            print(f"{stream.name}: stream regenerated in {time.monotonic() - t0:.0f} s", flush=True)
            self.results = list(row.results)
            self.fill_seconds = float(row.fill_seconds)

    def _save(self, s: Session) -> None:
        s.execute(
            text(
                "INSERT INTO bench_progress VALUES (:m, :p, CAST(:r AS jsonb), :f, :c)"
                " ON CONFLICT (mix) DO UPDATE SET position = EXCLUDED.position,"
                " results = EXCLUDED.results, fill_seconds = EXCLUDED.fill_seconds,"
                " code = EXCLUDED.code"
            ),
            {
                "m": self.stream.name,
                "p": self.stream.position,
                "r": json.dumps(self.results),
                "f": self.fill_seconds,
                "c": _code(),
            },
        )

    def measured(self, size: int) -> bool:
        return any(r["size"] == size for r in self.results)

    def fill_to(self, target: int, chunk: int) -> None:
        """Store events until `target` are stored; unmeasured, each chunk committed with the
        stream position (an interrupted fill resumes at the last commit)."""
        start, t0, shown = self.stream.position, time.monotonic(), time.monotonic()
        while self.stream.position < target:
            entries = self.stream.take(min(chunk, target - self.stream.position))
            w0 = time.monotonic()
            with self.sessions() as s, s.begin():
                store_chunk(s, entries)
                self.fill_seconds += time.monotonic() - w0
                self._save(s)
            if time.monotonic() - shown > 30:
                shown = time.monotonic()
                done = self.stream.position - start
                print(
                    f"  {self.stream.name}: {self.stream.position:,} stored"
                    f" ({done / (shown - t0):.0f} events/s)",
                    file=sys.stderr,
                    flush=True,
                )

    def measure(self, size: int, chunks: int, chunk: int) -> dict[str, Any]:
        """`chunks` chunks of `chunk` events stored as the worker stores them, measured."""
        with self.sessions() as s, s.begin():
            # The planner's statistics as autovacuum would keep them after a fill of this size.
            s.execute(text("ANALYZE events"))
        base_cpu = store_cpu = pg_cpu = wall = 0.0
        events = 0
        for _ in range(chunks):
            entries = self.stream.take(chunk)
            t0 = time.process_time()
            for e in entries:
                for inc in decode_entry(e):
                    prepare(inc)
            base_cpu += time.process_time() - t0
            w0, t0 = time.perf_counter(), time.process_time()
            with self.sessions() as s, s.begin():
                backend = _backend(s)
                pg0 = _cpu(backend)
                store_chunk(s, entries)
                pg_cpu += _cpu(backend) - pg0
            store_cpu += time.process_time() - t0
            wall += time.perf_counter() - w0
            events += len(entries)
        per = 1000 / events
        result = {
            "size": size,
            "events": events,
            "enrich_ms": base_cpu * per,
            "store_ms": store_cpu * per,
            "step_ms": (store_cpu - base_cpu) * per,
            "pg_ms": pg_cpu * per,
            "storage_ms": (store_cpu - base_cpu + pg_cpu) * per,
            "total_ms": (store_cpu + pg_cpu) * per,
            "wall_ms": wall * per,
            "load": round(os.getloadavg()[0], 2),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            **self.merges(),
        }
        self.results.append(result)
        with self.sessions() as s, s.begin():
            self._save(s)
        return result

    def merges(self) -> dict[str, int]:
        """What the store made of the events it holds, against the happenings they tell."""
        keys = self.stream.keys
        with self.sessions() as s:
            rows = [
                (str(i), str(d) if d else None)
                for i, d in s.execute(select(Event.id, Event.duplicate_of))
            ]
        canonical: Counter[str] = Counter()
        happenings: set[str] = set()
        right = wrong = 0
        for i, dup in rows:
            key = keys[i]
            happenings.add(key)
            if dup is None:
                canonical[key] += 1
            elif keys.get(dup) == key:
                right += 1
            else:
                wrong += 1
        return {
            "stored": len(rows),
            "canonical": sum(canonical.values()),
            "happenings": len(happenings),
            "merged_right": right,  # retellings merged into their happening
            "merged_wrong": wrong,  # events merged into another happening
            "apart": sum(n - 1 for n in canonical.values()),  # retellings kept as events
            "lost": len(happenings) - len(canonical),  # happenings with no event of their own
        }

    def close(self, drop: bool) -> None:
        self.engine.dispose()
        if drop:
            with psycopg.connect(f"{self.base}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def checkpoints(args: argparse.Namespace) -> int:
    sizes = [1000, 5000] if args.quick else sorted(int(x) for x in args.sizes.split(","))
    window = 4 if args.quick else args.window
    fill = 500 if args.quick else args.fill_size
    mixes = [m.strip() for m in args.mixes.split(",") if m.strip()]
    base = args.database_url.rsplit("/", 1)[0]
    prefix = args.keep or f"pw_storage_bench_{uuid.uuid4().hex[:6]}"
    code = _code()
    print(f"code: {code}; load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    runs: list[_Run] = []
    try:
        for mix in mixes:
            runs.append(_Run(STREAMS[mix](), args.database_url, base, f"{prefix}_{mix}"))
        for size in sizes:
            # Both mixes filled, then both measured: a checkpoint's figures share the minutes.
            for run in runs:
                if not run.measured(size):
                    run.fill_to(size, fill)
            for run in runs:
                if not run.measured(size):
                    r = run.measure(size, window, args.size)
                    print(
                        f"{run.stream.name:>6} {size:>9,}: storage {r['storage_ms']:.3f} ms/event"
                        f" (step {r['step_ms']:.3f} + PostgreSQL {r['pg_ms']:.3f}), enrich"
                        f" {r['enrich_ms']:.3f}, wall {r['wall_ms']:.2f};"
                        f" {r['canonical']:,} events for {r['happenings']:,} happenings"
                        f" [{time.monotonic() - started:.0f} s]",
                        flush=True,
                    )
        report = {
            "code": code,
            "sizes": sizes,
            "window_events": window * args.size,
            "seconds": time.monotonic() - started,
            "mixes": {
                run.stream.name: {"fill_seconds": run.fill_seconds, "checkpoints": run.results}
                for run in runs
            },
        }
    finally:
        for run in runs:
            run.close(drop=not args.keep)
    args.json.parent.mkdir(exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(_table(report))
    return 0


def _table(report: dict[str, Any]) -> str:
    """Sparse and dense side by side at each size, the growth ratios, what merged."""
    mixes = report["mixes"]
    names = list(mixes)
    by = {m: {r["size"]: r for r in mixes[m]["checkpoints"]} for m in names}
    sizes = report["sizes"]
    lines = [
        f"storage CPU per event, ms (store_chunk minus the enrichment, plus the PostgreSQL"
        f" backend; {report['window_events']:,} events measured at each size)",
        f"{'stored':>10} | " + " | ".join(f"{m:>40}" for m in names),
        f"{'':>10} | "
        + " | ".join(f"{'storage     step       pg  enrich    wall':>40}" for _ in names),
    ]
    for size in sizes:
        cells = []
        for m in names:
            r = by[m].get(size)
            cells.append(
                f"{r['storage_ms']:7.3f} {r['step_ms']:8.3f} {r['pg_ms']:8.3f}"
                f" {r['enrich_ms']:7.3f} {r['wall_ms']:7.2f}"
                if r
                else "-"
            )
        lines.append(f"{size:>10,} | " + " | ".join(f"{c:>40}" for c in cells))
    first, last = sizes[0], sizes[-1]
    for m in names:
        a, b = by[m].get(first), by[m].get(last)
        if a and b and last != first:
            lines.append(
                f"{m}: storage CPU/event at {last:,} / at {first:,} = "
                f"{b['storage_ms'] / a['storage_ms']:.2f}x (target <= 1.5x)"
            )
    if "dense" in by and "sparse" in by and by["dense"].get(last) and by["sparse"].get(first):
        d, sp = by["dense"][last], by["sparse"][first]
        lines.append(
            f"dense at {last:,} / sparse at {first:,} = {d['storage_ms'] / sp['storage_ms']:.2f}x"
            " (target <= 1.0x)"
        )
    lines.append("what the store made of them (at each size, after its window):")
    for m in names:
        for size in sizes:
            r = by[m].get(size)
            if r:
                lines.append(
                    f"  {m:>6} {r['stored']:>9,} stored: {r['canonical']:,} events for"
                    f" {r['happenings']:,} happenings; retellings merged {r['merged_right']:,},"
                    f" kept apart {r['apart']:,}; merged into another happening"
                    f" {r['merged_wrong']:,}; happenings left without an event {r['lost']:,}"
                )
        lines.append(f"  {m}: filling took {mixes[m]['fill_seconds']:.0f} s")
    lines.append(f"took {report['seconds']:.0f} s in all; code {report['code']}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
