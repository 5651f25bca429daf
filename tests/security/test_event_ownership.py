"""One key cannot rewrite, hide or read another key's events.

The attack: CloudEvents `source` + `id` is the idempotency key, so a key posting another key's
`source` and `id` with other content made a "correction" of that event (a new version), or hid
it with `publish: false`; and any `events:write` key could read any event's status. Now the first
key to post under a source owns it, `urn:pivotwatch:` sources are reserved to the key they name,
and a status is answered only to the key that owns the event (and to admin keys). Driven through
the real ingest app over ASGI, on the suite's real Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from redis import Redis

from services.ingest.app import create_app
from shared.auth import Scope
from shared.events import event_uuid
from shared.redis_keys import INGEST_STREAM, SOURCE_OWNERS, status_key
from shared.settings import Settings

STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}
SOURCE = "https://reporter-a.example/feed"
TITLE = "OpenAI LP created as a capped-profit company"


def strategy(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "company": "OpenAI LP",
        "occurred": "2019-03-11",
        "title": TITLE,
        "sources": [{"url": "https://openai.com/index/openai-lp/", "publisher": "OpenAI"}],
    }
    data.update(over)
    return data


def cloudevent(ce_id: str = "e-1", source: str = SOURCE, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": ce_id,
        "source": source,
        "type": "dev.pivotwatch.strategy.reported",
        "data": strategy(**data),
    }


@pytest.fixture
async def ingest(settings: Settings, serve: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings)) as client:
        yield client


@pytest.fixture
def keys(make_key: Callable[..., str]) -> dict[str, dict[str, str]]:
    """Two reporters' keys and an admin's, as request headers."""
    return {
        who: {"authorization": f"Bearer {make_key(scope, name=who)}"}
        for who, scope in (
            ("a", Scope.EVENTS_WRITE),
            ("b", Scope.EVENTS_WRITE),
            ("admin", Scope.ADMIN),
        )
    }


async def post(client: httpx.AsyncClient, key: dict[str, str], ce: Any) -> httpx.Response:
    return await client.post("/v1/events", content=orjson.dumps(ce), headers={**key, **STRUCTURED})


async def key_id(client: httpx.AsyncClient, key: dict[str, str]) -> str:
    """The key's id, as pivotwatch names it in the source of the key's plain-JSON events."""
    r = await client.post("/v1/events", json=strategy(), headers={**key, "idempotency-key": "who"})
    assert r.status_code == 202, r.text
    source: str = r.json()["source"]
    assert source.startswith("urn:pivotwatch:key:")
    return source.removeprefix("urn:pivotwatch:key:")


def titles(redis_client: Redis) -> list[str]:
    """The titles of what is on the ingest log, oldest first."""
    return [orjson.loads(f[b"ce"])["data"]["title"] for _, f in redis_client.xrange(INGEST_STREAM)]


def refused_for_source(r: httpx.Response, field: str = "source") -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert (body["error"], body["field"]) == ("forbidden", field)
    assert body["detail"]


class TestAnotherKeysSource:
    async def test_another_key_cannot_correct_an_event(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]], redis_client: Redis
    ) -> None:
        first = await post(ingest, keys["a"], cloudevent())
        assert first.status_code == 202
        before = redis_client.hgetall(status_key(first.json()["id"]))

        forged = await post(ingest, keys["b"], cloudevent(title="OpenAI LP was never created"))
        refused_for_source(forged)
        assert titles(redis_client) == [TITLE]
        assert redis_client.hgetall(status_key(first.json()["id"])) == before

    async def test_another_key_cannot_unpublish_an_event(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]], redis_client: Redis
    ) -> None:
        assert (await post(ingest, keys["a"], cloudevent())).status_code == 202
        hide = await post(ingest, keys["b"], cloudevent(publish=False, sources=[]))
        refused_for_source(hide)
        (entry,) = redis_client.xrange(INGEST_STREAM)
        assert orjson.loads(entry[1][b"ce"])["data"].get("publish", True) is True

    async def test_another_key_cannot_even_repost_it_or_post_a_new_id_under_it(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]], redis_client: Redis
    ) -> None:
        assert (await post(ingest, keys["a"], cloudevent())).status_code == 202
        refused_for_source(await post(ingest, keys["b"], cloudevent()))  # not even "duplicate"
        refused_for_source(await post(ingest, keys["b"], cloudevent("e-2", title="New")))
        binary = await ingest.post(
            "/v1/events",
            content=orjson.dumps(strategy(title="Binary forgery")),
            headers={
                **keys["b"],
                "content-type": "application/json",
                "ce-specversion": "1.0",
                "ce-id": "e-1",
                "ce-source": SOURCE,
                "ce-type": "dev.pivotwatch.strategy.reported",
            },
        )
        refused_for_source(binary)
        assert titles(redis_client) == [TITLE]

    async def test_the_owner_still_corrects_its_own_events(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]], redis_client: Redis
    ) -> None:
        first = await post(ingest, keys["a"], cloudevent())
        again = await post(ingest, keys["a"], cloudevent())
        fixed = await post(ingest, keys["a"], cloudevent(title="OpenAI LP, capped profit"))
        assert again.json()["duplicate"] is True
        assert fixed.status_code == 202 and fixed.json()["correction"] is True
        assert fixed.json()["id"] == first.json()["id"]
        assert titles(redis_client) == [TITLE, "OpenAI LP, capped profit"]

    async def test_an_admin_key_may_post_under_any_source(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]], redis_client: Redis
    ) -> None:
        first = await post(ingest, keys["a"], cloudevent())
        moderated = await post(ingest, keys["admin"], cloudevent(publish=False, sources=[]))
        assert moderated.status_code == 202 and moderated.json()["correction"] is True
        # The source stays the first key's, and so does the event: its status is still A's.
        status = await ingest.get(first.json()["status_url"], headers=keys["a"])
        assert status.status_code == 200
        refused_for_source(await post(ingest, keys["b"], cloudevent(title="Still not B's")))

    async def test_two_keys_racing_for_a_new_source_cannot_both_own_it(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]], redis_client: Redis
    ) -> None:
        for round_ in range(5):
            source = f"https://race.example/{round_}"
            a, b = await asyncio.gather(
                post(ingest, keys["a"], cloudevent(source=source, title="A's")),
                post(ingest, keys["b"], cloudevent(source=source, title="B's")),
            )
            assert sorted([a.status_code, b.status_code]) == [202, 403]
        assert redis_client.hlen(SOURCE_OWNERS) == 5
        assert redis_client.xlen(INGEST_STREAM) == 5


class TestReservedSources:
    async def test_another_key_cannot_post_under_a_keys_own_urn(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]], redis_client: Redis
    ) -> None:
        a = await key_id(ingest, keys["a"])
        plain_id = str(event_uuid(f"urn:pivotwatch:key:{a}", "who"))
        before = redis_client.hgetall(status_key(plain_id))
        for key in (keys["b"], keys["admin"]):
            forged = cloudevent("who", source=f"urn:pivotwatch:key:{a}", title="Forged")
            refused_for_source(await post(ingest, key, forged))
        assert titles(redis_client) == [TITLE]
        assert redis_client.hgetall(status_key(plain_id)) == before

    @pytest.mark.parametrize(
        "template",
        [
            "urn:pivotwatch:article:{a}",
            "urn:pivotwatch:key:{a}:more",
            "urn:pivotwatch:system",
            "urn:pivotwatch:",
            "URN:PIVOTWATCH:key:{b}",
        ],
    )
    async def test_any_other_pivotwatch_urn_is_refused(
        self,
        ingest: httpx.AsyncClient,
        keys: dict[str, dict[str, str]],
        redis_client: Redis,
        template: str,
    ) -> None:
        ids = {"a": await key_id(ingest, keys["a"]), "b": await key_id(ingest, keys["b"])}
        source = template.format(**ids)
        refused_for_source(await post(ingest, keys["b"], cloudevent(source=source)))
        # Refused before anything is recorded: no status, no owner, nothing on the log.
        admin_view = await ingest.get(
            f"/v1/events/{event_uuid(source, 'e-1')}/status", headers=keys["admin"]
        )
        assert admin_view.status_code == 404
        assert not redis_client.hexists(SOURCE_OWNERS, source)
        assert redis_client.xlen(INGEST_STREAM) == 2

    async def test_a_key_may_use_its_own_urn_in_structured_mode(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]]
    ) -> None:
        a = await key_id(ingest, keys["a"])
        fixed = cloudevent("who", source=f"urn:pivotwatch:key:{a}", title="Corrected by A")
        r = await post(ingest, keys["a"], fixed)
        assert r.status_code == 202 and r.json()["correction"] is True


class TestBatch:
    async def test_a_foreign_entry_is_refused_by_itself(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]], redis_client: Redis
    ) -> None:
        assert (await post(ingest, keys["a"], cloudevent())).status_code == 202
        batch = [
            cloudevent("b-1", source="https://reporter-b.example/feed", title="B's own"),
            cloudevent(title="B's forgery of A's event"),
            cloudevent("b-2", source="urn:pivotwatch:mine"),
        ]
        r = await ingest.post(
            "/v1/events/batch", content=orjson.dumps(batch), headers={**keys["b"], **BATCH}
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 0, 2)
        ok, foreign, reserved = body["results"]
        assert ok["status"] == "accepted"
        for i, entry in ((1, foreign), (2, reserved)):
            assert (entry["index"], entry["status"]) == (i, "rejected")
            assert (entry["error"], entry["field"]) == ("forbidden", f"{i}.source")
        assert titles(redis_client) == [TITLE, "B's own"]

    async def test_a_batch_of_foreign_entries_only_is_403(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]], redis_client: Redis
    ) -> None:
        assert (await post(ingest, keys["a"], cloudevent())).status_code == 202
        batch = [cloudevent(title="Forged"), cloudevent("e-2", title="Forged too")]
        r = await ingest.post(
            "/v1/events/batch", content=orjson.dumps(batch), headers={**keys["b"], **BATCH}
        )
        assert r.status_code == 403
        assert [e["error"] for e in r.json()["results"]] == ["forbidden", "forbidden"]
        assert titles(redis_client) == [TITLE]


class TestStatusIsTheOwners:
    async def test_another_key_gets_the_answer_for_an_unknown_id(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]]
    ) -> None:
        r = await post(ingest, keys["a"], cloudevent())
        url = r.json()["status_url"]
        assert (await ingest.get(url, headers=keys["a"])).status_code == 200
        theirs = await ingest.get(url, headers=keys["b"])
        unknown = await ingest.get(
            f"/v1/events/{event_uuid(SOURCE, 'never-posted')}/status", headers=keys["b"]
        )
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json() == unknown.json()
        admin = await ingest.get(url, headers=keys["admin"])
        assert admin.status_code == 200 and admin.json()["status"] == "accepted"

    async def test_an_articles_status_is_its_posters(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]]
    ) -> None:
        article = {
            "url": "https://news.example/2025/01/31/altman",
            "published_date": "2025-01-31",
            "text": "On Friday Sam Altman said OpenAI has been on the wrong side of history.",
        }
        r = await ingest.post("/v1/articles", json=article, headers=keys["a"])
        assert r.status_code == 202, r.text
        url = r.json()["status_url"]
        assert (await ingest.get(url, headers=keys["a"])).status_code == 200
        assert (await ingest.get(url, headers=keys["b"])).status_code == 404
        assert (await ingest.get(url, headers=keys["admin"])).status_code == 200

    async def test_a_rejections_status_is_its_posters_and_another_key_cannot_replace_it(
        self, ingest: httpx.AsyncClient, keys: dict[str, dict[str, str]]
    ) -> None:
        bad = await post(ingest, keys["a"], cloudevent(occurred="2019-02-30"))
        assert bad.status_code == 422
        url = bad.json()["status_url"]
        reason = (await ingest.get(url, headers=keys["a"])).json()["reason"]
        assert "day 30" in reason
        assert (await ingest.get(url, headers=keys["b"])).status_code == 404
        other = await post(ingest, keys["b"], cloudevent(occurred="2019-13-01"))
        assert other.status_code == 422
        assert (await ingest.get(url, headers=keys["a"])).json()["reason"] == reason


class TestExtractedEventsBelongToTheArticlesKey:
    async def test_the_articles_key_reads_its_extracted_events_and_no_other_key_does(
        self,
        ingest: httpx.AsyncClient,
        keys: dict[str, dict[str, str]],
        redis_client: Redis,
        sessions: Any,
    ) -> None:
        from services.enrich.relay import entries_from_stream
        from services.enrich.service import process_chunk

        article = {
            "url": "https://news.example/2025/08/05/gpt-oss",
            "publisher": "News Example",
            "published_date": "2025-08-05",
            "title": "OpenAI releases gpt-oss under Apache 2.0",
            "text": (
                "On Tuesday OpenAI released gpt-oss-120b and gpt-oss-20b, its first open-weight "
                "language models since GPT-2, under the Apache 2.0 licence."
            ),
        }
        r = await ingest.post("/v1/articles", content=orjson.dumps(article), headers=keys["a"])
        assert r.status_code == 202, r.text
        entries = entries_from_stream(redis_client.xrange(INGEST_STREAM))
        process_chunk(sessions, redis_client, entries, lambda _ids: None)
        done = (await ingest.get(r.json()["status_url"], headers=keys["a"])).json()
        extracted = orjson.loads(done["events"])
        assert extracted, done
        for event_id in extracted:
            url = f"/v1/events/{event_id}/status"
            assert (await ingest.get(url, headers=keys["a"])).status_code == 200
            assert (await ingest.get(url, headers=keys["b"])).status_code == 404
            assert (await ingest.get(url, headers=keys["admin"])).status_code == 200
