"""POST /v1/events and /v1/events/batch against real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from redis import Redis

from services.ingest.app import create_app
from shared.auth import Scope
from shared.events import event_uuid
from shared.redis_keys import INGEST_STREAM
from shared.settings import Settings

STRUCTURED = {"content-type": "application/cloudevents+json"}


def strategy(**over: Any) -> dict[str, Any]:
    data = {
        "company": "OpenAI LP",
        "occurred": "2019-03-11",
        "title": "OpenAI LP created as a capped-profit company",
        "sources": [{"url": "https://openai.com/index/openai-lp/", "publisher": "OpenAI"}],
    }
    data.update(over)
    return data


def envelope(ce_id: str = "e-1", **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": ce_id,
        "source": "/tests/ingest",
        "type": "dev.pivotwatch.strategy.reported",
        "time": "2019-03-11T17:00:00Z",
        "data": strategy(**data),
    }


@pytest.fixture
def writer(make_key: Callable[..., str]) -> dict[str, str]:
    return {"authorization": f"Bearer {make_key(Scope.EVENTS_WRITE)}"}


class TestStructuredMode:
    async def test_accepted_event_is_on_the_stream(
        self, settings: Settings, serve: Any, writer: dict[str, str], redis_client: Redis
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.post(
                "/v1/events", content=orjson.dumps(envelope()), headers={**writer, **STRUCTURED}
            )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["id"] == str(event_uuid("/tests/ingest", "e-1"))
        assert body["duplicate"] is False
        entries = redis_client.xrange(INGEST_STREAM)
        assert len(entries) == 1
        ce = orjson.loads(entries[0][1][b"ce"])
        assert ce["data"]["occurred"] == "2019-03-11"

    async def test_duplicate_event_returns_same_id(
        self, settings: Settings, serve: Any, writer: dict[str, str], redis_client: Redis
    ) -> None:
        async with serve(create_app(settings)) as client:
            headers = {**writer, **STRUCTURED}
            first = await client.post(
                "/v1/events", content=orjson.dumps(envelope()), headers=headers
            )
            again = await client.post(
                "/v1/events", content=orjson.dumps(envelope()), headers=headers
            )
        assert first.status_code == again.status_code == 202
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["duplicate"] is True
        assert redis_client.xlen(INGEST_STREAM) == 1

    async def test_missing_attribute_names_the_field(
        self, settings: Settings, serve: Any, writer: dict[str, str]
    ) -> None:
        bad = envelope()
        del bad["source"]
        async with serve(create_app(settings)) as client:
            r = await client.post(
                "/v1/events", content=orjson.dumps(bad), headers={**writer, **STRUCTURED}
            )
        assert r.status_code == 422
        assert r.json()["error"] == "invalid"
        assert r.json()["field"] == "source"

    async def test_padded_precision_is_refused_with_reason(
        self, settings: Settings, serve: Any, writer: dict[str, str]
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.post(
                "/v1/events",
                content=orjson.dumps(envelope(occurred="2023-13")),
                headers={**writer, **STRUCTURED},
            )
        assert r.status_code == 422
        assert r.json()["field"] == "data.occurred"
        assert "month" in r.json()["detail"]


class TestOtherModes:
    async def test_binary_mode_percent_decodes_headers(
        self, settings: Settings, serve: Any, writer: dict[str, str], redis_client: Redis
    ) -> None:
        headers = {
            **writer,
            "content-type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": "bin%201",
            "ce-source": "/tests/binary",
            "ce-type": "dev.pivotwatch.strategy.reported",
        }
        async with serve(create_app(settings)) as client:
            r = await client.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
        assert r.status_code == 202, r.text
        assert r.json()["ce_id"] == "bin 1"

    async def test_plain_json_uses_idempotency_key(
        self, settings: Settings, serve: Any, writer: dict[str, str]
    ) -> None:
        headers = {**writer, "content-type": "application/json", "idempotency-key": "k-42"}
        async with serve(create_app(settings)) as client:
            a = await client.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
            b = await client.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
        assert a.status_code == b.status_code == 202
        assert a.json()["id"] == b.json()["id"]
        assert b.json()["duplicate"] is True

    async def test_batch_reports_each_event(
        self, settings: Settings, serve: Any, writer: dict[str, str], redis_client: Redis
    ) -> None:
        bad = envelope("e-bad")
        bad["data"]["sources"] = []
        batch = [envelope("e-1"), bad, envelope("e-1"), envelope("e-2", occurred="2023-11~")]
        headers = {**writer, "content-type": "application/cloudevents-batch+json"}
        async with serve(create_app(settings)) as client:
            r = await client.post("/v1/events/batch", content=orjson.dumps(batch), headers=headers)
        assert r.status_code == 202, r.text
        body = r.json()
        assert [x["status"] for x in body["results"]] == [
            "accepted",
            "rejected",
            "duplicate",
            "accepted",
        ]
        assert body["results"][1]["field"] == "1.data"
        assert redis_client.xlen(INGEST_STREAM) == 2


class TestRefusals:
    async def test_no_key_is_401_and_wrong_scope_403(
        self, settings: Settings, serve: Any, make_key: Callable[..., str]
    ) -> None:
        reader = make_key(Scope.SUBSCRIPTIONS_WRITE)
        async with serve(create_app(settings)) as client:
            none = await client.post("/v1/events", content=b"{}", headers=STRUCTURED)
            wrong = await client.post(
                "/v1/events",
                content=b"{}",
                headers={**STRUCTURED, "authorization": f"Bearer {reader}"},
            )
        assert none.status_code == 401 and none.json()["field"] == "authorization"
        assert wrong.status_code == 403

    async def test_oversized_event_is_413(
        self, settings: Settings, serve: Any, writer: dict[str, str]
    ) -> None:
        big = envelope(body="x" * (settings.max_event_bytes + 10))
        async with serve(create_app(settings)) as client:
            r = await client.post(
                "/v1/events", content=orjson.dumps(big), headers={**writer, **STRUCTURED}
            )
        assert r.status_code == 413
        assert r.json()["error"] == "too_large"

    async def test_unsupported_media_type_is_415(
        self, settings: Settings, serve: Any, writer: dict[str, str]
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.post(
                "/v1/events", content=b"hello", headers={**writer, "content-type": "text/plain"}
            )
        assert r.status_code == 415
        assert r.json()["field"] == "content-type"

    async def test_redis_down_is_503_with_retry_after(self, settings: Settings, serve: Any) -> None:
        from pivotwatch.embedded import free_port

        down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
        async with serve(create_app(down)) as client:
            r = await client.post(
                "/v1/events",
                content=orjson.dumps(envelope()),
                headers={**STRUCTURED, "authorization": "Bearer pw_x_y"},
            )
            ready = await client.get("/readyz")
        assert r.status_code == 503
        assert "retry-after" in r.headers
        assert ready.status_code == 503
