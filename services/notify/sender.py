"""The process's webhook sender: one event loop in a thread, and kept-alive connections on it.

A Celery task is synchronous; it hands a batch of sends to this loop and waits for the results.
Connections stay open between batches (keep-alive to each receiver), and the loop, the HTTP
client and its TLS context are built once per process instead of once per batch. Built on first
use in the process that sends — after a prefork worker forks — and rebuilt if the process id
changes, since neither a loop thread nor a connection crosses a fork. `close()` runs at
worker-process shutdown and at exit.

Connections are kept per (scheme, vetted address, port, TLS name) (`services.notify.http1`): a
plain-HTTP connection to an address may serve any endpoint behind it (`Host` carries the name),
an HTTPS connection only the name its certificate was verified for.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from services.notify.http1 import Client
from services.notify.ssrf import Target, VetCache, VetKey

T = TypeVar("T")
_PACED_MAX = 10_000  # endpoints whose last start the sender remembers


class Sender:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="pivotwatch-webhook-sender", daemon=True
        )
        self._thread.start()
        # Used on the loop only.
        self.http = Client()
        self.vetted = VetCache()
        self.vetting: dict[VetKey, asyncio.Future[Target]] = {}
        # When each rate-limited endpoint may next see an attempt start (loop time): see `pace`.
        self.ready: dict[uuid.UUID, float] = {}

    def pace(self, endpoint: uuid.UUID, interval: float) -> float:
        """Seconds to wait before an attempt to `endpoint` may start, `interval` after the last
        one this process started; 0.0 means it may start now, and that start is recorded. Call
        on the loop and start the attempt before the next await: the check and the record are
        then one step for every batch the process sends."""
        now = self.loop.time()
        ready = self.ready.get(endpoint, now)
        if now < ready:
            return ready - now
        if len(self.ready) >= _PACED_MAX:  # forget the endpoints that no longer have to wait
            self.ready = {e: t for e, t in self.ready.items() if t > now}
        self.ready[endpoint] = now + interval
        return 0.0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the sender's loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            try:
                self.run(asyncio.wait_for(self.http.aclose(), 10))
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()


_current: Sender | None = None
_lock = threading.Lock()


def sender() -> Sender:
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = Sender()  # a forked child's inherited sender has no thread: never used
        return _current


def close() -> None:
    """Close this process's sender (its connections and loop); the next use builds a new one."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None and current.pid == os.getpid():
        current.close()


atexit.register(close)
