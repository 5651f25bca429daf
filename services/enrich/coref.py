"""Coreference: whether two reports tell the same happening (to become one event with two sources).

A happening is identified by who (the company), when (the dates, at their precision), what kind
(the category and the action the headline reports) and its anchors -- the named things that tell
one happening from its neighbours: models with their versions, amounts, people, agencies, places,
licences, other numbers. Wording decides only among reports that agree on all of these.

- **Anchors** (`anchors_of`) are read from the title (primary) and the summary (secondary). Two
  reports *conflict* when both titles name something of one kind and they share none of it, the
  summaries included ("$4B credit facility" vs "$6.6B round"; "o1-mini" vs "o1-preview"; NASA vs
  the US Navy): a conflict vetoes the merge whatever the words say. Counting the summaries keeps
  a retelling that puts the valuation in its title and the round in its text.
- **Actions** are the headline's strategy verbs and nouns folded to one class (launches, unveils,
  rolls out -> release; bars, blocks, restrictions -> restrict; ousts, fires, removal -> oust). Two
  titles with actions and no action in common are different happenings (a CEO's removal and a
  president's resignation on the same day).
- **Words**: the titles' content words without the company's own name, synonyms folded to their
  class, compared by Jaccard and by containment (a short headline inside a longer one).

`decide` returns the evidence of a merge (rule, score, shared anchors, words) or None, with the
reason of a veto in `explain`. Symmetric in its arguments; pure (no I/O).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from services.enrich.steps.companies import COMPANIES, mentioned_companies
from services.enrich.steps.dedup import days_apart, terms
from services.enrich.steps.entities import SCALE, extract_entities
from shared.dates import MONTH_NAMES, WEEKDAY_NAMES, OccurredDate

# Reports of one happening are posted the same day or a day or two later (time zones, next-day
# coverage); a week-long span overlapping the other's day counts as 0 days apart.
MAX_DAYS_APART: Final = 3

# Anchor kinds. A title naming a model, an amount, a person... names what the happening is about.
MODEL, AMOUNT, PERSON, AGENCY, PLACE, LICENCE, NUMBER, ORG, ACTION, LEAD = (
    "model",
    "amount",
    "person",
    "agency",
    "place",
    "licence",
    "number",
    "org",  # another company the report names (a partner, a buyer, a rival)
    "action",
    "lead",  # the first action of the title
)
CONFLICTING: Final = (MODEL, AMOUNT, PERSON, AGENCY, PLACE, LICENCE, NUMBER, ORG)
# Judged by the headlines alone when both name some: a summary names everyone and everything
# around the happening (its background people, models and figures).
BY_HEADLINE: Final = frozenset({MODEL, PERSON, NUMBER})
# Actions too general to tell two happenings apart ("says", "plans").
_WEAK_ACTIONS: Final = frozenset({"say", "plan"})
# Actions told of a company with another party ("partners with X", "X taps it", "joins"): the
# party identifies the happening, so the action alone is no sign that two reports are one.
_PARTY_ACTIONS: Final = frozenset({"partner", "deploy", "tap", "join"})
# Shared anchors that identify a happening on their own (with the same action): a person or a
# number is shared by too many of a company's stories.
IDENTIFYING: Final = frozenset({MODEL, AMOUNT, AGENCY, PLACE, LICENCE})

# Strategy verbs and nouns (as `dedup.terms` stems them) folded to one action class each.
_ACTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "release": (
        "launch",
        "unveil",
        "introduc",
        "releas",
        "debut",
        "roll",
        "rollout",
        "ship",
        "open-sourc",
        "unveiling",
        "availabl",
        "publish",
        "arriv",
        "preview",
        "teas",
    ),
    "fund": (
        "rais",
        "fund",
        "funding",
        "round",
        "bag",
        "invest",
        "investment",
        "backing",
        "financing",
        "pledg",
    ),
    "credit": ("credit", "loan", "revolv", "revolver", "facility"),
    # Restrictions: an advisory ("warns staff off", "tells agencies to avoid") is not a ban, and
    # both are restrictions ("blocks", "restricts" can be either): see _EXCLUSIVE.
    "restrict": (
        "bars",
        "barr",
        "bar",
        "block",
        "restrict",
        "restriction",
        "curb",
        "unauthoris",
        "unauthoriz",
        "limit",
        "suspend",
        "paus",
        "halt",
    ),
    "ban": ("bans", "bann", "ban", "prohibit", "forbid", "forbidd", "outlaw"),
    "advise": ("warn", "caution", "advis", "advisory", "guidanc", "urg"),
    "oust": ("fir", "oust", "ouster", "remov", "removal", "sack", "boot"),
    "leave": ("resign", "resignation", "quit", "depart", "departur", "exit", "leav", "left"),
    # "joins Microsoft", "joins the board", "joins forces": hired, left for a rival, partnered.
    "join": ("join", "rejoin"),
    "return": ("return", "reinstat", "reinstatement", "rehir", "comeback"),
    "sue": ("sues", "sued", "sue", "lawsuit", "suit", "complaint", "case", "litigation"),
    "withdraw": (
        "withdraw",
        "withdrew",
        "withdrawn",
        "dismis",
        "abandon",
        "revers",
        "u-turn",
        "backtrack",
        "scrap",
    ),
    # "drops its suit", "drops a plan" and "shares drop 17%".
    "drop": ("drop", "dropp"),
    "fall": ("fall", "fell", "plung", "slump", "tumbl", "sink", "sank", "slid", "crash", "wip"),
    "rank": ("tops", "top", "overtak", "surpass", "dethron"),
    "refile": ("refil", "reviv", "revive", "renew"),
    "countersue": ("countersu", "countersuit", "countersued", "counterclaim"),
    "bid": ("bids", "bid", "takeover"),
    "reject": ("reject", "rebuff", "spurn", "rejection", "declin", "refus", "snub"),
    "say": (
        "says",
        "said",
        "say",
        "admit",
        "admitt",
        "acknowledg",
        "conced",
        "argu",
        "accus",
        "criticis",
        "criticiz",
        "remark",
        "announc",
    ),
    "plan": ("plan", "plann", "propos", "proposal", "intend", "consider", "roadmap"),
    "complet": ("complet", "finaliz", "finalis", "finish", "clos"),
    "restructur": ("restructur", "convert", "conversion", "recapitaliz", "recapitalis", "overhaul"),
    "appoint": ("appoint", "nam", "hir", "hire"),
    "create": ("creat", "form", "found", "establish", "incorporat"),
    "partner": ("partner", "partnership", "tie-up", "integrat", "collaborat", "alliance"),
    # "Apple taps ChatGPT", "OpenAI taps Simo as CEO": a partner's deal or an appointment.
    "tap": ("tap", "taps", "tapp", "enlist"),
}
# Two classes that tell one happening in two ways: a founding told as a launch ("launches as a
# nonprofit"), an office opened or set up; an interim chief named with the removal or exit of the
# one before; a restriction that is an advisory or a ban; a deployment ("is coming to", "brings
# ... to") that is a release or a partner's deal; "out as CEO", left or pushed.
_RELATED: Final[Mapping[str, frozenset[str]]] = {
    "release": frozenset({"create", "deploy"}),
    "create": frozenset({"release"}),
    "interim": frozenset({"oust", "leave", "out"}),
    "oust": frozenset({"interim", "out"}),
    "leave": frozenset({"interim", "out"}),
    "appoint": frozenset({"tap", "join"}),
    "join": frozenset({"appoint", "return", "partner"}),
    "drop": frozenset({"withdraw", "fall"}),
    "withdraw": frozenset({"drop"}),
    "fall": frozenset({"drop"}),
    "out": frozenset({"oust", "leave", "interim"}),
    "restrict": frozenset({"ban", "advise"}),
    "ban": frozenset({"restrict"}),
    "advise": frozenset({"restrict"}),
    "deploy": frozenset({"release", "partner", "tap"}),
    "partner": frozenset({"deploy", "tap", "join"}),
    "tap": frozenset({"partner", "appoint", "deploy"}),
}
_ACTION_OF: Final = {stem: action for action, stems in _ACTIONS.items() for stem in stems}
# "closes a round" is funding, "closes its restructuring" completion: a stem in two classes is read
# as the first class whose other words are present, see `_actions`.
_FUNDING_WORDS: Final = frozenset({"round", "funding", "fund", "financing", "investment", "rais"})

# Places and jurisdictions a strategy story is placed by (an office, a regulator's country).
_PLACES: Final = (
    "London",
    "Dublin",
    "Tokyo",
    "Paris",
    "Munich",
    "Zurich",
    "Singapore",
    "Seoul",
    "Sydney",
    "Toronto",
    "New York",
    "San Francisco",
    "Seattle",
    "Boston",
    "Austin",
    "Chicago",
    "Los Angeles",
    "Montreal",
    "Vancouver",
    "Amsterdam",
    "Lisbon",
    "Madrid",
    "Barcelona",
    "Milan",
    "Rome",
    "Stockholm",
    "Copenhagen",
    "Oslo",
    "Helsinki",
    "Warsaw",
    "Prague",
    "Vienna",
    "Tel Aviv",
    "Osaka",
    "Hong Kong",
    "Shenzhen",
    "Jakarta",
    "Bangkok",
    "Mumbai",
    "Hyderabad",
    "Nairobi",
    "Lagos",
    "Cairo",
    "Riyadh",
    "Doha",
    "Mexico City",
    "São Paulo",
    "Washington",
    "New Delhi",
    "Bangalore",
    "Dubai",
    "Abu Dhabi",
    "Beijing",
    "Hangzhou",
    "Shanghai",
    "Brussels",
    "Berlin",
    "Delaware",
    "Texas",
    "California",
    "Italy",
    "France",
    "Germany",
    "Ireland",
    "Japan",
    "India",
    "Korea",
    "South Korea",
    "Taiwan",
    "Australia",
    "Canada",
    "Brazil",
    "Britain",
    "UK",
    "U.K.",
    "EU",
)
_US_RE: Final = re.compile(r"\b(?:US|U\.S\.|United States)(?! ?\$)")
_PLACE_VALUE: Final = {
    "U.K.": "UK",
    "Britain": "UK",
    "South Korea": "Korea",
    "Italian": "Italy",
    "French": "France",
    "German": "Germany",
    "Irish": "Ireland",
    "Japanese": "Japan",
    "Korean": "Korea",
    "Indian": "India",
    "British": "UK",
    "Taiwanese": "Taiwan",
    "Australian": "Australia",
    "Canadian": "Canada",
    "Brazilian": "Brazil",
    "European": "EU",
}
_PLACE_RE: Final = re.compile(
    r"\b(?:" + "|".join(map(re.escape, (*_PLACES, *_PLACE_VALUE))) + r")\b"
)
# An agency stands for its country too: the Italian regulator and NASA are two jurisdictions.
_AGENCY_PLACE: Final = {
    "Garante (Italy)": "Italy",
    "CMA (UK)": "UK",
    "NASA": "US",
    "US Navy": "US",
    "FTC": "US",
    "SEC": "US",
    "US Department of Defense": "US",
    "US Department of Justice": "US",
    "US Department of Commerce": "US",
    "US Congress": "US",
    "European Commission": "EU",
}
# Agencies the entity vocabulary does not name, as headlines shorten them.
_MORE_AGENCIES: Final = (
    (
        re.compile(
            r"\b(?:Congress(?:ional)?|(?:US |U\.S\. )?House(?: of Representatives)?"
            r"(?= (?:CAO|administrator|staff|offices|tells|warns|bans|bars|blocks))"
            r"|House CAO|Chief Administrative Officer)\b"
        ),
        "us congress",
    ),
    (re.compile(r"\bNavy\b"), "us navy"),
)

# Model names the vocabulary does not know: a capitalised or code-like name with a version
# ("Zephyr-4o", "Qwen2.5", "Gemini 2.0 Flash"), with a variant word when one follows.
_MODEL_RE: Final = re.compile(
    r"\b(?P<name>(?:[A-Z][A-Za-z]*(?:-[A-Za-z]+)*[- ]?|[a-z]+(?:-[a-z]+)*-?)[vV]?\d+(?:\.\d+)*"
    r"[a-z]?(?:-[a-z0-9]+)*)"
    r"(?P<variant>[- ](?i:mini|nano|pro|preview|turbo|max|flash|ultra|lite|zero|instant))?\b"
)
# Quantities without a currency sign ("1.5 billion parameters", "6.6 billion dollars", "17%")
# and bare numbers ("run 2999", "100x"); years and days of months are dates, not anchors.
_SCALED_RE: Final = re.compile(
    r"(?<![\w.,$-])(?P<num>\d+(?:\.\d+)?)\s?(?P<scale>trillion|billion|million|bn|tn|mn|[TBMK])\b"
    r"(?!-parameter|\s*param)",
    re.I,
)
_PARAMS_RE: Final = re.compile(
    r"(?<![\w.$-])(?P<num>\d+(?:\.\d+)?)\s?(?P<scale>billion|million|[BM])"
    r"(?:-parameter|\s*param)",
    re.I,
)
_NUMBER_RE: Final = re.compile(r"(?<![\w.,$-])(\d+(?:[.,]\d+)*)(%|x\b)?(?![\w-])")
_MONTH_DAY_RE: Final = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? "
    r"(?:\d{1,2}(?:st|nd|rd|th)?\b(?:,? (?:19|20)\d\d\b)?|(?:19|20)\d\d\b)"
)
# A size written after a model's name ("GPT-2 1.5B"), not after a currency.
_SIZE_AFTER_MODEL: Final = re.compile(r"\b[A-Za-z][\w.]*-?\d[\w.]* $")
# What follows a number that is a quantity ("1.5B", "1.5 billion", "1,000", "70%"), not a version.
_QUANTITY_AFTER: Final = re.compile(
    r"[.,]\d|\s?(?:[BMKT]\b|(?:trillion|billion|million|bn|mn|tn|%)|-?param)", re.I
)
_YEAR_RE: Final = re.compile(r"^(?:19|20)\d\d$")


@dataclass(frozen=True, slots=True)
class Anchors:
    """What a report names, by kind: `title` from its headline, `more` from its summary too."""

    title: Mapping[str, frozenset[str]]
    more: Mapping[str, frozenset[str]]

    def encode(self) -> list[str]:
        """As stored (`events.anchors`): "kind:value" from the title, "+kind:value" from the
        summary only."""
        out = [f"{k}:{v}" for k, vs in self.title.items() for v in vs]
        out += [f"+{k}:{v}" for k, vs in self.more.items() for v in vs - self.title.get(k, set())]
        return sorted(out)

    @classmethod
    def decode(cls, stored: Iterable[str]) -> Anchors:
        title: dict[str, set[str]] = {}
        more: dict[str, set[str]] = {}
        for item in stored:
            primary = not item.startswith("+")
            kind, _, value = item.lstrip("+").partition(":")
            more.setdefault(kind, set()).add(value)
            if primary:
                title.setdefault(kind, set()).add(value)
        return cls(_freeze(title), _freeze(more))


def slug_of(name: str) -> str:
    return "-".join(name.casefold().split())


def _freeze(d: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    return {k: frozenset(v) for k, v in d.items() if v}


def _amount_value(num: str, scale: str) -> str:
    factor = SCALE.get(scale.lower(), 1)
    return _round_amount(float(num) * factor)


def _round_amount(value: float) -> str:
    # Three significant figures: "$6.6B" = "$6.6 billion" = "6,600,000,000"; "about $5.6M" =
    # "$5.576M" is not claimed (a conflict needs every amount to differ, so retellings that round
    # differently still share their other amounts).
    return f"{float(f'{value:.3g}'):.0f}"


def _model_key(name: str, company: str) -> str:
    key = _MODEL_SUFFIX.sub("", name.casefold().replace(" ", "-"))
    entry = COMPANIES.get(company)
    prefixes = {company, *(a.casefold() for a in (entry.aliases if entry else ()))}
    if entry:
        prefixes.add(entry.name.casefold())
    for prefix in sorted(prefixes, key=len, reverse=True):
        if prefix and key.startswith(prefix + "-") and len(key) > len(prefix) + 1:
            return key[len(prefix) + 1 :]
    return key


# How far back a pattern about what precedes a match looks ("GPT-2 " before "1.5B", "the Trade
# Standards " before "Agency"): bounded, so a long text costs linear time.
_LOOKBACK: Final = 80


def _take(taken: bytearray, m: re.Match[str]) -> None:
    a, b = m.span()
    taken[a:b] = b"\x01" * (b - a)


def _text_anchors(text: str, company: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    if not text:
        return found
    dates_removed = _MONTH_DAY_RE.sub(" ", text)
    # What the amount, parameter and model patterns took, by position: later patterns skip it. A
    # mask, not a list of spans: a long text (an article's sentence) has thousands of them.
    taken = bytearray(len(dates_removed) + 1)
    # Each step adds to `found` in this order (the anchors' kinds keep their first-seen order),
    # and the later ones read what the earlier ones found (people, licences, models).
    vocabulary = _entity_anchors(text, company, found)
    if not found.get(PERSON):
        _unknown_people(text, company, found)
    _quantity_anchors(dates_removed, taken, found)
    _model_anchors(dates_removed, taken, company, found)
    _number_anchors(dates_removed, taken, found)
    _org_and_place_anchors(text, company, found)
    # Each name as written ("GPT-5 Pro" is GPT-5 Pro, "GPT-4o mini" is not GPT-4o); the
    # vocabulary adds the names without a version ("Whisper", "ChatGPT").
    seen = found.get(MODEL, set())
    extra = {v for v in vocabulary if not any(r == v or r.startswith(v + "-") for r in seen)}
    if extra:
        found.setdefault(MODEL, set()).update(extra)
    return found


def _entity_anchors(text: str, company: str, found: dict[str, set[str]]) -> set[str]:
    """Adds the entities the vocabulary recognises to `found`; returns the model keys it knows."""
    vocabulary: set[str] = set()
    for ent in extract_entities(text, ()):
        kind, value = ent["kind"], str(ent["value"])
        if kind == "model":
            vocabulary.add(_model_key(value, company))
        elif kind == "money":
            found.setdefault(AMOUNT, set()).add(_round_amount(float(ent["value"])))
        elif kind == "person":
            found.setdefault(PERSON, set()).add(value.casefold())
        elif kind == "agency":
            found.setdefault(AGENCY, set()).add(value.casefold())
            if value in _AGENCY_PLACE:
                found.setdefault(PLACE, set()).add(_AGENCY_PLACE[value].casefold())
        elif kind == "license":
            found.setdefault(LICENCE, set()).add(value.casefold())
    return vocabulary


def _unknown_people(text: str, company: str, found: dict[str, set[str]]) -> None:
    """Adds the people the vocabulary does not know, as headlines name them ("Greta Holloway
    steps down"): two capitalised words that are not a company, a place, a model or a title."""
    for m in _NAME_RE.finditer(text):
        if _is_unknown_person(text, m, company):
            found.setdefault(PERSON, set()).add(m[0].casefold())


def _is_unknown_person(text: str, m: re.Match[str], company: str) -> bool:
    """Whether a capitalised pair of words (`_NAME_RE`) names a person."""
    name = m[0]
    words = name.split()
    if any(w in _NOT_NAMES or w.upper() == w for w in words):
        return False
    if _INSTITUTION_BEFORE.search(text, max(0, m.start() - _LOOKBACK), m.start()):
        return False
    if mentioned_companies(name) or _PLACE_RE.search(name):
        return False
    # The company's own name, when the registry does not know it.
    return not (set(terms(name)) & _own_words(company) or slug_of(name) == company)


def _quantity_anchors(dates_removed: str, taken: bytearray, found: dict[str, set[str]]) -> None:
    """Adds the parameter counts and the scaled amounts ("1.5 billion") and marks them taken."""
    for m in _PARAMS_RE.finditer(dates_removed):
        found.setdefault(NUMBER, set()).add("p" + _amount_value(m["num"], m["scale"]))
        _take(taken, m)
    for m in _SCALED_RE.finditer(dates_removed):
        if not taken[m.start()]:
            before = max(0, m.start() - _LOOKBACK)
            if _SIZE_AFTER_MODEL.search(dates_removed, before, m.start()) and m["scale"] in "BM":
                # "GPT-2 1.5B", "Llama 2 70B": the model's size, a parameter count
                found.setdefault(NUMBER, set()).add("p" + _amount_value(m["num"], m["scale"]))
            else:
                found.setdefault(AMOUNT, set()).add(_amount_value(m["num"], m["scale"]))
            _take(taken, m)


def _model_anchors(
    dates_removed: str, taken: bytearray, company: str, found: dict[str, set[str]]
) -> None:
    """Adds the models named with a version (a licence's name is not one) and marks each taken."""
    for m in _MODEL_RE.finditer(dates_removed):
        key = _model_name_key(dates_removed, m, company)
        if key is None:
            continue
        if key not in found.get(LICENCE, ()):
            found.setdefault(MODEL, set()).add(key)
        _take(taken, m)


def _model_name_key(dates_removed: str, m: re.Match[str], company: str) -> str | None:
    """The model key of a `_MODEL_RE` match, or None when it is not a model's name."""
    name = m["name"]
    if _YEAR_RE.match(name) or not any(c.isalpha() for c in name) or name[0].isdigit():
        return None
    if name.isalpha() or len(name) < 2:
        return None
    if _QUANTITY_AFTER.match(dates_removed, m.end("name")):
        return None  # "the full 1.5B-parameter model": a quantity, not a version of "Full"
    word, sep, number = name.partition(" ")
    if sep and (word in _NOT_NAMES or _YEAR_RE.match(number)):
        return None  # "November 2019", "Top 10": a date or a rank
    key = _model_key(name + (m["variant"] or ""), company)
    if key == company or slug_of(name) == company:
        return None  # the company's own name ("co-42 launches ..."), not a model of it
    return key


def _number_anchors(dates_removed: str, taken: bytearray, found: dict[str, set[str]]) -> None:
    """Adds the bare numbers ("run 2999", "100x", "17%") nothing else took, years and dollar
    figures aside."""
    for m in _NUMBER_RE.finditer(dates_removed):
        if taken[m.start()] or _YEAR_RE.match(m[1]):
            continue
        if dates_removed[max(0, m.start() - 1) : m.start()] == "$":
            continue
        found.setdefault(NUMBER, set()).add(m[1] + (m[2] or "").lower())


def _org_and_place_anchors(text: str, company: str, found: dict[str, set[str]]) -> None:
    """Adds the other companies, the agencies the vocabulary does not list, and the places."""
    for slug, _ in mentioned_companies(text):
        if slug != company:
            found.setdefault(ORG, set()).add(slug)
    for pattern, agency in _MORE_AGENCIES:
        if pattern.search(text):
            found.setdefault(AGENCY, set()).add(agency)
            found.setdefault(PLACE, set()).add("us")
    for m in _PLACE_RE.finditer(text):
        found.setdefault(PLACE, set()).add(_PLACE_VALUE.get(m[0], m[0]).casefold())
    if _US_RE.search(text):
        found.setdefault(PLACE, set()).add("us")


# Actions told by phrases, not single words ("is coming back", "bring back Altman", "turns down").
# Each phrase is read as a word of its class (`_PHRASE_WORD`), where it stands in the headline.
_PHRASES: Final = (
    (
        re.compile(
            r"\b(?:brings?|bringing|brought) back (?:\S+ ){0,2}?(?:lawsuit|suit|case|claims)\b",
            re.I,
        ),
        "refile",
    ),
    (
        re.compile(
            r"\bpull(?:s|ed|ing)? (?:\S+ ){0,3}?(?:lawsuit|suit|case|claims?|bid|plan)\b", re.I
        ),
        "withdraw",
    ),
    (re.compile(r"\blan(?:ds|ded|ding|d) (?:about |nearly |a |an )?(?:US)?\$", re.I), "fund"),
    (
        re.compile(
            r"\b(?:com(?:e|es|ing)|bring(?:s|ing)?|brought|is|are|be|formally|officially) back\b"
            r"|\bback (?:as|at) (?:CEO|chief|OpenAI|the helm)",
            re.I,
        ),
        "return",
    ),
    (
        re.compile(
            r"\b(?:steps?|stepping|stepped) (?:down|back|away|aside)\b|\bparts? ways\b"
            r"|\bbows? out\b|\bheads? for the exit\b",
            re.I,
        ),
        "leave",
    ),
    (re.compile(r"\bout as\b", re.I), "out"),
    (re.compile(r"\b(?:push|forc)(?:es|ed|ing|e)? (?:\w+ )?out\b", re.I), "oust"),
    (
        re.compile(
            r"\bnot to use\b|\bavoid\b|\bstay away\b|\bwarns? .{0,40}\boff\b"
            r"|\bguidance against\b|\bcalls? .{0,40}\ban? (?:[\w-]+ ){0,3}(?:risk|threat)\b",
            re.I,
        ),
        "advise",
    ),
    (
        re.compile(
            r"\boff[- ]limits\b|\bnot (?:authori[sz]ed|allowed|cleared|permitted)\b"
            r"|\bmov(?:es|ed|ing|e) against\b",
            re.I,
        ),
        "restrict",
    ),
    (
        re.compile(
            r"\b(?:is|are|now) (?:out|here|live|available)\b|\bgo(?:es)? live\b"
            r"|\bopen(?:s|ed|ing)\b|\b(?:makes?|made|making) (?:\w+[ -]){0,6}?(?:public|free)\b",
            re.I,
        ),
        "release",
    ),
    (re.compile(r"\bset(?:s|ting)? up\b", re.I), "create"),
    (re.compile(r"\binterim (?:CEO|chief|head|leader|boss)\b", re.I), "interim"),
    (
        re.compile(
            r"\bsnap(?:s|ped)? up\b|\b(?<!up )(?:to|will) (?:lead|head|run)\b"
            r"|\btakes? (?:the )?helm\b|\bnew (?:CEO|chief executive)\b",
            re.I,
        ),
        "appoint",
    ),
    (
        re.compile(
            r"\bteam(?:s|ed)? up\b|\bwork(?:s|ing|ed)? with\b|\bjoin(?:s|ed)? forces\b", re.I
        ),
        "partner",
    ),
    (
        re.compile(
            r"\b(?:com(?:e|es|ing)|bring(?:s|ing)?|brought) (?!back\b)(?:\S+ ){0,4}?to\b", re.I
        ),
        "deploy",
    ),
    (re.compile(r"\bturn(?:s|ed|ing)? down\b|\bsays? no to\b", re.I), "reject"),
    (re.compile(r"\b(?:takes?|took|taking) .{0,30}\bto court\b", re.I), "sue"),
    (
        re.compile(
            r"\boffer(?:s|ed|ing)? (?:about |nearly |some )?(?:US)?\$|\boffer for\b"
            r"|\bma(?:kes?|de|king) an? (?:\S+ ){0,3}?offer\b",
            re.I,
        ),
        "bid",
    ),
)
_PHRASE_WORD: Final = {action: f"zqx{action}zqx" for _, action in _PHRASES}
_PHRASE_ACTION: Final = {word: action for action, word in _PHRASE_WORD.items()}


def _with_phrases(text: str) -> str:
    for pattern, action in _PHRASES:
        text = pattern.sub(f" {_PHRASE_WORD[action]} ", text)
    return text


# A headline's background clause ("... quits after Altman's ouster", "After its big raise, ...")
# tells what came before; the happening is the main clause's action and its people. An "as"
# clause tells what happened with it ("... board seat as Altman returns", "partners with OpenAI
# as it unveils ..."): its actions count, but the headline's lead action is the main clause's.
_BACKGROUND_TAIL: Final = re.compile(
    r"\s(?:(?:hours|days|weeks) )?(?:after|following|amid|in (?:the )?wake of)\s.*$", re.I
)
_BACKGROUND_HEAD: Final = re.compile(r"^(?:after|following|amid)\b[^,;:]*[,;:]\s*", re.I)
_AS_CLAUSE: Final = re.compile(r"\sas\s", re.I)
# Epithets that name the company by what it made or who backs it ("ChatGPT maker OpenAI", "the
# maker of ChatGPT", "Microsoft-backed OpenAI"): they say nothing of the happening.
_EPITHET_RE: Final = re.compile(
    r"\b(?:the )?[A-Z][\w.]*[- ](?:maker|creator|developer|owner)s?(?:'s)?(?![\w-])"
    r"|\b(?:the )?(?:maker|creator|developer|owner)s? of [A-Z][\w.-]*(?:'s)?"
    r"|\b[A-Z][\w.]*-backed\b"
)


def _strip_epithets(text: str) -> str:
    return _EPITHET_RE.sub(" ", text) if text else text


# What describes a person rather than tells an action ("hires ousted CEO Sam Altman", "the
# departing president"), and a model a headline compares with ("80% cheaper than o1-preview").
_DESCRIBED_RE: Final = re.compile(
    r"(?<!has )(?<!have )(?<!had )(?<!was )(?<!been )(?<!is )"
    r"\b(?:ousted|fired|sacked|removed|departing|departed|outgoing|resigned|returning|reinstated)"
    r"(?= (?:(?!(?:as|from|by|at|of|in|after)\b)[\w.'-]+ ){0,2}"
    r"(?:CEO|chief|president|founder|co-founder|cofounder|executive|chairman|chair|CTO|boss"
    r"|leader)\b)",
    re.I,
)
_COMPARED_RE: Final = re.compile(
    r"\b(?:than|vs\.?|versus|rivals?|rivall?ing|beats?|outperforms?|fraction of|on par with"
    r"|successor to|follow-up to|replac(?:es|ing|e))"
    r" (?:(?:its|the|OpenAI's|rival) )?[\w.-]+(?:'s)?",
    re.I,
)


def _main_clause(title: str) -> str:
    return _BACKGROUND_TAIL.sub("", _BACKGROUND_HEAD.sub("", title)) or title


def _actions(words: list[str]) -> list[str]:
    """The title's actions in order (the first is what the headline reports; later ones are
    often background: "Microsoft hires ousted CEO ...")."""
    present = set(words)
    out: list[str] = []
    for i, w in enumerate(words):
        action = _ACTION_OF.get(w) or _PHRASE_ACTION.get(w)
        if action is None:
            continue
        if w == "clos":  # "closes a round" is funding, "closes the deal" completion
            action = "fund" if present & _FUNDING_WORDS else "complet"
        if w == "fir" and words[i + 1 : i + 2] == ["back"]:
            continue  # "fires back at" answers, it does not fire anyone
        if action not in out:
            out.append(action)
    return out


def _title_actions(title: str, company: str) -> tuple[list[str], str | None]:
    """The headline's actions (main clause first, then its "as" clause) and its lead action."""
    own = _own_words(company)
    main = _with_phrases(_main_clause(title))
    head, _, concurrent = _split_as(main)
    lead_actions = _actions([w for w in terms(head) if w not in own])
    more = _actions([w for w in terms(concurrent) if w not in own])
    actions = lead_actions + [a for a in more if a not in lead_actions]
    if "interim" in actions:  # "names Shear (as) interim CEO": the appointment is the interim's
        actions = [a for a in actions if a != "appoint"]
        lead_actions = [a if a != "appoint" else "interim" for a in lead_actions]
    return actions, (lead_actions[0] if lead_actions else None)


def _split_as(text: str) -> tuple[str, str, str]:
    parts = _AS_CLAUSE.split(text, maxsplit=1)
    return (parts[0], " as ", parts[1]) if len(parts) == 2 else (text, "", "")


def anchors_of(title: str, summary: str, company: str) -> Anchors:
    """The anchors of a report: from its title, and from its title and summary together."""
    return _anchors_cached(title, summary, company)


@functools.lru_cache(maxsize=4096)
def _anchors_cached(title: str, summary: str, company: str) -> Anchors:
    title, summary = _strip_epithets(title), _strip_epithets(summary)
    head = _text_anchors(title, company)
    # The people of a headline are those of its main clause ("Brockman quits after Altman's
    # ouster" is about Brockman); the background's count as the summary's.
    background_people = head.pop(PERSON, set())
    main_people = _text_anchors(_main_clause(title), company).get(PERSON, set())
    if main_people:
        head[PERSON] = main_people
    compared = _COMPARED_RE.sub(" ", title)
    if compared != title:
        compared_models = head.pop(MODEL, set())
        head_models = _text_anchors(compared, company).get(MODEL, set())
        if head_models:
            head[MODEL] = head_models
        background_models = compared_models - head_models
    else:
        background_models = set()
    head_actions, lead = _title_actions(_DESCRIBED_RE.sub(" ", title), company)
    if head_actions:
        head[ACTION] = set(head_actions)
        head[LEAD] = {lead or head_actions[0]}
    rest = _text_anchors(summary, company)
    rest.setdefault(PERSON, set()).update(background_people)
    rest.setdefault(MODEL, set()).update(background_models)
    more = {k: set(v) for k, v in head.items()}
    for k, v in rest.items():
        if k not in (ACTION, LEAD):
            more.setdefault(k, set()).update(v)
    return Anchors(_freeze(head), _freeze(more))


@functools.lru_cache(maxsize=256)
def _own_words(company: str) -> frozenset[str]:
    entry = COMPANIES.get(company)
    # A company the registry does not know is known by its slug: "quillmere-systems" is the
    # words of "Quillmere Systems", which every headline of it names.
    own = {company, *terms(company.replace("-", " "))}
    if entry:
        own |= {w for alias in (entry.name, *entry.aliases) for w in terms(alias)}
    return frozenset(own)


@functools.lru_cache(maxsize=8192)
def content_words(title: str, company: str) -> frozenset[str]:
    """The title's content words without the company's name, synonyms folded to their class."""
    own = _own_words(company)
    words = [w for w in terms(_strip_epithets(title)) if w not in own and w not in _QUANTITY_WORDS]
    # Numbers and amounts are anchors, compared as such: as words they would count "$6.6B" and
    # "6.6 billion" as different.
    return frozenset(
        _ACTION_OF.get(w, w)
        for w in (_DOLLAR_SUFFIX.sub("", w) for w in words)
        if not _HAS_DIGIT.search(w) or "-" in w
    )


_QUANTITY_WORDS: Final = frozenset({"billion", "million", "trillion", "bn", "dollar", "usd"})
_HAS_DIGIT: Final = re.compile(r"\d")
# "multibillion-dollar" is "multibillion dollar" (the dollar a quantity word).
_DOLLAR_SUFFIX: Final = re.compile(r"-(?:dollar|usd|euro|pound)$")


@dataclass(frozen=True, slots=True)
class Mention:
    """What coreference reads of one report (or stored event)."""

    company: str
    occurred: OccurredDate
    category: str
    title: str
    anchors: Anchors
    summary: str = ""

    @property
    def words(self) -> frozenset[str]:
        return content_words(self.title, self.company)

    @property
    def text_words(self) -> frozenset[str]:
        return content_words(f"{self.title} {self.summary}", self.company)


def mention(
    company: str, occurred: OccurredDate, category: str, title: str, summary: str = ""
) -> Mention:
    return Mention(company, occurred, category, title, anchors_of(title, summary, company), summary)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return round(len(a & b) / len(a | b), 3) if a or b else 0.0


# The score of a pair agreeing on everything it names (no conflict): its title words' overlap
# plus what each kind of shared anchor, the same action and the same category say. Weights and
# threshold tuned on the development half of tests/data/coreference (docs/coreference.md).
WORDS_WEIGHT: Final = 0.3  # the headlines' words
TEXT_WEIGHT: Final = 1.0  # the words of headline and summary together
ANCHOR_WEIGHTS: Final[Mapping[str, float]] = {
    MODEL: 0.3,
    AMOUNT: 0.4,
    AGENCY: 0.3,
    PLACE: 0.3,
    LICENCE: 0.15,
    PERSON: 0.15,
    NUMBER: 0.15,
}
ACTION_WEIGHT: Final = 0.15
HEADLINE_WEIGHT: Final = 0.1  # an identifying anchor or a person both headlines name
CATEGORY_WEIGHT: Final = 0.0
MERGE_SCORE: Final = 0.4  # with a shared identifying anchor (a model, amount, agency, ...)
# Without one, the reports share at most a person or an action, which most of a company's
# stories do (its chief; "launches" a model and an office): they need more words in common.
WEAK_SCORE: Final = 0.5
_IDENTIFYING: Final = frozenset({MODEL, AMOUNT, AGENCY, PLACE, LICENCE})
SAME_WORDS: Final = 0.85  # headline word overlap at which two reports are one without anchors


def _conflict(a: Anchors, b: Anchors) -> tuple[str, list[str], list[str]] | None:
    """The first kind of anchor the two reports disagree on, with each side's values, or None.

    A kind counts when a headline names it and both reports' texts name something of it: then
    they must share one (models: be compatible). People and models are judged by the headlines
    when both name some -- a summary names everyone and everything around the happening. A
    model only one headline names must be one the other report names."""
    same_model = _models_compatible(
        a.title.get(MODEL, frozenset()), b.title.get(MODEL, frozenset())
    )
    for kind in CONFLICTING:
        ta, tb = a.title.get(kind, frozenset()), b.title.get(kind, frozenset())
        ma, mb = a.more.get(kind, ta), b.more.get(kind, tb)
        if not (ta or tb) or not ma or not mb:
            continue
        if kind == MODEL:
            # A bare family in a headline is the variant its own summary names ("unveils o1 ...
            # in preview": o1-preview).
            ta, tb = _with_variants(ta, ma), _with_variants(tb, mb)
            agree = _models_compatible(ta or ma, tb or mb)
        else:
            if kind in BY_HEADLINE:
                if kind == NUMBER and (not (ta and tb) or same_model):
                    continue  # figures about one model ("80% cheaper", "scores 70%") differ
                if ta and tb:
                    ma, mb = ta, tb
            agree = bool(ma & mb)
        if not agree:
            return kind, sorted(ma), sorted(mb)
    aa = a.title.get(ACTION, frozenset()) - _WEAK_ACTIONS
    ab = b.title.get(ACTION, frozenset()) - _WEAK_ACTIONS
    if aa and ab:
        la, lb = a.title.get(LEAD, aa) & aa or aa, b.title.get(LEAD, ab) & ab or ab
        # No action in common, or each headline's lead action missing from the other's.
        if not _acts_meet(aa, ab) or not (_acts_meet(la, ab) or _acts_meet(lb, aa)):
            return ACTION, sorted(aa), sorted(ab)
    return None


def _related(actions: frozenset[str]) -> frozenset[str]:
    return actions.union(*(_RELATED.get(x, frozenset()) for x in actions))


def _acts_meet(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two sets of actions have one in common, a related pair counted as one."""
    return bool(_related(a) & b)


def _with_variants(title: frozenset[str], text: frozenset[str]) -> frozenset[str]:
    """A headline's bare family stands for the variants its report names ("unveils o1 ... in
    preview" is o1-preview; "its larger gpt-oss model" is gpt-oss-120b)."""
    out = set(title)
    for t in title:
        variants = {v for v in text if v.startswith(t + "-")}
        sizes = {v for v in variants if _member(v, t)}
        if sizes and not any(_member(v, t) for v in title):
            out.discard(t)
        out |= variants
    return frozenset(out)


_MODEL_SUFFIX: Final = re.compile(r"-(?:based|powered|class|style|like|level)$")
_NAME_RE: Final = re.compile(
    r"(?<![\w'-])[A-Z][a-z]+(?:-[A-Z][a-z]+)? [A-Z][a-z]+(?:-[A-Z][a-z]+)?(?![\w-])"
)
# Capitalised words that begin or end headline phrases without being a name.
_NOT_NAMES: Final = frozenset(
    {
        *MONTH_NAMES,
        *WEEKDAY_NAMES,
        "The",
        "A",
        "An",
        "And",
        "Of",
        "In",
        "On",
        "For",
        "To",
        "With",
        "New",
        "Chief",
        "Executive",
        "Officer",
        "President",
        "Head",
        "Board",
        "CEO",
        "Financial",
        "Technology",
        "Operating",
        "Research",
        "Director",
        "General",
        "Inc",
        "Ltd",
        "Corp",
        "Group",
        "Labs",
        "Lab",
        "AI",
        "Says",
        "Said",
        "Is",
        "Are",
        "Was",
        "Will",
        "Has",
        "Have",
        "After",
        "Before",
        "As",
        "At",
        "By",
        "From",
        "Into",
        "Over",
        "Amid",
        "Open",
        "Model",
        "Models",
        "Weights",
        "Licence",
        "License",
        "Court",
        "Judge",
        "Former",
        "Ex",
        "Co",
        "Founder",
        "Cofounder",
        "Mr",
        "Ms",
        "Dr",
        "Gov",
        "Governor",
        "Senator",
        "Secretary",
        "Minister",
        "Prime",
        "State",
        "States",
        "United",
        "National",
        "Federal",
        "Commission",
        "Agency",
        "Authority",
        "Ministry",
        "Department",
        "Office",
        "Affairs",
        "Bureau",
        "Council",
        "Media",
        "Systems",
        "Analytics",
        "Machines",
        "Semiconductors",
        "Intelligence",
        "Dynamics",
        "Cognition",
        "Capital",
        "Partners",
        "Ventures",
        "Health",
        "Technologies",
        "Robotics",
    }
)
# A capitalised pair after "the" or a name's "of" is an institution's name ("the Federal Data
# Protection Office", "the Ministry of Digital Affairs"), not a person's ("the firing of Greta
# Holloway" still names one).
_INSTITUTION_BEFORE: Final = re.compile(r"(?:\b[Tt]he|\b[A-Z]\w* of)\s+(?:[A-Z][\w-]*\s+)*$")
_SIZE_RE: Final = re.compile(r"\d+(?:\.\d+)?[bm]")


def _member(name: str, family: str) -> bool:
    """Whether `name` is a size of the model family `family` ("gpt-oss-120b" of "gpt-oss")."""
    return name.startswith(family + "-") and _SIZE_RE.fullmatch(name[len(family) + 1 :]) is not None


def _same_model(x: str, y: str) -> bool:
    return x == y or _member(x, y) or _member(y, x)


def _models_compatible(a: frozenset[str], b: frozenset[str]) -> bool:
    """A family ("gpt-oss") is compatible with its sizes ("gpt-oss-120b"); two versions or
    variants ("o1-preview", "o1-mini"; "GPT-4o", "GPT-4o mini") are not."""
    return any(_same_model(x, y) for x in a for y in b)


def _shared(a: Anchors, b: Anchors) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for kind in (*CONFLICTING, ACTION):
        xa, xb = a.more.get(kind, frozenset()), b.more.get(kind, frozenset())
        if kind == ACTION:
            xa, xb = a.title.get(kind, frozenset()), b.title.get(kind, frozenset())
        both = xa & xb
        if kind == MODEL:
            both = frozenset(x for x in xa for y in xb if _same_model(x, y))
        if both:
            out[kind] = sorted(both)
    return out


# A country or a state is shared by every story of its regulators: no sign of one happening; a
# city ("opens in Tokyo") is.
_HEADLINE_KINDS: Final = (MODEL, AMOUNT, AGENCY, LICENCE, PERSON, PLACE)
_REGIONS: Final = frozenset(
    {"us", "eu", "uk", "delaware", "texas", "california", "italy", "france", "germany", "ireland"}
    | {"japan", "india", "korea", "taiwan", "australia", "canada", "brazil", "china"}
)


def _shared_by_headlines(a: Anchors, b: Anchors) -> list[str]:
    """The kinds of identifying anchor (and people) both headlines name in common."""
    out = []
    for kind in _HEADLINE_KINDS:
        xa, xb = a.title.get(kind, frozenset()), b.title.get(kind, frozenset())
        if kind == MODEL:
            xa = _with_variants(xa, a.more.get(kind, frozenset()))
            xb = _with_variants(xb, b.more.get(kind, frozenset()))
            if any(_same_model(x, y) for x in xa for y in xb):
                out.append(kind)
        elif kind == PLACE:
            if (xa & xb) - _REGIONS:
                out.append(kind)
        elif xa & xb:
            out.append(kind)
    return sorted(out)


def explain(a: Mention, b: Mention) -> dict[str, Any]:
    """Why `a` and `b` are or are not one happening: the decision's evidence, always."""
    base: dict[str, Any] = {}
    if a.company != b.company:
        return {"merge": False, "veto": "company"}
    gap = days_apart(a.occurred, b.occurred)
    base["days_apart"] = gap
    if gap > MAX_DAYS_APART:
        return {"merge": False, "veto": "dates", **base}
    conflict = _conflict(a.anchors, b.anchors)
    shared = _shared(a.anchors, b.anchors)
    wa, wb = a.words, b.words
    both = wa & wb
    jaccard = round(len(both) / len(wa | wb), 3) if wa or wb else 0.0
    contained = round(len(both) / min(len(wa), len(wb)), 3) if wa and wb else 0.0
    base |= {"jaccard": jaccard, "containment": contained, "words": sorted(both), "shared": shared}
    if conflict is not None:
        kind, xa, xb = conflict
        return {"merge": False, "veto": kind, "conflict": [xa, xb], **base}
    if set(shared.get(ACTION, ())) <= _PARTY_ACTIONS and not {ORG, PERSON, MODEL} & set(shared):
        shared.pop(ACTION, None)
    same_action = ACTION in shared
    text = _jaccard(a.text_words, b.text_words)
    base["text_jaccard"] = text
    parts = {"words": round(WORDS_WEIGHT * jaccard + TEXT_WEIGHT * text, 3)}
    parts |= {k: ANCHOR_WEIGHTS[k] for k in shared if k in ANCHOR_WEIGHTS}
    if same_action:
        parts["action"] = ACTION_WEIGHT
    headline = _shared_by_headlines(a.anchors, b.anchors)
    if headline:
        parts["headlines"] = HEADLINE_WEIGHT
    if a.category == b.category:
        parts["category"] = CATEGORY_WEIGHT
    score = round(sum(parts.values()), 3)
    base |= {"score": score, "parts": parts}
    # Words alone never make one happening ("CE binary probe R" / "CE structured probe R"): the
    # reports must also share what happened or whom or what it is about.
    # (The same headline told again, near word for word, is the exception.)
    alike = jaccard >= SAME_WORDS
    needed = MERGE_SCORE if _IDENTIFYING & set(shared) else WEAK_SCORE
    if score < needed or not (alike or set(shared) - {ORG}):
        return {"merge": False, "veto": None, **base}
    return {"merge": True, "rule": "anchors-and-words", **base}


def decide(a: Mention, b: Mention) -> dict[str, Any] | None:
    """The evidence that `a` and `b` tell the same happening, or None."""
    found = explain(a, b)
    if not found.pop("merge"):
        return None
    return found
