"""End-to-end layer: the real `pivotwatch up` as a process tree, driven over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from pivotwatch.embedded import free_port

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    home: Path
    env: dict[str, str]
    ingest: str
    timeline: str
    notify: str
    output: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    @property
    def key(self) -> str:
        return (self.home / "dev-api-key").read_text().strip()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        if self.pump is not None:
            self.pump.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def processes(self) -> list[psutil.Process]:
        """Every live process started for this stack (they all carry its home in the env)."""
        found = []
        for p in psutil.process_iter(["pid"]):
            try:
                home = str(self.home)
                if p.environ().get("PIVOTWATCH_HOME") == home or home in " ".join(p.cmdline()):
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return [p for p in found if p.pid != os.getpid() and p.status() != psutil.STATUS_ZOMBIE]


def start_stack(home: Path, extra_env: dict[str, str] | None = None, seed: bool = True) -> Stack:
    ports = {name: free_port() for name in ("ingest", "timeline", "notify", "pg", "redis")}
    env = {
        **os.environ,
        "PIVOTWATCH_HOME": str(home),
        "PIVOTWATCH_INGEST_PORT": str(ports["ingest"]),
        "PIVOTWATCH_TIMELINE_PORT": str(ports["timeline"]),
        "PIVOTWATCH_NOTIFY_PORT": str(ports["notify"]),
        "PIVOTWATCH_EMBEDDED_POSTGRES_PORT": str(ports["pg"]),
        "PIVOTWATCH_EMBEDDED_REDIS_PORT": str(ports["redis"]),
        "PIVOTWATCH_RETRY_SCHEDULE_SECONDS": "[0, 0.5, 1, 2]",
        "PIVOTWATCH_RETRY_JITTER": "0",
        "PIVOTWATCH_DISPATCH_INTERVAL_SECONDS": "0.5",
        "PIVOTWATCH_WEBHOOK_TIMEOUT_SECONDS": "3",
        **(extra_env or {}),
    }
    for name in ("PIVOTWATCH_DATABASE_URL", "PIVOTWATCH_REDIS_URL"):
        if not (extra_env or {}).get(name):
            env.pop(name, None)
    argv = [sys.executable, "-m", "pivotwatch.cli", "up"] + ([] if seed else ["--no-seed"])
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    stack = Stack(
        proc,
        home,
        env,
        f"http://127.0.0.1:{ports['ingest']}",
        f"http://127.0.0.1:{ports['timeline']}",
        f"http://127.0.0.1:{ports['notify']}",
    )
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.output.append(line.rstrip())
            if "Ctrl-C stops everything" in line:
                ready.set()
        ready.set()

    stack.pump = threading.Thread(target=pump, daemon=True)
    stack.pump.start()
    if not ready.wait(120) or proc.poll() is not None:
        stack.stop(signal.SIGTERM)
        logs = (
            "\n".join(
                f"--- {p.name}\n{p.read_text()[-2000:]}"
                for p in sorted((home / "logs").glob("*.log"))
            )
            if (home / "logs").exists()
            else ""
        )
        raise AssertionError("stack did not come up:\n" + "\n".join(stack.output) + logs)
    return stack


@pytest.fixture
def stack_home(tmp_path: Path) -> Path:
    return tmp_path / "pw"


class Receiver:
    """A webhook receiver on loopback that records what it gets and answers as told."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.received.append({"headers": dict(self.headers.items()), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {n} webhooks, got {len(self.received)}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
