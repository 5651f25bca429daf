"""Events posted by the official CloudEvents SDK are stored; GET /v1/events/{id}/status follows an
event from accepted to stored, duplicate-of or rejected, and is kept for the status TTL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest
from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from prometheus_client import REGISTRY
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.enrich.relay import Relay, entries_from_stream
from services.enrich.service import Clock, mark_processing, process_chunk
from shared.db import Event
from shared.events import event_uuid
from shared.redis_keys import INGEST_STREAM, status_key, worker_key
from shared.settings import Settings

STRUCTURED = {"content-type": "application/cloudevents+json"}
SEVEN_DAYS = 7 * 24 * 3600


def store_waiting(sessions: sessionmaker[Session], redis_client: Redis) -> list[list[int]]:
    """Run the worker's chunk function over everything on the ingest log, as the relay would."""
    fanouts: list[list[int]] = []
    entries = entries_from_stream(redis_client.xrange(INGEST_STREAM))
    process_chunk(sessions, redis_client, entries, fanouts.append)
    return fanouts


def sdk_event(ce_id: str, data: dict[str, Any], **attributes: Any) -> CloudEvent:
    return CloudEvent(
        attributes={
            "id": ce_id,
            "source": "https://reporter.example/sdk",
            "type": "dev.pivotwatch.strategy.reported",
            **attributes,
        },
        data=data,
    )


async def send(client: httpx.AsyncClient, writer: dict[str, str], msg: HTTPMessage) -> Any:
    return await client.post("/v1/events", content=msg.body, headers={**writer, **msg.headers})


class TestCloudEventsSdk:
    async def test_structured_and_binary_events_are_accepted_and_stored(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        strategy: Any,
        redis_client: Redis,
        sessions: sessionmaker[Session],
    ) -> None:
        structured = sdk_event(
            "sdk-structured", strategy(), datacontenttype="application/json", subject="openai"
        )
        binary = sdk_event(
            "sdk-binary",
            strategy(
                company="DeepSeek",
                occurred="2025-01-20",
                title="DeepSeek releases R1 weights under the MIT licence",
                sources=[{"url": "https://api-docs.deepseek.com/news/news250120"}],
            ),
            subject="deepseek — open weights",
        )
        s_msg = to_structured(structured, JSONFormat())
        b_msg = to_binary(binary, JSONFormat())
        assert "content-type" not in b_msg.headers  # no datacontenttype: the SDK sends none
        assert "%" in b_msg.headers["ce-subject"]  # and percent-encodes what it must

        s = await send(ingest, writer, s_msg)
        b = await send(ingest, writer, b_msg)
        assert s.status_code == 202, s.text
        assert b.status_code == 202, b.text
        assert b.json()["ce_id"] == "sdk-binary"

        store_waiting(sessions, redis_client)
        with sessions() as session:
            rows = {e.ce_id: e for e in session.scalars(select(Event))}
        assert set(rows) == {"sdk-structured", "sdk-binary"}
        assert str(rows["sdk-binary"].id) == b.json()["id"]
        assert rows["sdk-binary"].company == "deepseek"
        assert rows["sdk-structured"].company == "openai"
        assert rows["sdk-binary"].reported_at is not None  # the SDK's `time`, kept
        for answer in (s, b):
            status = await ingest.get(answer.json()["status_url"], headers=writer)
            assert status.json()["status"] == "stored"


class TestStoredPrecision:
    @pytest.mark.parametrize(
        ("occurred", "precision", "start", "end"),
        [
            ("2015", "year", "2015-01-01", "2015-12-31"),
            ("2023-11", "month", "2023-11-01", "2023-11-30"),
            ("2023-11~", "month", "2023-11-01", "2023-11-30"),
            ("2019-03-11", "day", "2019-03-11", "2019-03-11"),
            ("2024-12/2025-01", "month", "2024-12-01", "2025-01-31"),
        ],
    )
    async def test_occurred_is_stored_at_its_precision(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        envelope: Any,
        redis_client: Redis,
        sessions: sessionmaker[Session],
        occurred: str,
        precision: str,
        start: str,
        end: str,
    ) -> None:
        r = await ingest.post(
            "/v1/events",
            content=orjson.dumps(envelope(occurred=occurred)),
            headers={**writer, **STRUCTURED},
        )
        assert r.status_code == 202
        store_waiting(sessions, redis_client)
        with sessions() as session:
            (row,) = session.scalars(select(Event))
        assert row.occurred == occurred
        assert row.precision == precision
        assert (row.occurred_start.isoformat(), row.occurred_end.isoformat()) == (start, end)


