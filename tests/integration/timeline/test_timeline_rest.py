"""The timeline REST API against real PostgreSQL, with data written by the real storage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from services.timeline.app import create_app
from shared.auth import Scope
from shared.settings import Settings
from tests.integration.timeline.conftest import Store, event_id, report


async def everything(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Follow cursors to the end."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        out.extend(r.json()["events"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out


class TestCompanies:
    async def test_lists_each_company_with_count_and_span(
        self, settings: Settings, serve: Any, store: Store
    ) -> None:
        store(
            report("a1", "Acme AI is founded as a research lab", "2020"),
            report("a2", "Acme AI raises a $10M seed round", "2021-05", tags=["funding"]),
            report("a3", "Acme AI launches its first product", "2022-03-04"),
            report("b1", "Beta Labs is founded", "2019-07-01", company="beta-labs"),
        )
        async with serve(create_app(settings)) as client:
            r = await client.get("/v1/companies")
        assert r.status_code == 200
        by_slug = {c["slug"]: c for c in r.json()["companies"]}
        assert by_slug["acme-ai"]["events"] == 3
        assert (by_slug["acme-ai"]["first"], by_slug["acme-ai"]["last"]) == (
            "2020-01-01",
            "2022-03-04",
        )
        assert by_slug["beta-labs"]["events"] == 1


# Each filter, and the predicate a reader would apply to the full timeline to get the same events.
FILTER_CASES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"category": "legal"}, lambda e: e["category"] == "legal"),
    (
        {"category": "legal,funding"},
        lambda e: e["category"] in ("legal", "funding"),
    ),
    (
        {"phase": "capped-profit"},
        lambda e: "capped-profit" in (e["phase"], e["transition_to"]),
    ),
    ({"min_importance": 50}, lambda e: e["importance"] >= 50),
    (
        {"from": "2023-06-01", "to": "2024-06-30"},
        lambda e: e["occurred_end"] >= "2023-06-01" and e["occurred_start"] <= "2024-06-30",
    ),
    (
        {"entity": "Microsoft"},
        lambda e: "microsoft" in {str(x["value"]).lower() for x in e["entities"]},
    ),
    ({"q": "Musk"}, lambda e: "musk" in (e["title"] + " " + e["summary"]).lower()),
]


class TestCompanyTimeline:
    async def test_orders_by_when_it_happened_keeping_precision(
        self, settings: Settings, serve: Any, store: Store
    ) -> None:
        store(
            report("d", "Acme AI ships a model", "2023-03-05"),
            report("y", "Acme AI changes strategy", "2023"),
            report("m", "Acme AI hires a new CEO", "2023-03"),
        )
        async with serve(create_app(settings)) as client:
            events = await everything(client, "/v1/companies/acme-ai/timeline")
        assert [(e["occurred"], e["precision"]) for e in events] == [
            ("2023", "year"),
            ("2023-03", "month"),
            ("2023-03-05", "day"),
        ]

    async def test_each_filter_keeps_exactly_the_matching_seed_events(
        self, settings: Settings, serve: Any, seeded: Any
    ) -> None:
        async with serve(create_app(settings)) as client:
            full = await everything(client, "/v1/companies/openai/timeline", limit=500)
            for params, keep in FILTER_CASES:
                got = await everything(client, "/v1/companies/openai/timeline", limit=7, **params)
                expected = [e["id"] for e in full if keep(e)]
                assert expected, f"the seed should have events matching {params}"
                assert len(expected) < len(full), f"{params} should leave something out"
                assert [e["id"] for e in got] == expected, params

    async def test_duplicates_are_folded_unless_asked_for(
        self, settings: Settings, serve: Any, store: Store
    ) -> None:
        title = "Acme AI releases Falcon-9 weights under the Apache 2.0 licence"
        first = report("r1", title, "2024-05-01")
        again = report("r2", title, "2024-05-02", source="/tests/other-reporter")
        store(first)
        store(again)
        async with serve(create_app(settings)) as client:
            folded = (await client.get("/v1/companies/acme-ai/timeline")).json()["events"]
            every = (
                await client.get(
                    "/v1/companies/acme-ai/timeline", params={"include_duplicates": "true"}
                )
            ).json()["events"]
        assert [e["id"] for e in folded] == [event_id(first)]
        assert len(folded[0]["sources"]) == 2
        assert {e["id"] for e in every} == {event_id(first), event_id(again)}
        dup = next(e for e in every if e["id"] == event_id(again))
        assert dup["duplicate_of"] == event_id(first)


class TestMergedTimeline:
    async def test_merges_companies_in_one_chronology(
        self, settings: Settings, serve: Any, seeded: Any
    ) -> None:
        async with serve(create_app(settings)) as client:
            merged = await everything(client, "/v1/timeline", companies="openai,deepseek", limit=9)
            openai = await everything(client, "/v1/companies/openai/timeline", limit=500)
            deepseek = await everything(client, "/v1/companies/deepseek/timeline", limit=500)
        ids = [e["id"] for e in merged]
        assert len(ids) == len(set(ids))
        assert {e["id"] for e in openai + deepseek} <= set(ids)
        keys = [(e["occurred_start"], e["occurred_end"], e["id"]) for e in merged]
        assert keys == sorted(keys)
        for e in merged:
            assert {"openai", "deepseek"} & {e["company"], *e["companies"]}


class TestEvent:
    async def test_event_has_sources_entities_evidence_and_links_both_ways(
        self, settings: Settings, serve: Any, seeded: Any, migrated: Any
    ) -> None:
        with psycopg.connect(migrated.database_url) as conn:
            row = conn.execute(
                "SELECT a, b, kind FROM event_links ORDER BY a, b LIMIT 1"
            ).fetchone()
        assert row is not None, "the seed timelines should contain linked events"
        a, b, kind = str(row[0]), str(row[1]), row[2]
        async with serve(create_app(settings)) as client:
            earlier = (await client.get(f"/v1/events/{a}")).json()
            later = (await client.get(f"/v1/events/{b}")).json()
        assert earlier["sources"] and earlier["sources"][0]["url"].startswith("http")
        assert earlier["entities"] and "evidence" in earlier and earlier["evidence"]
        forward = [x for x in earlier["links"] if x["event"]["id"] == b and x["kind"] == kind]
        backward = [x for x in later["links"] if x["event"]["id"] == a and x["kind"] == kind]
        assert forward and forward[0]["position"] == "later"
        assert backward and backward[0]["position"] == "earlier"
        assert forward[0]["evidence"]["rule"]

    async def test_history_lists_every_version_with_what_changed(
        self, settings: Settings, serve: Any, store: Store
    ) -> None:
        store(report("h1", "Acme AI raises $5M", "2024-02"))
        store(report("h1", "Acme AI raises $7M in a seed round", "2024-02-14"))
        async with serve(create_app(settings)) as client:
            r = await client.get(f"/v1/events/{event_id(report('h1', '', '2024'))}/history")
        assert r.status_code == 200
        versions = r.json()["versions"]
        assert [v["version"] for v in versions] == [1, 2]
        assert versions[0]["event"]["title"] == "Acme AI raises $5M"
        assert versions[1]["event"]["title"] == "Acme AI raises $7M in a seed round"
        assert {"title", "occurred", "precision"} <= set(versions[1]["changed"])
        assert versions[0]["recorded_at"] <= versions[1]["recorded_at"]


class TestAsOf:
    async def test_timeline_as_recorded_then(
        self, settings: Settings, serve: Any, store: Store
    ) -> None:
        store(
            report("x1", "Acme AI raises $5M", "2024-02"),
            report("x2", "Acme AI is founded", "2023-01-10"),
        )
        then = datetime.now(UTC)
        store(
            report("x1", "Acme AI raises $7M in a seed round", "2024-02-14"),
            report("x3", "Acme AI launches a chatbot", "2024-06-01"),
        )
        path = "/v1/companies/acme-ai/timeline"
        async with serve(create_app(settings)) as client:
            past = (await client.get(path, params={"as_of": then.isoformat()})).json()
            paged = await everything(client, path, as_of=then.isoformat(), limit=1)
            now = (await client.get(path)).json()["events"]
            before = (
                await client.get(path, params={"as_of": (then - timedelta(days=1)).isoformat()})
            ).json()["events"]
            old = await client.get(f"/v1/events/{now[1]['id']}", params={"as_of": then.isoformat()})
            naive = await client.get(path, params={"as_of": then.strftime("%Y-%m-%dT%H:%M:%S.%f")})
        assert [(e["title"], e["version"]) for e in past["events"]] == [
            ("Acme AI is founded", 1),
            ("Acme AI raises $5M", 1),
        ]
        assert past["as_of"] == then.isoformat()
        assert [e["id"] for e in paged] == [e["id"] for e in past["events"]]
        assert [e["title"] for e in now] == [
            "Acme AI is founded",
            "Acme AI raises $7M in a seed round",
            "Acme AI launches a chatbot",
        ]
        assert before == []
        assert old.json()["title"] == "Acme AI raises $5M"
        assert naive.json()["events"] == past["events"]

    async def test_filters_read_the_past_as_they_read_the_present(
        self, settings: Settings, serve: Any, seeded: Any
    ) -> None:
        now = datetime.now(UTC).isoformat()
        path = "/v1/companies/openai/timeline"
        async with serve(create_app(settings)) as client:
            for params, _ in FILTER_CASES:
                present = await everything(client, path, limit=500, **params)
                past = await everything(client, path, limit=5, as_of=now, **params)
                assert [e["id"] for e in past] == [e["id"] for e in present], params
            merged = {"companies": "openai,deepseek", "limit": 500}
            present = await everything(client, "/v1/timeline", **merged)
            past = await everything(client, "/v1/timeline", as_of=now, **merged)
            phases = (await client.get("/v1/companies/openai/phases", params={"as_of": now})).json()
        assert [e["id"] for e in past] == [e["id"] for e in present]
        # Whole documents too: a version's snapshot is made from the stored ORM object, the
        # present page from plain rows of the document's columns; they must not differ.
        assert past == present
        assert len(phases["phases"]) == 3


class TestCursor:
    async def test_pages_neither_skip_nor_repeat_while_events_arrive(
        self, settings: Settings, serve: Any, store: Store
    ) -> None:
        store(*[report(f"c{d}", t, f"2020-01-{d:02d}") for d, t in enumerate(TOPICS, 1)])
        path = "/v1/companies/acme-ai/timeline"
        seen: list[dict[str, Any]] = []
        async with serve(create_app(settings)) as client:
            first = (await client.get(path, params={"limit": 3})).json()
            seen += first["events"]
            cursor = first["next_cursor"]
            # Arrivals behind the reader, ahead of it in the middle, and after the end.
            store(
                report("late-early", "Archive letter from the auditors recovered", "2020-01-02"),
                report("late-mid", "Quarterly memo about datacenter leases", "2020-01-05"),
                report("late-end", "Year-end shareholder report", "2020-12-31"),
            )
            while cursor:
                page = (await client.get(path, params={"limit": 3, "cursor": cursor})).json()
                seen += page["events"]
                cursor = page["next_cursor"]
        titles = [e["title"] for e in seen]
        assert len(titles) == len(set(titles))
        assert set(TOPICS) <= set(titles)
        assert "Quarterly memo about datacenter leases" in titles
        assert "Year-end shareholder report" in titles
        assert "Archive letter from the auditors recovered" not in titles  # behind, by design
        keys = [(e["occurred_start"], e["occurred_end"], e["id"]) for e in seen]
        assert keys == sorted(keys)


TOPICS = [
    "Acme AI opens a Paris office",
    "Board appoints a chief scientist",
    "Robotics division spun out",
    "Partnership signed with a chipmaker",
    "Annual developer conference announced",
    "Translation model enters beta",
    "Hiring freeze lifted in engineering",
    "New safety policy published",
    "Cloud credits programme for universities",
    "Vision API reaches general availability",
]


class TestErrors:
    @pytest.mark.parametrize(
        ("path", "params", "status", "field"),
        [
            ("/v1/companies/nobody/timeline", {}, 404, "slug"),
            ("/v1/companies/nobody/phases", {}, 404, "slug"),
            ("/v1/timeline", {"companies": "acme-ai,nobody"}, 404, "companies"),
            ("/v1/timeline", {"companies": " , "}, 422, "companies"),
            ("/v1/events/2b9c3a4e-0000-4000-8000-000000000000", {}, 404, "event_id"),
            ("/v1/events/2b9c3a4e-0000-4000-8000-000000000000/history", {}, 404, "event_id"),
            ("/v1/events/not-a-uuid", {}, 422, "event_id"),
            ("/v1/companies/acme-ai/timeline", {"category": "gossip"}, 422, "category"),
            ("/v1/companies/acme-ai/timeline", {"from": "2023-13-01"}, 422, "from"),
            (
                "/v1/companies/acme-ai/timeline",
                {"from": "2024-01-01", "to": "2023-01-01"},
                422,
                "from",
            ),
            ("/v1/companies/acme-ai/timeline", {"cursor": "bogus"}, 422, "cursor"),
            ("/v1/companies/acme-ai/timeline", {"limit": 501}, 422, "limit"),
            ("/v1/companies/acme-ai/timeline", {"limit": 0}, 422, "limit"),
            ("/v1/companies/acme-ai/timeline", {"format": "pdf"}, 422, "format"),
            ("/v1/companies/acme-ai/timeline", {"as_of": "yesterday"}, 422, "as_of"),
            ("/v1/companies/acme-ai/timeline", {"min_importance": 101}, 422, "min_importance"),
        ],
    )
    async def test_refusals_use_the_one_error_shape(
        self,
        settings: Settings,
        serve: Any,
        store: Store,
        path: str,
        params: dict[str, Any],
        status: int,
        field: str,
    ) -> None:
        store(report("e1", "Acme AI is founded", "2023-01-10"))
        async with serve(create_app(settings)) as client:
            r = await client.get(path, params=params)
        assert r.status_code == status, r.text
        body = r.json()
        assert body["error"] == ("not_found" if status == 404 else "invalid")
        assert body["field"] == field
        assert body["detail"]


class TestReadKey:
    async def test_reads_need_a_key_when_required(
        self, settings: Settings, serve: Any, store: Store, make_key: Callable[..., str]
    ) -> None:
        store(report("k1", "Acme AI is founded", "2023-01-10"))
        key = make_key(Scope.EVENTS_WRITE)
        locked = settings.model_copy(update={"require_read_key": True})
        async with serve(create_app(locked)) as client:
            anonymous = await client.get("/v1/companies/acme-ai/timeline")
            others = [
                (await client.get(path)).status_code
                for path in (
                    "/v1/companies",
                    "/v1/companies/acme-ai/phases",
                    "/v1/timeline?companies=acme-ai",
                    f"/v1/events/{event_id(report('k1', '', '2023'))}",
                    f"/v1/events/{event_id(report('k1', '', '2023'))}/history",
                    "/v1/stream",
                    "/v1/companies/acme-ai/timeline?format=ics",
                )
            ]
            wrong = await client.get(
                "/v1/companies", headers={"authorization": "Bearer pw_nope_nope"}
            )
            keyed = await client.get(
                "/v1/companies/acme-ai/timeline", headers={"authorization": f"Bearer {key}"}
            )
            health = await client.get("/healthz")
        assert anonymous.status_code == 401
        assert anonymous.json()["field"] == "authorization"
        assert others == [401] * len(others)
        assert wrong.status_code == 401
        assert keyed.status_code == 200 and keyed.json()["events"]
        assert health.status_code == 200

    async def test_reads_are_public_by_default(
        self, settings: Settings, serve: Any, store: Store
    ) -> None:
        store(report("k1", "Acme AI is founded", "2023-01-10"))
        async with serve(create_app(settings)) as client:
            assert (await client.get("/v1/companies/acme-ai/timeline")).status_code == 200
