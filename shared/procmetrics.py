"""Metrics of the processes without an HTTP API: the relay and the Celery workers.

A prefork worker's tasks run in its pool processes, which Prometheus cannot scrape one by one:
with `PROMETHEUS_MULTIPROC_DIR` in the worker's environment (prometheus_client reads it at
import, so whoever starts the worker sets it: `pivotwatch up`, compose) each process writes its
samples to files there, and the worker's main process serves their sum on the port of the queue
it consumes. Files of processes gone are dropped when the worker starts; counters of a pool
process that died stay summed (a counter must not go down), its live gauges are withdrawn.

`PIPELINE_HOP` times each hop an event's work takes (see `HOPS`), in the process of that hop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client import multiprocess as mp
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from shared.redis_keys import ENRICH_QUEUE, NOTIFY_QUEUE
from shared.settings import Settings

log = logging.getLogger("pivotwatch.metrics")

# What each hop measures, by the process that observes it. Each event carries the times it
# passed them (the ingest log entry's `received_at`, the relay's `read_at` field, the task's
# `pw_published_at` header; the worker writes them with `started_at` and `stored_at` into the
# event's status), so `make bench` can follow single events as well as these histograms.
HOPS = {
    "log": "relay: on the ingest log, from the XADD to the relay's read",
    "relay": "relay: from its read of the entry to the publish of the entry's task",
    "queue": "enrich worker: on the enrich queue, from the relay's publish to the task's start",
    "store": "enrich worker: from the task's start to the commit that stores the event",
    "announce": "enrich worker: from the commit to the change feed entry and the status",
    "visible": "enrich worker: 202 to visible, from ingest's receipt to the change feed entry",
    "outbox": "notify worker: from the chunk's commit (its outbox row) to the fan-out",
}
# The field the relay adds to each entry of a chunk: when it read the entry off the ingest log
# (epoch seconds, as text like every entry field).
READ_AT = "read_at"
PIPELINE_HOP = Histogram(
    "pivotwatch_pipeline_hop_seconds",
    "seconds an event's work spent at each hop of the pipeline (hop: log, relay, queue, store, "
    "announce, visible = received to the change feed, outbox)",
    ["hop"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def hop(name: str) -> Histogram:
    """The hop's histogram, created (and so exported, at zero) by the module that observes it."""
    assert name in HOPS, name
    return PIPELINE_HOP.labels(name)


def multiproc_dir() -> Path | None:
    """prometheus_client's own variable: where this process writes its samples, if anywhere."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def worker_port(settings: Settings, queues: Iterable[str]) -> int:
    """The metrics port of a worker consuming `queues` (empty: every queue), or 0."""
    consumed = set(queues) or {ENRICH_QUEUE, NOTIFY_QUEUE}
    if ENRICH_QUEUE in consumed and settings.enrich_metrics_port:
        return settings.enrich_metrics_port
    if NOTIFY_QUEUE in consumed and settings.notify_metrics_port:
        return settings.notify_metrics_port
    return 0


def clean(directory: Path, keep_pid: int) -> int:
    """Drop the sample files of every process but `keep_pid` (the worker's main process, whose
    files exist from its imports): they belong to an earlier run. Returns how many went."""
    gone = 0
    for path in directory.glob("*.db"):
        if _pid(path) != keep_pid:
            path.unlink(missing_ok=True)
            gone += 1
    return gone


def _pid(path: Path) -> int | None:
    # prometheus_client names them <kind>_<pid>.db (a live gauge: gauge_live<mode>_<pid>.db).
    tail = path.stem.rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PoolCollector(Collector):
    """The sum of the directory's files, after withdrawing the live gauges of pool processes that
    died without saying so (SIGKILL, the OOM killer; a clean exit marks itself)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.inner = mp.MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        for pid in {_pid(p) for p in self.directory.glob("gauge_live*.db")} - {None}:
            if pid is not None and not _alive(pid):
                mp.mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]
        metrics: Iterable[Metric] = self.inner.collect()  # type: ignore[no-untyped-call]
        return metrics


def serve_pool(port: int, host: str, directory: Path) -> None:
    """Serve the pool's summed metrics (the worker's main process, once the pool has forked)."""
    registry = CollectorRegistry()
    registry.register(PoolCollector(directory))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.warning("worker metrics port %d unavailable: %s", port, exc)


def process_exiting(directory: Path | None) -> None:
    """A pool process's clean exit: its live gauges stop counting."""
    if directory is not None:
        mp.mark_process_dead(os.getpid(), str(directory))  # type: ignore[no-untyped-call]
