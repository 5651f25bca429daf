"""The process's webhook sender: one event loop in a thread and persistent HTTP clients on it.

A Celery task is synchronous; it hands a batch of sends to this loop and waits for the results.
Connections stay open between batches (keep-alive to each receiver), and the clients, their TLS
context and the loop are built once per process instead of once per batch. Built on first use in
the process that sends — after a prefork worker forks — and rebuilt if the process id changes,
since neither a loop thread nor a connection crosses a fork. `close()` runs at worker-process
shutdown and at exit.

Plain-HTTP requests share one client: they go to a vetted IP, and the `Host` header carries the
name, so a kept-alive connection to that IP:port may serve any endpoint behind it. An HTTPS
connection is bound to the name it was verified for (SNI and the certificate), so each host name
gets a client (a pool) of its own and a connection is never reused for another name.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import ssl
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from services.notify.ssrf import Target, VetCache, VetKey

T = TypeVar("T")

# Idle HTTPS clients beyond this many are closed, least recently used first.
MAX_TLS_CLIENTS = 64
# Kept-alive connections per client. httpcore matches each request to a connection by checking
# every pooled one, so the pool is kept near the number of requests in flight.
KEEPALIVE = 32


@dataclass
class _Tls:
    client: httpx.AsyncClient
    busy: int = 0


class Sender:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="pivotwatch-webhook-sender", daemon=True
        )
        self._thread.start()
        # Touched only on the loop.
        self._plain: httpx.AsyncClient | None = None
        self._tls: dict[str, _Tls] = {}
        self._tls_context: ssl.SSLContext | None = None
        self.vetted = VetCache()
        self.vetting: dict[VetKey, asyncio.Future[Target]] = {}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the sender's loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def _new(self, verify: ssl.SSLContext | bool) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            follow_redirects=False,  # a 3xx is a failure, never followed (SSRF)
            # No bound on connections: the caller's gate bounds what is in flight per batch.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=KEEPALIVE),
            trust_env=False,
            verify=verify,
        )

    @contextlib.contextmanager
    def client(self, tls_host: str | None) -> Iterator[httpx.AsyncClient]:
        """The client for plain HTTP (None) or for HTTPS to `tls_host`, held while a request
        uses it (an idle HTTPS client may be closed). On the loop only."""
        if tls_host is None:
            if self._plain is None:
                self._plain = self._new(False)
            yield self._plain
            return
        entry = self._tls.pop(tls_host, None)
        if entry is None:
            if self._tls_context is None:
                self._tls_context = httpx.create_ssl_context()
            entry = _Tls(self._new(self._tls_context))
            if len(self._tls) >= MAX_TLS_CLIENTS:
                self._evict()
        self._tls[tls_host] = entry  # most recently used last
        entry.busy += 1
        try:
            yield entry.client
        finally:
            entry.busy -= 1

    def _evict(self) -> None:
        """Close the least recently used idle HTTPS clients (up to half of them)."""
        for name, entry in list(self._tls.items())[: len(self._tls) // 2]:
            if not entry.busy:
                del self._tls[name]
                self.loop.create_task(entry.client.aclose())

    async def _aclose(self) -> None:
        clients = [e.client for e in self._tls.values()]
        if self._plain is not None:
            clients.append(self._plain)
        self._plain, self._tls = None, {}
        for c in clients:
            await c.aclose()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            try:
                self.run(asyncio.wait_for(self._aclose(), 10))
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
