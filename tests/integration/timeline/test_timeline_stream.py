"""GET /v1/stream: Server-Sent Events from the change feed, over a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from pivotwatch.embedded import free_port
from pivotwatch.seed import seed_events
from services.timeline.app import create_app
from shared.settings import Settings
from tests.fixtures.server import serving
from tests.fixtures.waiting import poll
from tests.integration.timeline.conftest import Store, event_id, report

TIMEOUT = httpx.Timeout(10.0)


@dataclass
class Message:
    id: str | None = None
    event: str | None = None
    data: dict[str, Any] | None = None
    comments: list[str] = field(default_factory=list)


def messages(response: httpx.Response) -> Iterator[Message]:
    """Parse the SSE wire format (WHATWG HTML, server-sent events) into messages."""
    current = Message()
    for line in response.iter_lines():
        if line == "":
            yield current
            current = Message()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                current.id = value
            elif name == "event":
                current.event = value
            elif name == "data":
                current.data = orjson.loads(value)


def next_data(stream: Iterator[Message]) -> Message:
    for msg in stream:
        if msg.data is not None:
            return msg
    raise AssertionError("the stream ended")


@pytest.fixture
def live(settings: Settings) -> Iterator[str]:
    fast = settings.model_copy(update={"stream_heartbeat_seconds": 0.3})
    with serving(create_app(fast)) as url:
        yield url


class TestLiveStream:
    def test_sends_matching_changes_made_while_connected(self, live: str, store: Store) -> None:
        store(report("before", "Acme AI is founded", "2023-01-10"))  # before connecting: not sent
        with (
            httpx.Client(timeout=TIMEOUT) as client,
            client.stream("GET", f"{live}/v1/stream", params={"companies": "acme-ai"}) as r,
        ):
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            stream = messages(r)
            store(
                report("other", "Beta Labs opens an office", "2024-01-02", company="beta-labs"),
                report("mine", "Acme AI raises a seed round", "2024-01-03", tags=["funding"]),
            )
            msg = next_data(stream)
        assert msg.event == "event.created"
        assert msg.data is not None
        assert msg.data["event"]["id"] == event_id(report("mine", "", "2024"))
        assert msg.data["event"]["title"] == "Acme AI raises a seed round"
        assert msg.data["version"] == 1
        assert msg.id and "-" in msg.id

    def test_filters_by_category_and_importance(self, live: str, store: Store) -> None:
        params = {"category": "funding", "min_importance": 1}
        with (
            httpx.Client(timeout=TIMEOUT) as client,
            client.stream("GET", f"{live}/v1/stream", params=params) as r,
        ):
            stream = messages(r)
            store(
                report("p", "Acme AI launches a chatbot product", "2024-02-01", tags=["product"]),
                report("f", "Acme AI raises $20M in a Series A", "2024-02-02", tags=["funding"]),
            )
            msg = next_data(stream)
        assert msg.data is not None
        assert msg.data["event"]["category"] == "funding"
        assert msg.data["event"]["title"] == "Acme AI raises $20M in a Series A"

    def test_kind_filter_picks_phase_changes(self, live: str, store: Store) -> None:
        opening = next(ce for ce in seed_events() if ce["data"]["occurred"] == "2019-03-11")
        ordinary = next(ce for ce in seed_events() if ce["data"]["occurred"] == "2019-07-22")
        with (
            httpx.Client(timeout=TIMEOUT) as client,
            client.stream("GET", f"{live}/v1/stream", params={"kind": "phase.changed"}) as r,
        ):
            stream = messages(r)
            store(ordinary, opening)
            msg = next_data(stream)
        assert msg.event == "phase.changed"
        assert msg.data is not None
        assert msg.data["event"]["transition_to"] == "capped-profit"

    def test_heartbeat_comments_keep_an_idle_stream_open(self, live: str) -> None:
        with (
            httpx.Client(timeout=TIMEOUT) as client,
            client.stream("GET", f"{live}/v1/stream") as r,
        ):
            comments = [c for msg in _take(messages(r), 3) for c in msg.comments]
        assert "connected" in comments
        assert "heartbeat" in comments

    def test_resumes_after_last_event_id_without_loss_or_repeat(
        self, live: str, store: Store
    ) -> None:
        url = f"{live}/v1/stream"
        params = {"companies": "acme-ai"}
        with httpx.Client(timeout=TIMEOUT) as client:
            with client.stream("GET", url, params=params) as r:
                stream = messages(r)
                store(report("r1", "Acme AI raises $5M", "2024-02"))
                store(report("r2", "Acme AI opens a lab in Paris", "2024-03-01"))
                first = next_data(stream)
                second = next_data(stream)
            # Disconnected: a correction and a new event happen meanwhile.
            store(report("r1", "Acme AI raises $7M in a seed round", "2024-02-14"))
            store(report("r3", "Acme AI hires a chief scientist", "2024-04-02"))
            headers = {"last-event-id": str(first.id)}
            with client.stream("GET", url, params=params, headers=headers) as r:
                stream = messages(r)
                resumed = [next_data(stream) for _ in range(3)]
        assert first.data is not None and first.data["event"]["title"] == "Acme AI raises $5M"
        assert resumed[0].id == second.id
        assert [
            (m.event, m.data["event"]["title"], m.data["version"]) for m in resumed if m.data
        ] == [
            ("event.created", "Acme AI opens a lab in Paris", 1),
            ("event.updated", "Acme AI raises $7M in a seed round", 2),
            ("event.created", "Acme AI hires a chief scientist", 1),
        ]
        ids = [first.id, *[m.id for m in resumed]]
        assert len(set(ids)) == len(ids)

    def test_ends_after_its_maximum_age_and_the_client_resumes(
        self, settings: Settings, store: Store
    ) -> None:
        short = settings.model_copy(
            update={"stream_heartbeat_seconds": 0.2, "stream_max_seconds": 1.0}
        )
        url_params = {"companies": "acme-ai"}
        with serving(create_app(short)) as live, httpx.Client(timeout=TIMEOUT) as client:
            with client.stream("GET", f"{live}/v1/stream", params=url_params) as r:
                store(report("m1", "Acme AI raises $5M", "2024-02"))
                seen = list(messages(r))  # ends by itself: the iteration stops
            sent = [m for m in seen if m.data is not None]
            assert [m.data["event"]["title"] for m in sent if m.data] == ["Acme AI raises $5M"]
            store(report("m2", "Acme AI opens a lab in Paris", "2024-03-01"))
            headers = {"last-event-id": str(sent[-1].id)}
            with client.stream("GET", f"{live}/v1/stream", params=url_params, headers=headers) as r:
                resumed = next_data(messages(r))
        assert resumed.data is not None
        assert resumed.data["event"]["title"] == "Acme AI opens a lab in Paris"

    def test_resume_point_can_be_a_query_parameter(self, live: str, store: Store) -> None:
        store(report("q1", "Acme AI raises $5M", "2024-02"))
        store(report("q2", "Acme AI opens a lab in Paris", "2024-03-01"))
        with (
            httpx.Client(timeout=TIMEOUT) as client,
            client.stream("GET", f"{live}/v1/stream", params={"last_event_id": "0-0"}) as r,
        ):
            stream = messages(r)
            titles = [next_data(stream).data["event"]["title"] for _ in range(2)]  # type: ignore[index]
        assert titles == ["Acme AI raises $5M", "Acme AI opens a lab in Paris"]

    @pytest.mark.parametrize(
        ("params", "headers", "field"),
        [
            ({}, {"last-event-id": "yesterday"}, "last-event-id"),
            ({"kind": "event.deleted"}, {}, "kind"),
            ({"category": "gossip"}, {}, "category"),
            ({"min_importance": "-1"}, {}, "min_importance"),
        ],
    )
    def test_bad_parameters_are_refused_before_streaming(
        self, live: str, params: dict[str, str], headers: dict[str, str], field: str
    ) -> None:
        r = httpx.get(f"{live}/v1/stream", params=params, headers=headers, timeout=TIMEOUT)
        assert r.status_code == 422
        assert r.json()["field"] == field


async def test_redis_down_is_503_before_streaming(settings: Settings, serve: Any) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with serve(create_app(down)) as client:
        r = await client.get("/v1/stream")
    assert r.status_code == 503
    assert r.json()["error"] == "unavailable"
    assert "retry-after" in r.headers


def _take(stream: Iterator[Message], n: int) -> list[Message]:
    return [next(stream) for _ in range(n)]


class TestStreamQuotas:
    """One client cannot hold every live stream of a process, nor the process's Redis pool."""

    def test_a_client_past_its_streams_gets_429_with_retry_after_and_others_still_connect(
        self, settings: Settings
    ) -> None:
        tight = settings.model_copy(
            update={
                "stream_heartbeat_seconds": 0.3,
                "stream_max_per_client": 2,
                "stream_max_connections": 3,
            }
        )
        app = create_app(tight)
        with serving(app) as url, httpx.Client(timeout=TIMEOUT) as c:
            opened = []
            lines = []  # kept: a line iterator collected by gc closes its response
            try:
                for _ in range(2):
                    r = c.send(c.build_request("GET", f"{url}/v1/stream"), stream=True)
                    assert r.status_code == 200
                    opened.append(r)
                    lines.append(r.iter_lines())
                    next(lines[-1])  # connected
                assert app.state.stream_slots.open == 2
                third = c.get(f"{url}/v1/stream")
                assert third.status_code == 429
                assert third.headers["retry-after"] == "30"
                assert third.json()["error"] == "rate_limited"
                assert third.json()["field"] == "stream"
                # The page and the read API still answer: their Redis pool is not the streams'.
                assert c.get(f"{url}/v1/companies").status_code == 200
            finally:
                for r in opened:
                    r.close()
            # Closed streams give their slots back.
            assert poll(lambda: app.state.stream_slots.open == 0, 5.0, 0.05)
            again = c.send(c.build_request("GET", f"{url}/v1/stream"), stream=True)
            try:
                assert again.status_code == 200
            finally:
                again.close()

    def test_the_process_cap_holds_across_addresses(self, settings: Settings) -> None:
        from services.timeline.stream import Slots

        slots = Slots(total=2, per_client=5)
        assert slots.take("a") is None and slots.take("b") is None
        assert slots.take("c") == "this server already holds 2 live streams"
        slots.give_back("a")
        assert slots.take("c") is None and slots.by_client == {"b": 1, "c": 1}
