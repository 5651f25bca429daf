"""Extract dated strategy events from a news article (its text and publication date).

The text is split into sentences and each sentence into clauses (`services.enrich.clauses`). A
clause reports a strategy event when a strategy verb in it is used as a finite verb ("released",
"sued", "admitted", "was founded", "before releasing"), or an action is told as a noun that has
its own date or agent ("the release of ChatGPT a year ago", "a ban by Italy's privacy regulator"),
and the clause names who did it: a company, a person, an agency, or a pronoun or "the company"
standing for one named before. Statements and accusations count when a named person or company
makes them; analysts, predictions, standing positions ("has opposed"), hedges and conditions do
not.

Each event is placed on a company's timeline the way `data/seed` places them: a company's own
action is its own, a person's is their company's, an investment is the investee's, and an agency's,
court's or outsider's action is the company it is about. Its date is the one its clause gives --
explicit ("March 11, 2019", "in March 2019"), relative to the publication date ("on Friday",
"last month", "a year ago"), or tied to the date written before it ("that July", "the same day",
"days later") -- never made more precise than the text says; a clause that inherits its
sentence's ("OpenAI changed shape in 2019, when it created ...") takes that one. With no date the
event gets the publication month, marked approximate, at lower confidence. Its title is a neutral
headline built from the clause (`services.enrich.headlines`).

Deterministic, with the evidence of every rule that fired, and linear in the text's length.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from services.enrich import clauses as cl
from services.enrich import headlines
from services.enrich.clauses import Actor, Clause
from services.enrich.steps import Evidence, evidence
from services.enrich.steps.companies import COMPANIES
from services.enrich.steps.entities import extract_entities
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
    clause: str = ""  # the words of the first sentence that report the happening
    kind: str = ""  # release, statement, restriction, funding, lawsuit, leadership, ...


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
_COUNT = r"(?P<n>a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d{1,2})"
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_COUNTS |= {"seven": 7, "eight": 8, "nine": 9, "ten": 10}

# Most precise first; the first pattern that matches a clause gives its date. The "tie" rules
# read the date written before ("that July", "the same day"): they need one.
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
        ("weekday", rf"\b(?:[Oo]n )?{_WEEKDAY}(?: (?:night|morning|afternoon|evening))?\b"),
        ("last-week", r"\b[Ll]ast week\b"),
        ("this-week", r"\b(?:[Ee]arlier )?[Tt]his week\b"),
        ("month-year", rf"\b{_MONTH},? (?P<year>\d{{4}})\b"),
        ("last-month", r"\b[Ll]ast month\b"),
        ("last-month-name", rf"\b[Ll]ast {_MONTH}(?! \d)\b"),
        ("this-month", r"\b(?:[Ee]arlier )?[Tt]his month\b"),
        ("tie-month-name", rf"\b[Tt]hat {_MONTH}(?! \d)\b"),
        ("tie-month-of-year", rf"\b{_MONTH} of (?:that|the same) year\b"),
        ("in-month", rf"\b(?:[Ii]n|[Ss]ince|[Dd]uring|[Bb]y) (?:early |mid-|late )?{_MONTH}\b"),
        (
            "in-year",
            r"\b(?:[Ii]n|[Ss]ince|[Dd]uring|[Bb]y) (?:early |mid-|late )?(?P<year>\d{4})\b",
        ),
        ("last-year", r"\b[Ll]ast year\b"),
        ("this-year", r"\b(?:[Ee]arlier )?[Tt]his year\b"),
        ("ago", rf"\b{_COUNT} (?P<unit>year|month|week|day)s? ago\b"),
        (
            "tie-same-day",
            r"\b(?:[Tt]he same day|[Tt]hat (?:same )?(?:day|night|morning|afternoon|evening)"
            r"|[Ll]ater that (?:day|night)|(?:[Hh]ours|[Mm]inutes|[Mm]oments) later)\b",
        ),
        ("tie-next-day", r"\b(?:[Tt]he (?:next|following) day|[Aa] day later|[Tt]he day after)\b"),
        ("tie-days-later", rf"\b(?:[Dd]ays later|[Aa] few days later|{_COUNT} days later)\b"),
        ("tie-month", r"\b(?:[Tt]hat|[Tt]he same|[Ll]ater that|[Ee]arlier that) month\b"),
        ("tie-year", r"\b(?:[Tt]hat|[Tt]he same|[Ll]ater that|[Ee]arlier that) year\b"),
        ("tie-next-month", r"\b(?:[Tt]he (?:following|next) month|[Aa] month later)\b"),
        ("tie-next-year", r"\b(?:[Tt]he (?:following|next) year|[Aa] year later)\b"),
        ("tie-units-later", rf"\b(?i:{_COUNT}) (?P<unit>year|month)s? later\b"),
    )
)
# Any date expression, with the preposition in front: what a headline leaves out.
_ANY_DATE = re.compile(
    r"(?:\b(?:late|early)\s+)?(?:\b(?:on|in|at|since|during|by|of|from|until|as of|earlier"
    r"|later)\s+)?"
    r"(?:\b(?:less|more) than\s+|\b(?:nearly|about|almost|roughly)\s+)?(?:"
    + "|".join(re.sub(r"\(\?P<\w+>", "(?:", p.pattern) for _, p in _DATE_PATTERNS)
    + r")"
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
    "last-month-name": 0.7,
    "this-month": 0.7,
    "in-month": 0.7,
    "in-year": 0.65,
    "last-year": 0.6,
    "this-year": 0.6,
    "ago": 0.6,
    "tie-month-name": 0.7,
    "tie-month-of-year": 0.7,
    "tie-same-day": 0.7,
    "tie-next-day": 0.7,
    "tie-days-later": 0.6,
    "tie-month": 0.65,
    "tie-year": 0.6,
    "tie-next-month": 0.6,
    "tie-next-year": 0.6,
    "tie-units-later": 0.6,
    "inherited": 0.6,
    "narrative": 0.6,
    "publication-month": 0.4,
}
HEDGE_FACTOR = 0.7
# "Days later": the days after the date before, as an interval (the text says no more).
DAYS_LATER = 14


# Abbreviations whose full stop does not end a sentence.
ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Inc|Corp|Ltd|Co|Jr|Sr|St|vs|No|Gov|Sen|Rep|Cal|Jan|Feb|Mar|Apr"
    r"|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|approx|e\.g|i\.e)|\b[A-Z](?:\.[A-Z])*)\.$"
)
SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_DATELINE = re.compile(r"^[A-Z][A-Z .,']{2,}(?:\([^)]*\))?\s*[-\u2013\u2014]+\s*")
_NON_WORD = re.compile(r"[^\w]+")


# `ABBREVIATION` matches at the end of a text only: it needs no more than its last few characters
# (the longest word, "approx.", and the one before it for `\b`).
ABBREVIATION_TAIL = 16


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
        for piece in SENTENCE_BREAK.split(paragraph.strip()):
            piece = piece.rstrip() if pending else piece.strip()
            if not piece:
                continue  # adds nothing; what is gathered, if any, still ends in an abbreviation
            pending.append(piece)
            tail = (f"{tail} {piece[-ABBREVIATION_TAIL:]}" if tail else piece)[-ABBREVIATION_TAIL:]
            scanned += len(piece) + len(tail)
            if not ABBREVIATION.search(tail):
                sentences.append(" ".join(pending))
                pending, tail = [], ""
        if pending:
            sentences.append(" ".join(pending))
    return sentences, scanned


def _month_on_or_before(month: int, published: date) -> int:
    return published.year if month <= published.month else published.year - 1


def _resolve_date(
    text: str, published: date, anchor: OccurredDate | None = None
) -> tuple[OccurredDate, str, list[str]]:
    """(occurred, rule, words) for a clause, relative dates read against `published` and tied
    ones ("that July") against `anchor`, the date written before; else the publication month."""
    found = _own_date(text, published, anchor)
    if found is not None:
        return found
    fallback = parse_occurred(f"{published.year:04d}-{published.month:02d}~")
    return fallback, "publication-month", []


def _own_date(
    text: str, published: date, anchor: OccurredDate | None
) -> tuple[OccurredDate, str, list[str]] | None:
    for rule, pattern in _DATE_PATTERNS:
        m = pattern.search(text)
        if m is None:
            continue
        occurred = (
            _tied(rule, m, anchor) if rule.startswith("tie-") else _occurred_for(rule, m, published)
        )
        if occurred is not None:
            return occurred, rule, [m.group()]
    return None


# The rules of `_DATE_PATTERNS` that are not tied to the date before, by what they name.
_WRITTEN_DAY_RULES = frozenset({"iso-day", "month-day-year", "day-month-year", "month-day"})
_RELATIVE_DAY_RULES = frozenset(
    {"yesterday", "today", "weekday", "last-weekday", "last-week", "this-week"}
)
_MONTH_RULES = frozenset({"month-year", "last-month", "this-month", "last-month-name", "in-month"})
_YEAR_RULES = frozenset({"in-year", "last-year", "this-year", "ago"})


def _occurred_for(rule: str, m: re.Match[str], published: date) -> OccurredDate | None:
    """The date an expression not tied to the date before names, read against `published`."""
    groups = m.groupdict()
    month = _MONTHS.get(groups.get("month") or "", 0) or int(groups.get("mnum") or 0)
    if rule in _WRITTEN_DAY_RULES:
        return _written_day(rule, m, published, month)
    if rule in _RELATIVE_DAY_RULES:
        return _relative_day(rule, m, published)
    if rule in _MONTH_RULES:
        return _month_date(rule, m, published, month)
    if rule in _YEAR_RULES:
        return _year_date(rule, m, published)
    return None


def _written_day(rule: str, m: re.Match[str], published: date, month: int) -> OccurredDate | None:
    """The day a written date names ("March 11, 2024", "2024-03-11", "March 11"), or None when
    it names none."""
    try:
        if rule in ("iso-day", "month-day-year", "day-month-year"):
            return from_day(date(int(m["year"]), month, int(m["day"])), Precision.DAY)
        day = date(published.year, month, int(m["day"]))
        if day > published:  # "March 11" in a January article is last year's March
            day = date(published.year - 1, month, int(m["day"]))
        return from_day(day, Precision.DAY)
    except ValueError:
        return None  # "February 30": not a date, try the next pattern


def _relative_day(rule: str, m: re.Match[str], published: date) -> OccurredDate:
    """The day (or the days of a week) a relative date names ("yesterday", "on Tuesday", "last
    week"), counted back from publication."""
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
    # "this week": Monday to publication
    monday = published - timedelta(days=published.weekday())
    if monday == published:
        return from_day(published, Precision.DAY)
    return parse_occurred(f"{monday.isoformat()}/{published.isoformat()}")


def _month_date(rule: str, m: re.Match[str], published: date, month: int) -> OccurredDate:
    """The month a month expression names ("March 2024", "last month", "in August")."""
    if rule == "month-year":
        return from_day(date(int(m["year"]), month, 1), Precision.MONTH)
    if rule == "last-month":
        last = published.replace(day=1) - timedelta(days=1)
        return from_day(last, Precision.MONTH)
    if rule == "this-month":
        return from_day(published, Precision.MONTH)
    if rule == "last-month-name":  # "last August": the latest August before this month
        year = published.year if month < published.month else published.year - 1
        return from_day(date(year, month, 1), Precision.MONTH)
    # "in August": the latest August up to this month
    return from_day(date(_month_on_or_before(month, published), month, 1), Precision.MONTH)


def _year_date(rule: str, m: re.Match[str], published: date) -> OccurredDate:
    """The year a year expression names ("in 2019", "last year"), or the approximate month of
    "... ago"."""
    if rule == "in-year":
        return from_day(date(int(m["year"]), 1, 1), Precision.YEAR)
    if rule == "last-year":
        return from_day(date(published.year - 1, 1, 1), Precision.YEAR)
    if rule == "this-year":
        return from_day(published, Precision.YEAR)
    return _ago(published, _COUNTS.get(m["n"].casefold()) or int(m["n"]), m["unit"])


def _ago(published: date, n: int, unit: str) -> OccurredDate:
    """ "a year ago": the month a year back, approximate (a year ago is rarely to the day)."""
    if unit == "day":
        return from_day(published - timedelta(days=n), Precision.DAY)
    if unit == "week":
        back = published - timedelta(days=7 * n)
        return parse_occurred(f"{back.year:04d}-{back.month:02d}~")
    months = published.year * 12 + published.month - 1 - (12 * n if unit == "year" else n)
    return parse_occurred(f"{months // 12:04d}-{months % 12 + 1:02d}~")


def _tied(rule: str, m: re.Match[str], anchor: OccurredDate | None) -> OccurredDate | None:
    """A date told against the one before ("that July", "the same day"), at no finer precision
    than the text and the date before give."""
    if anchor is None or anchor.start == date.min:
        return None
    if rule in ("tie-same-day", "tie-next-day", "tie-days-later"):
        return _tied_day(rule, anchor)
    if rule == "tie-units-later":
        return _units_later(m, anchor)
    return _tied_month_or_year(rule, m, anchor)


def _tied_day(rule: str, anchor: OccurredDate) -> OccurredDate:
    """ "the same day", "the next day", "days later": a day or days after the date before when
    that is a day, else the date before itself."""
    if rule == "tie-same-day" or anchor.precision is not Precision.DAY or anchor.interval:
        return anchor
    start = anchor.start
    if rule == "tie-next-day":
        return from_day(start + timedelta(days=1), Precision.DAY)
    lo, hi = start + timedelta(days=1), start + timedelta(days=DAYS_LATER)
    return parse_occurred(f"{lo.isoformat()}/{hi.isoformat()}")


def _units_later(m: re.Match[str], anchor: OccurredDate) -> OccurredDate | None:
    """ "four months later": that many after the date before, no finer than a month."""
    start = anchor.start
    n = _COUNTS.get(m["n"].casefold()) or int(m["n"])
    if m["unit"] == "year":
        return from_day(date(start.year + n, 1, 1), Precision.YEAR)
    if anchor.precision is Precision.YEAR:
        return None
    months = start.year * 12 + start.month - 1 + n
    return from_day(date(months // 12, months % 12 + 1, 1), Precision.MONTH)


def _tied_month_or_year(rule: str, m: re.Match[str], anchor: OccurredDate) -> OccurredDate | None:
    """ "that July", "that month", "the following year": a month or a year of the date before,
    None when the date before is coarser than the rule needs."""
    start, precision = anchor.start, anchor.precision
    if rule in ("tie-month-name", "tie-month-of-year"):
        return from_day(date(start.year, _MONTHS[m["month"]], 1), Precision.MONTH)
    if rule == "tie-month":
        return from_day(start, Precision.MONTH) if precision is not Precision.YEAR else None
    if rule == "tie-year":
        return from_day(start, Precision.YEAR)
    if rule == "tie-next-month":
        if precision is Precision.YEAR:
            return None
        days = calendar.monthrange(start.year, start.month)[1]
        return from_day(start.replace(day=1) + timedelta(days=days), Precision.MONTH)
    if rule == "tie-next-year":
        return from_day(date(start.year + 1, 1, 1), Precision.YEAR)
    return None


def _without_dates(text: str) -> str:
    """`text` with its date expressions (and their prepositions) taken out."""
    return _ANY_DATE.sub(" ", text)


_CONTINUES = re.compile(r"^(?:It|Its|The (?:company|firm|lab|startup|model|models|move)|They)\b")


def _context(sentences: list[str], i: int) -> tuple[str, ...]:
    # A following sentence that starts with "It"/"The company" is still about this event.
    if i + 1 < len(sentences) and _CONTINUES.match(sentences[i + 1]):
        return (sentences[i + 1],)
    return ()


# --- Who acts -----------------------------------------------------------------------------------

# The company a person speaks and acts for, as news reports name them; a person not listed (an
# outsider, a co-founder who left) acts on the company the clause is about.
_AFFILIATION: dict[str, str] = {
    "Sam Altman": "openai",
    "Mira Murati": "openai",
    "Greg Brockman": "openai",
    "Ilya Sutskever": "openai",
    "Jakub Pachocki": "openai",
    "Bret Taylor": "openai",
    "Emmett Shear": "openai",
    "Satya Nadella": "microsoft",
    "Kevin Scott": "microsoft",
    "Yann LeCun": "meta",
    "Mark Zuckerberg": "meta",
    "Liang Wenfeng": "deepseek",
    "Jensen Huang": "nvidia",
    "Dario Amodei": "anthropic",
    "Sundar Pichai": "google",
    "Demis Hassabis": "google",
    "Arthur Mensch": "mistral",
}
# "OpenAI chief executive Sam Altman", "Sam Altman, OpenAI's chief executive": the company's.
_TITLE_WORDS = (
    r"(?:chief executive|chief executive officer|CEO|president|co-?founder|founder"
    r"|chair(?:man|woman)?|chief (?:technology|scientist|operating|financial)\w*(?: officer)?"
    r"|CTO|CFO|COO|executive|spokes(?:person|man|woman)|head of \w+|director|researcher|scientist)"
)
_TITLE_BETWEEN = re.compile(rf"^(?:'s)?\s+(?:\w+\s+)?{_TITLE_WORDS}\s+$", re.I)
_TITLE_AFTER = re.compile(
    rf",\s+(?:the\s+)?(?P<co>[A-Z][\w.-]*)(?:'s)?\s+(?:\w+\s+)?{_TITLE_WORDS}"
)


@dataclass(frozen=True, slots=True)
class _Who:
    """An actor as the timeline names it."""

    kind: str  # company | person | agency
    company: str  # the slug of the company it acts for; "" for an agency or an outsider
    written: str  # that company as the article writes it (`Extracted.company`)
    display: str  # the headline's subject
    name: str = ""  # a person's full name


@dataclass(slots=True)
class _Reading:
    """What the reader knows at a point of the article."""

    published: date
    topic: str  # the company the article names most
    written: dict[str, str] = field(default_factory=dict)  # slug -> as first written
    last_company: _Who | None = None
    last_person: _Who | None = None
    last_agency: _Who | None = None
    companies: list[str] = field(default_factory=list)  # slugs named, most recent last
    companies_before: list[str] = field(default_factory=list)  # as they were before the sentence
    anchor: OccurredDate | None = None  # the last date written
    dated: bool = False  # whether a date has been written yet
    news: OccurredDate | None = None  # the lede's date, when it is the news of the day
    news_company: str = ""  # whose happening the lede's date is
    on_news: bool = True  # no later sentence has written another date yet
    sentence_no: int = -1  # the sentence being read, from 0


def _company_who(reading: _Reading, slug: str, written: str = "") -> _Who:
    written = written or reading.written.get(slug) or _display_name(slug)
    return _Who("company", slug, written, written)


def _display_name(slug: str) -> str:
    entry = COMPANIES.get(slug)
    return entry.name if entry else slug


def _topic(body: str) -> str:
    """The company the article names most (the first named among equals)."""
    counts = Counter(hit.value for hit in cl.company_mentions(body))
    if not counts:
        return ""
    best = max(counts.values())
    return next(slug for slug in counts if counts[slug] == best)


def _titled(sentence: str, actor: Actor, before: Actor | None) -> str:
    """The company a person's title in the sentence names ("OpenAI chief executive Sam Altman")."""
    between = sentence[before.end : actor.start] if before is not None else ""
    if before is not None and before.kind == "company" and _TITLE_BETWEEN.match(between):
        return before.value
    m = _TITLE_AFTER.match(sentence, actor.end)
    if m:
        hits = cl.company_mentions(m["co"])
        if hits:
            return hits[0].value
    return ""


def _resolve(sentence: str, acts: list[Actor], reading: _Reading) -> list[_Who | None]:
    """Each actor of the sentence as the timeline names it, pronouns read as the last one named;
    the reading advances past the sentence."""
    out: list[_Who | None] = []
    in_sentence: list[_Who] = []  # the companies (and boards) the sentence names, in order
    people: list[_Who] = []
    reading.companies_before = reading.companies[-8:]
    for i, a in enumerate(acts):
        who: _Who | None = None
        if a.kind == "company":
            reading.written.setdefault(a.value, a.written)
            who = _Who("company", a.value, a.written, a.written)
            reading.last_company = who
            in_sentence.append(who)
            reading.companies.append(a.value)
        elif a.kind == "person":
            company = _AFFILIATION.get(a.value) or _titled(sentence, a, acts[i - 1] if i else None)
            written = reading.written.get(company, _display_name(company)) if company else ""
            who = _Who("person", company, written, a.value, a.value)
            reading.last_person = who
            people.append(who)
        elif a.kind == "agency":
            who = _Who("agency", "", "", _agency_display(a.written))
            reading.last_agency = who
        elif a.kind == "the-agency":
            who = reading.last_agency  # "the agency told workers ...": the one named before
        elif a.kind == "pronoun-person":
            # "he", "him": the sentence's first person (its subject, as a rule), else the last.
            who = people[0] if people else reading.last_person
        elif a.kind == "pronoun-company":
            # "it" is the company (or board) this sentence named, else the last one named.
            last = in_sentence[-1] if in_sentence else reading.last_company
            who = _company_who(reading, last.company) if last else None
            if last is not None and who is not None and last.display.endswith("'s board"):
                who = replace(who, display=last.display) if a.written == "it" else who
        else:  # "the company", "the board": the company this sentence named, else the article's
            slug = in_sentence[-1].company if in_sentence else reading.topic
            if slug:
                who = _company_who(reading, slug)
                if a.kind == "the-board":
                    who = replace(who, display=f"{who.display}'s board")
                in_sentence.append(who)
        out.append(who)
    return out


def _agency_display(written: str) -> str:
    text = re.sub(r"^(?:[Tt]he|[Aa]n?)\s+", "", written)
    return text.replace("U.S.", "US")


# --- One clause's happening ---------------------------------------------------------------------


@dataclass(slots=True)
class _Happening:
    start: int  # where its trigger is in the sentence
    span: tuple[int, int]  # the words that report it
    kind: str
    title: str
    company: str  # as written
    slug: str
    occurred: OccurredDate
    date_rule: str
    date_words: list[str]
    rules: list[Evidence]
    told: tuple[int, int] = (0, 0)  # its words and the clauses hanging on them (the summary)


@dataclass(slots=True)
class _Sentence:
    """One sentence being read: its clauses, actors and their dates."""

    text: str
    offset: int  # where the sentence proper begins (after a dateline)
    quotes: list[tuple[int, int]]
    quote_starts: list[int]
    clauses: list[Clause]
    clause_starts: list[int]
    actors: list[Actor]
    actor_ends: list[int]
    actor_starts: list[int]
    who: list[_Who | None]
    dates: list[tuple[OccurredDate, str, list[str]] | None]
    subjects: dict[int, tuple[Actor, _Who]] = field(default_factory=dict)  # clause -> subject
    done: list[tuple[_Who, str]] = field(default_factory=list)  # (by whom, kind) read so far
    passive: set[int] = field(default_factory=set)  # clauses whose verb is a passive

    def quoted(self, pos: int) -> bool:
        i = bisect.bisect_right(self.quote_starts, pos) - 1
        return i >= 0 and self.quotes[i][0] < pos < self.quotes[i][1]

    def clause_at(self, pos: int) -> int:
        return max(0, bisect.bisect_right(self.clause_starts, pos) - 1)

    def near(self, lo: int, hi: int) -> list[tuple[Actor, _Who]]:
        """The resolved actors starting in [lo, hi), at most REACH characters of them: what one
        trigger reads stays bounded however long the sentence (the extraction is linear)."""
        hi = min(hi, lo + REACH)
        i = bisect.bisect_left(self.actor_starts, lo)
        out: list[tuple[Actor, _Who]] = []
        while i < len(self.actors) and self.actors[i].start < hi:
            who = self.who[i]
            if who is not None:
                out.append((self.actors[i], who))
            i += 1
        return out


# How far one trigger reads around itself (characters): enough for any clause news writes, and
# what keeps a 200,000-character sentence linear.
REACH = 300

# Where a clause's subject may begin: after a leading date or a joining word.
_NP_LEAD = re.compile(
    r"[\s,]*(?:(?:and|but|also|then|so)\s+)*"
    r"(?:(?:In|On|Last|Earlier|Later|By|During|Since|Hours|Days|Weeks|The same|That|This)\b"
    r"[^,]{0,40},\s*)?"
)
_NP_TAIL = re.compile(
    r"(?:\s+(?:\w+ly|also|then|later|now|again|jointly|first|last|finally|eventually|itself"
    r"|was|were|is|are|has|have|had|long|never))+\s*$"
)
# A company followed by who speaks or acts for it: "OpenAI's board", "an Nvidia spokesperson".
_FOR_COMPANY = re.compile(
    r"(?P<own>(?:'s)?\s+(?:board|lawyers|attorneys|directors|shareholders|investors))\b"
    r"|(?:'s)?\s+(?P<speaker>spokes(?:person|man|woman)|representative|executives?|officials?)\b"
    r"|(?P<shares>(?:'s)?\s+(?:shares|stock))\b"
)
MAX_SUBJECT_WORDS = 7


def _subject(sent: _Sentence, ci: int, start: int) -> tuple[Actor, _Who] | None:
    """The nearest actor before `start` in clause `ci` (not quoted, not a speaker's words, not
    the company in a person's title: "Greg Brockman, OpenAI's president, was to ...")."""
    clause = sent.clauses[ci]
    j = bisect.bisect_right(sent.actor_ends, start) - 1
    floor = max(clause.marker_end, start - REACH)
    while j >= 0 and sent.actors[j].start >= floor:
        a, who = sent.actors[j], sent.who[j]
        if (
            who is not None
            and not sent.quoted(a.start)
            and not _in_title(sent.text, a)
            and not _OBJECT_OF.search(sent.text, max(0, a.start - 8), a.start)
        ):
            return (a, who) if _close_enough(sent.text[a.end : start]) else None
        j -= 1
    return None


# Between a subject and its verb: no other verb ("OpenAI could release a model ..., people
# familiar with the plans said": OpenAI did not say). The verb's own auxiliary may come last.
_GAP_VERB = re.compile(
    r"\b(?:could|would|will|may|might|can|should|must|is|are|was|were|has|have|had|does|did"
    r"|said|says|told|plans?|expects?)\b",
    re.I,
)
_OWN_AUX = re.compile(r"(?:\b(?:was|were|is|are|had|has|have)\s+(?:to\s+)?(?:\w+ly\s+)?)$", re.I)


def _close_enough(gap: str) -> bool:
    return not _GAP_VERB.search(_OWN_AUX.sub("", gap))


_IN_TITLE = re.compile(rf"(?:'s)?\s+(?:\w+\s+)?{_TITLE_WORDS}\b(?!\s+(?-i:[A-Z]))", re.I)


# "a lawyer for Musk said", "Analysts at Cantor argued": the object of a preposition is not
# the subject.
_OBJECT_OF = re.compile(r"\b(?:for|of|at|from|with|to|by|about|against|in|on)\s+$")


def _in_title(text: str, a: Actor) -> bool:
    """A company naming whom a person works for, inserted after the name ("Greg Brockman,
    OpenAI's president and co-founder, ..."); "an Nvidia spokesperson" speaks for Nvidia."""
    appositive = text[max(0, a.start - 2) : a.start] == ", "
    return a.kind == "company" and appositive and bool(_IN_TITLE.match(text, a.end))


def _antecedent(sent: _Sentence, ci: int) -> tuple[Actor, _Who] | None:
    """For a relative clause, the actor it hangs on ("OpenAI, which ...", "a company that ...")."""
    clause = sent.clauses[ci]
    j = bisect.bisect_right(sent.actor_ends, clause.start) - 1
    if j < 0:
        return None
    a, who = sent.actors[j], sent.who[j]
    if who is None or len(sent.text[a.end : clause.start].split()) > 2:
        return None
    return a, who


MAX_CLAUSES_BACK = 6


def _inherited(sent: _Sentence, ci: int) -> tuple[Actor, _Who] | None:
    """The subject a clause shares with the one before it ("... and refiled ...") or, resuming
    the main clause after an inserted one, with the main clause."""
    kind = sent.clauses[ci].kind
    back = range(ci - 1, max(-1, ci - 1 - MAX_CLAUSES_BACK), -1)
    if kind == cl.RESUME:
        for k in back:
            if sent.clauses[k].kind in (cl.MAIN, cl.HARD, cl.RESUME):
                return sent.subjects.get(k) or _first_actor(sent, k) or _including(sent, k, ci)
        return None
    for k in back:
        if sent.clauses[k].kind in (cl.PART, cl.COMP):
            continue
        found = sent.subjects.get(k) or _first_actor(sent, k)
        if found is not None:
            return found
        if sent.clauses[k].kind in (cl.MAIN, cl.HARD):
            break
    return None


def _including(sent: _Sentence, main: int, ci: int) -> tuple[Actor, _Who] | None:
    """ "More than 70 researchers, including Yann LeCun, signed ...": the one named stands for
    a subject that names nobody."""
    for k in range(main + 1, ci):
        clause = sent.clauses[k]
        if sent.text[clause.start : clause.marker_end].strip(" ,") == "including":
            found = sent.near(clause.marker_end, clause.end)
            people = [(a, w) for a, w in found if w.kind == "person"]
            if people or found:
                return (people or found)[0]
    return None


def _first_actor(sent: _Sentence, ci: int) -> tuple[Actor, _Who] | None:
    """The actor a clause opens with (its subject when it has no strategy verb of its own)."""
    clause = sent.clauses[ci]
    lead = _NP_LEAD.match(sent.text, clause.marker_end, min(clause.end, clause.marker_end + REACH))
    begin = lead.end() if lead else clause.marker_end
    for a, who in sent.near(begin, clause.end)[:1]:
        if len(sent.text[begin : a.start].split()) <= 2:
            return a, who
    return None


def _display(sent: _Sentence, ci: int, actor: Actor, who: _Who, verb_at: int) -> str:
    """The headline's subject: the actor as the timeline names it, with the noun that says who
    speaks for a company ("OpenAI's board"), or the clause's short subject as written
    ("A Musk-led consortium", "Elon Musk and Sam Altman")."""
    text = sent.text
    if who.kind == "company" and actor.kind == "company":
        m = _FOR_COMPANY.match(text, actor.end)
        if m and m["own"]:
            return f"{who.display}{m['own']}".replace("  ", " ")
        if m and m["shares"]:
            return f"{who.display} shares"
    clause = sent.clauses[ci]
    lead = _NP_LEAD.match(text, clause.marker_end, min(verb_at, clause.marker_end + REACH))
    begin = lead.end() if lead else clause.marker_end
    if verb_at - begin > REACH // 2:
        return who.display  # no short subject there
    phrase = _NP_TAIL.sub("", _without_dates(text[begin:verb_at])).strip(" ,")
    phrase = " ".join(phrase.split())
    words = phrase.split()
    if (
        actor.kind in ("company", "person")
        and phrase
        and actor.start >= begin
        and len(words) <= MAX_SUBJECT_WORDS
        and "," not in phrase
        and '"' not in phrase
        and not re.search(_TITLE_WORDS, phrase, re.I)
        and not (who.kind == "person" and _OWNED_PERSON.match(phrase))
    ):
        return _canonical_people(phrase, sent, begin)
    return who.display


# "Anthropic's Dario Amodei": the person is the subject.
_OWNED_PERSON = re.compile(r"^[A-Z][\w.-]*'s\s+[A-Z]")


def _canonical_people(phrase: str, sent: _Sentence, begin: int) -> str:
    """People named by surname alone get their full name ("Musk and Altman")."""
    out = phrase
    for a, who in sent.near(begin, begin + len(phrase) + 1):
        if a.kind != "person" or a.written == who.name:
            continue
        if a.end < len(sent.text) and sent.text[a.end] == "-":
            continue  # "Musk-led": a description, kept as written
        out = re.sub(rf"\b{re.escape(a.written)}\b(?!-)", who.name, out, count=1)
    return out


_FUNDING_OBJECT = re.compile(
    r"\b(?:investment|funding|round|financing|stake|bid|offer)\b|\$\s?\d", re.I
)
_PLAN_TO = re.compile(r"^(?:a|its|the)\s+plans?\s+to\s+", re.I)
# Investors' verbs: the happening is on the investee's timeline.
_TO_INVESTEE = frozenset({"invests", "pledges", "commits", "bids"})
_PREPOSITION_START = re.compile(r"^(?:with|under|as|in|on|for|to|at|from|into|along)\b", re.I)


SHARE_MOVE = "placement:share-move"


def _place(
    kind: str, verb: str, who: _Who, sent: _Sentence, after: int, clause: Clause, reading: _Reading
) -> tuple[str, str]:
    """(slug, rule): the timeline the happening goes on (see the module's docstring)."""
    # A share move is a reaction: see `_place_share_moves`.
    if who.kind == "company" and kind == "funding" and verb in _TO_INVESTEE | {"announces"}:
        investee = _investee(sent, after, clause.end, who.company, reading)
        if investee:
            return investee, "placement:investee"
    if who.kind == "company" and verb in ("fall", "rise"):
        return who.company, SHARE_MOVE  # placed once the article is read (`_place_share_moves`)
    if who.company:
        return who.company, f"placement:{who.kind}"
    if kind in ("statement", "accusation"):
        # '"It's time for OpenAI to ...," Musk said': an outsider's words are about the company
        # his quotation names.
        for a, w in sent.near(max(0, after - REACH), after):
            if a.kind == "company" and w.kind == "company" and w.company and sent.quoted(a.start):
                return w.company, "placement:quoted"
    about = _other_company(sent, after, clause.end, "", reading)
    if about:
        return about, "placement:about"
    return reading.topic, "placement:article"


# "invested $80 billion in data centres": the money goes to something, not to a company.
_IN_SOMETHING = re.compile(r"\bin\s+(?!(?:a|an|the|its|his|her|their|that)\b)[a-z]")


def _investee(sent: _Sentence, after: int, end: int, investor: str, reading: _Reading) -> str:
    """The company an investment goes to: named after the verb, else (when the clause names no
    other destination) the one the text was about before this sentence."""
    for _, w in sent.near(after, end):
        if w.company and w.company != investor:
            return w.company
    if _IN_SOMETHING.search(sent.text, after, min(end, after + REACH)):
        return ""
    for slug in reversed(reading.companies_before):
        if slug != investor:
            return slug
    return ""


def _other_company(sent: _Sentence, after: int, end: int, not_this: str, reading: _Reading) -> str:
    """The company the words after the verb are about, other than `not_this`: one named (or
    "its board") in the clause, else named later in the sentence, else the last one named
    before it, else one named earlier in the sentence."""

    def wanted(w: _Who) -> bool:
        return w.kind == "company" and bool(w.company) and w.company != not_this

    for _, w in sent.near(after, end):
        if wanted(w):
            return w.company
    for a, w in sent.near(after, len(sent.text)):
        if a.kind == "company" and wanted(w):
            return w.company
    for slug in reversed(reading.companies_before):
        if slug != not_this:
            return slug
    for _, w in sent.near(0, len(sent.text)):
        if wanted(w):
            return w.company
    return ""


def _clause_dates(sent: _Sentence, reading: _Reading) -> None:
    """Each clause's own date, in reading order (a tied date reads the one before it); a joined
    or adverbial clause without one shares the clause before it's, a resumed one the main
    clause's ("Microsoft, which has invested ... since 2019, said ...": not 2019)."""
    news_sentence = False
    for ci, clause in enumerate(sent.clauses):
        own = _own_date(sent.text[clause.start : clause.end], reading.published, reading.anchor)
        if own is not None:
            if not reading.dated:
                reading.dated = True
                reading.news = own[0] if _is_recent(own[0], reading.published) else None
                news_sentence = True
            # The news of the day goes on until a later sentence writes another date (the lede's
            # own background, "... less than two weeks ago", does not end it).
            if not news_sentence and own[0] is not reading.news:
                reading.on_news = False
            reading.anchor = own[0]
        elif ci and clause.kind in (cl.COORD, cl.ADV, cl.RESUME, cl.ING):
            prev = sent.dates[_resumed(sent, ci) if clause.kind == cl.RESUME else ci - 1]
            if prev is not None:
                own = (prev[0], "inherited", prev[2])
        sent.dates.append(own)


def _resumed(sent: _Sentence, ci: int) -> int:
    """The clause a resumed one continues: the last main clause before it."""
    for k in range(ci - 1, max(-1, ci - 1 - MAX_CLAUSES_BACK), -1):
        if sent.clauses[k].kind in (cl.MAIN, cl.HARD, cl.RESUME):
            return k
    return ci - 1


# A lede's date is the news of the day when it is at most this many days before publication.
NEWS_DAYS = 7


def _is_recent(occurred: OccurredDate, published: date) -> bool:
    return occurred.precision is Precision.DAY and 0 <= (published - occurred.end).days <= NEWS_DAYS


def _date_of(
    sent: _Sentence, ci: int, reading: _Reading, slug: str
) -> tuple[OccurredDate, str, list[str]]:
    """The clause's date; an undated one about the lede's company, told while the article is
    still on the lede's day (no other date written since, no "recently"), is that day's; else
    the publication month."""
    found = sent.dates[ci]
    if found is not None:
        if found[0] is reading.news and not reading.news_company:
            reading.news_company = slug
        return found
    clause = sent.clauses[ci]
    if (
        reading.news is not None
        and reading.on_news
        and reading.news_company == slug
        and not _VAGUE.search(sent.text, clause.start, min(clause.end, clause.start + REACH))
    ):
        return reading.news, "narrative", []
    return _resolve_date("", reading.published)


# Words that put a happening at some other, unsaid time.
_VAGUE = re.compile(r"\b(?:recently|earlier|previously|once|formerly|long|ago|since)\b", re.I)


_CONDITION = re.compile(r"[\s,]*(?:if|unless|whether)\b", re.I)
# Founding told without a date is background ("Altman co-founded OpenAI"), not news.
_BACKGROUND_UNDATED = frozenset({"founds", "co-founds", "starts"})
_UNDATED = frozenset({"publication-month", "narrative"})
# Present-tense claims with no date of their own: what a company holds, not what it did.
_STANDING = frozenset({"says", "argues", "insists", "maintains"})
# Clauses where a present form is the reporter's news ("DeepSeek says"), not a description.
_NEWS_CLAUSES = frozenset({cl.MAIN, cl.HARD, cl.COORD, cl.RESUME})


def _passive_before(sent: _Sentence, ci: int, text: str, end: int) -> bool:
    """Whether a joined clause's verb shares the passive of the clause before it: "was fired on
    Nov. 17 and rehired" (no object follows it)."""
    if ci == 0 or ci in sent.passive:
        return ci in sent.passive
    prev = ci - 1
    return prev in sent.passive and not re.match(r"\s+(?:[A-Z]|him|her|them|it\b)", text[end:])


def _perfect_reports(sent: _Sentence, ci: int, verb: cl.Verb, reading: _Reading) -> bool:
    """A perfect ("has opposed", "had reached") reports a happening when its clause dates it
    ("had reached an agreement on Nov. 21"), or in an article's first sentence, where "NASA has
    barred ..." is the news; elsewhere it is a standing position or a total."""
    own = sent.dates[ci]
    # "has invested ... since 2019" tells how long, not when.
    since = own is not None and bool(own[2]) and own[2][0].casefold().startswith("since")
    if own is not None and own[1] != "inherited" and not since:
        return True
    return reading.sentence_no == 0 and verb.kind in _LEDE_PERFECT and not since


# What a lede tells in the perfect ("NASA has barred ...") as the news; "has raised more than
# $20 billion" or "has argued" is a total or a position even there.
_LEDE_PERFECT = frozenset({"restriction", "release", "lawsuit", "leadership"})


def _find_subject(
    sent: _Sentence, ci: int, verb: cl.Verb, end: int, start: int
) -> tuple[tuple[Actor, _Who] | None, list[Evidence], bool]:
    """(subject, evidence, shared?): the clause's own, a speaker after the verb, the noun a
    relative clause hangs on, or the subject of the clause it is joined to."""
    clause = sent.clauses[ci]
    found = _subject(sent, ci, start)
    if found is not None:
        return found, [], False
    if verb.kind == "statement":
        found = _speaker_after(sent, start, end)
        if found is not None:
            return found, [evidence("subject:speaker-after")], False
    if clause.kind in (cl.REL, cl.APPOS) and not sent.text.startswith(
        "whose", clause.marker_end - 5
    ):
        found = _antecedent(sent, ci)
        if found is not None:
            return found, [evidence("subject:antecedent")], False
    if clause.kind in (cl.COORD, cl.RESUME, cl.ING, cl.ADV):
        found = _inherited(sent, ci)
        if found is not None:
            return found, [evidence("subject:shared")], True
    return None, [], False


def _span(sent: _Sentence, ci: int, actor: Actor, verb: cl.Verb) -> tuple[int, int]:
    """The words that report the happening: the clause's own (without "and", "which"...), from
    the noun a relative clause hangs on, and for a statement what was said ("... that ...")."""
    clause = sent.clauses[ci]
    start = clause.marker_end
    if clause.kind in (cl.REL, cl.APPOS) and actor.end <= clause.start:
        start = actor.start
    end = clause.end
    if verb.kind == "statement":
        k = ci + 1
        while k < len(sent.clauses) and sent.clauses[k].kind in (cl.COMP, cl.REL, cl.ADV):
            if sent.clauses[k].kind != cl.COMP and k == ci + 1:
                break
            end = sent.clauses[k].end
            k += 1
    return start, end


def _verb_happening(
    sent: _Sentence, m: re.Match[str], form: str, reading: _Reading, ing: bool = False
) -> _Happening | None:
    """The happening a strategy verb reports, or None (see `clauses` for what reports none)."""
    text = sent.text
    verb = cl.VERBS.get(form)
    if verb is None:
        return None
    start, end = m.start(), m.end()
    ci = sent.clause_at(start)
    clause = sent.clauses[ci]
    use = _verb_use(sent, ci, m, form, verb, reading, ing)
    if use is None:
        return None
    if use == "passive":
        sent.passive.add(ci)
    found, rules, shared = _find_subject(sent, ci, verb, end, start)
    if found is None:
        return None
    actor, who = found
    sent.subjects.setdefault(ci, found)
    use = _use_with_subject(sent, ci, m, verb, use, actor, who, ing)
    if use is None:
        return None
    kind = verb.kind
    span = _span(sent, ci, actor, verb)
    after = text[end : min(span[1], end + REACH)]
    present = verb.present
    # "announced a multiyear, multibillion dollar investment in OpenAI": its first words' noun.
    if present == "announces" and _FUNDING_OBJECT.search(" ".join(after.split()[:7])):
        kind = "funding"
    if kind == "statement" and shared and any(w == who for w, _ in sent.done):
        return None  # "... named X and said it would ...": one announcement, told on
    slug, placement = _place(kind, present, who, sent, end, clause, reading)
    if not slug:
        return None  # about no company: on no timeline
    occurred, date_rule, date_words = _date_of(sent, ci, reading, slug)
    if _undated_background(sent, clause, m, present, date_rule):
        return None
    if kind == "statement" and _attributes_a_detail(sent, actor, after):
        return None  # "The larger model runs on one GPU, the company said": a detail
    subject = _display(sent, ci, actor, who, start)
    title = _title_for(
        sent, verb, (present, use, m.group()), (end, after), actor, subject, slug, kind
    )
    rules = [
        evidence(f"{'ing' if ing else 'verb'}:{kind}", [m.group()], clause=clause.kind, use=use),
        evidence(f"subject:{actor.kind}", [actor.written], value=who.display),
        *rules,
        evidence(placement, [reading.written.get(slug, _display_name(slug))]),
    ]
    sent.done.append((who, kind))
    written = reading.written.get(slug) or _display_name(slug)
    return _Happening(
        start, span, kind, title, written, slug, occurred, date_rule, date_words, rules
    )


def _verb_use(
    sent: _Sentence,
    ci: int,
    m: re.Match[str],
    form: str,
    verb: cl.Verb,
    reading: _Reading,
    ing: bool,
) -> str | None:
    """How the verb is used ("active", "passive", "perfect", "was-to"...), or None when the use
    reports no happening (a participle, a condition, no finite form, a perfect that tells none)."""
    text, start = sent.text, m.start()
    clause = sent.clauses[ci]
    if clause.kind == cl.PART or _CONDITION.match(text, clause.start):
        return None
    use = "active" if ing else cl.finite(text, start, form)
    if use is None and cl.was_to(text, start):
        use = "was-to"
    if use is None:
        return None
    if use == "perfect" and not _perfect_reports(sent, ci, verb, reading):
        return None
    return use


def _use_with_subject(
    sent: _Sentence,
    ci: int,
    m: re.Match[str],
    verb: cl.Verb,
    use: str,
    actor: Actor,
    who: _Who,
    ing: bool,
) -> str | None:
    """The verb's use once its subject is known (a joined clause may share the passive before
    it), or None when the subject and the words after do not make it news."""
    text, start, end = sent.text, m.start(), m.end()
    clause = sent.clauses[ci]
    present_form = not ing and use == "active" and cl.is_present_form(m.group())
    if present_form and (clause.kind not in _NEWS_CLAUSES or not cl.present_ok(text, start, actor)):
        return None
    if use != "passive" and clause.kind == cl.COORD and _passive_before(sent, ci, text, end):
        use = "passive"  # "Altman was fired ... and rehired five days later"
    if not cl.needs_met(verb, text, start, end, clause, passive=use == "passive"):
        return None
    if not _subject_fits(verb, who, actor, sent, start, end):
        return None
    return use


def _undated_background(
    sent: _Sentence, clause: Clause, m: re.Match[str], present: str, date_rule: str
) -> bool:
    """Whether a clause with no date of its own is background, not news: a founding, a
    description or a standing position."""
    if date_rule not in _UNDATED:
        return False
    if present in _BACKGROUND_UNDATED or clause.kind in (cl.REL, cl.APPOS):
        return True  # "Meta, which released its Llama models ...": a description, not news
    # "OpenAI says the for-profit arm was necessary": a standing position
    return m.group().casefold() in _STANDING and not sent.quoted(m.end())


_INVERTED = frozenset({"said", "says", "wrote", "writes", "added", "adds"})


def _speaker_after(sent: _Sentence, start: int, end: int) -> tuple[Actor, _Who] | None:
    """'"...," said Sam Altman': the speaker named right after the verb, which follows a
    quotation or a comma."""
    if sent.text[start:end].casefold() not in _INVERTED:
        return None
    if not sent.text[:start].rstrip().endswith((",", '"', ',"')):
        return None
    j = bisect.bisect_left(sent.actor_starts, end)
    if j < len(sent.actors) and not sent.text[end : sent.actors[j].start].strip():
        who = sent.who[j]
        if who is not None and sent.actors[j].kind in ("person", "company"):
            return sent.actors[j], who
    return None


_SHARES_BEFORE = re.compile(r"\b(?:shares|stock|stocks)\s+(?:\w+\s+)?$", re.I)
_SHARES_SENT = re.compile(r"\s+\S+(?:'s)?\s+shares\s+(?:down|up)\b", re.I)
_SPEAKER_KINDS = ("person", "company")
# "Meta's researchers", "the company's lawyers": a company's unnamed staff, not the company.
_STAFF_OF = re.compile(r"'s\s+(?:own\s+)?(?:[a-z]+\s+)?[a-z]+s\s+(?:also\s+)?$")


def _subject_fits(
    verb: cl.Verb, who: _Who, actor: Actor, sent: _Sentence, start: int, end: int
) -> bool:
    """Statements need a named person or company; share moves need shares."""
    if verb.needs.startswith("decider"):
        return True  # a person, a company, an agency or a court decides
    if verb.needs.startswith("speaker") or verb.needs == "signed":
        if who.kind not in _SPEAKER_KINDS:
            return False
        if _STAFF_OF.match(sent.text, actor.end, start):
            return False  # "Meta's researchers said": unnamed people, not the company
        if verb.needs == "speaker-object":
            # "called R1 a ..." or 'called X "..."': naming, not "called for" or "what it called".
            rest = sent.text[end : end + 60]
            if not re.match(r'^\s+[^,;]{1,40}?\s(?:an?\s|")', rest):
                return False
            if re.search(r"\bwhat\s+\S+\s*$", sent.text[max(0, start - 12) : start]):
                return False
        return True
    if verb.needs == "shares":
        return bool(_SHARES_BEFORE.search(sent.text[actor.end : start]))
    if verb.needs == "shares-sent":
        return bool(_SHARES_SENT.match(sent.text, end))
    if verb.needs == "person":
        return bool(re.match(r"^\s+(?:[A-Z]\w+|him|her|its\s+(?:CEO|chief))", sent.text[end:]))
    return True


def _title_for(
    sent: _Sentence,
    verb: cl.Verb,
    form: tuple[str, str, str],
    tail: tuple[int, str],
    actor: Actor,
    subject: str,
    slug: str,
    kind: str,
) -> str:
    """The happening's headline (`headlines.build`) from its clause: `form` is the verb's
    (present tense, use, as written), `tail` where the words after it begin, and those words."""
    present, use, written = form
    after = _named_after(sent, tail[0], tail[1], subject)
    if verb.needs == "decider-down":  # "turned the bid down": "turns down the bid"
        after = re.sub(r"\bdown\b", "", after, count=1)
    present, obj = _verb_and_object(sent, verb, present, use, after, actor)
    if kind == "statement":
        present, obj = _what_was_said(sent, actor, present, obj)
    present = _headline_verb(present, use, written, subject, obj)
    if kind == "release":
        obj = _with_model_named(sent, tail[0], after, obj)
    if kind == "funding" and present in _TO_INVESTEE | {"announces"} and slug:
        obj = _with_investee(obj, present, subject, slug)
    return headlines.build(subject, present, obj, statement=kind == "statement")


def _verb_and_object(
    sent: _Sentence, verb: cl.Verb, present: str, use: str, after: str, actor: Actor
) -> tuple[str, str]:
    """(verb, object) as the clause words them: the object from the words after the verb (or
    the noun phrase before its subject), "announces plans to" as "plans to"."""
    obj = headlines.object_text(_without_dates(after))
    if present == "announces" and _PLAN_TO.match(obj):
        present, obj = "plans to", _PLAN_TO.sub("", obj)
    if use == "active" and (not obj or _PREPOSITION_START.match(obj)):
        # "the round OpenAI completed in October": the object came before its subject.
        before = _object_before(sent.text, actor.start, verb.needs)
        obj = f"{before} {obj}".strip()
    if present == "completes" and re.search(r"\b(?:round|funding|financing)\b", obj, re.I):
        present = "closes"  # a round completed is a round closed: raised
    if _PARTICIPLE_START.match(obj):
        obj = ""  # "said in a blog post announcing ...": nothing said in the clause itself
    return present, obj


def _what_was_said(sent: _Sentence, actor: Actor, present: str, obj: str) -> tuple[str, str]:
    """(verb, object) of a statement: the quotation before it when the clause says nothing, and
    the action it reports when the company says it did something."""
    if not obj:
        obj = _quote_before(sent, actor.start) or _said_before(sent, actor.start)
    if present in ("says", "announces"):
        own = _own_action(obj)  # "said it had completed its recapitalization"
        if own is not None:
            present, obj = own
    return present, obj


def _headline_verb(present: str, use: str, written: str, subject: str, obj: str) -> str:
    """The verb as the headline writes it: what was written is said, a passive as "is ...", and
    agreeing with a plural subject."""
    if present == "writes" and not obj.startswith("to "):
        present = "says"  # "wrote on X that ...": what was written is what was said
    if use == "passive":
        present = f"is {written.casefold()}"
    if _plural(subject):
        present = _plural_verb(present)
    return present


def _with_model_named(sent: _Sentence, begin: int, after: str, obj: str) -> str:
    """A release's object with the model it releases named: the one named before the verb, or
    the names listed after a generic "model"."""
    if not _names_model(obj):
        # "the base model it released", "launched that model": the model named before.
        model = _model_before(sent.text, begin)
        if model and (not obj or _PREPOSITION_START.match(obj)):
            obj = f"{model} {obj}".strip()
        elif model and _GENERIC_MODEL.match(obj):
            obj = _GENERIC_MODEL.sub(model, obj, count=1)
    if not _names_model(obj):
        listed = _LISTED.match(after)  # "two open-weight models, gpt-oss-120b and gpt-oss-20b,"
        named = _first_model(after)  # "its own first reasoning model, o1-preview, ..."
        if listed and _GENERIC_MODEL.match(obj) and _names_model(listed["names"]):
            obj = listed["names"]
        elif named and _GENERIC_MODEL.match(obj):
            obj = f"{named}, {obj}"
    return obj


def _with_investee(obj: str, present: str, subject: str, slug: str) -> str:
    """A funding's object with the company funded named, when the headline does not name it."""
    name = _display_name(slug)
    if name.casefold() in f"{subject} {obj}".casefold():
        return obj
    owned = _THE_HOLDER.sub(lambda m: f"{m[1]} {name}'s ", obj, count=1)
    if owned != obj:
        return owned  # "for the nonprofit": "for OpenAI's nonprofit"
    return f"{obj} in {name}" if present != "bids" else f"{obj} for {name}"


_NP_BEFORE = re.compile(r"\b(?:the|a|an|its|their)\s+(?:[\w$.%-]+\s+){0,5}$", re.I)
_PLURAL_SUBJECT = re.compile(
    r"\band\b|\b(?:employees|staff|agencies|investors|shares|lawyers|attorneys|directors"
    r"|officials|regulators|members|researchers|founders|backers|shareholders)$",
    re.I,
)


def _object_before(text: str, at: int, need: str) -> str:
    """The noun phrase right before a subject, when it is what the verb needs ("the $6.6 billion
    funding round OpenAI completed", "the lawsuit Musk withdrew")."""
    pattern = cl.NEEDS.get(need)
    if pattern is None:
        return ""
    m = _NP_BEFORE.search(text[max(0, at - 60) : at])
    if m is None or not pattern.search(m.group()):
        return ""
    return m.group().strip()


def _plural(subject: str) -> bool:
    return bool(_PLURAL_SUBJECT.search(subject)) and not subject.endswith("'s board")


def _plural_verb(present: str) -> str:
    """ "says" -> "say", "is founded" -> "are founded", "launches" -> "launch"."""
    first, _, rest = present.partition(" ")
    if first == "is":
        first = "are"
    elif first.endswith(("ches", "shes", "sses", "xes", "zes")):
        first = first[:-2]
    elif first.endswith("ies"):
        first = first[:-3] + "y"
    elif first.endswith("s"):
        first = first[:-1]
    return f"{first} {rest}".strip()


def _named_after(sent: _Sentence, begin: int, after: str, subject: str) -> str:
    """`after` with the actors it names as the timeline names them: "the company" and "him" by
    name, "its board" as "OpenAI's board", a surname as the full name; a pronoun standing for
    the subject itself stays."""
    end = begin + len(after)
    named = [subject]  # what the headline names so far: a pronoun for one of them stays
    edits: list[tuple[int, int, str]] = []
    for a, who in sent.near(begin, end):
        if sent.quoted(a.start):
            continue
        name = _object_name(a, who, " ".join(named))
        if name is not None:
            edits.append((a.start - begin, a.end - begin, name))
        named.append(who.display)
    out = after
    for i, j, name in reversed(edits):
        out = out[:i] + name + out[j:]
    return out


def _object_name(a: Actor, who: _Who, subject: str) -> str | None:
    if a.kind == "person":
        return who.display if a.written != who.display and not a.written.endswith("-") else None
    if a.kind == "pronoun-person":
        return None if who.display in subject or a.written.lower() != "him" else who.display
    if a.kind == "pronoun-company":
        company = _display_name(who.company)
        if company in subject:
            return None
        # "its members", "said it would": most often the subject's own, unless a person is.
        if not _person_subject(subject) and (a.written.lower() == "its" or _company(subject)):
            return None
        return f"{company}'s" if a.written.lower() == "its" else who.display
    if a.kind in ("the-company", "the-board"):
        return None if who.display in subject else who.display
    return None


_PARTICIPLE_START = re.compile(r"^[a-z]+ing\b")
_THE_HOLDER = re.compile(
    r"\b(for|in|into)\s+the\s+(?=(?:nonprofit|company|startup|firm|lab|board)\b)"
)
# A quotation opening with one of these reads on in lower case after "says".
_LOWER_START = re.compile(r"^(?:We|Our|It|Its|This|That|The|There|They|Their)\b")


def _first_model(text: str) -> str:
    models = [e for e in extract_entities(text) if e["kind"] == "model"]
    return str(models[0]["text"]) if models else ""


_OWN_ACTION = re.compile(
    r"^(?:that\s+)?(?:it|he|she|they)\s+(?:had\s+|has\s+|have\s+)?(?:(?:\w+ly|formally)\s+)?"
    r"(?P<verb>\w+(?:-\w+)?(?:\s+(?:down|back|out|up|course))?)\b(?P<rest>.*)$"
)


def _own_action(obj: str) -> tuple[str, str] | None:
    """ "it had completed its recapitalization": the speaker's own action, told as it."""
    m = _OWN_ACTION.match(obj)
    if m is None:
        return None
    verb = cl.VERBS.get(m["verb"].casefold())
    if verb is None or verb.kind == "market" or verb.needs.startswith("speaker"):
        return None  # "it said ...": speech in speech
    if m["verb"].casefold() == verb.present:
        return None  # "it bans ...": a present, a standing fact
    return verb.present, m["rest"].strip()


def _attributes_a_detail(sent: _Sentence, actor: Actor, after: str) -> bool:
    """ "..., the company said" after words that report no strategy happening: the source of a
    detail of the story, not a statement of its own (a quotation first is one)."""
    if headlines.object_text(after) or _quote_before(sent, actor.start):
        return False
    said = _said_before(sent, actor.start)
    return bool(said) and not (cl.trigger_spans(said) or cl.noun_triggers(said))


def _said_before(sent: _Sentence, at: int) -> str:
    """ "Murati will return to her role, the company said": what comes before the speaker."""
    head = sent.text[sent.offset : at].rstrip()
    if not head.endswith(",") or at - sent.offset > REACH:
        return ""
    return head.rstrip(",")


def _quote_before(sent: _Sentence, at: int) -> str:
    """The quotation a statement's speaker follows, when nothing else comes between."""
    i = bisect.bisect_right(sent.quote_starts, at)
    for start, end in reversed(sent.quotes[max(0, i - 2) : i]):
        if end <= at:
            between = sent.text[end:at]
            quote = sent.text[start + 1 : end - 1] if len(between.split()) <= 4 else ""
            return quote[:1].lower() + quote[1:] if _LOWER_START.match(quote) else quote
    return ""


def _company(subject: str) -> bool:
    return any(e["kind"] == "organization" for e in extract_entities(subject))


def _person_subject(subject: str) -> bool:
    return any(e["kind"] == "person" for e in extract_entities(subject)) and not any(
        e["kind"] == "organization" for e in extract_entities(subject)
    )


def _names_model(text: str) -> bool:
    return any(e["kind"] == "model" for e in extract_entities(text))


_MODEL_REACH = 120
_GENERIC_MODEL = re.compile(
    r"(?:the|that|this|its|their|two|three|four|a|an|new)\s+(?:[\w.-]+\s+){0,3}?models?\b", re.I
)
_LISTED = re.compile(r"[^,;]{1,80},\s+(?P<names>[^,;]{1,80}),")


def _model_before(text: str, at: int) -> str:
    """The last model named shortly before `at` ("DeepSeek-V3, the base model it released")."""
    window = text[max(0, at - _MODEL_REACH) : at]
    models = [e for e in extract_entities(window) if e["kind"] == "model"]
    return str(models[-1]["text"]) if models else ""


# --- Actions told as nouns ----------------------------------------------------------------------

# The agent runs to the clause's end ("from several U.S. agencies, including NASA").
_NOUN_AGENT = re.compile(
    r"\s+(?:by|from)\s+(?P<agent>[^;]{1,80}?)(?=;|\.?$|,\s+(?!including\b)"
    # "guidance from the US Navy last Friday telling ...": the agent ends where its date or what
    # it did begins.
    r"|\s+(?:last|on|this|earlier|telling|saying|citing|ordering|asking)\b)"
)
# "the temporary restrictions that the Garante placed on ChatGPT": the agent in a relative clause.
_NOUN_AGENT_THAT = re.compile(
    r"\s+(?:that|which)\s+(?P<agent>(?:the\s+)?[A-Z][^;,]{0,40}?)\s+(?:placed|imposed|issued"
    r"|announced|ordered)\b"
)
_NOUN_OF = re.compile(r"^\s+of\s+")
# "the debut of Apple's iPhone": an action of a company the text does not follow.
_OF_OWNER = re.compile(r"^\s+of\s+(?P<owner>[A-Z][\w.&-]*)'s\b")
_BEGAN = re.compile(r"^\s+that\s+(?:began|started)\b", re.I)
# "its countersuit, filed in April": the noun with its own participle and date.
_NOUN_PARTICIPLE = re.compile(
    r"^,?\s+(?:that\s+|which\s+)?(?:was\s+|were\s+)?(?:filed|announced|issued|imposed|completed"
    r"|closed|raised|made|unveiled|introduced|launched|led)\b",
    re.I,
)


_NOUN_DATE_REACH = re.compile(r"[^,;]{0,60}")
_NOUN_DATE_REACH_PARTICIPLE = re.compile(r",?[^,;]{0,60}")
# "the $6.6 billion round": a round with its amount.
_AMOUNT_BEFORE = re.compile(r"\$\s?[\d.,]+\s*(?:billion|million|[BM])?\s+(?:funding\s+)?$")


def _noun_happening(
    sent: _Sentence, m: re.Match[str], reading: _Reading, taken: set[int]
) -> _Happening | None:
    """An action told as a noun, when the text says who did it ("a ban by Italy's privacy
    regulator", "restrictions from several U.S. agencies") or gives the noun its own date ("the
    release of ChatGPT a year ago", "a staged release that began that February", "the $6.6
    billion round in October"). A noun that is the object of a verb ("turned the bid down") or
    the subject of a description ("The release comes in three sizes") reports nothing."""
    text = sent.text
    start, end = m.start(), m.end()
    ci = sent.clause_at(start)
    if ci in taken or sent.quoted(start):
        return None  # the clause already reports its happening with a verb
    kind, present = cl.NOUNS[" ".join(m.group().casefold().split())]
    that_agent = _NOUN_AGENT_THAT.match(text, end)
    agent = _NOUN_AGENT.match(text, end) or that_agent
    of_owner = _OF_OWNER.match(text[end : end + 60])
    if of_owner and not any(
        w.company in COMPANIES
        for _, w in sent.near(end + of_owner.start("owner"), end + of_owner.end("owner"))
    ):
        return None
    agent_who = _agent(sent, agent.start("agent"), agent.end("agent")) if agent else None
    before = text[max(0, start - 30) : start]
    own = None
    rest = text[end : end + 40]
    if (
        _NOUN_OF.match(rest)
        or _BEGAN.match(rest)
        or _NOUN_PARTICIPLE.match(rest)
        or _AMOUNT_BEFORE.search(before)
    ):
        reach = (
            _NOUN_DATE_REACH_PARTICIPLE if _NOUN_PARTICIPLE.match(rest) else _NOUN_DATE_REACH
        ).match(text, end)
        region = text[start : reach.end() if reach else end]
        own = _own_date(region, reading.published, reading.anchor)
    tail = end
    if that_agent is not None and agent_who is not None:
        # "the restrictions that the Garante placed on ChatGPT in March 2023": the relative
        # clause tells the date and what the action was on.
        reach_end = _NOUN_DATE_REACH.match(text, that_agent.end())
        tail = reach_end.end() if reach_end else that_agent.end()
        own = own or _own_date(text[start:tail], reading.published, reading.anchor)
    if own is None and agent_who is None:
        return None
    rules = [evidence(f"noun:{kind}", [m.group()], clause=sent.clauses[ci].kind)]
    if agent_who is not None:
        who = agent_who
        rules.append(evidence("subject:agent", [who.display]))
    else:
        found = _owner(sent, start) or _subject(sent, ci, start) or _inherited(sent, ci)
        if found is None:
            return None
        who = found[1]
        rules.append(evidence(f"subject:{found[0].kind}", [found[0].written]))
    clause = sent.clauses[ci]
    slug, placement = _place(kind, present, who, sent, end, clause, reading)
    if who.kind == "agency" or not who.company:
        slug, placement = _about(sent, reading, not_this=""), "placement:about"
        if tail > end:
            on = _other_company(sent, end, tail, "", reading)
            slug, placement = (on, "placement:object") if on else (slug, placement)
    if not slug:
        return None
    rules.append(evidence(placement, [_display_name(slug)]))
    occurred, date_rule, date_words = own if own is not None else _date_of(sent, ci, reading, slug)
    if who.kind == "person" and who.company:
        who = _company_who(reading, who.company)  # a person's release is their company's
    title = _noun_title(text, m, who, slug, kind, present)
    written = reading.written.get(slug) or _display_name(slug)
    phrase = _noun_phrase(text, m)
    span = (max(clause.marker_end, m.end() - len(phrase)), max(clause.end, tail))
    return _Happening(
        start, span, kind, title, written, slug, occurred, date_rule, date_words, rules
    )


def _about(sent: _Sentence, reading: _Reading, not_this: str) -> str:
    # A company the sentence itself names comes before the one the text named last.
    for _, w in sent.near(0, len(sent.text)):
        if w.kind == "company" and w.company and w.company != not_this:
            return w.company
    return _other_company(sent, len(sent.text), len(sent.text), not_this, reading) or reading.topic


def _agent(sent: _Sentence, start: int, end: int) -> _Who | None:
    """The agencies or companies an action noun is "by" or "from" (several: "NASA and the Navy")."""
    named = [w for _, w in sent.near(start, end) if w.kind in ("agency", "company")]
    if not named:
        return None
    if len(named) == 1:
        return named[0]
    first = named[0]
    return replace(first, display=" and ".join(dict.fromkeys(w.display for w in named)))


def _owner(sent: _Sentence, start: int) -> tuple[Actor, _Who] | None:
    """ "its countersuit", "OpenAI's round": the possessive right before the noun's phrase."""
    j = bisect.bisect_right(sent.actor_ends, start) - 1
    if j < 0:
        return None
    a, who = sent.actors[j], sent.who[j]
    gap = sent.text[a.end : start]
    if (
        who is None
        or len(gap.split()) > 4
        or not (gap.startswith("'s") or a.written in ("its", "Its"))
    ):
        return None
    return a, who


def _noun_title(text: str, m: re.Match[str], who: _Who, slug: str, kind: str, present: str) -> str:
    after = text[m.end() :]
    about = _display_name(slug)
    if _BEGAN.match(after):
        phrase = re.sub(r"^(?:the|its|their)\s+", "a ", _noun_phrase(text, m))
        return headlines.build(who.display, "begins", phrase + _of_model(text, m, kind))
    if _NOUN_OF.match(after):
        obj = headlines.object_text(_without_dates(_NOUN_OF.sub("", after, count=1)))
        return headlines.build(who.display, present, obj)
    if kind in ("restriction", "lawsuit", "leadership") and slug and slug != who.company:
        return headlines.build(who.display, present, about)
    phrase = _noun_phrase(text, m)
    if phrase == m.group():
        phrase = f"a {phrase}"  # "OpenAI's countersuit": "OpenAI files a countersuit"
    return headlines.build(who.display, present, phrase)


def _of_model(text: str, m: re.Match[str], kind: str) -> str:
    """ "of GPT-2" for a release told as a noun after the model's name."""
    model = _model_before(text, m.start()) if kind == "release" else ""
    return f" of {model}" if model else ""


_NOUN_MODIFIERS = re.compile(
    r"(?:\b(?:the|a|an|its|their|his|her)\s+|'s\s+)(?:[\w$.,-]+\s+){0,3}$", re.I
)


def _noun_phrase(text: str, m: re.Match[str]) -> str:
    """The noun with its modifiers: "a staged release", "the $6.6 billion round"."""
    before = _NOUN_MODIFIERS.search(text[max(0, m.start() - 40) : m.start()])
    lead = before.group() if before else ""
    if lead.startswith("'s"):
        lead = "a " + lead[2:].lstrip()  # "OpenAI's $6.6 billion round": "a $6.6 billion round"
    return f"{lead}{m.group()}".strip()


# --- The article --------------------------------------------------------------------------------

MAX_PER_SENTENCE = 8  # a sentence rarely reports more; the bound keeps extraction linear


def _read_sentence(sentence: str, reading: _Reading) -> list[_Happening]:
    """The happenings one sentence reports, in reading order."""
    reading.sentence_no += 1
    dateline = _DATELINE.match(sentence)
    offset = dateline.end() if dateline else 0
    text = sentence
    quotes = cl.quoted_spans(text)
    quote_starts = [s for s, _ in quotes]
    verbs = [m for m in cl.trigger_spans(text) if m.start() >= offset]
    acts = [a for a in cl.actors(text) if a.start >= offset]
    who = _resolve(text, acts, reading)
    cls = cl.clauses(text, quotes, [m.start() for m in verbs], offset)
    sent = _Sentence(
        text, offset, quotes, quote_starts, cls, [c.start for c in cls], acts,
        [a.end for a in acts], [a.start for a in acts], who, [],
    )  # fmt: skip
    _clause_dates(sent, reading)
    out: list[_Happening] = []
    for m in sorted([*verbs, *cl.ing_triggers(text)], key=lambda x: x.start()):
        if sent.quoted(m.start()):
            continue
        ing = m.re is cl.ING_PATTERN
        form = cl.ing_past(m["verb"]) if ing else " ".join(m.group().casefold().split())
        happening = _verb_happening(sent, m, form, reading, ing=ing)
        if happening is not None:
            out.append(happening)
    taken = {sent.clause_at(h.start) for h in out}
    for m in cl.noun_triggers(text):
        if m.start() < offset:
            continue
        happening = _noun_happening(sent, m, reading, taken)
        if happening is not None:
            out.append(happening)
            taken.add(sent.clause_at(m.start()))
    out.sort(key=lambda h: h.start)
    out = _fold_when(sent, out)[:MAX_PER_SENTENCE]
    _tell(sent, out)
    return out


def _fold_when(sent: _Sentence, happenings: list[_Happening]) -> list[_Happening]:
    """ "OpenAI released its weights in November 2019, when it published GPT-2": a "when" clause
    of the same kind and time tells the same happening; its words join the first."""
    out: list[_Happening] = []
    for h in happenings:
        clause = sent.clauses[sent.clause_at(h.start)]
        marker = sent.text[clause.start : clause.marker_end].strip(" ,").casefold()
        if out and marker == "when" and h.date_rule == "inherited" and out[-1].kind == h.kind:
            prev = out[-1]
            prev.span = (prev.span[0], max(prev.span[1], h.span[1]))
            prev.rules.append(evidence("folded:when", [sent.text[h.span[0] : h.span[1]]]))
            continue
        out.append(h)
    return out


# Clauses that hang on the one before (a participle, a relative or adverbial clause, what was
# said) belong to its happening's words; the others open the next one's.
_HANGING = frozenset({cl.PART, cl.REL, cl.ADV, cl.ING, cl.COMP, cl.APPOS})


def _tell(sent: _Sentence, happenings: list[_Happening]) -> None:
    """Each happening's share of the sentence (`told`): one alone has the whole sentence; of
    several, each has its words and the clauses around them that report no other happening."""
    if len(happenings) <= 1:
        for h in happenings:
            h.told = (0, len(sent.text))
        return
    lo = [h.span[0] for h in happenings]
    hi = [h.span[1] for h in happenings]
    for clause in sent.clauses:
        if any(a < clause.end and clause.start < b for a, b in zip(lo, hi, strict=True)):
            continue
        before = [i for i in range(len(happenings)) if hi[i] <= clause.start]
        after = [i for i in range(len(happenings)) if lo[i] >= clause.end]
        owner = before[-1] if before and (clause.kind in _HANGING or not after) else None
        if owner is None and after:
            owner = after[0]
        if owner is not None:
            lo[owner], hi[owner] = min(lo[owner], clause.start), max(hi[owner], clause.end)
    lo[0] = 0
    for i, h in enumerate(happenings):
        h.told = (lo[i], hi[i])


def extract_events(
    text: str, published: date, url: str = "", publisher: str | None = None
) -> list[Extracted]:
    """The strategy events an article reports, in reading order, one per happening told."""
    body = normalize_text(text, keep_paragraphs=True)
    source: dict[str, str | None] = {
        "url": canonical_url(url) if url else None,
        "publisher": normalize_text(publisher or "") or None,
        "published_at": published.isoformat(),
    }
    sentences = split_sentences(body)
    reading = _Reading(published, _topic(body))
    found: list[tuple[_Happening, str, str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for i, sentence in enumerate(sentences):
        context = _context(sentences, i)
        for h in _read_sentence(sentence, reading):
            clause_text = sentence[h.span[0] : h.span[1]].strip(" ,;:.")
            trigger = h.rules[0]["words"][0] if h.rules[0]["words"] else ""
            keys = (f"{_key(clause_text)}#{trigger}", f"{_key(h.title)}@{h.occurred.text}")
            if any(k in seen for k in keys):
                continue  # a repeated paragraph or pull quote is one event
            seen.update(keys)
            found.append((h, sentence, clause_text, context))
    _place_share_moves([h for h, *_ in found], reading)
    out = []
    for h, sentence, clause_text, context in found:
        # A sentence that reports several happenings gives each its own words (`_tell`), so
        # that one's amounts and names are not another's, and each is its own report.
        whole = h.told == (0, len(sentence))
        own = sentence[h.told[0] : h.told[1]].strip(" ,;:")
        told = (sentence, *context) if whole else (own,)
        out.append(_extracted(h, told, clause_text, published, source))
    return out


def _place_share_moves(happenings: list[_Happening], reading: _Reading) -> None:
    """A company's share move reported in an article about another company's actions ("Nvidia
    shares fell ... as a low-cost Chinese AI model ...") is a reaction to them, placed on that
    company's timeline: the one whose own happenings the article reports most."""
    by = Counter(h.slug for h in happenings if h.rules[-1]["rule"] != SHARE_MOVE)
    if not by:
        return
    lead, _ = by.most_common(1)[0]
    for h in happenings:
        if h.rules[-1]["rule"] == SHARE_MOVE and h.slug != lead:
            h.rules.append(evidence("placement:reaction", [_display_name(lead)]))
            h.slug, h.company = lead, reading.written.get(lead) or _display_name(lead)


def _key(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def _extracted(
    h: _Happening,
    told: tuple[str, ...],
    clause_text: str,
    published: date,
    source: dict[str, str | None],
) -> Extracted:
    confidence = _CONFIDENCE[h.date_rule]
    ev: dict[str, list[Evidence]] = {
        "event": h.rules,
        "occurred": [
            evidence(f"date:{h.date_rule}", h.date_words, published=published.isoformat())
        ],
        "title": [evidence("headline:subject-verb-object", [h.title])],
    }
    if h.occurred.start > published:
        confidence *= 0.5
        ev["occurred"].append(evidence("date-after-publication", h.date_words))
    hedges = [m.group() for m in _HEDGE.finditer(told[0])]
    if hedges:
        confidence *= HEDGE_FACTOR
        ev["confidence"] = [evidence("hedged", hedges, factor=HEDGE_FACTOR)]
    return Extracted(
        occurred=h.occurred,
        title=h.title,
        sentences=told,
        confidence=round(confidence, 3),
        company=h.company,
        source=dict(source),
        evidence=ev,
        clause=clause_text,
        kind=h.kind,
    )
