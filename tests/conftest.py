"""Real PostgreSQL and Redis for the whole suite.

By default the suite starts the embedded servers (as `pivotwatch up` does on a bare machine) in a
temporary folder on free ports. With PIVOTWATCH_TEST_DATABASE_URL and PIVOTWATCH_TEST_REDIS_URL set
(or else PIVOTWATCH_DATABASE_URL and PIVOTWATCH_REDIS_URL), it uses those servers instead: a fresh
database is created for the session and dropped after it, and the Redis database is flushed between
tests — with the non-test variables that is database 15, never the one the URL names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from pivotwatch.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from shared.migrate import upgrade
from shared.settings import Settings

TABLES = (
    "delivery_attempts, deliveries, endpoint_records, subscriptions, event_links, "
    "event_versions, outbox, events, api_keys, dead_letters"
)


@dataclass(frozen=True)
class Servers:
    database_url: str
    redis_url: str
    embedded: bool


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    db_url = os.environ.get("PIVOTWATCH_TEST_DATABASE_URL")
    redis_url = os.environ.get("PIVOTWATCH_TEST_REDIS_URL")
    if not (db_url and redis_url):
        db_url = os.environ.get("PIVOTWATCH_DATABASE_URL")
        redis_url = os.environ.get("PIVOTWATCH_REDIS_URL")
        if redis_url:
            redis_url = (
                redis_url.rsplit("/", 1)[0] + "/15"
                if redis_url.count("/") > 2
                else (redis_url.rstrip("/") + "/15")
            )
    if db_url and redis_url:
        name = f"pivotwatch_test_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield Servers(_with_db(db_url, name), redis_url, embedded=False)
        finally:
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    # Not under pytest's basetemp: a concurrent pytest session prunes old basetemps, and the
    # servers' data must outlive that for the whole session.
    home = Path(tempfile.mkdtemp(prefix="pivotwatch-test-"))
    pg = EmbeddedPostgres(home / "postgres", free_port())
    rd = EmbeddedRedis(home / "redis", free_port())
    try:
        pg.start()
        rd.start()
        yield Servers(pg.url, rd.url, embedded=True)
    finally:
        pg.stop()
        rd.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated(servers: Servers) -> Servers:
    upgrade(Settings(database_url=servers.database_url).sync_database_url)
    return servers


@pytest.fixture
def settings(migrated: Servers, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=migrated.database_url,
        redis_url=migrated.redis_url,
        home=tmp_path / "home",
        retry_schedule_seconds=[0, 0.2, 0.4, 0.8],
        retry_jitter=0.0,
        webhook_timeout_seconds=2.0,
        webhook_allow_networks=["127.0.0.0/8", "::1/128"],
        log_json=True,
    )


@pytest.fixture
def clean(migrated: Servers) -> Iterator[None]:
    """Each test starts from empty tables and an empty Redis database."""
    with psycopg.connect(migrated.database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    client = Redis.from_url(migrated.redis_url)
    client.flushdb()
    client.close()
    yield


@pytest.fixture
def redis_client(migrated: Servers) -> Iterator[Redis]:
    client = Redis.from_url(migrated.redis_url)
    yield client
    client.close()
