"""Properties of CloudEvents parsing (`parse_single`, `parse_batch`): whatever the bytes, headers
or JSON values, the result is Accepted/Rejected or one of our error types, never another
exception; and an accepted envelope re-encodes to what was validated."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from services.ingest.modes import (
    BATCH,
    JSON,
    STRUCTURED,
    Accepted,
    Rejected,
    parse_batch,
    parse_single,
)
from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

OURS = (InvalidInput, PayloadTooLarge, UnsupportedMediaType)
MAX_EVENT = 64 * 1024
PROPS = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)

VALID: dict[str, Any] = {
    "specversion": "1.0",
    "id": "e-1",
    "source": "/tests/properties",
    "type": "dev.pivotwatch.strategy.reported",
    "time": "2019-03-11T17:00:00Z",
    "data": {
        "company": "OpenAI",
        "occurred": "2019-03-11",
        "title": "OpenAI LP created",
        "summary": "",
        "tags": ["governance"],
        "actors": ["Sam Altman"],
        "sources": [{"url": "https://openai.com/index/openai-lp/", "publisher": "OpenAI"}],
    },
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# HTTP header values arrive as ISO-8859-1 text.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
content_types = st.sampled_from(
    [
        STRUCTURED,
        BATCH,
        JSON,
        "",
        "text/json",
        "application/x+json",
        "text/plain",
        "APPLICATION/JSON",
    ]
).flatmap(lambda t: st.sampled_from([t, f"{t}; charset=utf-8", f"{t};;=x"]))
header_names = st.sampled_from(
    [
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-time",
        "ce-subject",
        "ce-dataschema",
        "ce-data",
        "ce-data_base64",
        "ce-Traceparent",
        "ce-",
        "idempotency-key",
        "x-other",
    ]
)


def headers_of(pairs: dict[str, str], ctype: str | None) -> Headers:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs.items()]
    if ctype is not None:
        raw.append((b"content-type", ctype.encode("latin-1")))
    return Headers(raw=raw)


def with_value(doc: Any, path: list[str | int], value: Any) -> Any:
    """`doc` with the value at `path` replaced (or added), a deep copy."""
    out = json.loads(json.dumps(doc))
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


PATHS: list[list[str | int]] = [
    ["id"],
    ["source"],
    ["specversion"],
    ["type"],
    ["time"],
    ["subject"],
    ["dataschema"],
    ["datacontenttype"],
    ["data"],
    ["data_base64"],
    ["myext"],
    ["Bad-Name"],
    ["data", "company"],
    ["data", "occurred"],
    ["data", "title"],
    ["data", "summary"],
    ["data", "body"],
    ["data", "tags"],
    ["data", "tags", 0],
    ["data", "actors", 0],
    ["data", "sources"],
    ["data", "sources", 0],
    ["data", "sources", 0, "url"],
    ["data", "sources", 0, "publisher"],
    ["data", "sources", 0, "published_at"],
    ["data", "publish"],
    ["data", "extra"],
]


def encode(value: Any) -> bytes:
    """JSON as any client might send it: big integers included (stdlib, not orjson)."""
    return json.dumps(value).encode()


def check_single(headers: Headers, body: bytes) -> None:
    try:
        parsed = parse_single(headers, body, "key-1", MAX_EVENT)
    except OURS:
        return
    assert isinstance(parsed, Accepted | Rejected)
    if isinstance(parsed, Accepted):
        assert orjson.loads(parsed.encoded)["id"] == parsed.event.id
    else:
        assert isinstance(parsed.error, InvalidInput | PayloadTooLarge)
        assert parsed.error.field is not None  # "" when the offending attribute is named ""


class TestParseSingle:
    @PROPS
    @given(st.binary(max_size=300), content_types, st.dictionaries(header_names, header_text))
    @example(b"[" * 5000, STRUCTURED, {})
    @example(b'"\\ud800"', JSON, {})
    @example(b"{}", JSON, {"ce-specversion": "1.0", "ce-id": "%ff%00", "ce-source": "%"})
    @example(orjson.dumps(VALID["data"]), "", {"ce-specversion": "1.0", "ce-": "x"})
    def test_arbitrary_bytes_and_headers(
        self, body: bytes, ctype: str, pairs: dict[str, str]
    ) -> None:
        check_single(headers_of(pairs, ctype), body)

    @PROPS
    @given(json_values, st.sampled_from([STRUCTURED, JSON, ""]))
    def test_arbitrary_json_values(self, value: Any, ctype: str) -> None:
        check_single(headers_of({}, ctype), encode(value))

    @PROPS
    @given(st.sampled_from(PATHS), json_values)
    @example(["data", "title"], "a\x00b")
    @example(["time"], "0001-01-01T00:00:00-23:59")
    @example(["data", "occurred"], "9999-12-31/..")
    @example(["data", "sources", 0, "url"], "javascript:alert(1)")
    @example(["id"], 2**64)
    def test_a_valid_event_with_one_value_replaced(self, path: list[str | int], value: Any) -> None:
        check_single(headers_of({}, STRUCTURED), encode(with_value(VALID, path, value)))

    @PROPS
    @given(
        st.dictionaries(header_names, header_text),
        st.sampled_from([JSON, "", "application/cloudevents+json", "text/plain"]),
        json_values,
    )
    def test_binary_mode_with_arbitrary_attributes_and_data(
        self, pairs: dict[str, str], ctype: str, data: Any
    ) -> None:
        check_single(headers_of({"ce-specversion": "1.0", **pairs}, ctype), encode(data))

    def test_the_valid_event_is_accepted(self) -> None:
        parsed = parse_single(headers_of({}, STRUCTURED), encode(VALID), "key-1", MAX_EVENT)
        assert isinstance(parsed, Accepted)


class TestParseBatch:
    @PROPS
    @given(
        st.one_of(
            st.binary(max_size=200),
            json_values.map(encode),
            st.lists(
                st.one_of(
                    json_values,
                    st.tuples(st.sampled_from(PATHS), json_values).map(
                        lambda pv: with_value(VALID, pv[0], pv[1])
                    ),
                ),
                max_size=5,
            ).map(encode),
        ),
        st.sampled_from([BATCH, JSON, STRUCTURED, ""]),
    )
    @example(b"[" * 5000, BATCH)
    @example(encode([VALID, 5, [], {"data": None}]), BATCH)
    def test_arbitrary_batches(self, body: bytes, ctype: str) -> None:
        try:
            items = parse_batch(headers_of({}, ctype), body, "key-1", MAX_EVENT, 3)
        except OURS:
            return
        assert [p.index for p in items] == list(range(len(items)))
        for p in items:
            assert isinstance(p, Accepted | Rejected)
            if isinstance(p, Rejected):
                assert p.error.field is not None
                assert p.error.field.split(".")[0] == str(p.index)
