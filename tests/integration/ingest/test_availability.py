"""Durability under failure: 503 while Redis is down, recovery without a restart, and ingest that
keeps accepting while PostgreSQL is down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from pivotwatch.embedded import EmbeddedRedis, free_port
from services.ingest import service
from services.ingest.app import create_app
from shared.auth import Principal, Scope, create_key
from shared.errors import DependencyUnavailable
from shared.redis_keys import INGEST_STREAM, status_key
from shared.settings import Settings

STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, to stop and start (AOF on, as in production)."""
    server = EmbeddedRedis(tmp_path / "redis", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _key(sessions: sessionmaker[Session], url: str, scopes: list[Scope]) -> dict[str, str]:
    client = Redis.from_url(url)
    try:
        with sessions() as session, session.begin():
            secret = create_key(session, client, "outage", scopes).secret
    finally:
        client.close()
    return {"authorization": f"Bearer {secret}"}


class TestRedisDown:
    async def test_503_while_down_and_recovery_after_restart(
        self,
        settings: Settings,
        serve: Any,
        sessions: sessionmaker[Session],
        own_redis: EmbeddedRedis,
        envelope: Any,
    ) -> None:
        writer = _key(sessions, own_redis.url, [Scope.EVENTS_WRITE])
        app = create_app(settings.model_copy(update={"redis_url": own_redis.url}))
        async with serve(app) as ingest:
            before = await ingest.post(
                "/v1/events",
                content=orjson.dumps(envelope("before")),
                headers={**writer, **STRUCTURED},
            )
            assert before.status_code == 202, before.text

            own_redis.stop()
            down = await ingest.post(
                "/v1/events",
                content=orjson.dumps(envelope("during")),
                headers={**writer, **STRUCTURED},
            )
            down_batch = await ingest.post(
                "/v1/events/batch",
                content=orjson.dumps([envelope("b-1"), envelope("b-2")]),
                headers={**writer, **BATCH},
            )
            down_status = await ingest.get(before.json()["status_url"], headers=writer)
            not_ready = await ingest.get("/readyz")

            own_redis.start()  # same port and data directory: the AOF brings the keys back
            after = await ingest.post(
                "/v1/events",
                content=orjson.dumps(envelope("during")),
                headers={**writer, **STRUCTURED},
            )
            after_batch = await ingest.post(
                "/v1/events/batch",
                content=orjson.dumps([envelope("b-1"), envelope("b-2")]),
                headers={**writer, **BATCH},
            )
            ready = await ingest.get("/readyz")

        for r in (down, down_batch, down_status):
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "unavailable"
            assert int(r.headers["retry-after"]) >= 1
        assert not_ready.status_code == 503
        assert after.status_code == 202, after.text
        assert after.json()["duplicate"] is False
        assert after_batch.status_code == 202
        assert after_batch.json()["accepted"] == 2
        assert ready.status_code == 200
        check = Redis.from_url(own_redis.url)
        try:
            ids = [orjson.loads(f[b"ce"])["id"] for _, f in check.xrange(INGEST_STREAM)]
        finally:
            check.close()
        # Nothing answered 503 was written; everything answered 202 is there, once.
        assert ids == ["before", "during", "b-1", "b-2"]

    async def test_unreachable_redis_at_start_is_503_not_500(
        self, settings: Settings, serve: Any, envelope: Any
    ) -> None:
        down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
        async with serve(create_app(down)) as ingest:
            r = await ingest.post(
                "/v1/events",
                content=orjson.dumps(envelope()),
                headers={**STRUCTURED, "authorization": "Bearer pw_abc_def"},
            )
        assert r.status_code == 503
        assert "retry-after" in r.headers


class TestRedisDownMidRequest:
    """Redis stops after the key was checked, while the body is still arriving: the route's own
    Redis call answers 503, and nothing was written."""

    @staticmethod
    async def _stopping(server: EmbeddedRedis, body: bytes) -> AsyncIterator[bytes]:
        yield body[:1]
        server.stop()
        yield body[1:]

    async def test_batch_rate_limit_answers_503(
        self,
        settings: Settings,
        serve: Any,
        sessions: sessionmaker[Session],
        own_redis: EmbeddedRedis,
        envelope: Any,
    ) -> None:
        writer = _key(sessions, own_redis.url, [Scope.EVENTS_WRITE])
        body = orjson.dumps([envelope("b-1"), envelope("b-2")])
        app = create_app(settings.model_copy(update={"redis_url": own_redis.url}))
        async with serve(app) as ingest:
            r = await ingest.post(
                "/v1/events/batch",
                content=self._stopping(own_redis, body),
                headers={**writer, **BATCH},
            )
        assert r.status_code == 503, r.text
        assert r.json() == {
            "error": "unavailable",
            "detail": "Redis is unreachable; nothing was written",
            "field": None,
        }
        assert r.headers["retry-after"] == "2"

    async def test_article_publish_answers_503(
        self,
        settings: Settings,
        serve: Any,
        sessions: sessionmaker[Session],
        own_redis: EmbeddedRedis,
    ) -> None:
        writer = _key(sessions, own_redis.url, [Scope.EVENTS_WRITE])
        body = orjson.dumps(
            {
                "url": "https://news.example/2025/01/31/outage",
                "published_date": "2025-01-31",
                "title": "A short article",
                "text": "On Friday the company said it had changed course.",
            }
        )
        app = create_app(settings.model_copy(update={"redis_url": own_redis.url}))
        async with serve(app) as ingest:
            r = await ingest.post(
                "/v1/articles",
                content=self._stopping(own_redis, body),
                headers={**writer, "content-type": "application/json"},
            )
        assert r.status_code == 503, r.text
        assert r.json()["detail"] == "Redis is unreachable; nothing was written, retry later"
        assert r.headers["retry-after"] == "2"


class TestStatusWithoutRedis:
    async def test_status_read_on_a_closed_port_is_503(self, settings: Settings) -> None:
        closed = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
        admin = Principal("k-1", "admin", frozenset({Scope.ADMIN.value}))
        try:
            with pytest.raises(DependencyUnavailable) as raised:
                await service.event_status(
                    closed, settings, admin, "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
                )
        finally:
            await closed.aclose()
        assert (raised.value.detail, raised.value.retry_after) == ("Redis is unreachable", 2)

    async def test_worker_check_refused_by_redis_is_503(
        self,
        settings: Settings,
        serve: Any,
        sessions: sessionmaker[Session],
        own_redis: EmbeddedRedis,
    ) -> None:
        # The second read of a processing event (is its worker alive?) cannot be made to meet a
        # stopped Redis; a Redis that refuses it (NOPERM, a ResponseError) takes the same path.
        admin = _key(sessions, own_redis.url, [Scope.EVENTS_WRITE, Scope.ADMIN])
        event_id = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
        setup = Redis.from_url(own_redis.url)
        try:
            setup.hset(
                status_key(event_id),
                mapping={"state": "processing", "worker": "w-1", "processing_since": "now"},
            )
            setup.acl_setuser(
                "no-exists",
                enabled=True,
                passwords=["+pw"],
                keys=["*"],
                channels=["*"],
                commands=["+@all", "-exists"],
            )
        finally:
            setup.close()
        url = f"redis://no-exists:pw@127.0.0.1:{own_redis.port}/0"
        async with serve(create_app(settings.model_copy(update={"redis_url": url}))) as ingest:
            r = await ingest.get(f"/v1/events/{event_id}/status", headers=admin)
        assert r.status_code == 503, r.text
        assert r.json()["detail"] == "Redis is unreachable"
        assert r.headers["retry-after"] == "2"


class TestPostgresDown:
    async def test_ingest_accepts_while_postgres_is_unreachable(
        self,
        settings: Settings,
        serve: Any,
        writer: dict[str, str],
        envelope: Any,
        redis_client: Redis,
    ) -> None:
        # The key was created while PostgreSQL was up; ingest then only ever asks Redis.
        dead = f"postgresql://postgres@127.0.0.1:{free_port()}/pivotwatch"
        app = create_app(settings.model_copy(update={"database_url": dead}))
        async with serve(app) as ingest:
            r = await ingest.post(
                "/v1/events", content=orjson.dumps(envelope()), headers={**writer, **STRUCTURED}
            )
            status = await ingest.get(r.json()["status_url"], headers=writer)
            ready = await ingest.get("/readyz")
        assert r.status_code == 202, r.text
        assert status.json()["status"] == "accepted"
        assert ready.status_code == 200
        assert redis_client.xlen(INGEST_STREAM) == 1


class TestIngestLogFull:
    """Past `ingest_stream_maxlen` entries waiting on the ingest log, nothing more is written: 503
    with Retry-After, before Redis (which evicts nothing) runs out of memory."""

    @pytest.fixture
    async def ingest(self, settings: Settings, serve: Any) -> AsyncIterator[httpx.AsyncClient]:
        """Ingest whose log may hold 3 entries."""
        async with serve(create_app(settings.model_copy(update={"ingest_stream_maxlen": 3}))) as c:
            yield c

    async def test_503_at_the_limit_duplicates_still_answered_and_accepted_once_drained(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        async def post(ce_id: str) -> Any:
            body = orjson.dumps(envelope(ce_id=ce_id))
            return await ingest.post("/v1/events", content=body, headers={**writer, **STRUCTURED})

        first = [await post(f"e-{i}") for i in range(3)]
        full = await post("e-3")
        again = await post("e-0")  # already on the log: answered, writes nothing
        batch = await ingest.post(
            "/v1/events/batch",
            content=orjson.dumps([envelope(ce_id="e-4"), envelope(ce_id="e-5")]),
            headers={**writer, **BATCH},
        )
        waiting = redis_client.xlen(INGEST_STREAM)
        redis_client.xtrim(INGEST_STREAM, maxlen=0)  # the relay took them all
        after = await post("e-3")
        assert [r.status_code for r in first] == [202, 202, 202]
        assert full.status_code == 503, full.text
        assert full.headers["retry-after"] == "5"
        assert full.json()["error"] == "unavailable"
        assert "ingest log holds 3 or more" in full.json()["detail"]
        assert "nothing was written" in full.json()["detail"]
        assert again.status_code == 202 and again.json()["status"] == "duplicate"
        assert batch.status_code == 503 and "2 of 2 not written" in batch.json()["detail"]
        assert waiting == 3
        assert after.status_code == 202 and after.json()["status"] == "accepted"
        assert redis_client.xlen(INGEST_STREAM) == 1

    async def test_a_batch_that_fills_the_log_says_what_was_written_and_a_resend_is_safe(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        batch = orjson.dumps([envelope(ce_id=f"b-{i}") for i in range(4)])
        headers = {**writer, **BATCH}
        filled = await ingest.post("/v1/events/batch", content=batch, headers=headers)
        redis_client.xtrim(INGEST_STREAM, maxlen=0)
        resent = await ingest.post("/v1/events/batch", content=batch, headers=headers)
        assert filled.status_code == 503, filled.text
        detail = filled.json()["detail"]
        assert "1 of 4 not written (3 were; posting them again answers 'duplicate')" in detail
        assert resent.status_code == 202, resent.text
        assert (resent.json()["accepted"], resent.json()["duplicate"]) == (1, 3)
