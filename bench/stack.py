"""Start and stop the stack for benchmarks the way `pivotwatch up` does (embedded servers, every
service and worker as its own process), on free ports in a temporary home."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from pivotwatch.cli import dev_key
from pivotwatch.embedded import free_port, wait_for_port
from pivotwatch.supervisor import Stack
from shared.migrate import upgrade
from shared.settings import Settings

# While `shared_stack` is active, `running_stack` hands out that stack instead of starting one.
_SHARED: list[tuple[Stack, str]] = []
# Seconds spent in `wait_idle` so far, for the run's own account of where its time went.
IDLE_WAITS: list[float] = []


@contextmanager
def shared_stack(home: Path, **overrides: object) -> Iterator[None]:
    """One stack for several scenarios (quick mode): each start and stop costs ~15 s on 2 cores.
    A scenario gets it once the one before has left nothing in flight (`wait_idle`)."""
    with running_stack(home, **overrides) as pair:
        _SHARED.append(pair)
        try:
            yield
        finally:
            _SHARED.pop()


def wait_idle(stack: Stack, timeout: float = 120.0) -> bool:
    """Until nothing is in flight: the ingest log read and acknowledged, the Celery queues
    empty, every outbox row fanned out, no delivery pending, and the event count steady."""
    import psycopg
    from redis import Redis

    from shared.celery_app import ENRICH_QUEUE, NOTIFY_QUEUE

    client = Redis.from_url(stack.redis_url)
    deadline = time.monotonic() + timeout
    last = -1
    try:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row: Any = conn.execute(
                    "SELECT (SELECT count(*) FROM events),"
                    " (SELECT count(*) FROM outbox WHERE processed_at IS NULL),"
                    " (SELECT count(*) FROM deliveries WHERE status = 'pending')"
                ).fetchone()
                events, outbox, deliveries = (int(v) for v in row)
                queued = int(client.llen(ENRICH_QUEUE)) + int(client.llen(NOTIFY_QUEUE))
                lag = _ingest_lag(client)
                if events == last and not (outbox or deliveries or queued or lag):
                    return True
                last = events
                time.sleep(0.5)
        return False
    finally:
        client.close()


def _ingest_lag(client: Any) -> int:
    from shared.redis_keys import INGEST_STREAM

    try:
        groups = client.xinfo_groups(INGEST_STREAM)
    except Exception:  # no stream yet
        return 0
    return sum(int(g.get("pending", 0)) + int(g.get("lag") or 0) for g in groups)


@contextmanager
def running_stack(home: Path, **overrides: object) -> Iterator[tuple[Stack, str]]:
    if _SHARED:
        stack, key = _SHARED[-1]
        t0 = time.monotonic()
        wait_idle(stack)
        IDLE_WAITS.append(time.monotonic() - t0)
        yield stack, key
        return
    settings = Settings(
        home=home,
        ingest_port=free_port(),
        timeline_port=free_port(),
        notify_port=free_port(),
        embedded_postgres_port=free_port(),
        embedded_redis_port=free_port(),
        log_level="WARNING",
        **overrides,  # type: ignore[arg-type]
    )
    env_overrides = {
        "PIVOTWATCH_INGEST_PORT": str(settings.ingest_port),
        "PIVOTWATCH_TIMELINE_PORT": str(settings.timeline_port),
        "PIVOTWATCH_NOTIFY_PORT": str(settings.notify_port),
        "PIVOTWATCH_LOG_LEVEL": "WARNING",
        **{f"PIVOTWATCH_{k.upper()}": str(v) for k, v in overrides.items()},
    }
    os.environ.update(env_overrides)
    stack = Stack(settings, home, seed=False, quiet=True)
    try:
        stack.start_servers()
        upgrade(Settings(database_url=stack.database_url).sync_database_url)
        key = dev_key(home, stack.database_url, stack.redis_url)
        stack.start_services()
        stack.wait_ready()
        yield stack, key
    finally:
        stack.stop()


def rss_mb(pid: int) -> float:
    """RSS of a process and its children (prefork pools), in MB."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 1e6
    except psutil.NoSuchProcess:
        return 0.0


@dataclass(frozen=True, slots=True)
class GroupMemory:
    """A process with its children (a worker and its prefork pool), in MB.

    `rss_sum` counts a page shared by the parent and its forked children once per process (a
    pool process shares most of the parent's imported code and data, copy-on-write); `pss_sum`
    counts each page once, split between the processes that map it; `max_rss` is the largest
    single process."""

    rss_sum: float
    pss_sum: float
    max_rss: float
    processes: int


def group_memory(pid: int) -> GroupMemory:
    """RSS, PSS and the largest RSS of a process and its children (about 1 ms per process:
    PSS is read from /proc/<pid>/smaps_rollup)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return GroupMemory(0.0, 0.0, 0.0, 0)
    rss, pss = [], []
    for p in procs:
        try:
            m = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # a pool process recycled between the listing and the read
        rss.append(m.rss / 1e6)
        pss.append(m.pss / 1e6)
    return GroupMemory(sum(rss), sum(pss), max(rss, default=0.0), len(rss))


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children, the exited ones included: Celery recycles a
    pool process past `worker_max_memory_per_child`, and without the parent's count of its
    reaped children that process's CPU would vanish from a before/after difference."""
    try:
        proc = psutil.Process(pid)
        t = proc.cpu_times()
        total = t.children_user + t.children_system
        for p in [proc, *proc.children(recursive=True)]:
            t = p.cpu_times()
            total += t.user + t.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


@contextmanager
def bare_server() -> Iterator[tuple[str, int]]:
    """The bare FastAPI baseline, with the same uvicorn settings as the services."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        start_new_session=True,
    )
    try:
        if not wait_for_port(port, 30, proc):
            raise RuntimeError("bare server did not start")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/page", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)
