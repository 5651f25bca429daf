"""Every rejection answers with its status code, the field and the reason, in one error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from redis import Redis

from services.ingest.app import create_app
from shared.auth import Scope
from shared.redis_keys import INGEST_STREAM
from shared.settings import Settings

STRUCTURED = {"content-type": "application/cloudevents+json"}


async def post(client: httpx.AsyncClient, writer: dict[str, str], event: Any) -> httpx.Response:
    return await client.post(
        "/v1/events", content=orjson.dumps(event), headers={**writer, **STRUCTURED}
    )


class TestEnvelopeRejections:
    @pytest.mark.parametrize("attribute", ["id", "source", "type", "specversion"])
    async def test_missing_required_attribute(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, attribute: str
    ) -> None:
        event = envelope()
        del event[attribute]
        r = await post(ingest, writer, event)
        assert r.status_code == 422
        assert r.json()["error"] == "invalid"
        assert r.json()["field"] == attribute
        assert r.json()["detail"] == "Field required"

    async def test_empty_id_is_refused(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, {**envelope(), "id": "  "})
        assert r.status_code == 422 and r.json()["field"] == "id"

    async def test_other_specversion_is_refused(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, {**envelope(), "specversion": "0.3"})
        assert r.status_code == 422
        assert (r.json()["field"], r.json()["detail"]) == (
            "specversion",
            "specversion must be '1.0'",
        )

    @pytest.mark.parametrize(
        "name", ["Region", "trace_id", "averyveryverylongextname", "x-y", "data_base64"]
    )
    async def test_bad_extension_name_is_named(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any, name: str
    ) -> None:
        r = await post(ingest, writer, {**envelope(), name: "v"})
        assert r.status_code == 422
        assert r.json()["field"] == name
        assert name in r.json()["detail"]

    async def test_naive_time_is_refused(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, {**envelope(), "time": "2019-03-11T17:00:00"})
        assert r.status_code == 422
        assert r.json()["field"] == "time"
        assert r.json()["detail"] == "time must carry a timezone (RFC 3339)"

    async def test_time_that_is_no_time_is_refused(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, {**envelope(), "time": "last tuesday"})
        assert r.status_code == 422 and r.json()["field"] == "time"

    async def test_data_must_be_an_object(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, {**envelope(), "data": "OpenAI did a thing"})
        assert r.status_code == 422 and r.json()["field"] == "data"


class TestOccurredPrecision:
    @pytest.mark.parametrize(
        "occurred",
        [
            "2015",
            "2023-11",
            "2019-03-11",
            "2023-11~",
            "2019?",
            "2020-05%",
            "2024-12/2025-01",
            "2019-03-11/2019-03-15",
            "../2025-01",
            "2024-12/..",
        ],
    )
    async def test_accepted_and_kept_verbatim(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        envelope: Any,
        redis_client: Redis,
        occurred: str,
    ) -> None:
        r = await post(ingest, writer, envelope(occurred=occurred))
        assert r.status_code == 202, r.text
        (_sid, fields), *_ = redis_client.xrange(INGEST_STREAM)
        assert orjson.loads(fields[b"ce"])["data"]["occurred"] == occurred

    @pytest.mark.parametrize(
        ("occurred", "reason"),
        [
            ("2023-13", "month 13 is out of range 01-12"),
            ("2019-02-30", "day 30 is out of range for 2019-02"),
            ("2019-3-1", "'2019-3-1' is not YYYY, YYYY-MM or YYYY-MM-DD (EDTF ~ ? % allowed)"),
            ("2025-01/2024-12", "interval starts after it ends ('2025-01/2024-12')"),
            ("../..", "an interval needs at least one known end"),
            ("2019/2020/2021", "an interval has exactly one '/'"),
            ("0000", "year 0000 is not a valid year"),
            ("March 2019", "is not YYYY, YYYY-MM or YYYY-MM-DD"),
        ],
    )
    async def test_refused_with_the_reason(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        envelope: Any,
        occurred: str,
        reason: str,
    ) -> None:
        r = await post(ingest, writer, envelope(occurred=occurred))
        assert r.status_code == 422
        assert r.json()["field"] == "data.occurred"
        assert reason in r.json()["detail"]


class TestDataRejections:
    async def test_published_event_needs_a_source(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, envelope(sources=[]))
        assert r.status_code == 422
        assert r.json()["field"] == "data.sources"
        assert r.json()["detail"] == "at least one source is required for a published event"

    async def test_unpublished_event_needs_no_source(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, envelope(sources=[], publish=False))
        assert r.status_code == 202, r.text

    async def test_source_url_must_be_http(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, envelope(sources=[{"url": "ftp://example.org/x"}]))
        assert r.status_code == 422
        assert r.json()["field"] == "data.sources.0.url"
        assert r.json()["detail"] == "source url must be http or https"

    async def test_unknown_data_field_is_refused(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, envelope(colour="blue"))
        assert r.status_code == 422 and r.json()["field"] == "data.colour"

    async def test_every_error_is_listed(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        event = envelope(title="", occurred="2023-13")
        r = await post(ingest, writer, event)
        assert r.status_code == 422
        fields = {e["field"] for e in r.json()["errors"]}
        assert fields == {"data.title", "data.occurred"}
        assert r.json()["detail"].endswith("(and 1 more)")


class TestBodyRejections:
    async def test_malformed_json(self, ingest: httpx.AsyncClient, writer: dict[str, str]) -> None:
        r = await ingest.post("/v1/events", content=b'{"id": ', headers={**writer, **STRUCTURED})
        assert r.status_code == 422
        assert r.json()["field"] == "body"
        assert r.json()["detail"].startswith("body is not valid JSON")

    @pytest.mark.parametrize("body", [b"[]", b'"event"', b"42", b"null"])
    async def test_non_object(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], body: bytes
    ) -> None:
        r = await ingest.post("/v1/events", content=body, headers={**writer, **STRUCTURED})
        assert r.status_code == 422
        assert r.json() == {
            "error": "invalid",
            "detail": "an event must be a JSON object",
            "field": "body",
        }

    async def test_empty_plain_body(
        self, ingest: httpx.AsyncClient, writer: dict[str, str]
    ) -> None:
        r = await ingest.post("/v1/events", content=b"", headers=writer)
        assert r.status_code == 422 and r.json()["field"] == "body"

    async def test_rejection_names_the_event_it_refused(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        r = await post(ingest, writer, envelope("e-9", occurred="2023-13"))
        assert r.status_code == 422
        status = await ingest.get(r.json()["status_url"], headers=writer)
        assert status.json()["status"] == "rejected"
        assert status.json()["reason"] == "data.occurred: month 13 is out of range 01-12"


class TestContentTypes:
    @pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "multipart/form-data"])
    async def test_unsupported_type_is_415(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], ctype: str
    ) -> None:
        r = await ingest.post("/v1/events", content=b"x", headers={**writer, "content-type": ctype})
        assert r.status_code == 415
        assert r.json()["error"] == "unsupported_media_type"
        assert r.json()["field"] == "content-type"
        assert ctype in r.json()["detail"]

    async def test_batch_type_on_the_single_endpoint_is_415(
        self, ingest: httpx.AsyncClient, writer: dict[str, str]
    ) -> None:
        headers = {**writer, "content-type": "application/cloudevents-batch+json"}
        r = await ingest.post("/v1/events", content=b"[]", headers=headers)
        assert r.status_code == 415
        assert "/v1/events/batch" in r.json()["detail"]

    async def test_structured_type_on_the_batch_endpoint_is_415(
        self, ingest: httpx.AsyncClient, writer: dict[str, str]
    ) -> None:
        r = await ingest.post("/v1/events/batch", content=b"{}", headers={**writer, **STRUCTURED})
        assert r.status_code == 415 and r.json()["field"] == "content-type"


class TestSizeLimits:
    async def test_oversized_event_is_413(
        self, settings: Settings, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        big = envelope(body="x" * 59_000, summary="y" * 5000, title="z" * 500)
        big["padding"] = "p" * (settings.max_event_bytes)
        r = await post(ingest, writer, big)
        assert r.status_code == 413
        assert r.json()["error"] == "too_large"
        assert f"the limit is {settings.max_event_bytes}" in r.json()["detail"]

    async def test_oversized_event_in_a_batch_is_rejected_alone(
        self, settings: Settings, ingest: httpx.AsyncClient, writer: dict[str, str], envelope: Any
    ) -> None:
        big = {**envelope("big"), "padding": "p" * settings.max_event_bytes}
        headers = {**writer, "content-type": "application/cloudevents-batch+json"}
        r = await ingest.post(
            "/v1/events/batch", content=orjson.dumps([envelope("ok"), big]), headers=headers
        )
        assert r.status_code == 202
        results = r.json()["results"]
        assert results[0]["status"] == "accepted"
        assert (results[1]["status"], results[1]["error"]) == ("rejected", "too_large")

    async def test_request_over_the_request_limit_is_413(
        self,
        settings: Settings,
        serve: Any,
        writer: dict[str, str],
        envelope: Any,
        redis_client: Redis,
    ) -> None:
        small = settings.model_copy(update={"max_request_bytes": 4096})
        batch = orjson.dumps([envelope(f"e-{i}") for i in range(20)])
        assert len(batch) > 4096
        headers = {**writer, "content-type": "application/cloudevents-batch+json"}
        async with serve(create_app(small)) as client:
            r = await client.post("/v1/events/batch", content=batch, headers=headers)
        assert r.status_code == 413
        assert r.json()["detail"] == f"request body is {len(batch)} bytes; the limit is 4096"
        assert redis_client.xlen(INGEST_STREAM) == 0

    async def test_streamed_request_without_length_is_cut_at_the_limit(
        self, settings: Settings, serve: Any, writer: dict[str, str], envelope: Any
    ) -> None:
        small = settings.model_copy(update={"max_request_bytes": 4096})
        payload = orjson.dumps([envelope(f"e-{i}") for i in range(20)])

        async def chunks() -> Any:
            for i in range(0, len(payload), 1000):
                yield payload[i : i + 1000]

        headers = {**writer, "content-type": "application/cloudevents-batch+json"}
        async with serve(create_app(small)) as client:
            r = await client.post("/v1/events/batch", content=chunks(), headers=headers)
        assert r.status_code == 413
        assert r.json()["detail"] == "request body exceeds the limit of 4096 bytes"

    async def test_too_many_events_in_a_batch_is_413(
        self, settings: Settings, serve: Any, writer: dict[str, str], envelope: Any
    ) -> None:
        small = settings.model_copy(update={"max_batch_events": 3})
        batch = orjson.dumps([envelope(f"e-{i}") for i in range(4)])
        headers = {**writer, "content-type": "application/cloudevents-batch+json"}
        async with serve(create_app(small)) as client:
            r = await client.post("/v1/events/batch", content=batch, headers=headers)
        assert r.status_code == 413
        assert r.json()["detail"] == "batch has 4 events; the limit is 3"


class TestKeysAndScopes:
    async def test_no_key_is_401(self, ingest: httpx.AsyncClient) -> None:
        r = await ingest.post("/v1/events", content=b"{}", headers=STRUCTURED)
        assert r.status_code == 401
        assert r.json()["field"] == "authorization"

    @pytest.mark.parametrize("value", ["Bearer pw_nope_nope", "Bearer other", "Basic abc", ""])
    async def test_unknown_or_malformed_key_is_401(
        self, ingest: httpx.AsyncClient, value: str
    ) -> None:
        headers = {**STRUCTURED, "authorization": value}
        r = await ingest.post("/v1/events", content=b"{}", headers=headers)
        assert r.status_code == 401

    @pytest.mark.parametrize("path", ["/v1/events", "/v1/events/batch", "/v1/articles"])
    async def test_wrong_scope_is_403(
        self, ingest: httpx.AsyncClient, make_key: Callable[..., str], path: str
    ) -> None:
        key = make_key(Scope.SUBSCRIPTIONS_WRITE)
        r = await ingest.post(
            path, content=b"{}", headers={**STRUCTURED, "authorization": f"Bearer {key}"}
        )
        assert r.status_code == 403
        assert r.json()["detail"] == "this key lacks the 'events:write' scope"

    async def test_admin_scope_may_write(
        self, ingest: httpx.AsyncClient, make_key: Callable[..., str], envelope: Any
    ) -> None:
        admin = {"authorization": f"Bearer {make_key(Scope.ADMIN)}"}
        r = await post(ingest, admin, envelope())
        assert r.status_code == 202

    async def test_status_needs_a_key(self, ingest: httpx.AsyncClient) -> None:
        r = await ingest.get("/v1/events/6f1f8a52-3c2b-4f57-9a43-1d2b7c0f5e11/status")
        assert r.status_code == 401


class TestRateLimit:
    async def test_429_after_the_bucket_empties_and_other_keys_are_unaffected(
        self,
        settings: Settings,
        serve: Any,
        make_key: Callable[..., str],
        envelope: Any,
        redis_client: Redis,
    ) -> None:
        # Three tokens, refilled at one per 1000 s: the fourth post finds the bucket empty.
        tight = settings.model_copy(update={"rate_limit_per_second": 0.001, "rate_limit_burst": 3})
        first = {"authorization": f"Bearer {make_key(Scope.EVENTS_WRITE, name='first')}"}
        second = {"authorization": f"Bearer {make_key(Scope.EVENTS_WRITE, name='second')}"}
        async with serve(create_app(tight)) as client:
            allowed = [await post(client, first, envelope(f"e-{i}")) for i in range(3)]
            refused = await post(client, first, envelope("e-3"))
            # Under a source of its own: the first key owns "/tests/ingest".
            other = await post(client, second, envelope("e-4", source="/tests/second"))
        assert [r.status_code for r in allowed] == [202, 202, 202]
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 1000
        assert other.status_code == 202
        assert redis_client.xlen(INGEST_STREAM) == 4

    async def test_a_batch_costs_one_token_per_event(
        self, settings: Settings, serve: Any, writer: dict[str, str], envelope: Any
    ) -> None:
        tight = settings.model_copy(update={"rate_limit_per_second": 0.001, "rate_limit_burst": 5})
        headers = {**writer, "content-type": "application/cloudevents-batch+json"}
        batch = orjson.dumps([envelope(f"e-{i}") for i in range(4)])
        async with serve(create_app(tight)) as client:
            a = await client.post("/v1/events/batch", content=batch, headers=headers)
            b = await client.post("/v1/events/batch", content=batch, headers=headers)
        assert a.status_code == 202
        assert b.status_code == 429 and "retry-after" in b.headers
