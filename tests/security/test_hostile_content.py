"""Hostile content that is valid input: SQL, markup and control characters in every text field
of an event, posted to a real ingest server, stored by the worker's own code (`process_chunk`, fed
from pw:ingest as the relay does), and read back from a real timeline server as JSON and in every
export. SQL is stored verbatim and breaks nothing; markup comes out as text, escaped for each
format; control characters are dropped, so the XML and iCalendar exports stay well-formed."""

from __future__ import annotations

import csv
import html
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import httpx
import icalendar
import orjson
import psycopg
import pytest
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from shared.auth import Scope
from tests.security.conftest import Live, stored_from_stream

SQL = "Robert'); DROP TABLE events; -- \" OR 1=1 /* ; SELECT pg_sleep(10) */ \\x00'::text"
# Entity-encoded on purpose: normalization strips real tags and decodes entities, so the stored
# text holds the literal markup below; that is what every output must show as text.
MARKUP_SENT = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; &amp;amp;"
MARKUP = "<script>alert(1)</script><img src=x onerror=alert(2)> &amp;"
ATOM = "{http://www.w3.org/2005/Atom}"
FORMATS = ["json", "atom", "ics", "csv", "timelinejs"]


def cloudevent(ce_id: str, text: str, **over: Any) -> dict[str, Any]:
    data = {
        "company": "Acme AI",
        "occurred": "2025-08-05",
        "title": f"Acme AI title {text}",
        "summary": f"Acme AI summary {text}",
        "body": f"Acme AI body {text}",
        "tags": [f"tag {text}"],
        "actors": [f"actor {text}"],
        "sources": [
            {
                "url": "https://news.example/a?q=%27%20OR%201%3D1--&x=%3Cscript%3E",
                "publisher": f"publisher {text}",
            }
        ],
    }
    data.update(over)
    return {
        "specversion": "1.0",
        "id": f"{ce_id} {text}",
        "source": f"/tests/security/{ce_id}",
        "type": "dev.pivotwatch.strategy.reported",
        "subject": f"subject {text}"[:200],
        "hostile": text,
        "data": data,
    }


@pytest.fixture
def post(
    ingest_server: Live, make_key: Callable[..., str]
) -> Callable[[dict[str, Any]], httpx.Response]:
    key = make_key(Scope.EVENTS_WRITE)

    def send(ce: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{ingest_server.url}/v1/events",
            content=orjson.dumps(ce),
            headers={
                "authorization": f"Bearer {key}",
                "content-type": "application/cloudevents+json",
            },
            timeout=10,
        )

    return send


@pytest.fixture
def store(
    post: Callable[[dict[str, Any]], httpx.Response],
    sessions: sessionmaker[Session],
    redis_client: Redis,
) -> Callable[..., dict[str, Any]]:
    """Post one event, store it as the worker does, and answer with what was posted back."""

    def run(ce: dict[str, Any]) -> dict[str, Any]:
        r = post(ce)
        assert r.status_code == 202, r.text
        assert stored_from_stream(sessions, redis_client) == 1
        redis_client.delete("pw:ingest")
        out: dict[str, Any] = r.json()
        return out

    return run


