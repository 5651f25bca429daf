"""Restart over its own data: `pivotwatch up` on an embedded Redis whose AOF takes seconds to load
waits for the load (one line, no traceback) and comes up with the data intact; and the wait for
PostgreSQL outlasts a server that starts only later."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis

from pivotwatch.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from shared.waiting import wait_for_postgres
from tests.e2e.conftest import start_stack
from tests.fixtures.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

# Many small hash fields: Redis loads them one by one, so the AOF takes seconds to load, where
# the same bytes as a few large values would load in a fraction of one.
HASHES = 30
FIELDS = 100_000  # per hash
BATCH = 1000  # fields per HSET
VALUE_HEX = 24


@pytest.fixture
def home() -> Iterator[Path]:
    """Not under pytest's basetemp: as root, PostgreSQL runs as another user, and a concurrent
    pytest session makes basetemp's parent private again (0700) while the server starts."""
    path = Path(tempfile.mkdtemp(prefix="pivotwatch-restart-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def fill(port: int, password: str) -> None:
    """Write HASHES hashes `filler:<n>` of FIELDS random fields each (about 110 MB of payload),
    pipelined as raw HSET commands: the bodies are packed once and reused for every hash."""
    values = os.urandom(FIELDS * VALUE_HEX // 2).hex().encode()
    bodies = [
        b"".join(
            b"$12\r\n%012d\r\n$%d\r\n%s\r\n"
            % (i, VALUE_HEX, values[i * VALUE_HEX : (i + 1) * VALUE_HEX])
            for i in range(start, start + BATCH)
        )
        for start in range(0, FIELDS, BATCH)
    ]
    reply = b":%d\r\n" % BATCH
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        auth = password.encode()
        sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(auth), auth))
        assert sock.recv(16) == b"+OK\r\n", "the embedded Redis refused its own password"
        for n in range(HASHES):
            key = b"filler:%d" % n
            head = b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n" % (2 + 2 * BATCH, len(key), key)
            sock.sendall(b"".join(head + body for body in bodies))
            expected, got = reply * len(bodies), b""
            while len(got) < len(expected):
                chunk = sock.recv(65536)
                assert chunk, "Redis closed the connection"
                got += chunk
            assert got == expected, got[:200]


def test_up_waits_for_redis_to_load_its_aof(home: Path) -> None:
    stack_home = home / "pw"
    redis_dir = stack_home / "redis"  # where `pivotwatch up` keeps its embedded Redis
    redis = EmbeddedRedis(redis_dir, free_port())
    redis.start()
    try:
        started = time.monotonic()
        fill(redis.port, redis.password)
        client = Redis.from_url(redis.url)
        # Let an automatic AOF rewrite finish, so the file is the shape a long run leaves.
        while client.info("persistence")["aof_rewrite_in_progress"]:
            time.sleep(0.1)
        used = client.info("memory")["used_memory"]
        sample = client.hget("filler:7", b"%012d" % 4242)
        client.close()
        filled = time.monotonic() - started
    finally:
        redis.stop()  # SIGTERM: Redis writes and fsyncs the AOF before it exits
    aof_bytes = sum(p.stat().st_size for p in redis_dir.glob("appendonly*"))
    assert aof_bytes >= 100_000_000, aof_bytes

    stack = start_stack(stack_home, seed=False)
    try:
        output = "\n".join(stack.output)
        waiting = [line for line in stack.output if line.startswith("waiting for Redis")]
        assert len(waiting) == 1, output
        assert re.fullmatch(
            r"waiting for Redis at 127\.0\.0\.1:\d+ to load its dataset \(\d+% of \d+ MB\)…",
            waiting[0],
        ), output
        ready = [line for line in stack.output if re.fullmatch(r"Redis ready after [\d.]+ s", line)]
        assert len(ready) == 1, output
        assert stack.output.index(waiting[0]) < stack.output.index(ready[0])
        assert "Traceback" not in output and "LOADING" not in output, output
        print(
            f"filled {aof_bytes / 1e6:.0f} MB of AOF ({used / 1e6:.0f} MB in memory) in "
            f"{filled:.1f} s; up said: {waiting[0]!r}, {ready[0]!r}"
        )

        for url in (stack.ingest, stack.timeline, stack.notify):
            assert httpx.get(f"{url}/readyz").status_code == 200, url
        port = int(stack.env["PIVOTWATCH_EMBEDDED_REDIS_PORT"])
        # `up` reuses the password its data dir keeps.
        client = Redis.from_url(f"redis://:{redis.password}@127.0.0.1:{port}/0")
        try:
            assert [client.hlen(f"filler:{n}") for n in range(HASHES)] == [FIELDS] * HASHES
            assert client.hget("filler:7", b"%012d" % 4242) == sample
        finally:
            client.close()
        for log in (stack_home / "logs").glob("*.log"):
            text = log.read_text()
            assert "Traceback" not in text and "BusyLoadingError" not in text, log.name
    finally:
        code = stack.stop(signal.SIGINT)
    assert code == 0, "\n".join(stack.output)
    poll(lambda: not stack.processes(), 15, 0.2)
    assert not stack.processes()


def test_wait_for_postgres_outlasts_a_server_that_starts_later(home: Path) -> None:
    port = free_port()
    pg = EmbeddedPostgres(home / "postgres", port)
    pg.say = lambda _line: None  # its own wait, for the server it starts, is not under test
    secret = pg.password  # generated now: the server asks for it once started
    url = f"postgresql://postgres:{secret}@127.0.0.1:{port}/postgres"
    lines: list[str] = []
    waited: list[float] = []
    waiter = threading.Thread(
        target=lambda: waited.append(wait_for_postgres(url, lines.append)), daemon=True
    )
    waiter.start()
    time.sleep(1.0)
    assert lines == [f"waiting for PostgreSQL at 127.0.0.1:{port} to accept connections…"]
    try:
        pg.start()
        waiter.join(30)
        assert not waiter.is_alive()
    finally:
        pg.stop()
    assert waited and waited[0] >= 1.0
    assert lines[-1] == f"PostgreSQL ready after {waited[0]:.1f} s"
    # Each kind of wait is said once: not answering, and maybe starting up.
    assert len(lines) == len(set(lines)) <= 3
    assert not any(secret in line for line in lines)
