"""POST /v1/events and /v1/events/batch in every content mode, against real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from redis import Redis

from services.ingest.schemas import BatchReport, EventResult
from shared.events import event_uuid
from shared.redis_keys import INGEST_STREAM

STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}
JSON = {"content-type": "application/json"}


def stream(redis_client: Redis) -> list[dict[str, Any]]:
    """The ingest log as (fields, decoded envelope) dicts."""
    out = []
    for _sid, fields in redis_client.xrange(INGEST_STREAM):
        entry = {k.decode(): v.decode() for k, v in fields.items()}
        entry["ce"] = orjson.loads(entry["ce"])
        out.append(entry)
    return out


class TestStructuredMode:
    async def test_accepted_event_is_on_the_stream(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        r = await ingest.post(
            "/v1/events", content=orjson.dumps(envelope()), headers={**writer, **STRUCTURED}
        )
        assert r.status_code == 202, r.text
        body = EventResult.model_validate(r.json())
        assert body.id == str(event_uuid("/tests/ingest", "e-1"))
        assert body.status == "accepted" and body.duplicate is False
        (entry,) = stream(redis_client)
        assert entry["id"] == body.id and entry["kind"] == "event"
        assert entry["ce"]["data"]["occurred"] == "2019-03-11"
        assert entry["ce"]["time"] == "2019-03-11T17:00:00Z"

    async def test_extension_attribute_travels_with_the_event(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        event = {**envelope(), "region": "us", "traceparent": "00-abc-01"}
        headers = {**writer, "content-type": "application/cloudevents+json; charset=utf-8"}
        r = await ingest.post("/v1/events", content=orjson.dumps(event), headers=headers)
        assert r.status_code == 202, r.text
        (entry,) = stream(redis_client)
        assert entry["ce"]["region"] == "us" and entry["ce"]["traceparent"] == "00-abc-01"


class TestBinaryMode:
    async def test_headers_are_percent_decoded(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], strategy: Any, redis_client: Redis
    ) -> None:
        headers = {
            **writer,
            **JSON,
            "ce-specversion": "1.0",
            "ce-id": "bin%201",
            "ce-source": "/tests/binary",
            "ce-type": "dev.pivotwatch.strategy.reported",
            "ce-time": "2019-03-11T17%3A00%3A00%2B01%3A00",
            "ce-subject": "OpenAI%20LP%20%E2%80%94%20governance",
        }
        r = await ingest.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
        assert r.status_code == 202, r.text
        assert r.json()["ce_id"] == "bin 1"
        assert r.json()["id"] == str(event_uuid("/tests/binary", "bin 1"))
        (entry,) = stream(redis_client)
        assert entry["ce"]["time"] == "2019-03-11T17:00:00+01:00"
        assert entry["ce"]["subject"] == "OpenAI LP \u2014 governance"
        assert entry["ce"]["datacontenttype"] == "application/json"
        assert entry["ce"]["data"]["company"] == "OpenAI LP"

    async def test_no_content_type_means_json_data(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], strategy: Any
    ) -> None:
        headers = {
            **writer,
            "ce-specversion": "1.0",
            "ce-id": "bin-2",
            "ce-source": "/tests/binary",
            "ce-type": "dev.pivotwatch.strategy.reported",
        }
        r = await ingest.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
        assert r.status_code == 202, r.text

    async def test_non_json_data_is_415(
        self, ingest: httpx.AsyncClient, writer: dict[str, str]
    ) -> None:
        headers = {
            **writer,
            "content-type": "text/plain",
            "ce-specversion": "1.0",
            "ce-id": "bin-3",
            "ce-source": "/tests/binary",
            "ce-type": "dev.pivotwatch.strategy.reported",
        }
        r = await ingest.post("/v1/events", content=b"OpenAI did a thing", headers=headers)
        assert r.status_code == 415
        assert r.json()["field"] == "content-type"
        assert "binary-mode data must be JSON" in r.json()["detail"]


class TestPlainMode:
    async def test_idempotency_key_makes_the_repost_a_duplicate(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], strategy: Any, redis_client: Redis
    ) -> None:
        headers = {**writer, **JSON, "idempotency-key": "k-42"}
        a = await ingest.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
        b = await ingest.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
        assert a.status_code == b.status_code == 202
        assert a.json()["id"] == b.json()["id"]
        assert a.json()["ce_id"] == "k-42"
        assert a.json()["source"].startswith("urn:pivotwatch:key:")
        assert (a.json()["duplicate"], b.json()["duplicate"]) == (False, True)
        assert redis_client.xlen(INGEST_STREAM) == 1

    async def test_without_idempotency_key_each_post_is_a_new_event(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], strategy: Any, redis_client: Redis
    ) -> None:
        headers = {**writer, **JSON}
        a = await ingest.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
        b = await ingest.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
        assert a.status_code == b.status_code == 202
        assert a.json()["id"] != b.json()["id"]
        assert a.json()["duplicate"] is False and b.json()["duplicate"] is False
        assert redis_client.xlen(INGEST_STREAM) == 2

    async def test_idempotency_key_longer_than_200_is_refused(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], strategy: Any
    ) -> None:
        headers = {**writer, **JSON, "idempotency-key": "k" * 201}
        r = await ingest.post("/v1/events", content=orjson.dumps(strategy()), headers=headers)
        assert r.status_code == 422
        assert r.json()["field"] == "idempotency-key"


class TestBatch:
    async def test_cloudevents_batch_reports_each_event(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        bad = envelope("e-bad")
        bad["data"]["sources"] = []
        batch = [envelope("e-1"), bad, envelope("e-1"), envelope("e-2", occurred="2023-11~")]
        r = await ingest.post(
            "/v1/events/batch", content=orjson.dumps(batch), headers={**writer, **BATCH}
        )
        assert r.status_code == 202, r.text
        report = BatchReport.model_validate(r.json())
        assert [x.status for x in report.results] == [
            "accepted",
            "rejected",
            "duplicate",
            "accepted",
        ]
        assert (report.accepted, report.duplicate, report.rejected) == (2, 1, 1)
        rejected = report.results[1]
        assert rejected.field == "1.data.sources"
        assert rejected.detail == "at least one source is required for a published event"
        assert rejected.id == str(event_uuid("/tests/ingest", "e-bad"))
        assert report.results[2].id == report.results[0].id
        assert redis_client.xlen(INGEST_STREAM) == 2

    async def test_json_array_of_plain_events(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], strategy: Any, redis_client: Redis
    ) -> None:
        batch = [strategy(), strategy(occurred="2015"), "not an event", strategy(occurred="x")]
        r = await ingest.post(
            "/v1/events/batch", content=orjson.dumps(batch), headers={**writer, **JSON}
        )
        assert r.status_code == 202, r.text
        report = BatchReport.model_validate(r.json())
        assert [x.status for x in report.results] == [
            "accepted",
            "accepted",
            "rejected",
            "rejected",
        ]
        assert report.results[2].field == "2"
        assert report.results[2].detail == "an event must be a JSON object"
        assert report.results[3].field == "3.data.occurred"
        assert redis_client.xlen(INGEST_STREAM) == 2

    async def test_empty_batch_is_accepted_and_empty(
        self, ingest: httpx.AsyncClient, writer: dict[str, str]
    ) -> None:
        r = await ingest.post("/v1/events/batch", content=b"[]", headers={**writer, **BATCH})
        assert r.status_code == 202
        assert r.json() == {"accepted": 0, "duplicate": 0, "rejected": 0, "results": []}

    async def test_batch_where_every_event_is_bad_is_422_with_the_report(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        bad = envelope("e-1")
        bad["time"] = "2019-03-11T17:00:00"
        r = await ingest.post(
            "/v1/events/batch", content=orjson.dumps([bad]), headers={**writer, **BATCH}
        )
        assert r.status_code == 422
        assert r.json()["results"][0]["field"] == "0.time"

    async def test_batch_body_must_be_an_array(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await ingest.post(
            "/v1/events/batch", content=orjson.dumps(envelope()), headers={**writer, **BATCH}
        )
        assert r.status_code == 422
        assert r.json() == {
            "error": "invalid",
            "detail": "a batch is a JSON array of events",
            "field": "body",
        }


class TestIdempotency:
    async def test_duplicate_event_returns_same_id(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        headers = {**writer, **STRUCTURED}
        first = await ingest.post("/v1/events", content=orjson.dumps(envelope()), headers=headers)
        again = await ingest.post("/v1/events", content=orjson.dumps(envelope()), headers=headers)
        assert first.status_code == again.status_code == 202
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["duplicate"] is True
        assert again.json()["status"] == "duplicate"
        assert redis_client.xlen(INGEST_STREAM) == 1

    async def test_racing_identical_posts_write_one_entry(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        headers = {**writer, **STRUCTURED}
        body = orjson.dumps(envelope("race"))
        answers = await asyncio.gather(
            *(ingest.post("/v1/events", content=body, headers=headers) for _ in range(40))
        )
        assert {a.status_code for a in answers} == {202}
        assert len({a.json()["id"] for a in answers}) == 1
        assert sum(1 for a in answers if not a.json()["duplicate"]) == 1
        assert redis_client.xlen(INGEST_STREAM) == 1

    async def test_racing_batches_and_singles_write_each_event_once(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        batch = orjson.dumps([envelope(f"r-{i}") for i in range(5)])
        single = orjson.dumps(envelope("r-2"))
        answers = await asyncio.gather(
            *(
                ingest.post("/v1/events/batch", content=batch, headers={**writer, **BATCH})
                for _ in range(5)
            ),
            *(
                ingest.post("/v1/events", content=single, headers={**writer, **STRUCTURED})
                for _ in range(5)
            ),
        )
        assert {a.status_code for a in answers} == {202}
        assert redis_client.xlen(INGEST_STREAM) == 5
        ids = [e["ce"]["id"] for e in stream(redis_client)]
        assert sorted(ids) == [f"r-{i}" for i in range(5)]
