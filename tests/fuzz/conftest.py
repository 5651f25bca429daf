"""Fuzzing layer: each service runs as a real HTTP server (uvicorn in a thread) on real PostgreSQL
and Redis; schemathesis generates requests from the service's own OpenAPI document.

PIVOTWATCH_FUZZ_EXAMPLES bounds the examples per operation (small in CI; `make fuzz` raises it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from shared.auth import Scope, create_key
from shared.db import make_engine, session_factory
from shared.settings import Settings


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
