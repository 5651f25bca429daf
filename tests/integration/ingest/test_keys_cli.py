"""`pivotwatch keys create|list|revoke` through the real CLI, against the test servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from shared.settings import Settings

STRUCTURED = {"content-type": "application/cloudevents+json"}


@pytest.fixture
def cli(settings: Settings, tmp_path: Path) -> Any:
    env = {
        **os.environ,
        "PIVOTWATCH_DATABASE_URL": settings.database_url,
        "PIVOTWATCH_REDIS_URL": settings.redis_url,
        "PIVOTWATCH_HOME": str(tmp_path / "home"),
        "PIVOTWATCH_ENV": "test",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pivotwatch.cli", "keys", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def field(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(name):
            return line.split(None, 1)[1]
    raise AssertionError(f"no '{name}' in {output!r}")


class TestKeysCli:
    async def test_create_list_use_revoke(
        self, cli: Any, ingest: httpx.AsyncClient, envelope: Any, settings: Settings
    ) -> None:
        created = cli("create", "--name", "reporter-bot", "--scope", "events:write")
        assert created.returncode == 0, created.stderr
        secret, prefix = field(created.stdout, "key"), field(created.stdout, "prefix")
        assert secret.startswith(f"pw_{prefix}_")
        assert field(created.stdout, "scopes") == "events:write"

        listed = cli("list")
        assert listed.returncode == 0, listed.stderr
        (line,) = [x for x in listed.stdout.splitlines() if x.startswith(prefix)]
        assert "active" in line and "reporter-bot" in line and "events:write" in line
        assert secret not in listed.stdout

        with psycopg.connect(settings.database_url) as conn:
            stored = conn.execute("SELECT key_hash FROM api_keys WHERE prefix = %s", [prefix])
            (key_hash,) = stored.fetchone() or ("",)
        assert key_hash and secret not in key_hash  # only the hash is kept

        headers = {**STRUCTURED, "authorization": f"Bearer {secret}"}
        before = await ingest.post("/v1/events", content=orjson.dumps(envelope()), headers=headers)
        assert before.status_code == 202, before.text

        revoked = cli("revoke", prefix)
        assert revoked.returncode == 0, revoked.stderr
        assert "revoked" in cli("list").stdout

        after = await ingest.post(
            "/v1/events", content=orjson.dumps(envelope("e-2")), headers=headers
        )
        assert after.status_code == 401
        assert after.json()["detail"] == "the API key is unknown or revoked"

    async def test_scopes_given_on_the_command_line_are_enforced(
        self, cli: Any, ingest: httpx.AsyncClient, envelope: Any
    ) -> None:
        created = cli("create", "--name", "subscriber", "--scope", "subscriptions:write")
        secret = field(created.stdout, "key")
        r = await ingest.post(
            "/v1/events",
            content=orjson.dumps(envelope()),
            headers={**STRUCTURED, "authorization": f"Bearer {secret}"},
        )
        assert r.status_code == 403

    def test_revoking_an_unknown_key_fails(self, cli: Any) -> None:
        r = cli("revoke", "deadbeef")
        assert r.returncode == 1
        assert "no active key 'deadbeef'" in r.stderr

    def test_unknown_scope_is_refused(self, cli: Any) -> None:
        r = cli("create", "--name", "x", "--scope", "everything")
        assert r.returncode == 2
        assert "invalid choice" in r.stderr
