"""Security layer: each service as a real HTTP server (uvicorn in a thread) on the suite's real
PostgreSQL and Redis, driven with hostile bytes over a plain socket or with httpx."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from services.enrich.relay import entries_from_stream
from services.enrich.service import process_chunk
from services.ingest.app import create_app as ingest_app
from services.notify.app import create_app as notify_app
from services.timeline.app import create_app as timeline_app
from shared.redis_keys import INGEST_STREAM
from shared.settings import Settings
from tests.fixtures.server import serving
from tests.integration.conftest import _clean, make_key, serve, sessions

__all__ = ["_clean", "make_key", "serve", "sessions"]

APPS: dict[str, Callable[[Settings], FastAPI]] = {
    "ingest": ingest_app,
    "timeline": timeline_app,
    "notify": notify_app,
}


@dataclass(frozen=True)
class Live:
    """A service listening on 127.0.0.1."""

    url: str
    port: int


@pytest.fixture
def live() -> Callable[[FastAPI], AbstractContextManager[Live]]:
    @contextmanager
    def run(app: FastAPI) -> Iterator[Live]:
        with serving(app) as url:
            yield Live(url, int(url.rsplit(":", 1)[1]))

    return run


@pytest.fixture(scope="module")
def module_settings(migrated: Any) -> Settings:
    """Settings for servers shared by a module's tests (each test still starts from clean tables
    and Redis, so each makes its own keys)."""
    return Settings(
        env="test",
        database_url=migrated.database_url,
        redis_url=migrated.redis_url,
        webhook_allow_networks=["127.0.0.0/8", "::1/128"],
        log_json=True,
    )


def _module_server(name: str) -> Any:
    @pytest.fixture(scope="module")
    def server(module_settings: Settings) -> Iterator[Live]:
        with serving(APPS[name](module_settings)) as url:
            yield Live(url, int(url.rsplit(":", 1)[1]))

    return server


ingest_server = _module_server("ingest")
timeline_server = _module_server("timeline")
notify_server = _module_server("notify")


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_head: bytes = b""

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body)


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


def raw_request(port: int, request: bytes, timeout: float = 30) -> RawResponse:
    """Send `request` byte for byte (no client library cleans it up) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return RawResponse(int(status_line.split()[1]), headers, body, head)


def http_request(
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
) -> bytes:
    """An HTTP/1.1 request as bytes, exactly as given (Connection: close, Content-Length set)."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"connection: close", b"content-length: " + str(len(body)).encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever a test sends, no service may have failed on it: the in-thread servers log an
    unexpected exception on `pivotwatch.errors` (our 500 handler) or `uvicorn.error`."""
    caplog.set_level(logging.WARNING)
    yield
    failures = [
        r
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR and r.name in ("pivotwatch.errors", "uvicorn.error")
    ]
    assert not failures, [f"{r.name}: {r.getMessage()} {r.exc_info}" for r in failures]


def stored_from_stream(sessions: sessionmaker[Session], client: Redis) -> int:
    """Hand what ingest wrote on pw:ingest to the worker's own code, as the relay does."""
    entries = entries_from_stream(client.xrange(INGEST_STREAM))
    if not entries:
        return 0
    result = process_chunk(sessions, client, entries, lambda _: None)
    assert not result.rejected, result.rejected
    return len(entries)
