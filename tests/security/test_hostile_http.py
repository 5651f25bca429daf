"""Hostile bytes against each service on a real uvicorn server, sent over a plain socket so no
client library tidies them: malformed and deeply nested JSON, wrong encodings, invalid UTF-8 in
the body, headers and query, 64 KiB headers, NUL characters, wrong JSON types and very long
strings. Every answer is a 2xx or a 4xx in the one error shape; none is a server error (the
autouse `no_server_errors` fixture also fails the test if a service logged one)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from redis import Redis

from shared.auth import Scope
from shared.redis_keys import INGEST_STREAM
from tests.security.conftest import Live, RawResponse, http_request, raw_request

Serve = Callable[[FastAPI], AbstractContextManager[Live]]
STRUCTURED = (b"content-type", b"application/cloudevents+json")
BATCH = (b"content-type", b"application/cloudevents-batch+json")
JSON = (b"content-type", b"application/json")
NUL_REASON = "NUL characters (\\u0000) are not accepted in text"


def event(**data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "hostile-1",
        "source": "/tests/security",
        "type": "dev.pivotwatch.strategy.reported",
        "data": {
            "company": "OpenAI",
            "occurred": "2019-03-11",
            "title": "OpenAI LP created",
            "sources": [{"url": "https://openai.com/index/openai-lp/", "publisher": "OpenAI"}],
            **data,
        },
    }


def binary_post(
    ingest: Live, auth: tuple[bytes, bytes], ce_id: bytes, source: bytes = b"/tests/security"
) -> RawResponse:
    """POST /v1/events in binary mode with these raw `ce-id` and `ce-source` header bytes."""
    headers = [
        auth,
        JSON,
        (b"ce-specversion", b"1.0"),
        (b"ce-id", ce_id),
        (b"ce-source", source),
        (b"ce-type", b"dev.pivotwatch.strategy.reported"),
    ]
    body = orjson.dumps(event()["data"])
    return raw_request(ingest.port, http_request("POST", b"/v1/events", headers, body))


def assert_error(r: RawResponse, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status == status, (r.status, r.body[:300])
    body: dict[str, Any] = r.json()
    assert set(body) >= {"error", "detail", "field"}
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.fixture
def auth(make_key: Callable[..., str]) -> tuple[bytes, bytes]:
    return (b"authorization", b"Bearer " + make_key(Scope.ADMIN).encode())


@pytest.fixture
def ingest(ingest_server: Live) -> Live:
    return ingest_server


@pytest.fixture
def timeline(timeline_server: Live) -> Live:
    return timeline_server


@pytest.fixture
def notify(notify_server: Live) -> Live:
    return notify_server


MALFORMED_BODIES = {
    "truncated": b'{"specversion": "1.0", "id": ',
    "nested arrays 100k deep": b"[" * 100_000,
    "nested objects 20k deep": b'{"a":' * 20_000,
    "nested arrays closed 60k deep": b"[" * 60_000 + b"]" * 60_000,
    "utf-16": orjson.dumps(event()).decode().encode("utf-16"),
    "latin-1 claiming utf-8": orjson.dumps(event(title="Café")).decode().encode("latin-1"),
    "invalid utf-8": orjson.dumps(event()).replace(b"OpenAI LP", b"Open\xc3\x28AI"),
    "lone surrogate escape": orjson.dumps(event()).replace(b"OpenAI LP", b"\\ud800"),
    "utf-8 bom": b"\xef\xbb\xbf" + orjson.dumps(event()),
    "NaN": b'{"specversion": NaN}',
    "trailing garbage": orjson.dumps(event()) + b"}}",
}


class TestIngestRefusesMalformedBodies:
    @pytest.mark.parametrize("name", sorted(MALFORMED_BODIES))
    @pytest.mark.parametrize(
        ("path", "ctype"),
        [("/v1/events", STRUCTURED), ("/v1/events", JSON), ("/v1/events/batch", BATCH)],
    )
    def test_is_a_422_naming_the_body(
        self,
        ingest: Live,
        auth: tuple[bytes, bytes],
        redis_client: Redis,
        name: str,
        path: str,
        ctype: tuple[bytes, bytes],
    ) -> None:
        body = MALFORMED_BODIES[name]
        r = raw_request(ingest.port, http_request("POST", path.encode(), [auth, ctype], body))
        assert_error(r, 422, "body")
        assert r.json()["detail"].startswith("body is not valid JSON")
        assert redis_client.xlen(INGEST_STREAM) == 0

    def test_an_article_that_is_no_json_is_a_422(
        self, ingest: Live, auth: tuple[bytes, bytes]
    ) -> None:
        for body in (b"[" * 100_000, b"\xff\xfe{", '{"url": 1}'.encode("utf-16")):
            r = raw_request(ingest.port, http_request("POST", b"/v1/articles", [auth, JSON], body))
            assert_error(r, 422)


class TestIngestHostileHeaders:
    def test_invalid_utf8_in_ce_headers_is_taken_as_latin1_text_or_refused(
        self, ingest: Live, auth: tuple[bytes, bytes], redis_client: Redis
    ) -> None:
        r = binary_post(ingest, auth, b"id-\xff\xfe-\xc3\x28", source=b"/tests/\x80\x81")
        # HTTP header bytes are ISO-8859-1: the id is the text those bytes spell, kept as such.
        assert r.status == 202, r.body
        assert r.json()["ce_id"] == "id-\xff\xfe-\xc3\x28"
        assert redis_client.xlen(INGEST_STREAM) == 1

    def test_percent_encoded_invalid_utf8_in_a_ce_header_is_replaced_not_an_error(
        self, ingest: Live, auth: tuple[bytes, bytes]
    ) -> None:
        r = binary_post(ingest, auth, b"id-%ff%fe")
        assert r.status == 202, r.body
        assert r.json()["ce_id"] == "id-\ufffd\ufffd"

    def test_a_nul_in_a_ce_header_is_a_422_naming_the_attribute(
        self, ingest: Live, auth: tuple[bytes, bytes], redis_client: Redis
    ) -> None:
        r = binary_post(ingest, auth, b"id-%00")
        assert assert_error(r, 422, "id")["detail"] == NUL_REASON
        assert redis_client.xlen(INGEST_STREAM) == 0

    @pytest.mark.parametrize(
        ("header", "status"),
        [
            ((b"x-padding", b"a" * 65_536), 202),
            ((b"ce-extra", b"b" * 65_536), 202),
            ((b"x-correlation-id", b"c" * 65_536), 202),
            ((b"content-type", b"application/cloudevents+json; x=" + b"d" * 65_536), 202),
        ],
    )
    def test_a_64_kib_header_is_served_or_refused_never_an_error(
        self,
        ingest: Live,
        auth: tuple[bytes, bytes],
        header: tuple[bytes, bytes],
        status: int,
    ) -> None:
        headers = [auth, header] if header[0] == b"content-type" else [auth, STRUCTURED, header]
        r = raw_request(
            ingest.port, http_request("POST", b"/v1/events", headers, orjson.dumps(event()))
        )
        assert r.status == status, r.body[:300]
        # A correlation id is cut to 64 characters before it is logged or echoed.
        assert len(r.headers.get("x-correlation-id", "")) <= 64

    def test_a_64_kib_key_is_a_401(self, ingest: Live) -> None:
        headers = [(b"authorization", b"Bearer pw_" + b"k" * 65_536), STRUCTURED]
        r = raw_request(
            ingest.port, http_request("POST", b"/v1/events", headers, orjson.dumps(event()))
        )
        assert_error(r, 401, "authorization")

    def test_a_64_kib_ce_attribute_in_binary_mode_is_refused_for_its_size(
        self, ingest: Live, auth: tuple[bytes, bytes]
    ) -> None:
        r = binary_post(ingest, auth, b"i" * 65_536)
        assert_error(r, 413, "body")

    @pytest.mark.parametrize(
        "header",
        [(b"x-nul", b"a\x00b"), (b"x-cr", b"a\rb"), (b"x\xffname", b"v"), (b"x-ctl", b"a\x01b")],
    )
    def test_a_header_http_forbids_is_refused_by_the_server(
        self, ingest: Live, auth: tuple[bytes, bytes], header: tuple[bytes, bytes]
    ) -> None:
        r = raw_request(
            ingest.port,
            http_request("POST", b"/v1/events", [auth, STRUCTURED, header], orjson.dumps(event())),
        )
        assert r.status == 400  # uvicorn's parser refuses the request before any app code


@pytest.mark.parametrize("service", ["ingest", "timeline", "notify"])
@pytest.mark.parametrize(
    "header",
    [
        (b"x-padding", b"p" * 65_536),
        (b"cookie", b"c=" + b"k" * 65_536),
        (b"x-bin", bytes(range(0x80, 0x100)) * 256),
    ],
)
def test_every_service_answers_a_request_with_a_64_kib_header(
    request: pytest.FixtureRequest, service: str, header: tuple[bytes, bytes]
) -> None:
    live: Live = request.getfixturevalue(f"{service}_server")
    for target in (b"/healthz", b"/v1/nowhere"):
        r = raw_request(live.port, http_request("GET", target, [header]))
        assert r.status in (200, 404), (service, target, r.status)


class TestNulCharacters:
    @pytest.mark.parametrize(
        ("where", "field"),
        [
            ({"title": "a\x00b"}, "data.title"),
            ({"summary": "a\x00"}, "data.summary"),
            ({"body": "\x00"}, "data.body"),
            ({"company": "Open\x00AI"}, "data.company"),
            ({"occurred": "2019\x00"}, "data.occurred"),
            ({"tags": ["ok", "x\x00"]}, "data.tags.1"),
            ({"actors": ["Sam\x00"]}, "data.actors.0"),
            (
                {"sources": [{"url": "https://e.com/", "publisher": "P\x00"}]},
                "data.sources.0.publisher",
            ),
            ({"sources": [{"url": "https://e.com/\x00"}]}, "data.sources.0.url"),
        ],
    )
    def test_in_event_data_is_a_422_naming_the_field_and_nothing_is_written(
        self,
        ingest: Live,
        auth: tuple[bytes, bytes],
        redis_client: Redis,
        where: dict[str, Any],
        field: str,
    ) -> None:
        body = orjson.dumps(event(**where))
        r = raw_request(ingest.port, http_request("POST", b"/v1/events", [auth, STRUCTURED], body))
        assert assert_error(r, 422, field)["detail"] == NUL_REASON
        assert redis_client.xlen(INGEST_STREAM) == 0

    @pytest.mark.parametrize(
        ("envelope", "field"),
        [
            ({"id": "a\x00"}, "id"),
            ({"source": "/x\x00"}, "source"),
            ({"subject": "\x00"}, "subject"),
            ({"traceparent": "00-\x00"}, "traceparent"),
        ],
    )
    def test_in_the_envelope_is_a_422_naming_the_attribute(
        self,
        ingest: Live,
        auth: tuple[bytes, bytes],
        redis_client: Redis,
        envelope: dict[str, Any],
        field: str,
    ) -> None:
        body = orjson.dumps({**event(), **envelope})
        r = raw_request(ingest.port, http_request("POST", b"/v1/events", [auth, STRUCTURED], body))
        assert assert_error(r, 422, field)["detail"] == NUL_REASON
        assert redis_client.xlen(INGEST_STREAM) == 0

    def test_in_a_batch_only_that_event_is_refused(
        self, ingest: Live, auth: tuple[bytes, bytes], redis_client: Redis
    ) -> None:
        bad = {**event(title="x\x00"), "id": "bad"}
        body = orjson.dumps([event(), bad])
        r = raw_request(ingest.port, http_request("POST", b"/v1/events/batch", [auth, BATCH], body))
        assert r.status == 202
        ok, refused = r.json()["results"]
        assert ok["status"] == "accepted"
        assert (refused["status"], refused["field"]) == ("rejected", "1.data.title")
        assert redis_client.xlen(INGEST_STREAM) == 1

    def test_in_an_article_is_a_422_naming_the_field(
        self, ingest: Live, auth: tuple[bytes, bytes], redis_client: Redis
    ) -> None:
        article = {"url": "https://e.com/a", "published_date": "2025-08-05", "text": "x\x00y"}
        body = orjson.dumps(article)
        r = raw_request(ingest.port, http_request("POST", b"/v1/articles", [auth, JSON], body))
        assert assert_error(r, 422, "text")["detail"] == NUL_REASON
        assert redis_client.xlen(INGEST_STREAM) == 0

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"url": "http://127.0.0.1:9/h", "description": "a\x00"}, "description"),
            ({"url": "http://127.0.0.1:9/h\x00"}, "url"),
            ({"url": "http://exa\x00mple.com/h"}, "url"),
            (
                {"url": "http://127.0.0.1:9/h", "filter": {"companies": ["a\x00"]}},
                "filter.companies.0",
            ),
            ({"url": "http://127.0.0.1:9/h", "filter": {"phases": ["\x00"]}}, "filter.phases.0"),
        ],
    )
    def test_in_a_subscription_is_a_422_naming_the_field(
        self,
        notify: Live,
        auth: tuple[bytes, bytes],
        body: dict[str, Any],
        field: str,
    ) -> None:
        r = raw_request(
            notify.port,
            http_request("POST", b"/v1/subscriptions", [auth, JSON], orjson.dumps(body)),
        )
        assert assert_error(r, 422, field)["detail"] == NUL_REASON

    @pytest.mark.parametrize(
        "target",
        [
            b"/v1/companies/%00/timeline",
            b"/v1/companies/openai/timeline?q=%00",
            b"/v1/companies/openai/timeline?entity=x%00",
            b"/v1/companies/openai/timeline?phase=%00",
            b"/v1/companies/openai/timeline?cursor=%00",
            b"/v1/timeline?companies=a%00b",
            b"/v1/companies/openai/phases?as_of=%00",
            b"/v1/events/%00",
            b"/v1/stream?entity=%00",
            b"/companies/%00",
            b"/static/%00",
        ],
    )
    def test_in_a_timeline_path_or_query_is_a_422(self, timeline: Live, target: bytes) -> None:
        r = raw_request(timeline.port, http_request("GET", target, []))
        field = "query" if b"?" in target else "path"
        assert assert_error(r, 422, field)["detail"] == "NUL characters (%00) are not accepted"

    @pytest.mark.parametrize(
        ("method", "target"),
        [
            ("DELETE", b"/v1/subscriptions/%00"),
            (
                "GET",
                b"/v1/subscriptions/00000000-0000-0000-0000-000000000000/deliveries?status=%00",
            ),
            ("POST", b"/v1/events/batch?x=%00"),
        ],
    )
    def test_in_another_service_path_or_query_is_a_422(
        self, ingest: Live, notify: Live, auth: tuple[bytes, bytes], method: str, target: bytes
    ) -> None:
        port = ingest.port if target.startswith(b"/v1/events") else notify.port
        r = raw_request(port, http_request(method, target, [auth, JSON], b"[]"))
        assert_error(r, 422)


class TestWrongJsonTypes:
    @pytest.mark.parametrize("value", [5, True, None, []])
    @pytest.mark.parametrize(
        "field",
        [
            "id",
            "source",
            "type",
            "subject",
            "data.company",
            "data.title",
            "data.summary",
            "data.body",
            "data.occurred",
            "data.tags.0",
            "data.actors.0",
            "data.sources.0.publisher",
            "data.sources.0.url",
        ],
    )
    def test_a_non_string_where_a_string_belongs_is_a_422_naming_it(
        self, ingest: Live, auth: tuple[bytes, bytes], field: str, value: Any
    ) -> None:
        if value is None and field in ("subject", "data.sources.0.publisher"):
            pytest.skip("null is the documented 'absent' for an optional attribute")
        ev: Any = event(tags=["t"], actors=["a"], subject="s")
        *parents, last = field.split(".")
        node = ev
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
        body = orjson.dumps(ev)
        r = raw_request(ingest.port, http_request("POST", b"/v1/events", [auth, STRUCTURED], body))
        assert_error(r, 422, field)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"url": 5}, "url"),
            ({"url": "http://127.0.0.1:9/h", "description": True}, "description"),
            ({"url": "http://127.0.0.1:9/h", "filter": {"companies": [1]}}, "filter.companies.0"),
            ({"url": "http://127.0.0.1:9/h", "filter": "all"}, "filter"),
            ({"url": "http://127.0.0.1:9/h", "fifo": "sometimes"}, "fifo"),
        ],
    )
    def test_a_wrong_type_in_a_subscription_is_a_422_naming_it(
        self, notify: Live, auth: tuple[bytes, bytes], body: dict[str, Any], field: str
    ) -> None:
        r = raw_request(
            notify.port,
            http_request("POST", b"/v1/subscriptions", [auth, JSON], orjson.dumps(body)),
        )
        assert_error(r, 422, field)


class TestLongStrings:
    def test_a_megabyte_title_is_a_413(self, ingest: Live, auth: tuple[bytes, bytes]) -> None:
        body = orjson.dumps(event(title="x" * 1_000_000))
        r = raw_request(ingest.port, http_request("POST", b"/v1/events", [auth, STRUCTURED], body))
        assert_error(r, 413)

    def test_a_title_past_its_limit_is_a_422_naming_it(
        self, ingest: Live, auth: tuple[bytes, bytes]
    ) -> None:
        body = orjson.dumps(event(title="x" * 501))
        r = raw_request(ingest.port, http_request("POST", b"/v1/events", [auth, STRUCTURED], body))
        assert_error(r, 422, "data.title")

    @pytest.mark.parametrize(
        "target",
        [
            b"/v1/companies/openai/timeline?q=" + b"q" * 100_000,
            b"/v1/companies/" + b"s" * 60_000 + b"/timeline",
            b"/v1/timeline?companies=" + b"a," * 30_000,
            b"/companies/" + b"p" * 60_000,
        ],
    )
    def test_a_very_long_timeline_query_is_refused_or_not_found(
        self, timeline: Live, target: bytes
    ) -> None:
        r = raw_request(timeline.port, http_request("GET", target, []))
        # 400: uvicorn's parser refuses a request line this long before any app code.
        assert r.status in (400, 404, 422), (r.status, r.body[:200])

    def test_a_very_long_subscription_url_or_host_is_a_422(
        self, notify: Live, auth: tuple[bytes, bytes]
    ) -> None:
        for url in (
            "http://" + "a" * 1990 + "/",  # a label past 63 characters
            "http://" + "a" * 70 + ".example.com/",
            "http://a..b/",
            "http://.../",
            "http://127.0.0.1:9/" + "p" * 5000,
        ):
            r = raw_request(
                notify.port,
                http_request(
                    "POST", b"/v1/subscriptions", [auth, JSON], orjson.dumps({"url": url})
                ),
            )
            assert_error(r, 422, "url")


class TestNotifyBodies:
    @pytest.mark.parametrize(
        "body",
        [
            b"[" * 100_000,
            b'{"url":' * 100_000,
            b"\xff\xfe{}",
            b'{"url": "http://a/\xc3\x28"}',
            b"{",
        ],
    )
    def test_malformed_json_is_a_4xx(
        self, notify: Live, auth: tuple[bytes, bytes], body: bytes
    ) -> None:
        r = raw_request(notify.port, http_request("POST", b"/v1/subscriptions", [auth, JSON], body))
        assert r.status in (400, 422), (r.status, r.body[:200])
        assert r.json()["error"] in ("http_error", "invalid")


class TestTimelineQueryBytes:
    @pytest.mark.parametrize(
        "target",
        [
            b"/v1/companies/openai/timeline?q=%ff%fe",
            b"/v1/companies/%ff%fe/timeline",
            b"/v1/companies/openai/timeline?from=%ff",
            b"/v1/companies/openai/timeline?limit=1e309",
            b"/v1/companies/openai/timeline?min_importance=-0x10",
            b"/v1/companies/openai/timeline?as_of=9999-99-99",
            b"/v1/companies/openai/timeline?format=%3Cscript%3E",
            b"/v1/stream?last_event_id=99999999999999999999999-1",
            b"/companies/%ff",
            b"/static/..%2f..%2fetc%2fpasswd",
        ],
    )
    def test_odd_bytes_are_answered_without_error(self, timeline: Live, target: bytes) -> None:
        r = raw_request(timeline.port, http_request("GET", target, []))
        assert r.status in (200, 404, 422), (r.status, r.body[:200])

    def test_raw_non_ascii_bytes_in_the_request_line_are_refused_by_the_server(
        self, timeline: Live
    ) -> None:
        r = raw_request(timeline.port, http_request("GET", b"/v1/companies/\xff/timeline", []))
        assert r.status == 400
