"""Render a timeline (event documents, plus phases) as TimelineJS JSON, iCalendar, Atom or CSV.

Pure functions of data, no HTTP. Each keeps an event's date at its real precision:
- TimelineJS (Knight Lab) `start_date` carries only the parts that are known (year, month, day);
- iCalendar (RFC 5545) makes every event an all-day event spanning what its date covers (a day,
  a whole month, a whole year), with the text as reported in the description;
- Atom (RFC 4287) and CSV give `occurred` verbatim with its precision.
Everything is escaped for its format: HTML in TimelineJS text (TimelineJS renders it as HTML),
RFC 5545 TEXT escaping and line folding, XML via ElementTree, CSV quoting plus a guard against
spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote, urlsplit

from shared.dates import OccurredDate, Precision, parse_occurred

Doc = dict[str, Any]


class Format(StrEnum):
    JSON = "json"
    TIMELINEJS = "timelinejs"
    ICS = "ics"
    ATOM = "atom"
    CSV = "csv"


MEDIA_TYPES = {
    Format.JSON: "application/json",
    Format.TIMELINEJS: "application/json",
    Format.ICS: "text/calendar; charset=utf-8",
    Format.ATOM: "application/atom+xml; charset=utf-8",
    Format.CSV: "text/csv; charset=utf-8",
}
EXTENSIONS = {
    Format.JSON: "json",
    Format.TIMELINEJS: "timeline.json",
    Format.ICS: "ics",
    Format.ATOM: "atom",
    Format.CSV: "csv",
}


@dataclass(frozen=True, slots=True)
class Meta:
    """What a feed says about itself."""

    title: str
    url: str  # the request's own URL (Atom self link and feed id)
    generated_at: datetime


def _occurred(doc: Doc) -> OccurredDate:
    return parse_occurred(str(doc["occurred"]))


def _known(d: date) -> bool:
    return d not in (date.min, date.max)


# --- TimelineJS -------------------------------------------------------------------------------


def _tl_date(d: date, precision: Precision) -> dict[str, int]:
    out = {"year": d.year}
    if precision in (Precision.MONTH, Precision.DAY):
        out["month"] = d.month
    if precision is Precision.DAY:
        out["day"] = d.day
    return out


def _tl_dates(occ: OccurredDate) -> tuple[dict[str, int], dict[str, int] | None]:
    """start_date and end_date at each end's own precision (an interval's ends may differ)."""
    if not occ.interval:
        return _tl_date(occ.start, occ.precision), None
    left, _, right = occ.text.partition("/")
    lo = parse_occurred(left) if left not in ("", "..") else None
    hi = parse_occurred(right) if right not in ("", "..") else None
    start = lo or hi
    assert start is not None  # parse_occurred refuses an interval with no known end
    end = hi if (lo is not None and hi is not None) else None
    return (
        _tl_date(start.start, start.precision),
        _tl_date(end.start, end.precision) if end else None,
    )


def _display(occ: OccurredDate) -> str | None:
    """TimelineJS shows a padded-looking date for coarse ones; say what is known instead."""
    if not (occ.approximate or occ.uncertain or occ.interval):
        return None
    words = []
    if occ.approximate:
        words.append("about")
    if occ.uncertain:
        words.append("possibly")
    return " ".join([*words, occ.text.rstrip("~?%")])


def _source_links(doc: Doc) -> str:
    items = []
    for s in doc.get("sources") or []:
        url = str(s.get("url") or "")
        label = str(s.get("publisher") or url)
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            # Ingest accepts only http(s); whatever else reached the store (an entry written to
            # the stream by hand) is shown as text, never as a link a javascript: URL could run.
            items.append(html.escape(label))
            continue
        items.append(
            f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer">'
            f"{html.escape(label)}</a>"
        )
    return "Sources: " + ", ".join(items) if items else ""


def to_timelinejs(docs: list[Doc], phases: list[Doc], title: str, today: date) -> Doc:
    """The Knight Lab TimelineJS3 JSON: title slide, events[] and eras[] (from the phases)."""
    events = []
    for doc in docs:
        occ = _occurred(doc)
        start, end = _tl_dates(occ)
        paragraphs = [f"<p>{html.escape(doc.get('summary') or '')}</p>"]
        links = _source_links(doc)
        if links:
            paragraphs.append(f"<p>{links}</p>")
        event: Doc = {
            "start_date": start,
            "text": {"headline": html.escape(doc["title"]), "text": "".join(paragraphs)},
            "group": doc.get("category_label") or doc["category"],
            "unique_id": f"event-{doc['id']}",
        }
        if end is not None:
            event["end_date"] = end
        display = _display(occ)
        if display:
            event["display_date"] = html.escape(display)
        events.append(event)
    eras = []
    for phase in phases:
        start_occ = parse_occurred(phase["start"])
        if phase["end"]:
            end_occ = parse_occurred(phase["end"])
            end_date = _tl_date(end_occ.start, end_occ.precision)
        else:  # the phase in force now: the era runs to today
            end_date = _tl_date(today, Precision.DAY)
        eras.append(
            {
                "start_date": _tl_date(start_occ.start, start_occ.precision),
                "end_date": end_date,
                "text": {
                    "headline": html.escape(f"{phase['company']}: {phase['name']}"),
                    "text": html.escape(f"opened by: {phase['opened_by']['title']}"),
                },
            }
        )
    return {
        "title": {"text": {"headline": html.escape(title), "text": ""}},
        "events": events,
        "eras": eras,
        "scale": "human",
    }


# --- iCalendar (RFC 5545) ---------------------------------------------------------------------


# What an iCalendar URI may carry unencoded (RFC 3986's reserved and unreserved characters and
# the percent sign of what is encoded already): anything else, a line break first, is encoded,
# so a URL can never end its line and start another property.
_URI_SAFE = ":/?#[]@!$&'()*+,;=%-._~"


def ics_uri(value: str) -> str:
    return quote(value, safe=_URI_SAFE)


def ics_text(value: str) -> str:
    """RFC 5545 3.3.11 TEXT: escape backslash, semicolon, comma and line breaks."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """RFC 5545 3.1: lines longer than 75 octets continue on lines starting with a space,
    never splitting a UTF-8 character."""
    out: list[str] = []
    current = ""
    size = 0
    limit = 75
    for ch in line:
        n = len(ch.encode())
        if size + n > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += ch
        size += n
    out.append(current)
    return "\r\n".join(out)


def _ics_stamp(value: str | None, fallback: datetime) -> str:
    moment = datetime.fromisoformat(value) if value else fallback
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _ics_span(occ: OccurredDate) -> tuple[date, date]:
    """All-day [start, end) covering what the date says; an interval open at one end covers
    what its known end says (`2024-12/..` is December 2024)."""
    if _known(occ.start) and _known(occ.end):
        return occ.start, occ.end + timedelta(days=1)
    left, _, right = occ.text.partition("/")
    known = parse_occurred(left if _known(occ.start) else right)
    return known.start, known.end + timedelta(days=1)


def to_ics(docs: list[Doc], meta: Meta) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//pivotwatch//timeline//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ics_text(meta.title)}",
    ]
    for doc in docs:
        occ = _occurred(doc)
        start, end = _ics_span(occ)
        sources = [str(s.get("url")) for s in doc.get("sources") or [] if s.get("url")]
        description = "\n".join(
            [
                doc.get("summary") or "",
                "",
                f"When: {occ.text} ({occ.precision.value} precision)",
                f"Category: {doc.get('category_label') or doc['category']}",
                *(["Sources:", *sources] if sources else []),
            ]
        ).strip()
        lines += [
            "BEGIN:VEVENT",
            f"UID:{doc['id']}@pivotwatch",
            f"DTSTAMP:{_ics_stamp(doc.get('updated_at'), meta.generated_at)}",
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{end:%Y%m%d}",
            f"SUMMARY:{ics_text(doc['title'])}",
            f"DESCRIPTION:{ics_text(description)}",
            f"CATEGORIES:{ics_text(doc.get('category_label') or doc['category'])}",
            f"SEQUENCE:{max(int(doc.get('version') or 1) - 1, 0)}",
            "TRANSP:TRANSPARENT",
        ]
        if sources:
            lines.append(f"URL:{ics_uri(sources[0])}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


# --- Atom (RFC 4287) --------------------------------------------------------------------------

ATOM_NS = "http://www.w3.org/2005/Atom"


def _rfc3339(value: str | None, fallback: datetime) -> str:
    moment = datetime.fromisoformat(value) if value else fallback
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Characters XML 1.0 does not allow (section 2.2): C0 controls but tab, LF and CR, surrogates,
# U+FFFE and U+FFFF. ElementTree writes them as they are, and the feed is then not well-formed.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def to_atom(docs: list[Doc], meta: Meta) -> bytes:
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
        clean = {k: xml_text(v) for k, v in attrib.items()}
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", clean)
        if text is not None:
            el.text = xml_text(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", meta.url)
    sub(feed, "title", meta.title)
    stamps = [datetime.fromisoformat(str(d["updated_at"])) for d in docs if d.get("updated_at")]
    newest = max(stamps, default=meta.generated_at)
    sub(feed, "updated", _rfc3339(None, newest))
    sub(feed, "link", rel="self", href=meta.url, type="application/atom+xml")
    author = sub(feed, "author")
    sub(author, "name", "pivotwatch")
    sub(feed, "generator", "pivotwatch")
    for doc in docs:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:uuid:{doc['id']}")
        sub(entry, "title", doc["title"], type="text")
        sub(entry, "updated", _rfc3339(doc.get("updated_at"), meta.generated_at))
        sub(entry, "published", _rfc3339(doc.get("recorded_at"), meta.generated_at))
        sources = [s for s in doc.get("sources") or [] if s.get("url")]
        for i, s in enumerate(sources):
            attrs = {"rel": "alternate" if i == 0 else "related", "href": str(s["url"])}
            if s.get("publisher"):
                attrs["title"] = str(s["publisher"])
            sub(entry, "link", **attrs)
        label = doc.get("category_label") or doc["category"]
        sub(entry, "category", term=doc["category"], label=label)
        occ = _occurred(doc)
        when = f"{occ.text} ({occ.precision.value} precision)"
        sub(entry, "summary", f"{when}: {doc.get('summary') or doc['title']}", type="text")
    out: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return out


# --- CSV --------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "company",
    "occurred",
    "precision",
    "occurred_start",
    "occurred_end",
    "category",
    "phase",
    "transition_to",
    "importance",
    "stance",
    "title",
    "summary",
    "sources",
    "version",
    "recorded_at",
    "updated_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if isinstance(value, int | float):
        return str(value)
    text = "" if value is None else str(value)
    # OWASP CSV injection: a spreadsheet would run a cell starting like a formula.
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(docs: list[Doc]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for doc in docs:
        row = dict(doc)
        row["sources"] = " ".join(str(s.get("url")) for s in doc.get("sources") or [])
        writer.writerow([_cell(row.get(col)) for col in CSV_COLUMNS])
    return buf.getvalue()
