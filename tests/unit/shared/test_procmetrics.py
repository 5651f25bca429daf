"""shared/procmetrics.py: a worker's pool processes summed through prometheus_client's files, with
real processes writing them (prometheus_client reads PROMETHEUS_MULTIPROC_DIR at import)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from shared import procmetrics
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
# A pool process: counts two attempts, sets the queue depth, then exits or waits to be killed.
CHILD = """
import sys, time
from services.notify.metrics import DELIVERED, QUEUE_DEPTH
from shared.metrics import DELIVERIES
DELIVERIES.labels("succeeded").inc(2)
QUEUE_DEPTH.labels("due").set(7)
print("ready", flush=True)
if sys.argv[1] == "wait":
    time.sleep(60)
"""


def _pool_process(directory: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PIVOTWATCH_ENV": "test"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _scrape(directory: Path) -> str:
    registry = CollectorRegistry()
    registry.register(procmetrics.PoolCollector(directory))
    return generate_latest(registry).decode()


class TestPool:
    def test_counters_are_summed_and_a_killed_process_withdraws_its_gauges(
        self, tmp_path: Path
    ) -> None:
        done = _pool_process(tmp_path, "exit")
        done.communicate(timeout=30)
        alive = _pool_process(tmp_path, "wait")
        try:
            text = _scrape(tmp_path)
            assert 'pivotwatch_webhook_attempts_total{outcome="succeeded"} 4.0' in text
            assert 'pivotwatch_webhook_queue_depth{state="due"} 7.0' in text
        finally:
            os.kill(alive.pid, signal.SIGKILL)
            alive.communicate(timeout=10)
        text = _scrape(tmp_path)
        # The counts of the dead stay (a counter never goes down); their gauges go.
        assert 'pivotwatch_webhook_attempts_total{outcome="succeeded"} 4.0' in text
        assert "pivotwatch_webhook_queue_depth{" not in text

    def test_a_starting_worker_drops_every_file_but_its_own(self, tmp_path: Path) -> None:
        for name in ("counter_11.db", "histogram_12.db", "gauge_livemostrecent_13.db"):
            (tmp_path / name).write_bytes(b"")
        (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"")
        assert procmetrics.clean(tmp_path, keep_pid=os.getpid()) == 3
        assert [p.name for p in tmp_path.iterdir()] == [f"counter_{os.getpid()}.db"]


class TestPorts:
    def test_a_worker_serves_on_the_port_of_its_queue(self) -> None:
        s = Settings(enrich_metrics_port=9102, notify_metrics_port=9103)
        assert procmetrics.worker_port(s, ["enrich"]) == 9102
        assert procmetrics.worker_port(s, ["notify"]) == 9103
        assert procmetrics.worker_port(s, []) == 9102  # every queue
        assert procmetrics.worker_port(Settings(), ["notify"]) == 0
