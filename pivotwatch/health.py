"""Container health checks that need no curl: an HTTP probe and a liveness file/pid check."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx


def probe(url: str, timeout: float = 3.0) -> bool:
    """True when `url` answers 2xx (a service's /readyz)."""
    try:
        return httpx.get(url, timeout=timeout).is_success
    except httpx.HTTPError:
        return False


def heartbeat_fresh(path: Path, max_age: float) -> bool:
    """True when `path` was touched less than `max_age` seconds ago (the relay's heartbeat)."""
    try:
        return time.time() - path.stat().st_mtime < max_age
    except OSError:
        return False


def pid_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True
