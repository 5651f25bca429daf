"""Start and stop the stack for benchmarks the way `pivotwatch up` does (embedded servers, every
service and worker as its own process), on free ports in a temporary home."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from pivotwatch.cli import dev_key
from pivotwatch.embedded import free_port, wait_for_port
from pivotwatch.supervisor import Stack
from shared.migrate import upgrade
from shared.settings import Settings


@contextmanager
def running_stack(home: Path, **overrides: object) -> Iterator[tuple[Stack, str]]:
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


def cpu_seconds(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        total = 0.0
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
