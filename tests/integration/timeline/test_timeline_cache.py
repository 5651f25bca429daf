"""The timeline's page cache against real Redis and PostgreSQL: a page is served again only while
the change feed shows no change, so a reader never misses a change announced before it asked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from pivotwatch.embedded import free_port
from services.timeline.app import create_app
from services.timeline.cache import PageCacheMiddleware
from shared.auth import Scope, revoke_key
from shared.metrics import HTTP_REQUESTS
from shared.settings import Settings
from tests.fixtures.server import serving
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


def middleware(app: Any) -> PageCacheMiddleware:
    """The app's page-cache layer, found in its built middleware stack."""
    layer = app.middleware_stack
    while not isinstance(layer, PageCacheMiddleware):
        layer = layer.app
    return layer


def hits(route: str) -> float:
    return HTTP_REQUESTS.labels("timeline", route, "200")._value.get()  # type: ignore[no-any-return]


async def test_a_hit_passes_every_outer_layer_and_is_counted_under_its_route(
    settings: Settings, serve: Any, store: Store
) -> None:
    store(report("h1", "Acme AI raises $5M", "2024-02"))
    async with serve(create_app(settings)) as client:
        first = await client.get(PATH, headers={"origin": "https://reader.example"})
        before = hits("/v1/companies/{slug}/timeline")
        hit = await client.get(
            PATH, headers={"origin": "https://reader.example", "x-correlation-id": "corr-7"}
        )
        after = hits("/v1/companies/{slug}/timeline")
    assert (first.headers[CACHE], hit.headers[CACHE]) == ("miss", "hit")
    assert hit.content == first.content
    assert hit.headers["access-control-allow-origin"] == "*"
    assert hit.headers["x-content-type-options"] == "nosniff"
    assert hit.headers["x-correlation-id"] == "corr-7"
    assert hit.headers["content-length"] == str(len(first.content))
    assert [v for k, v in hit.headers.multi_items() if k == CACHE] == ["hit"]
    assert after == before + 1


async def test_with_a_read_key_required_a_hit_needs_a_key_valid_now(
    settings: Settings,
    serve: Any,
    store: Store,
    make_key: Callable[..., str],
    sessions: sessionmaker[Session],
    redis_client: Redis,
) -> None:
    store(report("k1", "Acme AI raises $5M", "2024-02"))
    key = make_key(Scope.EVENTS_WRITE)
    locked = settings.model_copy(update={"require_read_key": True})
    good = {"authorization": f"Bearer {key}"}
    async with serve(create_app(locked)) as client:
        first = await client.get(PATH, headers=good)
        again = await client.get(PATH, headers=good)
        anonymous = await client.get(PATH)
        wrong = await client.get(PATH, headers={"authorization": "Bearer pw_nope_nope"})
        with sessions() as session, session.begin():
            assert revoke_key(session, redis_client, key.split("_")[1])
        revoked = await client.get(PATH, headers=good)
    assert (first.headers[CACHE], again.headers[CACHE]) == ("miss", "hit")
    for refused in (anonymous, wrong, revoked):
        assert refused.status_code == 401, refused.text
        assert refused.json()["field"] == "authorization"
        assert CACHE not in refused.headers


def test_many_readers_at_once_see_a_change_announced_before_they_asked(
    settings: Settings, store: Store
) -> None:
    """Over real HTTP: 64 concurrent readers of a hot page after each of three changes. Every
    answer shows every change stored before the burst began, and the readers shared feed reads."""
    store(report("m0", "Acme AI raises $5M", "2024-02"))
    app = create_app(settings)
    with serving(app) as base:

        async def burst() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as c:
                return list(await asyncio.gather(*(c.get(PATH) for _ in range(64))))

        asyncio.run(burst())  # warm: the page is in the cache
        changes = [  # unlike one another, so none is merged as a near-duplicate
            "Acme AI opens a research lab in Paris",
            "Acme AI is sued by a former supplier",
            "Acme AI appoints a new chief executive",
        ]
        for n, title in enumerate(changes, 1):
            store(report(f"m{n}", title, f"2024-0{n + 2}"))
            answers = asyncio.run(burst())
            assert {r.status_code for r in answers} == {200}
            for r in answers:
                assert title in titles(r.json()), r.headers[CACHE]
        clock = middleware(app).clock
    assert clock.fetches < 4 * 64