class TestStatus:
    async def test_accepted_then_stored_with_the_timeline_link(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        envelope: Any,
        redis_client: Redis,
        sessions: sessionmaker[Session],
        settings: Settings,
    ) -> None:
        r = await ingest.post(
            "/v1/events", content=orjson.dumps(envelope()), headers={**writer, **STRUCTURED}
        )
        event_id = r.json()["id"]
        accepted = await ingest.get(f"/v1/events/{event_id}/status", headers=writer)
        assert accepted.status_code == 200
        assert accepted.json()["status"] == "accepted"
        assert accepted.json()["kind"] == "event"
        assert "received_at" in accepted.json() and "timeline_url" not in accepted.json()
        assert settings.status_ttl_seconds >= SEVEN_DAYS
        assert redis_client.ttl(status_key(event_id)) > SEVEN_DAYS - 60

        store_waiting(sessions, redis_client)
        stored = await ingest.get(f"/v1/events/{event_id}/status", headers=writer)
        assert stored.json()["status"] == "stored"
        assert stored.json()["timeline_url"] == f"/v1/events/{event_id}"
        assert "stored_at" in stored.json()
        # Storing does not shorten how long the status is answered.
        assert redis_client.ttl(status_key(event_id)) > SEVEN_DAYS - 60

    async def test_the_status_carries_the_time_of_every_hop(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        envelope: Any,
        redis_client: Redis,
        sessions: sessionmaker[Session],
        settings: Settings,
    ) -> None:
        # Issue 16: received (ingest), read (the relay), published and started (the task), stored
        # (the commit), each written into the event's status; each hop also a histogram.
        def count(hop: str) -> float:
            got = REGISTRY.get_sample_value("pivotwatch_pipeline_hop_seconds_count", {"hop": hop})
            return got or 0.0

        hops = ("relay", "store", "announce", "visible")
        before = {hop: count(hop) for hop in hops}
        r = await ingest.post(
            "/v1/events", content=orjson.dumps(envelope()), headers={**writer, **STRUCTURED}
        )
        event_id = r.json()["id"]
        chunks: list[list[dict[str, str]]] = []
        relay = Relay(redis_client, settings, chunks.append)
        relay.ensure_group()
        assert relay.run_once(block_ms=1) == 1
        clock = Clock(published=datetime.now().timestamp())
        clock.started = datetime.now().timestamp()
        process_chunk(sessions, redis_client, chunks[0], lambda _: None, clock=clock)

        # As the reporter reads it: the status route answers every hop's time.
        answer = await ingest.get(f"/v1/events/{event_id}/status", headers=writer)
        status = answer.json()
        assert status["status"] == "stored", status
        names = ("received_at", "read_at", "published_at", "started_at", "stored_at")
        times = [datetime.fromisoformat(status[name]) for name in names]
        assert times == sorted(times), status
        assert all(count(hop) == before[hop] + 1 for hop in hops)

    async def test_processing_while_a_live_worker_holds_it_accepted_again_once_it_died(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        envelope: Any,
        redis_client: Redis,
        sessions: sessionmaker[Session],
    ) -> None:
        r = await ingest.post(
            "/v1/events", content=orjson.dumps(envelope()), headers={**writer, **STRUCTURED}
        )
        event_id = r.json()["id"]
        worker = "enrich@test|host/1|4242|abcd"
        redis_client.set(worker_key(worker), b"1", ex=60)  # its heartbeat
        mark_processing(
            redis_client, entries_from_stream(redis_client.xrange(INGEST_STREAM)), worker
        )
        held = (await ingest.get(f"/v1/events/{event_id}/status", headers=writer)).json()
        assert held["status"] == "processing"
        assert held["processing_since"] >= held["received_at"]
        assert "worker" not in held and "host" not in str(held)  # no internals to reporters

        redis_client.delete(worker_key(worker))  # the worker died with it
        lost = (await ingest.get(f"/v1/events/{event_id}/status", headers=writer)).json()
        assert lost["status"] == "accepted"
        assert "stopped" in lost["detail"] and "processing_since" not in lost

        store_waiting(sessions, redis_client)  # run again by the next worker
        stored = (await ingest.get(f"/v1/events/{event_id}/status", headers=writer)).json()
        assert stored["status"] == "stored"
        assert "processing_since" not in stored and "detail" not in stored

    async def test_a_redelivered_chunk_does_not_turn_a_stored_event_back(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        envelope: Any,
        redis_client: Redis,
        sessions: sessionmaker[Session],
    ) -> None:
        r = await ingest.post(
            "/v1/events", content=orjson.dumps(envelope()), headers={**writer, **STRUCTURED}
        )
        store_waiting(sessions, redis_client)
        redis_client.set(worker_key("w"), b"1", ex=60)
        mark_processing(redis_client, entries_from_stream(redis_client.xrange(INGEST_STREAM)), "w")
        status = await ingest.get(f"/v1/events/{r.json()['id']}/status", headers=writer)
        assert status.json()["status"] == "stored"

    async def test_near_duplicate_points_at_the_canonical_event(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        envelope: Any,
        redis_client: Redis,
        sessions: sessionmaker[Session],
    ) -> None:
        headers = {**writer, **STRUCTURED}
        first = await ingest.post("/v1/events", content=orjson.dumps(envelope()), headers=headers)
        store_waiting(sessions, redis_client)
        # The same happening reported by someone else: another source, another source URL.
        retold = envelope(
            "other-1",
            source="/tests/another-reporter",
            sources=[{"url": "https://news.example/openai-lp", "publisher": "News"}],
        )
        second = await ingest.post("/v1/events", content=orjson.dumps(retold), headers=headers)
        assert second.json()["id"] != first.json()["id"]
        redis_client.xtrim(INGEST_STREAM, maxlen=1)  # the first entry is already stored
        store_waiting(sessions, redis_client)
        status = await ingest.get(second.json()["status_url"], headers=writer)
        assert status.json()["status"] == "duplicate"
        assert status.json()["duplicate_of"] == first.json()["id"]
        assert status.json()["timeline_url"] == f"/v1/events/{first.json()['id']}"

    async def test_rejected_with_the_reason(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        batch = [envelope("bad", occurred="2019-02-30")]
        headers = {**writer, "content-type": "application/cloudevents-batch+json"}
        r = await ingest.post("/v1/events/batch", content=orjson.dumps(batch), headers=headers)
        event_id = str(event_uuid("/tests/ingest", "bad"))
        assert r.json()["results"][0]["id"] == event_id
        status = await ingest.get(f"/v1/events/{event_id}/status", headers=writer)
        assert status.json() == {
            "id": event_id,
            "status": "rejected",
            "reason": "0.data.occurred: day 30 is out of range for 2019-02",
            "received_at": status.json()["received_at"],
        }
        assert redis_client.ttl(status_key(event_id)) > SEVEN_DAYS - 60

    async def test_corrected_repost_replaces_the_rejection(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, redis_client: Redis
    ) -> None:
        headers = {**writer, **STRUCTURED}
        bad = await ingest.post(
            "/v1/events", content=orjson.dumps(envelope(occurred="2019-02-30")), headers=headers
        )
        good = await ingest.post("/v1/events", content=orjson.dumps(envelope()), headers=headers)
        assert bad.status_code == 422
        assert good.status_code == 202 and good.json()["duplicate"] is False
        status = await ingest.get(good.json()["status_url"], headers=writer)
        assert status.json()["status"] == "accepted"
        assert redis_client.xlen(INGEST_STREAM) == 1

    async def test_bad_repost_does_not_overwrite_an_accepted_event(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        headers = {**writer, **STRUCTURED}
        good = await ingest.post("/v1/events", content=orjson.dumps(envelope()), headers=headers)
        bad = await ingest.post(
            "/v1/events", content=orjson.dumps(envelope(occurred="2019-02-30")), headers=headers
        )
        assert bad.status_code == 422
        status = await ingest.get(good.json()["status_url"], headers=writer)
        assert status.json()["status"] == "accepted"

    async def test_unknown_id_is_404_and_a_non_uuid_422(
        self, ingest: httpx.AsyncClient, writer: dict[str, str]
    ) -> None:
        unknown = await ingest.get(
            "/v1/events/6f1f8a52-3c2b-4f57-9a43-1d2b7c0f5e11/status", headers=writer
        )
        bad = await ingest.get("/v1/events/not-an-id/status", headers=writer)
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == "no event with this id was received in the last 7 days"
        assert (bad.status_code, bad.json()["field"]) == (422, "event_id")
