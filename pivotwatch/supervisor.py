"""`pivotwatch up`: the whole stack on one machine, stopped cleanly on Ctrl-C.

Order of start: embedded servers (unless URLs are given) -> migrations -> services and workers ->
readiness -> development key -> seed -> URLs. Order of stop: services and workers (each process
group gets SIGTERM, then SIGKILL after a grace period), then the embedded servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pivotwatch.embedded import EmbeddedPostgres, EmbeddedRedis, port_is_free, write_private
from shared.settings import Settings

LOOPBACK_NETWORKS = '["127.0.0.0/8", "::1/128"]'


class StartError(RuntimeError):
    """The stack cannot start; the message is for the user, no traceback."""


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    # A prefork Celery worker: its pool processes' metrics are summed through files in a
    # directory of its own (shared/procmetrics.py).
    pool_metrics: bool = False


@dataclass
class Stack:
    settings: Settings
    home: Path
    seed: bool = True
    quiet: bool = False
    children: list[Child] = field(default_factory=list)
    pg: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    database_url: str = ""
    redis_url: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    # -- servers -------------------------------------------------------------------------------
    def start_servers(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        s = self.settings
        if s.database_url:
            self.database_url = s.database_url
        else:
            self.pg = EmbeddedPostgres(self.home / "postgres", s.embedded_postgres_port)
            self.database_url = self.pg.start()
            self.say(f"embedded PostgreSQL on 127.0.0.1:{s.embedded_postgres_port}")
        if s.redis_url:
            self.redis_url = s.redis_url
        else:
            self.redis = EmbeddedRedis(self.home / "redis", s.embedded_redis_port)
            self.redis_url = self.redis.start()
            self.say(f"embedded Redis on 127.0.0.1:{s.embedded_redis_port}")
        # Private: the URLs carry the embedded Redis's password.
        write_private(
            self.home / "runtime.json",
            json.dumps({"database_url": self.database_url, "redis_url": self.redis_url}),
        )

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PIVOTWATCH_DATABASE_URL"] = self.database_url
        env["PIVOTWATCH_REDIS_URL"] = self.redis_url
        env["PIVOTWATCH_HOME"] = str(self.home)
        env.setdefault("PIVOTWATCH_WEBHOOK_ALLOW_NETWORKS", LOOPBACK_NETWORKS)
        return env

    # -- services ------------------------------------------------------------------------------
    def plan(self) -> list[Child]:
        s = self.settings
        py = sys.executable
        celery = [py, "-m", "celery", "-A", "shared.celery_app"]
        common = ["--without-gossip", "--without-mingle", "--without-heartbeat", "-O", "fair"]
        return [
            Child("ingest", [py, "-m", "pivotwatch.cli", "serve", "ingest"]),
            Child("timeline", [py, "-m", "pivotwatch.cli", "serve", "timeline"]),
            Child("notify", [py, "-m", "pivotwatch.cli", "serve", "notify"]),
            Child("relay", [py, "-m", "pivotwatch.cli", "relay"]),
            Child(
                "enrich-worker",
                [
                    *celery,
                    "worker",
                    "-Q",
                    "enrich",
                    "-n",
                    "enrich@%h",
                    "-c",
                    str(s.worker_concurrency),
                    "--loglevel",
                    "INFO",
                    *common,
                ],
                pool_metrics=True,
            ),
            Child(
                "notify-worker",
                [
                    *celery,
                    "worker",
                    "-Q",
                    "notify",
                    "-n",
                    "notify@%h",
                    "-c",
                    str(s.worker_concurrency),
                    "--loglevel",
                    "INFO",
                    *common,
                ],
                pool_metrics=True,
            ),
            Child(
                "beat",
                [
                    *celery,
                    "beat",
                    "--loglevel",
                    "INFO",
                    "-s",
                    str(self.home / "celerybeat-schedule"),
                ],
            ),
        ]

    def check_ports(self) -> None:
        s = self.settings
        for name, port in (
            ("ingest", s.ingest_port),
            ("timeline", s.timeline_port),
            ("notify", s.notify_port),
        ):
            if not port_is_free(port, s.host):
                raise StartError(
                    f"port {port} ({name}) is already in use; stop what holds it or set "
                    f"PIVOTWATCH_{name.upper()}_PORT"
                )

    def spawn(self, child: Child) -> None:
        log_dir = self.home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / f"{child.name}.log").open("ab")
        env = self.child_env()
        if child.pool_metrics:
            # prometheus_client reads it at import, so it is set here, before the worker starts.
            metrics = self.home / "metrics" / child.name
            metrics.mkdir(parents=True, exist_ok=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
        child.proc = subprocess.Popen(
            child.argv,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def start_services(self) -> None:
        self.children = self.plan()
        for child in self.children:
            self.spawn(child)

    def urls(self) -> dict[str, str]:
        s = self.settings
        return {
            "ingest": f"http://{s.host}:{s.ingest_port}",
            "timeline": f"http://{s.host}:{s.timeline_port}",
            "notify": f"http://{s.host}:{s.notify_port}",
        }

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(self.urls())
        while pending and time.monotonic() < deadline:
            for child in self.children:
                if child.proc is not None and child.proc.poll() is not None:
                    raise StartError(
                        f"{child.name} exited with {child.proc.returncode}; "
                        f"see {self.home / 'logs' / (child.name + '.log')}"
                    )
            for name, url in list(pending.items()):
                try:
                    if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        if pending:
            raise StartError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")

    def supervise(self) -> None:
        """Restart a child that dies (with a growing pause) until we are told to stop."""
        while not self.stopping.wait(1.0):
            for child in self.children:
                if child.proc is None or child.proc.poll() is None:
                    continue
                child.restarts += 1
                # What the dead process left in its group (a Celery worker's pool processes)
                # goes too: its successor takes its unacknowledged work back at once, and must
                # not run it beside an orphan still running it.
                _signal_group(child.proc, signal.SIGKILL)
                self.say(f"{child.name} exited ({child.proc.returncode}); restarting")
                if self.stopping.wait(min(2 ** min(child.restarts, 5) * 0.25, 8)):
                    return
                self.spawn(child)

    def stop(self) -> None:
        self.stopping.set()
        procs = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for p in procs:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                p.wait(5)
        for p in procs:
            _signal_group(p, signal.SIGKILL)  # stragglers in the group (prefork children)
        if self.pg is not None:
            self.pg.stop()
        if self.redis is not None:
            self.redis.stop()
        runtime = self.home / "runtime.json"
        runtime.unlink(missing_ok=True)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
