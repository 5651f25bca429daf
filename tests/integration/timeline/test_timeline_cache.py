"""The timeline's page cache against real Redis and PostgreSQL: a page is served again only while
the change feed shows no change, so a reader never misses a change announced before it asked."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from pivotwatch.embedded import free_port
from services.timeline.app import create_app
from shared.settings import Settings
from tests.integration.timeline.conftest import Store, report

PATH = "/v1/companies/acme-ai/timeline"
CACHE = "x-pivotwatch-cache"


def titles(body: dict[str, Any]) -> list[str]:
    return [e["title"] for e in body["events"]]


async def test_a_page_is_served_again_until_a_change_is_announced(
    settings: Settings, serve: Any, store: Store
) -> None:
    store(report("c1", "Acme AI raises $5M", "2024-02"))
    async with serve(create_app(settings)) as client:
        first = await client.get(PATH)
        again = await client.get(PATH)
        other = await client.get(PATH, params={"category": "funding"})
        store(report("c2", "Acme AI opens a lab in Paris", "2024-03-01"))
        after = await client.get(PATH)
        csv_first = await client.get(PATH, params={"format": "csv"})
        csv_again = await client.get(PATH, params={"format": "csv"})
    assert (first.headers[CACHE], again.headers[CACHE], other.headers[CACHE]) == (
        "miss",
        "hit",
        "miss",
    )
    assert again.content == first.content
    assert again.headers["content-type"] == "application/json"
    assert after.headers[CACHE] == "miss"
    assert titles(after.json()) == ["Acme AI raises $5M", "Acme AI opens a lab in Paris"]
    assert (csv_first.headers[CACHE], csv_again.headers[CACHE]) == ("miss", "hit")
    assert csv_again.content == csv_first.content
    assert csv_again.headers["content-disposition"] == csv_first.headers["content-disposition"]
    assert csv_again.headers["content-type"] == "text/csv; charset=utf-8"


async def test_a_change_that_announces_nothing_lives_at_most_the_cache_time(
    settings: Settings, serve: Any, store: Store
) -> None:
    store(report("s1", "Acme AI raises $5M", "2024-02"))
    short = settings.model_copy(update={"timeline_cache_seconds": 0.5})
    async with serve(create_app(short)) as client:
        assert titles((await client.get(PATH)).json()) == ["Acme AI raises $5M"]
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("UPDATE events SET title = 'Acme AI raises $6M' WHERE company='acme-ai'")
        stale = await client.get(PATH)
        await asyncio.sleep(0.6)
        fresh = await client.get(PATH)
    assert (stale.headers[CACHE], titles(stale.json())) == ("hit", ["Acme AI raises $5M"])
    assert (fresh.headers[CACHE], titles(fresh.json())) == ("miss", ["Acme AI raises $6M"])


async def test_without_redis_pages_come_from_the_database(
    settings: Settings, serve: Any, store: Store
) -> None:
    store(report("r1", "Acme AI raises $5M", "2024-02"))
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with serve(create_app(down)) as client:
        answers = [await client.get(PATH) for _ in range(2)]
    assert [(r.status_code, r.headers[CACHE]) for r in answers] == [(200, "miss"), (200, "miss")]
    assert titles(answers[1].json()) == ["Acme AI raises $5M"]


async def test_turned_off_with_zero_entries(settings: Settings, serve: Any, store: Store) -> None:
    store(report("z1", "Acme AI raises $5M", "2024-02"))
    off = settings.model_copy(update={"timeline_cache_entries": 0})
    async with serve(create_app(off)) as client:
        answers = [await client.get(PATH) for _ in range(2)]
    assert [r.headers[CACHE] for r in answers] == ["miss", "miss"]


async def test_errors_are_not_kept(settings: Settings, serve: Any) -> None:
    async with serve(create_app(settings)) as client:
        answers = [await client.get("/v1/companies/nobody/timeline") for _ in range(2)]
    assert [r.status_code for r in answers] == [404, 404]
    assert CACHE not in answers[1].headers
