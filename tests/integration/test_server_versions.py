"""The Redis and PostgreSQL this run uses (the embedded ones under `make test`, this machine's
under `make test-external`) are versions the README supports: a run against another one says so
here, not only in whatever test its difference breaks."""

from __future__ import annotations

import psycopg
from redis import Redis

from tests.conftest import Servers
from tests.unit.test_compose import server_versions

_, SUPPORTED = server_versions()


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _within(version: str, server: str) -> bool:
    lo, hi = SUPPORTED[server]
    depth = len(lo.split("."))  # "7.4" bounds every 7.4.x
    return _key(lo) <= _key(version)[:depth] <= _key(hi)


class TestServerVersions:
    def test_redis_is_supported(self, migrated: Servers) -> None:
        client = Redis.from_url(migrated.redis_url)
        try:
            version = str(client.info("server")["redis_version"])
        finally:
            client.close()
        assert _within(version, "redis"), (version, SUPPORTED["redis"])

    def test_postgres_is_supported(self, migrated: Servers) -> None:
        with psycopg.connect(migrated.database_url) as conn:
            major = str(conn.info.server_version // 10000)
        assert _within(major, "postgres"), (major, SUPPORTED["postgres"])
