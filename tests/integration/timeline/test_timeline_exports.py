"""Exports of timeline queries, parsed by the tools their readers use."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import feedparser
import icalendar
import orjson

from services.timeline.app import create_app
from shared.settings import Settings
from tests.integration.timeline.conftest import Store, report

PATH = "/v1/companies/openai/timeline"


def check_date(value: Any, where: str) -> tuple[int, int, int]:
    assert isinstance(value, dict), f"{where}: a date object"
    assert set(value) <= {
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "millisecond",
        "display_date",
    }, where
    assert isinstance(value.get("year"), int), f"{where}.year is a required number"
    month, day = value.get("month"), value.get("day")
    if day is not None:
        assert month is not None, f"{where}: a day needs its month"
    if month is not None:
        assert isinstance(month, int) and 1 <= month <= 12, f"{where}.month"
    if day is not None:
        assert isinstance(day, int), f"{where}.day"
        date(value["year"], month, day)  # a real calendar day
    return value["year"], month or 1, day or 1


def check_text(value: Any, where: str) -> None:
    assert isinstance(value, dict) and set(value) <= {"headline", "text"}, where
    for key in ("headline", "text"):
        assert isinstance(value.get(key, ""), str), f"{where}.{key}"


def validate_timelinejs(data: Any) -> None:
    """The Knight Lab TimelineJS3 JSON format (timeline.knightlab.com/docs/json-format.html):
    required `events` (slides with a `start_date`), optional `title` slide, `eras` (each with
    `start_date` and `end_date`) and `scale` ("human" or "cosmological"); date objects have a
    numeric `year` and optional `month`, `day`...; `text` has `headline` and `text`."""
    assert isinstance(data, dict)
    assert set(data) <= {"events", "title", "eras", "scale"}
    assert isinstance(data["events"], list)
    assert data.get("scale", "human") in ("human", "cosmological")
    slide_keys = {
        "start_date",
        "end_date",
        "text",
        "media",
        "group",
        "display_date",
        "background",
        "autolink",
        "unique_id",
    }
    ids = set()
    for i, slide in enumerate(data["events"]):
        where = f"events[{i}]"
        assert isinstance(slide, dict) and set(slide) <= slide_keys, where
        start = check_date(slide["start_date"], f"{where}.start_date")
        if "end_date" in slide:
            assert check_date(slide["end_date"], f"{where}.end_date") >= start, where
        if "text" in slide:
            check_text(slide["text"], f"{where}.text")
        for key in ("group", "display_date", "unique_id"):
            assert isinstance(slide.get(key, ""), str), f"{where}.{key}"
        if "unique_id" in slide:
            assert slide["unique_id"] not in ids, f"{where}.unique_id repeats"
            ids.add(slide["unique_id"])
    if "title" in data:
        assert isinstance(data["title"], dict) and set(data["title"]) <= slide_keys
        check_text(data["title"].get("text", {}), "title.text")
    for i, era in enumerate(data.get("eras", [])):
        where = f"eras[{i}]"
        assert isinstance(era, dict) and set(era) <= {"start_date", "end_date", "text"}, where
        start = check_date(era["start_date"], f"{where}.start_date")
        assert check_date(era["end_date"], f"{where}.end_date") >= start, where
        check_text(era.get("text", {}), f"{where}.text")


class TestTimelineJs:
    async def test_seed_export_validates_and_keeps_precision(
        self, settings: Settings, serve: Any, seeded: Any
    ) -> None:
        async with serve(create_app(settings)) as client:
            events = (await client.get(PATH, params={"limit": 500})).json()["events"]
            r = await client.get(PATH, params={"format": "timelinejs"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        data = r.json()
        validate_timelinejs(data)
        assert len(data["events"]) == len(events)
        for slide, ev in zip(data["events"], events, strict=True):
            assert slide["unique_id"] == f"event-{ev['id']}"
            assert slide["group"] == ev["category_label"]
            expected = {"year": 1, "month": 2, "day": 3}[ev["precision"]]
            assert len(slide["start_date"]) == expected
            assert slide["start_date"]["year"] == int(ev["occurred_start"][:4])
        assert [(e["start_date"], e["end_date"]["year"]) for e in data["eras"][:2]] == [
            ({"year": 2015, "month": 12, "day": 11}, 2019),
            ({"year": 2019, "month": 3, "day": 11}, 2025),
        ]
        assert data["eras"][2]["start_date"] == {"year": 2025, "month": 10, "day": 28}


class TestICalendar:
    async def test_seed_export_parses_as_all_day_events(
        self, settings: Settings, serve: Any, seeded: Any
    ) -> None:
        async with serve(create_app(settings)) as client:
            events = (await client.get(PATH, params={"limit": 500})).json()["events"]
            r = await client.get(PATH, params={"format": "ics"})
        assert r.headers["content-type"].startswith("text/calendar")
        cal = icalendar.Calendar.from_ical(r.text)
        vevents = cal.walk("VEVENT")
        assert len(vevents) == len(events)
        for vevent, ev in zip(vevents, events, strict=True):
            assert str(vevent["SUMMARY"]) == ev["title"]
            assert str(vevent["UID"]) == f"{ev['id']}@pivotwatch"
            start, end = vevent.decoded("DTSTART"), vevent.decoded("DTEND")
            assert type(start) is date and type(end) is date  # all-day, no invented time
            assert start.isoformat() == ev["occurred_start"]
            assert (end - date.fromisoformat(ev["occurred_end"])).days == 1


class TestAtom:
    async def test_filtered_export_parses_with_feedparser(
        self, settings: Settings, serve: Any, seeded: Any
    ) -> None:
        params = {"category": "legal"}
        async with serve(create_app(settings)) as client:
            events = (await client.get(PATH, params=params)).json()["events"]
            r = await client.get(PATH, params={**params, "format": "atom"})
        assert r.headers["content-type"].startswith("application/atom+xml")
        feed = feedparser.parse(r.content)
        assert not feed.bozo, feed.get("bozo_exception")
        assert [e.title for e in feed.entries] == [e["title"] for e in events]
        assert {t.term for e in feed.entries for t in e.tags} == {"legal"}
        assert feed.entries[0].link == events[0]["sources"][0]["url"]


class TestCsv:
    async def test_export_pages_with_a_link_header(
        self, settings: Settings, serve: Any, seeded: Any
    ) -> None:
        async with serve(create_app(settings)) as client:
            events = (await client.get(PATH, params={"limit": 500})).json()["events"]
            rows: list[dict[str, str]] = []
            url: str | None = f"{PATH}?format=csv&limit=10"
            pages = 0
            while url:
                r = await client.get(url)
                assert r.headers["content-type"].startswith("text/csv")
                rows += list(csv.DictReader(io.StringIO(r.text)))
                pages += 1
                url = r.links.get("next", {}).get("url")
        assert pages == -(-len(events) // 10)
        assert [row["id"] for row in rows] == [e["id"] for e in events]
        assert [row["occurred"] for row in rows] == [e["occurred"] for e in events]


class TestEscaping:
    async def test_hostile_text_survives_every_format(
        self, settings: Settings, serve: Any, store: Store
    ) -> None:
        title = '<img src=x onerror="alert(1)"> Acme; raises, "$5M" \\ =SUM(A1) & <more>'
        store(report("evil", title, "2024-05", summary="one\ntwo; three, <b>four</b>"))
        path = "/v1/companies/acme-ai/timeline"
        async with serve(create_app(settings)) as client:
            got = {
                f: await client.get(path, params={"format": f})
                for f in ("timelinejs", "ics", "atom", "csv", "json")
            }
        stored = got["json"].json()["events"][0]
        title = stored["title"]  # as enrichment normalized it
        assert all(ch in title for ch in ';,\\"=')
        slide = orjson.loads(got["timelinejs"].content)["events"][0]
        assert "<" not in slide["text"]["headline"]
        assert "<b>" not in slide["text"]["text"] and "<script" not in slide["text"]["text"]
        (vevent,) = icalendar.Calendar.from_ical(got["ics"].text).walk("VEVENT")
        assert str(vevent["SUMMARY"]) == title
        feed = feedparser.parse(got["atom"].content)
        assert not feed.bozo and feed.entries[0].title == title
        (row,) = csv.DictReader(io.StringIO(got["csv"].text))
        assert row["title"] == title and row["summary"] == stored["summary"]
        assert 'filename="acme-ai.csv"' in got["csv"].headers["content-disposition"]


async def test_merged_export(settings: Settings, serve: Any, seeded: Any) -> None:
    async with serve(create_app(settings)) as client:
        r = await client.get(
            "/v1/timeline", params={"companies": "openai,deepseek", "format": "timelinejs"}
        )
        merged = (
            await client.get("/v1/timeline", params={"companies": "openai,deepseek", "limit": 500})
        ).json()
    data = r.json()
    validate_timelinejs(data)
    assert len(data["events"]) == len(merged["events"])
    assert len(data["eras"]) == 3  # OpenAI's phases; DeepSeek has none
