"""A concurrent flood from one key through a real ingest server: that key is held to its budget
(429 + Retry-After past it), and another key posting at the same time is not starved.

The bucket refills at one token per 1000 s, so what is allowed is exactly the burst whatever the
timing: no test here depends on how fast anything runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from redis import Redis

from services.ingest.app import create_app as ingest_app
from shared.auth import Scope
from shared.redis_keys import INGEST_STREAM
from shared.settings import Settings

BURST = 20
FLOOD = 300
OTHER = 15


def event(source: str, ce_id: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": ce_id,
            "source": source,
            "type": "dev.pivotwatch.strategy.reported",
            "data": {
                "company": "OpenAI",
                "occurred": "2019",
                "title": f"event {ce_id}",
                "sources": [{"url": "https://example.org/x"}],
            },
        }
    )


async def post_all(
    base: str, batches: list[tuple[str, bytes, str]]
) -> list[tuple[str, httpx.Response]]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def one(who: str, body: bytes, key: str) -> tuple[str, httpx.Response]:
            headers = {
                "authorization": f"Bearer {key}",
                "content-type": "application/cloudevents+json",
            }
            return who, await client.post("/v1/events", content=body, headers=headers)

        return await asyncio.gather(*(one(*b) for b in batches))


class TestFloodFromOneKey:
    async def test_does_not_starve_another_key(
        self,
        settings: Settings,
        live: Any,
        make_key: Callable[..., str],
        redis_client: Redis,
    ) -> None:
        tight = settings.model_copy(
            update={"rate_limit_per_second": 0.001, "rate_limit_burst": BURST}
        )
        flooder = make_key(Scope.EVENTS_WRITE, name="flooder")
        other = make_key(Scope.EVENTS_WRITE, name="other")
        requests = [("flooder", event("/flood", f"f-{i}"), flooder) for i in range(FLOOD)]
        # The other key's posts are spread through the flood, all in flight at once with it.
        step = FLOOD // OTHER
        for j in range(OTHER):
            requests.insert(j * (step + 1), ("other", event("/other", f"o-{j}"), other))
        with live(ingest_app(tight)) as server:
            answers = await post_all(server.url, requests)
        by_who: dict[str, Counter[int]] = {"flooder": Counter(), "other": Counter()}
        for who, r in answers:
            by_who[who][r.status_code] += 1
            if r.status_code == 429:
                assert r.json()["error"] == "rate_limited"
                assert 1 <= int(r.headers["retry-after"]) <= 1000
        assert by_who["flooder"] == Counter({202: BURST, 429: FLOOD - BURST})
        assert by_who["other"] == Counter({202: OTHER})
        assert redis_client.xlen(INGEST_STREAM) == BURST + OTHER

    async def test_a_flood_of_invalid_events_spends_the_same_budget(
        self,
        settings: Settings,
        live: Any,
        make_key: Callable[..., str],
        redis_client: Redis,
    ) -> None:
        tight = settings.model_copy(
            update={"rate_limit_per_second": 0.001, "rate_limit_burst": BURST}
        )
        flooder = make_key(Scope.EVENTS_WRITE, name="flooder")
        other = make_key(Scope.EVENTS_WRITE, name="other")
        junk = [("flooder", b"[" * 50_000, flooder) for _ in range(FLOOD // 3)]
        fine = [("other", event("/other", f"o-{j}"), other) for j in range(OTHER)]
        with live(ingest_app(tight)) as server:
            answers = await post_all(server.url, junk + fine)
        counts: dict[str, Counter[int]] = {"flooder": Counter(), "other": Counter()}
        for who, r in answers:
            counts[who][r.status_code] += 1
        # The rate is checked before the body is parsed: junk is refused as cheaply as events.
        assert counts["flooder"] == Counter({422: BURST, 429: FLOOD // 3 - BURST})
        assert counts["other"] == Counter({202: OTHER})
        assert redis_client.xlen(INGEST_STREAM) == OTHER