def export(timeline: Live, fmt: str, **params: str) -> httpx.Response:
    r = httpx.get(
        f"{timeline.url}/v1/companies/acme-ai/timeline",
        params={"format": fmt, **params},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    return r


class TestSql:
    def test_is_stored_verbatim_in_every_text_field_and_breaks_nothing(
        self, store: Callable[..., dict[str, Any]], timeline_server: Live, migrated: Any
    ) -> None:
        accepted = store(cloudevent("sql", SQL))
        doc = httpx.get(f"{timeline_server.url}/v1/events/{accepted['id']}").json()
        assert doc["title"] == f"Acme AI title {SQL}"
        assert doc["summary"] == f"Acme AI summary {SQL}"
        assert doc["tags"] == [f"tag {SQL}"]
        assert doc["actors"] == [f"actor {SQL}"]
        assert doc["sources"][0]["publisher"] == f"publisher {SQL}"
        assert doc["ce_id"] == f"sql {SQL}"
        with psycopg.connect(migrated.database_url) as conn:
            (body, raw) = conn.execute(
                "SELECT body, raw::text FROM events WHERE id = %s", (accepted["id"],)
            ).fetchone() or ("", "")
            assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
        assert body == f"Acme AI body {SQL}"
        assert orjson.dumps(SQL).decode()[1:-1] in raw  # the extension attribute, as sent

    @pytest.mark.parametrize(
        "param",
        ["q", "entity", "phase", "cursor", "category", "from", "as_of", "min_importance", "limit"],
    )
    def test_in_a_query_parameter_is_answered_without_error(
        self, store: Callable[..., dict[str, Any]], timeline_server: Live, param: str
    ) -> None:
        store(cloudevent("sql", SQL))
        for fmt in FORMATS:
            r = httpx.get(
                f"{timeline_server.url}/v1/companies/acme-ai/timeline",
                params={param: SQL, "format": fmt},
            )
            assert r.status_code in (200, 422), (param, fmt, r.text)
        merged = httpx.get(f"{timeline_server.url}/v1/timeline", params={"companies": SQL})
        assert merged.status_code == 404

    def test_search_finds_the_event_by_its_sql_text(
        self, store: Callable[..., dict[str, Any]], timeline_server: Live
    ) -> None:
        store(cloudevent("sql", SQL))
        r = httpx.get(
            f"{timeline_server.url}/v1/companies/acme-ai/timeline",
            params={"q": "Robert'); DROP TABLE events"},
        )
        assert [e["ce_id"] for e in r.json()["events"]] == [f"sql {SQL}"]


class TestMarkup:
    @pytest.fixture
    def stored(self, store: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        return store(cloudevent("html", MARKUP_SENT, title=f"{MARKUP_SENT} Acme AI memo"))

    def test_json_holds_the_markup_as_text(
        self, stored: dict[str, Any], timeline_server: Live
    ) -> None:
        doc = httpx.get(f"{timeline_server.url}/v1/events/{stored['id']}").json()
        assert doc["title"] == f"{MARKUP} Acme AI memo"
        assert doc["summary"] == f"Acme AI summary {MARKUP}"
        assert doc["sources"][0]["publisher"] == f"publisher {MARKUP}"

    def test_atom_carries_it_as_escaped_text_not_elements(
        self, stored: dict[str, Any], timeline_server: Live
    ) -> None:
        r = export(timeline_server, "atom")
        feed = ET.fromstring(r.content)
        (entry,) = feed.findall(f"{ATOM}entry")
        assert entry.findtext(f"{ATOM}title") == f"{MARKUP} Acme AI memo"
        assert MARKUP in (entry.findtext(f"{ATOM}summary") or "")
        assert entry.find(f"{ATOM}link").get("title") == f"publisher {MARKUP}"  # type: ignore[union-attr]
        assert not [el for el in feed.iter() if "script" in el.tag or "img" in el.tag]
        assert b"<script>" not in r.content and b"<img" not in r.content

    def test_ics_carries_it_as_text(self, stored: dict[str, Any], timeline_server: Live) -> None:
        r = export(timeline_server, "ics")
        cal = icalendar.Calendar.from_ical(r.content)
        (event,) = [c for c in cal.walk() if c.name == "VEVENT"]
        assert str(event["SUMMARY"]) == f"{MARKUP} Acme AI memo"

    def test_csv_carries_it_as_text_and_guards_formulas(
        self, store: Callable[..., dict[str, Any]], timeline_server: Live
    ) -> None:
        formula = '=HYPERLINK("https://evil.example","click") &lt;b&gt;'
        store(cloudevent("csv", MARKUP_SENT, title=formula))
        rows = list(csv.DictReader(io.StringIO(export(timeline_server, "csv").text)))
        (row,) = rows
        assert row["title"] == "'" + html.unescape(formula)
        assert row["summary"] == f"Acme AI summary {MARKUP}"

    def test_timelinejs_escapes_it_for_html(
        self, stored: dict[str, Any], timeline_server: Live
    ) -> None:
        doc = export(timeline_server, "timelinejs").json()
        (event,) = doc["events"]
        assert event["text"]["headline"] == html.escape(f"{MARKUP} Acme AI memo")
        assert "<script" not in orjson.dumps(doc).decode()
        assert "<img" not in orjson.dumps(doc).decode()
        assert html.escape(f"publisher {MARKUP}") in event["text"]["text"]


class TestControlCharacters:
    CONTROLS = "".join(chr(c) for c in [*range(1, 9), *range(0x0E, 0x1C), 0x7F, 0x80, 0x9B])

    def test_are_dropped_from_stored_text_so_every_export_is_well_formed(
        self, store: Callable[..., dict[str, Any]], timeline_server: Live
    ) -> None:
        text = f"a{self.CONTROLS}b"
        accepted = store(cloudevent("ctl", text, title=f"Acme AI {text} memo"))
        doc = httpx.get(f"{timeline_server.url}/v1/events/{accepted['id']}").json()
        assert doc["title"] == "Acme AI ab memo"
        assert doc["summary"] == "Acme AI summary ab"
        assert doc["sources"][0]["publisher"] == "publisher ab"
        feed = ET.fromstring(export(timeline_server, "atom").content)  # strict XML 1.0 parser
        assert feed.find(f"{ATOM}entry/{ATOM}title").text == "Acme AI ab memo"  # type: ignore[union-attr]
        cal = icalendar.Calendar.from_ical(export(timeline_server, "ics").content)
        (event,) = [c for c in cal.walk() if c.name == "VEVENT"]
        assert str(event["SUMMARY"]) == "Acme AI ab memo"
        # JSON may carry any character (tags, actors and ids are kept as sent); these may not.
        for fmt in ("csv", "timelinejs"):
            body = export(timeline_server, fmt).text
            assert not any(c in body for c in self.CONTROLS), fmt


class TestSourceUrls:
    @pytest.mark.parametrize(
        "url",
        [
            "javascript:alert(1)",
            "JavaScript:alert(document.cookie)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "//evil.example/x",
            "ftp://example.org/x",
            "mailto:a@example.org",
        ],
    )
    def test_any_scheme_but_http_is_refused(
        self, post: Callable[[dict[str, Any]], httpx.Response], redis_client: Redis, url: str
    ) -> None:
        ce = cloudevent("url", "x", sources=[{"url": url}])
        r = post(ce)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "data.sources.0.url"
        assert redis_client.xlen("pw:ingest") == 0
