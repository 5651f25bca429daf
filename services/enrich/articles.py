"""Extract dated strategy events from a news article (its text and publication date).

The text is split into sentences; a sentence reports a strategy event when it names a known
company and uses a strategy verb (released, sued, invested, banned...). Its date is the most
precise one the sentence gives -- explicit ("March 11, 2019", "in March 2019"), or relative to
the publication date ("on Friday", "last month") -- and is never made more precise than the text
says. With no date the event gets the publication month, marked approximate, at lower confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.enrich.steps import Evidence, evidence
from services.enrich.steps.companies import mentioned_companies
from services.enrich.steps.normalize import canonical_url, normalize_text
from shared.dates import (
    MONTH_NAMES,
    WEEKDAY_NAMES,
    OccurredDate,
    Precision,
    from_day,
    parse_occurred,
)


@dataclass(frozen=True, slots=True)
class Extracted:
    occurred: OccurredDate
    title: str
    sentences: tuple[str, ...]
    confidence: float
    company: str  # as written in the article; enrichment resolves it
    source: dict[str, str | None] = field(default_factory=dict)
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)


_STRATEGY_VERB = re.compile(
    r"\b(?:releas(?:ed|es|ing)|launch(?:ed|es)|announc(?:ed|es)|unveil(?:ed|s)|introduc(?:ed|es)"
    r"|open-sourc(?:ed|es)|su(?:ed|es)|countersu(?:ed|es)|refil(?:ed|es)|withdr(?:ew|aws)"
    r"|invest(?:ed|s)|rais(?:ed|es)|acquir(?:ed|es)|ban(?:ned|s)|barr?(?:ed|s)|restrict(?:ed|s)"
    r"|block(?:ed|s)|prohibit(?:ed|s)|restructur(?:ed|es)|recapitali[sz](?:ed|es)|complet(?:ed|es)"
    r"|fir(?:ed|es)|oust(?:ed|s)|remov(?:ed|es)|resign(?:ed|s)|stepped down|steps down"
    r"|appoint(?:ed|s)|nam(?:ed|es) .{0,30}(?:CEO|chief)|reject(?:ed|s)|bid|bids|publish(?:ed|es)"
    r"|creat(?:ed|es)|form(?:ed|s)|(?:tells?|told) .{0,40}not to use)\b",
    re.I,
)
_HEDGE = re.compile(
    r"\b(?:reportedly|rumou?r\w*|is said to|are said to|according to (?:people|sources|a person)"
    r"|people familiar)\b",
    re.I,
)

_MONTHS = (
    {name: i for i, name in enumerate(MONTH_NAMES, start=1)}
    | {name[:3]: i for i, name in enumerate(MONTH_NAMES, start=1)}
    | {"Sept": 9}
)
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAYS = {name: i for i, name in enumerate(WEEKDAY_NAMES)}
_WEEKDAY = r"(?P<weekday>" + "|".join(_WEEKDAYS) + r")"
_ORD = r"(?:st|nd|rd|th)?"

# Most precise first; the first pattern that matches a sentence gives its date.
_DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rx))
    for name, rx in (
        ("iso-day", r"\b(?P<year>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})\b"),
        ("month-day-year", rf"\b{_MONTH} (?P<day>\d{{1,2}}){_ORD},? (?P<year>\d{{4}})\b"),
        ("day-month-year", rf"\b(?P<day>\d{{1,2}}){_ORD} {_MONTH},? (?P<year>\d{{4}})\b"),
        ("month-day", rf"\b{_MONTH} (?P<day>\d{{1,2}}){_ORD}(?![\d,]*\s*\d{{4}})\b"),
        ("yesterday", r"\b[Yy]esterday\b"),
        ("today", r"\b[Tt]oday\b|\b[Tt]his morning\b"),
        ("last-weekday", rf"\b[Ll]ast {_WEEKDAY}\b"),
        ("weekday", rf"\b(?:[Oo]n )?{_WEEKDAY}\b"),
        ("last-week", r"\b[Ll]ast week\b"),
        ("this-week", r"\b(?:[Ee]arlier )?[Tt]his week\b"),
        ("month-year", rf"\b{_MONTH},? (?P<year>\d{{4}})\b"),
        ("last-month", r"\b[Ll]ast month\b"),
        ("this-month", r"\b(?:[Ee]arlier )?[Tt]his month\b"),
        ("in-month", rf"\b(?:[Ii]n|[Ss]ince|[Dd]uring|[Bb]y) (?:early |mid-|late )?{_MONTH}\b"),
        (
            "in-year",
            r"\b(?:[Ii]n|[Ss]ince|[Dd]uring|[Bb]y) (?:early |mid-|late )?(?P<year>\d{4})\b",
        ),
        ("last-year", r"\b[Ll]ast year\b"),
        ("this-year", r"\b(?:[Ee]arlier )?[Tt]his year\b"),
    )
)
# How far each kind of date can be trusted; an undated sentence falls back to the publication month.
_CONFIDENCE = {
    "iso-day": 0.9,
    "month-day-year": 0.9,
    "day-month-year": 0.9,
    "month-day": 0.85,
    "yesterday": 0.85,
    "today": 0.85,
    "last-weekday": 0.8,
    "weekday": 0.8,
    "last-week": 0.7,
    "this-week": 0.7,
    "month-year": 0.8,
    "last-month": 0.7,
    "this-month": 0.7,
    "in-month": 0.7,
    "in-year": 0.65,
    "last-year": 0.6,
    "this-year": 0.6,
    "publication-month": 0.4,
}
HEDGE_FACTOR = 0.7
MAX_TITLE = 200

# Abbreviations whose full stop does not end a sentence.
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Inc|Corp|Ltd|Co|Jr|Sr|St|vs|No|Gov|Sen|Rep|Cal|Jan|Feb|Mar|Apr"
    r"|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|approx|e\.g|i\.e)|\b[A-Z](?:\.[A-Z])*)\.$"
)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_DATELINE = re.compile(r"^[A-Z][A-Z .,']{2,}(?:\([^)]*\))?\s*[-\u2013\u2014]+\s*")
_LEADING = re.compile(
    r"^(?:(?:[Mm]eanwhile|[Hh]owever|[Aa]lso|[Ee]arlier|[Ll]ater),\s+"
    r"|(?:[Oo]n|[Ii]n|[Ll]ast|[Yy]esterday|[Tt]oday)\b[^,]{0,30},\s+)"
)
_NON_WORD = re.compile(r"[^\w]+")


# `_ABBREVIATION` matches at the end of a text only: it needs no more than its last few characters
# (the longest word, "approx.", and the one before it for `\b`).
_ABBREVIATION_TAIL = 16


def split_sentences(text: str) -> list[str]:
    """Sentences of normalized text; "U.S. Navy" and "N.D. Cal." do not end one."""
    return scan_sentences(text)[0]


def scan_sentences(text: str) -> tuple[list[str], int]:
    """`split_sentences`, and how many characters it went over (what bounds its time).

    One pass: the pieces between breaks are gathered until one does not end in an abbreviation,
    and only the end of what is gathered is looked at, so "Mr. A " repeated stays linear.
    """
    sentences: list[str] = []
    scanned = 0
    for paragraph in text.split("\n\n"):
        scanned += len(paragraph) + 2
        pending: list[str] = []
        tail = ""  # the end of " ".join(pending)
        for piece in _SENTENCE_BREAK.split(paragraph.strip()):
            piece = piece.rstrip() if pending else piece.strip()
            if not piece:
                continue  # adds nothing; what is gathered, if any, still ends in an abbreviation
            pending.append(piece)
            tail = (f"{tail} {piece[-_ABBREVIATION_TAIL:]}" if tail else piece)[
                -_ABBREVIATION_TAIL:
            ]
            scanned += len(piece) + len(tail)
            if not _ABBREVIATION.search(tail):
                sentences.append(" ".join(pending))
                pending, tail = [], ""
        if pending:
            sentences.append(" ".join(pending))
    return sentences, scanned


def _month_on_or_before(month: int, published: date) -> int:
    return published.year if month <= published.month else published.year - 1


def _resolve_date(sentence: str, published: date) -> tuple[OccurredDate, str, list[str]]:
    """(occurred, rule, words) for a sentence, relative dates read against `published`."""
    for rule, pattern in _DATE_PATTERNS:
        m = pattern.search(sentence)
        if m is None:
            continue
        occurred = _occurred_for(rule, m, published)
        if occurred is not None:
            return occurred, rule, [m.group()]
    fallback = parse_occurred(f"{published.year:04d}-{published.month:02d}~")
    return fallback, "publication-month", []


def _occurred_for(rule: str, m: re.Match[str], published: date) -> OccurredDate | None:
    groups = m.groupdict()
    month = _MONTHS.get(groups.get("month") or "", 0) or int(groups.get("mnum") or 0)
    try:
        if rule in ("iso-day", "month-day-year", "day-month-year"):
            return from_day(date(int(m["year"]), month, int(m["day"])), Precision.DAY)
        if rule == "month-day":
            day = date(published.year, month, int(m["day"]))
            if day > published:  # "March 11" in a January article is last year's March
                day = date(published.year - 1, month, int(m["day"]))
            return from_day(day, Precision.DAY)
    except ValueError:
        return None  # "February 30": not a date, try the next pattern
    if rule == "yesterday":
        return from_day(published - timedelta(days=1), Precision.DAY)
    if rule == "today":
        return from_day(published, Precision.DAY)
    if rule in ("weekday", "last-weekday"):
        back = (published.weekday() - _WEEKDAYS[m["weekday"]]) % 7
        if rule == "last-weekday" and back == 0:
            back = 7
        return from_day(published - timedelta(days=back), Precision.DAY)
    if rule == "last-week":
        # The calendar week before publication, Monday..Sunday: an honest interval, not a day.
        monday = published - timedelta(days=published.weekday() + 7)
        return parse_occurred(f"{monday.isoformat()}/{(monday + timedelta(days=6)).isoformat()}")
    if rule == "this-week":
        monday = published - timedelta(days=published.weekday())
        if monday == published:
            return from_day(published, Precision.DAY)
        return parse_occurred(f"{monday.isoformat()}/{published.isoformat()}")
    if rule == "month-year":
        return from_day(date(int(m["year"]), month, 1), Precision.MONTH)
    if rule == "last-month":
        last = published.replace(day=1) - timedelta(days=1)
        return from_day(last, Precision.MONTH)
    if rule == "this-month":
        return from_day(published, Precision.MONTH)
    if rule == "in-month":
        return from_day(date(_month_on_or_before(month, published), month, 1), Precision.MONTH)
    if rule == "in-year":
        return from_day(date(int(m["year"]), 1, 1), Precision.YEAR)
    if rule == "last-year":
        return from_day(date(published.year - 1, 1, 1), Precision.YEAR)
    if rule == "this-year":
        return from_day(published, Precision.YEAR)
    return None


def _title(sentence: str) -> str:
    title = _DATELINE.sub("", sentence).strip()
    title = _LEADING.sub("", title).strip().rstrip(".")
    if len(title) > MAX_TITLE:
        title = title[:MAX_TITLE].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return title[:1].upper() + title[1:]


def _subject(sentence: str, verb_at: int) -> str:
    """The company as written: the last one named before the verb, else the first one named."""
    mentions = sorted(
        (sentence.find(word), word)
        for _, ev in mentioned_companies(sentence)
        for word in ev["words"]
    )
    before = [m for m in mentions if m[0] < verb_at]
    chosen = before[-1] if before else (mentions[0] if mentions else None)
    return chosen[1] if chosen else ""


def extract_events(
    text: str, published: date, url: str = "", publisher: str | None = None
) -> list[Extracted]:
    """The strategy events an article reports, in reading order, one per distinct sentence."""
    body = normalize_text(text, keep_paragraphs=True)
    source: dict[str, str | None] = {
        "url": canonical_url(url) if url else None,
        "publisher": normalize_text(publisher or "") or None,
        "published_at": published.isoformat(),
    }
    sentences = split_sentences(body)
    out: list[Extracted] = []
    seen: set[str] = set()
    for i, sentence in enumerate(sentences):
        # Keyed on the trimmed sentence, so a dateline or "On Friday," in front does not count.
        key = " ".join(_NON_WORD.sub(" ", _title(sentence).casefold()).split())
        if key in seen:
            continue  # a repeated paragraph or pull quote is one event
        verb = _STRATEGY_VERB.search(sentence)
        company = _subject(sentence, verb.start()) if verb else ""
        if verb is None or not company:
            continue
        seen.add(key)
        occurred, rule, date_words = _resolve_date(sentence, published)
        confidence = _CONFIDENCE[rule]
        ev: dict[str, list[Evidence]] = {
            "event": [evidence("company-and-strategy-verb", [company, verb.group()])],
            "occurred": [evidence(f"date:{rule}", date_words, published=published.isoformat())],
        }
        if occurred.start > published:
            confidence *= 0.5
            ev["occurred"].append(evidence("date-after-publication", date_words))
        hedges = [h.group() for h in _HEDGE.finditer(sentence)]
        if hedges:
            confidence *= HEDGE_FACTOR
            ev["confidence"] = [evidence("hedged", hedges, factor=HEDGE_FACTOR)]
        context = _context(sentences, i)
        out.append(
            Extracted(
                occurred=occurred,
                title=_title(sentence),
                sentences=(sentence, *context),
                confidence=round(confidence, 3),
                company=company,
                source=dict(source),
                evidence=ev,
            )
        )
    return out


_CONTINUES = re.compile(r"^(?:It|Its|The (?:company|firm|lab|startup|model|models|move)|They)\b")


def _context(sentences: list[str], i: int) -> tuple[str, ...]:
    # A following sentence that starts with "It"/"The company" is still about this event.
    if i + 1 < len(sentences) and _CONTINUES.match(sentences[i + 1]):
        return (sentences[i + 1],)
    return ()
