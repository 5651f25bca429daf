"""Fuzzing layer: each service runs as a real HTTP server (uvicorn in a thread) on real PostgreSQL
and Redis; schemathesis generates requests from the service's own OpenAPI document.

PIVOTWATCH_FUZZ_EXAMPLES bounds the examples per operation (small in CI; `make fuzz` raises it).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from pivotwatch.embedded import free_port
from shared.auth import Scope, create_key
from shared.db import make_engine, session_factory
from shared.settings import Settings


class ThreadedServer:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def fuzz_settings(migrated: Any) -> Settings:
    return Settings(
        env="test",
        database_url=migrated.database_url,
        redis_url=migrated.redis_url,
        webhook_allow_networks=["127.0.0.0/8"],
        rate_limit_per_second=1e6,
        rate_limit_burst=1_000_000,
        log_level="WARNING",
        # A live stream ends by itself after half a second, so each generated stream request
        # is answered in full (the generated ones otherwise wait for events forever).
        stream_max_seconds=0.5,
        stream_heartbeat_seconds=0.2,
    )


@pytest.fixture(scope="module")
def admin_key(fuzz_settings: Settings) -> Iterator[str]:
    engine = make_engine(fuzz_settings, pool_size=1)
    sessions: sessionmaker[Session] = session_factory(engine)
    client = Redis.from_url(fuzz_settings.redis_url)
    with sessions() as session, session.begin():
        key = create_key(session, client, "fuzz", list(Scope)).secret
    yield key
    client.close()
    engine.dispose()
