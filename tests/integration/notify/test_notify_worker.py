"""The real notify worker (`celery -A shared.celery_app worker -Q notify`) and beat as processes:
no delivery is lost when the worker is killed mid-batch, and the dispatcher resumes by itself
after PostgreSQL and Redis restart."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pivotwatch.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from shared.db import make_engine, session_factory
from shared.migrate import upgrade
from shared.settings import Settings
from tests.fixtures import waiting
from tests.fixtures.process import CELERY, CELERY_QUIET, ProcessGroup


def notify_procs(home: Path, settings: Settings) -> ProcessGroup:
    """Where the worker and beat run: their logs and beat's schedule under `home`."""
    env = {
        **os.environ,
        "PIVOTWATCH_ENV": "test",
        "PIVOTWATCH_HOME": str(home),
        "PIVOTWATCH_DATABASE_URL": settings.database_url,
        "PIVOTWATCH_REDIS_URL": settings.redis_url,
        "PIVOTWATCH_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        "PIVOTWATCH_RETRY_SCHEDULE_SECONDS": "[0, 0.2, 0.4, 0.8]",
        "PIVOTWATCH_RETRY_JITTER": "0",
        "PIVOTWATCH_WEBHOOK_TIMEOUT_SECONDS": "2",
        "PIVOTWATCH_WEBHOOK_LEASE_GRACE_SECONDS": "1",
        "PIVOTWATCH_DISPATCH_INTERVAL_SECONDS": "0.3",
        "PIVOTWATCH_LOG_LEVEL": "INFO",
    }
    return ProcessGroup(home, env)


def start(procs: ProcessGroup, name: str) -> None:
    """Start the notify worker ("worker") or beat ("beat"); a restart appends to the same log."""
    if name == "worker":
        node = f"notify{len(procs.started) + 1}@%h"
        argv = [*CELERY, "worker", "-Q", "notify", "-n", node, "-c", "1", *CELERY_QUIET]
        argv += ["-O", "fair", "--loglevel", "INFO"]
    else:
        argv = [*CELERY, "beat", "-s", str(procs.logs / "beat-schedule"), "--loglevel", "INFO"]
    procs.start(name, argv)


@pytest.fixture
def procs_for(tmp_path: Path) -> Iterator[Callable[[Settings], ProcessGroup]]:
    made: list[ProcessGroup] = []

    def make(settings: Settings) -> ProcessGroup:
        p = notify_procs(tmp_path / f"procs{len(made)}", settings)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop_all()


def wait_until(check: Callable[[], bool], timeout: float, what: str, procs: ProcessGroup) -> None:
    """The shared wait, failing with the worker's log."""
    waiting.wait_until(
        check,
        timeout,
        0.05,
        lambda: f"{what} did not happen; worker log:\n{procs.log('worker')[-3000:]}",
    )


class TestWorkerKilledMidBatch:
    def test_every_delivery_arrives_after_a_sigkill_with_the_same_webhook_id(
        self, kit: Any, receiver: Any, nsettings: Settings, procs_for: Any
    ) -> None:
        gate = threading.Event()  # the slow receiver holds every request until this is set
        receiver.respond = lambda got, nth: receiver.Reply(200, hold=gate)
        procs = procs_for(nsettings)
        metrics_port = free_port()
        procs.env["PIVOTWATCH_NOTIFY_METRICS_PORT"] = str(metrics_port)
        # The worker's main process serves what its pool process recorded (shared/procmetrics).
        metrics_dir = procs.logs / "metrics"
        metrics_dir.mkdir()
        procs.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        sub_id, _ = kit.subscribe(receiver.url)
        n = 8
        kit.fanout(*[kit.add_event(title=f"e{i}") for i in range(n)])
        start(procs, "beat")
        start(procs, "worker")
        try:
            wait_until(lambda: len(receiver.snapshot()) >= n, 60, "the batch being sent", procs)
            procs.kill("worker")  # mid-batch: every request is in flight
            in_flight = kit.deliveries(sub_id)
            assert all(d.status == "pending" for d in in_flight)
            assert all(kit.attempts(d.id) == [] for d in in_flight)
        finally:
            gate.set()
        start(procs, "worker")
        wait_until(kit.settled(sub_id, n), 60, "redelivery after the lease expired", procs)
        ds = kit.deliveries(sub_id)
        assert [d.status for d in ds] == ["succeeded"] * n
        got = receiver.snapshot()
        ids = [g.webhook_id for g in got]
        assert set(ids) == {d.webhook_id for d in ds}  # nothing lost, nothing invented
        for d in ds:
            assert ids.count(d.webhook_id) >= 2  # once cut short, once more: at-least-once
            assert [a.status_code for a in kit.attempts(d.id)] == [200]
        # Duplicates carry the same webhook-id and body, so a receiver can drop them.
        bodies: dict[str, set[bytes]] = {}
        for g in got:
            bodies.setdefault(g.webhook_id, set()).add(g.body)
        assert all(len(b) == 1 for b in bodies.values())
        # The restarted worker serves its delivery metrics: its own (the killed one's files are
        # dropped when it starts), summed over its pool.
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert f'pivotwatch_webhook_attempts_total{{outcome="succeeded"}} {float(n)}' in metrics
        assert "pivotwatch_webhook_lag_seconds_count" in metrics
        assert "pivotwatch_webhook_queue_depth" in metrics


class TestRestarts:
    def test_dispatcher_resumes_after_postgres_and_redis_restart(
        self,
        tmp_path: Path,
        receiver: Any,
        nsettings: Settings,
        procs_for: Any,
        make_kit: Any,
    ) -> None:
        pg = EmbeddedPostgres(tmp_path / "pg", free_port())
        rd = EmbeddedRedis(tmp_path / "redis", free_port())
        engine = None
        procs = procs_for(nsettings)
        try:
            pg.start()
            rd.start()
            own = nsettings.model_copy(update={"database_url": pg.url, "redis_url": rd.url})
            upgrade(own.sync_database_url)
            engine = make_engine(own)
            kit = make_kit(session_factory(engine), own)
            procs.env.update(PIVOTWATCH_DATABASE_URL=pg.url, PIVOTWATCH_REDIS_URL=rd.url)
            sub_id, _ = kit.subscribe(receiver.url)
            start(procs, "beat")
            start(procs, "worker")

            kit.fanout(kit.add_event(title="before"))
            wait_until(kit.settled(sub_id, 1), 60, "the first delivery", procs)

            pg.stop()
            wait_until(
                lambda: "database unavailable" in procs.log("worker"),
                30,
                "a dispatcher pass meeting the outage",
                procs,
            )
            pg.start()
            assert procs.alive("worker") and procs.alive("beat")
            engine.dispose()
            kit.fanout(kit.add_event(title="after postgres"))
            wait_until(kit.settled(sub_id, 2), 60, "delivery after PostgreSQL restarted", procs)

            rd.stop()
            time.sleep(1.0)
            rd.start()
            kit.fanout(kit.add_event(title="after redis"))
            wait_until(kit.settled(sub_id, 3), 90, "delivery after Redis restarted", procs)
            assert procs.alive("worker") and procs.alive("beat")
        finally:
            if engine is not None:
                engine.dispose()
            procs.stop_all()  # before the servers they talk to
            pg.stop()
            rd.stop()
        titles = [g.doc["data"]["event"]["title"] for g in receiver.snapshot()]
        assert titles == ["before", "after postgres", "after redis"]
