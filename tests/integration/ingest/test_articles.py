"""POST /v1/articles: validated, then queued on the ingest log for event extraction."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from redis import Redis

from services.enrich.relay import entries_from_stream
from services.enrich.service import mark_processing
from services.ingest.app import create_app
from services.ingest.service import article_cost
from shared.events import ARTICLE_TYPE
from shared.redis_keys import INGEST_STREAM, rate_key, worker_key
from shared.settings import Settings

JSON = {"content-type": "application/json"}


def article(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "url": "https://news.example/2025/01/31/altman-reddit",
        "publisher": "News Example",
        "published_date": "2025-01-31",
        "title": "Altman says OpenAI is on the wrong side of history",
        "text": "On Friday Sam Altman said OpenAI had been on the wrong side of history.",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


class TestArticleQueued:
    async def test_article_is_on_the_stream_as_kind_article(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], redis_client: Redis
    ) -> None:
        r = await ingest.post("/v1/articles", content=orjson.dumps(article()), headers=writer)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "accepted" and r.json()["duplicate"] is False
        ((_sid, fields),) = redis_client.xrange(INGEST_STREAM)
        assert fields[b"kind"] == b"article"
        assert fields[b"id"].decode() == r.json()["id"]
        ce = orjson.loads(fields[b"ce"])
        assert ce["type"] == ARTICLE_TYPE
        assert ce["id"] == article()["url"]
        assert ce["data"]["publisher"] == "News Example"
        assert ce["data"]["published_date"] == "2025-01-31"
        status = await ingest.get(r.json()["status_url"], headers=writer)
        assert (status.json()["status"], status.json()["kind"]) == ("accepted", "article")

    async def test_an_article_a_worker_holds_is_processing(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], redis_client: Redis
    ) -> None:
        r = await ingest.post("/v1/articles", content=orjson.dumps(article()), headers=writer)
        worker = "enrich@articles|host/1|4243|beef"
        redis_client.set(worker_key(worker), b"1", ex=60)
        mark_processing(
            redis_client, entries_from_stream(redis_client.xrange(INGEST_STREAM)), worker
        )
        held = (await ingest.get(r.json()["status_url"], headers=writer)).json()
        assert (held["status"], held["kind"]) == ("processing", "article")
        assert held["processing_since"]
        redis_client.delete(worker_key(worker))
        lost = (await ingest.get(r.json()["status_url"], headers=writer)).json()
        assert lost["status"] == "accepted" and "stopped" in lost["detail"]

    async def test_same_article_twice_is_a_duplicate(
        self, ingest: httpx.AsyncClient, writer: dict[str, str], redis_client: Redis
    ) -> None:
        a = await ingest.post("/v1/articles", content=orjson.dumps(article()), headers=writer)
        b = await ingest.post("/v1/articles", content=orjson.dumps(article()), headers=writer)
        assert a.json()["id"] == b.json()["id"]
        assert b.json()["duplicate"] is True
        assert redis_client.xlen(INGEST_STREAM) == 1

    async def test_publication_datetime_is_enough(
        self, ingest: httpx.AsyncClient, writer: dict[str, str]
    ) -> None:
        body = article(published_date=None, published="2025-01-31T18:00:00Z")
        r = await ingest.post("/v1/articles", content=orjson.dumps(body), headers=writer)
        assert r.status_code == 202, r.text


class TestArticleRejected:
    @pytest.mark.parametrize(
        ("over", "field", "reason"),
        [
            ({"published_date": None}, "published", "the publication date is required"),
            ({"url": "not a url"}, "url", "URL"),
            ({"text": ""}, "text", "at least 1 character"),
            ({"text": None}, "text", "Field required"),
            ({"published_date": "31/01/2025"}, "published_date", "pattern"),
            ({"colour": "blue"}, "colour", "Extra inputs are not permitted"),
        ],
    )
    async def test_invalid_article_names_the_field(
        self,
        ingest: httpx.AsyncClient,
        writer: dict[str, str],
        redis_client: Redis,
        over: dict[str, Any],
        field: str,
        reason: str,
    ) -> None:
        r = await ingest.post("/v1/articles", content=orjson.dumps(article(**over)), headers=writer)
        assert r.status_code == 422
        assert r.json()["field"] == field
        assert reason in r.json()["detail"]
        assert redis_client.xlen(INGEST_STREAM) == 0

    async def test_malformed_json_is_422(
        self, ingest: httpx.AsyncClient, writer: dict[str, str]
    ) -> None:
        r = await ingest.post("/v1/articles", content=b"{", headers={**writer, **JSON})
        assert r.status_code == 422

    async def test_non_json_is_415(self, ingest: httpx.AsyncClient, writer: dict[str, str]) -> None:
        r = await ingest.post(
            "/v1/articles", content=b"text", headers={**writer, "content-type": "text/html"}
        )
        assert r.status_code == 415 and r.json()["field"] == "content-type"


class TestArticleRateCost:
    @staticmethod
    def _tokens(redis_client: Redis) -> float:
        (key,) = redis_client.keys(rate_key("*"))
        return float(redis_client.hget(key, "tokens") or 0)

    async def test_a_large_article_spends_more_tokens_than_a_small_one(
        self,
        settings: Settings,
        serve: Any,
        writer: dict[str, str],
        redis_client: Redis,
    ) -> None:
        # Refilled at one token per 1000 s: what each post spends stays in the bucket to be read.
        tight = settings.model_copy(
            update={"rate_limit_per_second": 0.001, "rate_limit_burst": 100}
        )
        small = article(url="https://news.example/small")
        large = article(url="https://news.example/large", text="OpenAI released a model. " * 4000)
        async with serve(create_app(tight)) as client:
            r = await client.post("/v1/articles", content=orjson.dumps(small), headers=writer)
            assert r.status_code == 202, r.text
            after_small = self._tokens(redis_client)
            r = await client.post("/v1/articles", content=orjson.dumps(large), headers=writer)
            assert r.status_code == 202, r.text
            after_large = self._tokens(redis_client)
        small_spent = 100 - after_small
        large_spent = after_small - after_large
        assert small_spent == pytest.approx(1, abs=0.01)
        assert large_spent == pytest.approx(article_cost(large["text"]), abs=0.01)
        assert article_cost(large["text"]) == 25  # 100,000 characters: 25 started 4096s

    async def test_an_article_larger_than_the_tokens_left_is_429(
        self, settings: Settings, serve: Any, writer: dict[str, str], redis_client: Redis
    ) -> None:
        tight = settings.model_copy(update={"rate_limit_per_second": 0.001, "rate_limit_burst": 30})
        first = article(url="https://news.example/first", text="OpenAI released a model. " * 4000)
        second = article(url="https://news.example/second", text="OpenAI released it. " * 4000)
        small = article(url="https://news.example/small")
        async with serve(create_app(tight)) as client:
            a = await client.post("/v1/articles", content=orjson.dumps(first), headers=writer)
            b = await client.post("/v1/articles", content=orjson.dumps(second), headers=writer)
            c = await client.post("/v1/articles", content=orjson.dumps(small), headers=writer)
        # 25 tokens, then 20 more than the 5 left: refused; a small article still fits.
        assert a.status_code == 202 and c.status_code == 202
        assert b.status_code == 429 and "retry-after" in b.headers
        assert redis_client.xlen(INGEST_STREAM) == 2

    async def test_an_article_costing_more_than_the_burst_is_charged_the_burst(
        self, settings: Settings, serve: Any, writer: dict[str, str], redis_client: Redis
    ) -> None:
        tight = settings.model_copy(update={"rate_limit_per_second": 0.001, "rate_limit_burst": 10})
        large = article(text="OpenAI released a model. " * 4000)
        async with serve(create_app(tight)) as client:
            r = await client.post("/v1/articles", content=orjson.dumps(large), headers=writer)
        assert r.status_code == 202, r.text
        assert self._tokens(redis_client) == pytest.approx(0, abs=0.01)
