"""End-to-end layer: the real `pivotwatch up` as a process tree, driven over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from pivotwatch.embedded import free_port
from tests.fixtures.process import OutputProcess
from tests.fixtures.receiver import Receiver

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    run: OutputProcess  # `pivotwatch up`
    home: Path
    env: dict[str, str]
    ingest: str
    timeline: str
    notify: str

    @property
    def proc(self) -> subprocess.Popen[str]:
        return self.run.proc

    @property
    def output(self) -> list[str]:
        return self.run.lines

    @property
    def key(self) -> str:
        return (self.home / "dev-api-key").read_text().strip()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        return self.run.stop(sig, timeout)

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
    run = OutputProcess(argv, env, ready_text="Ctrl-C stops everything")
    stack = Stack(
        run,
        home,
        env,
        f"http://127.0.0.1:{ports['ingest']}",
        f"http://127.0.0.1:{ports['timeline']}",
        f"http://127.0.0.1:{ports['notify']}",
    )
    if not run.ready.wait(120) or run.proc.poll() is not None:
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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
