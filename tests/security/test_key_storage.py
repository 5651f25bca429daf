"""API keys: stored only as hashes, and a presented key is decided by a constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis

import shared.auth
from services.ingest.app import create_app as ingest_app
from shared.auth import KEY_PREFIX, Scope
from shared.redis_keys import API_KEYS
from shared.settings import Settings


def secret_part(key: str) -> str:
    return key.split("_", 2)[2]  # pw_<public id>_<token>; the token may itself hold "_"


class TestKeysAreStoredHashed:
    def test_neither_the_table_nor_the_redis_mirror_holds_a_plaintext_key(
        self, make_key: Callable[..., str], migrated: Any, redis_client: Redis
    ) -> None:
        keys = [make_key(scope, name=f"k-{scope.value}") for scope in Scope]
        with psycopg.connect(migrated.database_url) as conn:
            rows = [r[0] for r in conn.execute("SELECT row_to_json(k)::text FROM api_keys k")]
            hashes = {r[0] for r in conn.execute("SELECT key_hash FROM api_keys")}
        mirror = redis_client.hgetall(API_KEYS)
        stored = (
            "\n".join(rows) + "\n" + "\n".join(k.decode() + v.decode() for k, v in mirror.items())
        )
        assert len(rows) == len(keys) == len(mirror)
        for key in keys:
            assert key.startswith(KEY_PREFIX)
            assert key not in stored
            assert secret_part(key) not in stored
            assert hashlib.sha256(key.encode()).hexdigest() in hashes


class TestConstantTimeComparison:
    async def test_the_lookup_decides_with_compare_digest(
        self,
        settings: Settings,
        serve: Any,
        make_key: Callable[..., str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        calls: list[tuple[str, str]] = []
        real = hmac.compare_digest

        def recording(a: Any, b: Any) -> bool:
            calls.append((a, b))
            return real(a, b)

        monkeypatch.setattr(shared.auth.hmac, "compare_digest", recording)
        key = make_key(Scope.EVENTS_WRITE)
        digest = hashlib.sha256(key.encode()).hexdigest()
        async with serve(ingest_app(settings)) as client:
            status = await client.get(
                "/v1/events/6f1f8a52-3c2b-4f57-9a43-1d2b7c0f5e11/status",
                headers={"authorization": f"Bearer {key}"},
            )
        assert status.status_code == 404  # authenticated: the event is just unknown
        assert calls == [(digest, digest)]

    async def test_a_mismatch_found_by_compare_digest_is_refused(
        self,
        settings: Settings,
        serve: Any,
        make_key: Callable[..., str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # If the comparison says no, the key is refused even though the digest was found.
        monkeypatch.setattr(shared.auth.hmac, "compare_digest", lambda a, b: False)
        key = make_key(Scope.EVENTS_WRITE)
        async with serve(ingest_app(settings)) as client:
            r = await client.post(
                "/v1/events", content=b"{}", headers={"authorization": f"Bearer {key}"}
            )
        assert r.status_code == 401


class TestLocalFilesAndServers:
    def test_private_files_are_never_readable_by_others_even_for_a_moment(
        self, tmp_path: Path
    ) -> None:
        import os
        import stat

        from pivotwatch.embedded import write_private

        path = tmp_path / "dev-api-key"
        path.write_text("old")
        path.chmod(0o644)  # an earlier, wider file
        # The mode the file has at the moment its secret is written (a file written, then
        # chmod'ed, is readable by others in between).
        seen: list[int] = []
        real_write = os.write

        def watching_write(fd: int, data: bytes) -> int:
            seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
            return real_write(fd, data)

        old_umask = os.umask(0)
        os.write = watching_write  # type: ignore[assignment]
        try:
            write_private(path, "pw_secret\n")
            write_private(tmp_path / "new", "x")
        finally:
            os.write = real_write
            os.umask(old_umask)
        assert seen == [0o600, 0o600]
        for p in (path, tmp_path / "new"):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600
        assert path.read_text() == "pw_secret\n"

    def test_the_embedded_redis_refuses_clients_without_its_password(self, tmp_path: Path) -> None:
        import stat

        from redis.exceptions import AuthenticationError, ResponseError

        from pivotwatch.embedded import EmbeddedRedis, free_port

        rd = EmbeddedRedis(tmp_path / "redis", free_port())
        url = rd.start()
        try:
            anonymous = Redis(host="127.0.0.1", port=rd.port, socket_timeout=5)
            with pytest.raises((AuthenticationError, ResponseError)):
                anonymous.hset("pw:apikeys", "x", "y")
            anonymous.close()
            with Redis.from_url(url, socket_timeout=5) as client:
                assert client.ping()
            assert stat.S_IMODE((tmp_path / "redis" / "password").stat().st_mode) == 0o600
            assert stat.S_IMODE((tmp_path / "redis" / "redis.conf").stat().st_mode) == 0o600
            cmdline = Path(f"/proc/{rd.proc.pid}/cmdline").read_bytes()  # type: ignore[union-attr]
            assert rd.password.encode() not in cmdline
        finally:
            rd.stop()


class TestEmbeddedPostgresAuth:
    def _refused_without_password(self, port: int) -> bool:
        try:
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=5)
        except psycopg.OperationalError as exc:
            return "password" in str(exc)
        return False

    def test_a_new_cluster_asks_for_its_password(self, tmp_path: Path) -> None:
        import stat

        from pivotwatch.embedded import EmbeddedPostgres, free_port

        pg = EmbeddedPostgres(tmp_path / "pg", free_port())
        url = pg.start()
        try:
            assert self._refused_without_password(pg.port)
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            assert stat.S_IMODE((tmp_path / "pg" / "password").stat().st_mode) == 0o600
        finally:
            pg.stop()

    def test_a_cluster_made_with_trust_moves_to_the_password_and_keeps_its_data(
        self, tmp_path: Path
    ) -> None:
        from pivotwatch.embedded import EmbeddedPostgres, free_port, is_trust

        pg = EmbeddedPostgres(tmp_path / "pg", free_port())
        pg.start()
        hba = tmp_path / "pg" / "pgdata" / "pg_hba.conf"
        try:
            with psycopg.connect(pg.url, autocommit=True) as conn:
                conn.execute("CREATE TABLE kept (n int)")
                conn.execute("INSERT INTO kept VALUES (42)")
        finally:
            pg.stop()
        # What an earlier version left: every rule trust.
        hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
        pg.start()
        try:
            assert self._refused_without_password(pg.port)
            with psycopg.connect(pg.url) as conn:
                assert conn.execute("SELECT n FROM kept").fetchone() == (42,)
            assert not any(is_trust(line) for line in hba.read_text().splitlines())
        finally:
            pg.stop()
