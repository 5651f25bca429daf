"""Pure parts of the timeline service: export rendering, phase derivation, stream filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import feedparser
import icalendar
import pytest

from services.timeline import exports, phases
from services.timeline.stream import StreamFilter

NASTY = 'Acme <script>alert("x")</script> & co; raises $5M, "again"\\ now'


def doc(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "8a4b0a64-4a4f-4f65-9d1c-7a1e1f3f7c10",
        "company": "acme-ai",
        "companies": ["acme-ai"],
        "occurred": "2023-11",
        "occurred_start": "2023-11-01",
        "occurred_end": "2023-11-30",
        "precision": "month",
        "title": "Acme AI hires a CEO",
        "summary": "Line one.\nLine two; with, punctuation.",
        "category": "leadership",
        "category_label": "leadership",
        "phase": None,
        "transition_to": None,
        "importance": 40,
        "stance": -0.25,
        "entities": [{"kind": "org", "value": "Acme AI"}],
        "sources": [{"url": "https://news.example/a?x=1&y=2", "publisher": "Example News"}],
        "duplicate_of": None,
        "version": 2,
        "recorded_at": "2025-01-02T03:04:05+00:00",
        "updated_at": "2025-01-03T03:04:05+00:00",
    }
    base.update(over)
    return base


META = exports.Meta("acme-ai: timeline", "https://tl.example/v1/x?format=atom", datetime.now(UTC))


class TestTimelineJsDates:
    @pytest.mark.parametrize(
        ("occurred", "start", "end", "display"),
        [
            ("2019-03-11", {"year": 2019, "month": 3, "day": 11}, None, None),
            ("2023-11", {"year": 2023, "month": 11}, None, None),
            ("2015", {"year": 2015}, None, None),
            ("2023-11~", {"year": 2023, "month": 11}, None, "about 2023-11"),
            ("2024?", {"year": 2024}, None, "possibly 2024"),
            (
                "2024-12/2025-01-15",
                {"year": 2024, "month": 12},
                {"year": 2025, "month": 1, "day": 15},
                "2024-12/2025-01-15",
            ),
            ("2024-12/..", {"year": 2024, "month": 12}, None, "2024-12/.."),
        ],
    )
    def test_dates_carry_only_the_known_parts(
        self,
        occurred: str,
        start: dict[str, int],
        end: dict[str, int] | None,
        display: str | None,
    ) -> None:
        out = exports.to_timelinejs([doc(occurred=occurred)], [], "t", date(2026, 1, 1))
        event = out["events"][0]
        assert event["start_date"] == start
        assert event.get("end_date") == end
        assert event.get("display_date") == display

    def test_text_is_html_escaped_and_sources_are_links(self) -> None:
        out = exports.to_timelinejs([doc(title=NASTY)], [], NASTY, date(2026, 1, 1))
        event = out["events"][0]
        assert "<script>" not in event["text"]["headline"]
        assert "&lt;script&gt;" in event["text"]["headline"]
        assert '<a href="https://news.example/a?x=1&amp;y=2"' in event["text"]["text"]
        assert "<script>" not in out["title"]["text"]["headline"]

    @pytest.mark.parametrize(
        "url", ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "//evil/x"]
    )
    def test_a_source_that_is_not_http_is_text_never_a_link(self, url: str) -> None:
        sources = [{"url": url, "publisher": "<b>P</b>"}, {"url": "https://ok.example/"}]
        out = exports.to_timelinejs([doc(sources=sources)], [], "t", date(2026, 1, 1))
        text = out["events"][0]["text"]["text"]
        assert text.count("<a ") == 1 and 'href="https://ok.example/"' in text
        assert "&lt;b&gt;P&lt;/b&gt;" in text
        for scheme in ("javascript", "data:", "evil"):
            assert scheme not in text.lower()

    def test_open_phase_runs_to_today(self) -> None:
        opened = phases.derive([doc(transition_to="open", occurred="2020-05-01")])
        out = exports.to_timelinejs([], opened, "t", date(2026, 2, 3))
        assert out["eras"][0]["start_date"] == {"year": 2020, "month": 5, "day": 1}
        assert out["eras"][0]["end_date"] == {"year": 2026, "month": 2, "day": 3}


class TestICalendar:
    def test_text_escaping_round_trips(self) -> None:
        assert exports.ics_text("a\\b;c,d\ne") == "a\\\\b\\;c\\,d\\ne"
        cal = icalendar.Calendar.from_ical(exports.to_ics([doc(title=NASTY)], META))
        (event,) = cal.walk("VEVENT")
        assert str(event["SUMMARY"]) == NASTY
        assert "Line two; with, punctuation." in str(event["DESCRIPTION"])

    def test_long_lines_fold_at_75_octets_without_splitting_characters(self) -> None:
        title = "Zürich " * 40
        text = exports.to_ics([doc(title=title)], META)
        for line in text.split("\r\n"):
            assert len(line.encode()) <= 75
        (event,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
        assert str(event["SUMMARY"]) == title

    @pytest.mark.parametrize(
        ("occurred", "start", "end"),
        [
            ("2019-03-11", date(2019, 3, 11), date(2019, 3, 12)),
            ("2023-11", date(2023, 11, 1), date(2023, 12, 1)),
            ("2015", date(2015, 1, 1), date(2016, 1, 1)),
            ("2024-12/..", date(2024, 12, 1), date(2025, 1, 1)),
            ("../2024-12-05", date(2024, 12, 5), date(2024, 12, 6)),
        ],
    )
    def test_all_day_events_span_what_the_date_covers(
        self, occurred: str, start: date, end: date
    ) -> None:
        (event,) = icalendar.Calendar.from_ical(
            exports.to_ics([doc(occurred=occurred)], META)
        ).walk("VEVENT")
        assert event.decoded("DTSTART") == start
        assert event.decoded("DTEND") == end


class TestHostileText:
    def test_xml_invalid_characters_never_reach_the_atom_feed(self) -> None:
        # U+FFFE / U+FFFF and C0 controls survive storage; XML 1.0 forbids them.
        import xml.etree.ElementTree as ET

        title = "gpt\ufffe-oss\uffff \x01released\x0b"
        src = [{"url": "https://news.example/a\ufffe", "publisher": "P\x02ub"}]
        feed = exports.to_atom([doc(title=title, summary="s\x1f", sources=src)], META)
        ET.fromstring(feed)  # well-formed, or it raises
        parsed = feedparser.parse(feed)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.entries[0].title == "gpt-oss released"

    def test_a_url_cannot_break_its_ical_line(self) -> None:
        url = "https://news.example/a\r\nATTENDEE:mailto:x@evil.example\n b"
        text = exports.to_ics([doc(sources=[{"url": url}])], META)
        assert "ATTENDEE" not in [line.split(":")[0] for line in text.split("\r\n")]
        (event,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
        assert "ATTENDEE" not in event
        assert str(event["URL"]).startswith("https://news.example/a%0D%0AATTENDEE")

    def test_an_ordinary_url_is_kept_as_it_is(self) -> None:
        url = "https://news.example/2025/01/31/a?x=1&y=2#top"
        assert exports.ics_uri(url) == url


class TestAtom:
    def test_feed_parses_and_keeps_text_exact(self) -> None:
        parsed = feedparser.parse(exports.to_atom([doc(title=NASTY)], META))
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.feed.title == "acme-ai: timeline"
        (entry,) = parsed.entries
        assert entry.title == NASTY
        assert entry.id == "urn:uuid:8a4b0a64-4a4f-4f65-9d1c-7a1e1f3f7c10"
        assert entry.link == "https://news.example/a?x=1&y=2"


class TestCsv:
    def test_round_trips_and_defuses_formulas(self) -> None:
        rows = [doc(title=NASTY), doc(title='=HYPERLINK("http://evil")', summary="+1")]
        parsed = list(csv.DictReader(io.StringIO(exports.to_csv(rows))))
        assert parsed[0]["title"] == NASTY
        assert parsed[0]["summary"] == "Line one.\nLine two; with, punctuation."
        assert parsed[0]["stance"] == "-0.25"
        assert parsed[1]["title"].startswith("'=")
        assert parsed[1]["summary"] == "'+1"
        assert parsed[0]["sources"] == "https://news.example/a?x=1&y=2"


class TestPhases:
    def test_each_phase_ends_where_the_next_begins_and_restatements_open_nothing(self) -> None:
        docs = [
            doc(id="1", transition_to="nonprofit", occurred="2015-12-11"),
            doc(id="2", transition_to="nonprofit", occurred="2016-01-05"),
            doc(id="3", transition_to="capped-profit", occurred="2019-03-11"),
        ]
        for d in docs:
            d["occurred_start"] = d["occurred"]
        out = phases.derive(docs)
        assert [(p["phase"], p["start"], p["end"], p["opened_by"]["id"]) for p in out] == [
            ("nonprofit", "2015-12-11", "2019-03-11", "1"),
            ("capped-profit", "2019-03-11", None, "3"),
        ]
        assert phases.phase_at(out, "2018-01-01") is out[0]
        assert phases.phase_at(out, "2015-01-01") is None
        assert phases.phase_name("public-benefit-corporation") == "public benefit corporation"


class TestStreamFilter:
    @pytest.mark.parametrize(
        ("flt", "admitted"),
        [
            (StreamFilter(), True),
            (StreamFilter(companies=("acme-ai",)), True),
            (StreamFilter(companies=("beta",)), False),
            (StreamFilter(companies=("beta", "acme-ai")), True),
            (StreamFilter(categories=frozenset({"funding"})), False),
            (StreamFilter(min_importance=41), False),
            (StreamFilter(min_importance=40), True),
            (StreamFilter(entity="ACME AI"), True),
            (StreamFilter(entity="Beta"), False),
            (StreamFilter(phase="capped-profit"), False),
        ],
    )
    def test_admits_what_the_timeline_would_show(self, flt: StreamFilter, admitted: bool) -> None:
        assert flt.admits(doc()) is admitted

    def test_duplicates_only_when_asked(self) -> None:
        dup = doc(duplicate_of="x")
        assert not StreamFilter().admits(dup)
        assert StreamFilter(include_duplicates=True).admits(dup)
