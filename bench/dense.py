"""A dense workload: a year of strategy news about 30 companies, for the storage benchmarks.

P1's realistic mix (`bench.common.mix_bodies`) puts one event a day in each of 500 years, so no
window ever holds many events. Here every event falls within one calendar year, and a few
companies carry most of them (Zipf-like popularity), so the candidate phase (near-duplicates and
links among the events that share a window) meets as many events as a busy newsroom's year gives
it. About 5% of events are another outlet's retelling of an earlier one, on the same or the next
day, in other words (a synonym verb, the amount written another way, the words in another order):
those are the ones that should merge. Every other event is a distinct happening with an anchor
of its own in its title (a model with its version, an amount, a person, an agency and model, a
city and headcount), never shared with another happening of the same company.

Each event records which happening it tells (`DenseEvent.happening`; a retelling carries its
original's key), so a benchmark can count how many events the store should end with.

Everything here is load data, not seed data: the companies, models, people, investors, outlets
and agencies are invented (generic fictional names; any likeness to a real one is chance), and
nothing in it is a fact about anyone. The sourced timelines are in data/seed/.

Deterministic: the same seed gives the same events, in the same order, in every process.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

YEAR = 2025
SEED = 2025
RETELL_SHARE = 0.05
# How far back in the stream a retelling's original may be (in originals): another outlet picks a
# story up within hours, so the retelling arrives in the same or one of the next few chunks.
RETELL_REACH = 1000
# Zipf exponent of the companies' popularity: with 30 companies the first carries ~27% of the
# events and the first five ~60%.
ZIPF_S = 1.1

# -- the invented world ----------------------------------------------------------------------------
# (display name, short name outlets use in headlines). Fictional: compound names chosen not to be
# those of real companies.
COMPANIES: tuple[tuple[str, str], ...] = (
    ("Brindlewood AI", "Brindlewood"),
    ("Copperfen Labs", "Copperfen"),
    ("Quillmere Systems", "Quillmere"),
    ("Ashgrove Intelligence", "Ashgrove"),
    ("Tarnwick Labs", "Tarnwick"),
    ("Morrowlight AI", "Morrowlight"),
    ("Glenvarra Research", "Glenvarra"),
    ("Pebblecrest AI", "Pebblecrest"),
    ("Wrenfield Labs", "Wrenfield"),
    ("Driftmark Systems", "Driftmark"),
    ("Oakhollow Machines", "Oakhollow"),
    ("Saltmere Computing", "Saltmere"),
    ("Fernwick Robotics", "Fernwick"),
    ("Halloway Cognition", "Halloway"),
    ("Lanternfall AI", "Lanternfall"),
    ("Ivorymoor Labs", "Ivorymoor"),
    ("Cindervale Systems", "Cindervale"),
    ("Marrowgate AI", "Marrowgate"),
    ("Thistlebrook Labs", "Thistlebrook"),
    ("Duskhaven Research", "Duskhaven"),
    ("Kelpstone AI", "Kelpstone"),
    ("Rookfield Dynamics", "Rookfield"),
    ("Silverbirch Analytics", "Silverbirch"),
    ("Emberwick Labs", "Emberwick"),
    ("Wintermere AI", "Wintermere"),
    ("Gorsefield Systems", "Gorsefield"),
    ("Yarrowby Intelligence", "Yarrowby"),
    ("Brackenridge Labs", "Brackenridge"),
    ("Loamshire AI", "Loamshire"),
    ("Nettlecombe Research", "Nettlecombe"),
)
# Model families are built from these syllables ("Velora", "Keltith"): 26 x 16 invented stems.
_STEM_HEADS = (
    "Ar", "Bel", "Cor", "Dra", "El", "Fen", "Gal", "Hal", "Ist", "Jor", "Kel", "Lum", "Mor",
    "Nev", "Orr", "Pel", "Quin", "Rav", "Sol", "Tal", "Ul", "Vel", "Wen", "Xan", "Yor", "Zel",
)  # fmt: skip
_STEM_TAILS = (
    "ara", "ion", "ith", "ova", "une", "eth", "yx", "anth",
    "ora", "is", "en", "ix", "ado", "ir", "uma", "ent",
)  # fmt: skip
_VARIANTS = ("", " mini", " Pro", " Flash", " Vision", " Coder", " Lite", " Max")
_FIRST = (
    "Ada", "Bram", "Celia", "Dov", "Esme", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira",
    "Leon", "Mina", "Nico", "Orla", "Pavel", "Quinn", "Rosa", "Soren", "Tamsin", "Umar", "Vera",
    "Wes", "Yara", "Zoltan", "Amara", "Bao", "Chiara", "Dev", "Elif", "Femi", "Gael", "Hana",
    "Ivo", "Jun", "Kofi", "Lior", "Maren", "Noor", "Oskar",
)  # fmt: skip
_LAST = (
    "Abernethy", "Brightwell", "Castellan", "Drummond", "Eskildsen", "Fairweather", "Galloway",
    "Hartigan", "Ilves", "Jaramillo", "Kowalczyk", "Lindqvist", "Marchetti", "Nakashima",
    "Okonkwo", "Petrakis", "Quiroga", "Rasmussen", "Szabo", "Thorne", "Uddin", "Varga",
    "Whitlock", "Yilmaz", "Zielinski", "Achterberg", "Blackwood", "Cardenas", "Delacroix",
    "Emberton", "Fitzwarren", "Grunwald", "Holloway", "Ivanova", "Jorgensen", "Kealoha",
    "Lachance", "Moreau", "Novak", "Oyelaran",
)  # fmt: skip
_INVESTORS = (
    "Halden Ventures", "Northcourt Capital", "Bluefield Partners", "Ironbridge Growth",
    "Saltire Capital", "Meridian Peak Ventures", "Larchmont Fund", "Copperline Capital",
    "Westerly Partners", "Aurelian Growth", "Kestrel Bay Capital", "Greymantle Ventures",
)  # fmt: skip
_LENDERS = ("Ashford & Pike", "Corbell Bank", "Harrowgate Trust", "Stellan Credit", "Vantmoor Bank")
# The round a company would call a raise of so many millions: (below, name).
_ROUNDS = ((20, "seed"), (60, "Series A"), (150, "Series B"), (400, "Series C"), (1000, "Series D"))
_AGENCIES = (
    "the Federal Data Protection Office",
    "the Digital Markets Commission",
    "the National Cybersecurity Agency",
    "the Consumer Protection Bureau",
    "the Competition Authority",
    "the Communications Regulator",
    "the Privacy Commissioner",
    "the Trade Standards Agency",
    "the Ministry of Digital Affairs",
    "the Financial Conduct Board",
)
_CONCERNS = ("data protection", "security", "child safety", "consumer protection", "transparency")
_ISSUES = ("copyright", "breach of contract", "privacy", "trade secrets", "patent", "defamation")
_PUBLISHERS = (
    "Harbourline Press",
    "The Lantern Gazette",
    "Northgate Times",
    "Bytewire",
    "Circuit Report",
    "The Morning Ledger",
    "Westmarch Business Journal",
    "Signal Daily",
)
_LICENCES = ("Apache 2.0", "the MIT licence", "a community licence", "a research-only licence")
_ROLES = (
    "chief executive",
    "chief technology officer",
    "head of research",
    "chief financial officer",
    "chief scientist",
    "president",
)
_TOPICS = (
    "cloud computing",
    "chip supply",
    "data licensing",
    "model distribution",
    "enterprise sales",
    "robotics research",
    "on-device AI",
)
_PARTNERS = (
    *(name for name, _ in COMPANIES),
    "Greyharbor Cloud", "Tidewell Semiconductors", "Orchard Telecom", "Pinecastle Media",
    "Lowfield Health", "Ridgeway Motors",
)  # fmt: skip
_CITIES = (
    "London", "Paris", "Berlin", "Toronto", "Singapore", "Tokyo", "Seoul", "Bangalore", "Dublin",
    "Zurich", "Amsterdam", "Sydney", "Sao Paulo", "Mexico City", "Nairobi", "Lagos", "Warsaw",
    "Stockholm", "Madrid", "Milan", "Tel Aviv", "Dubai", "Austin", "Boston", "Seattle", "Chicago",
    "Montreal", "Vienna", "Prague", "Lisbon", "Helsinki", "Oslo", "Copenhagen", "Jakarta",
    "Manila", "Hanoi", "Taipei", "Osaka", "Munich", "Edinburgh",
)  # fmt: skip
_SITES = ("research hub", "engineering centre", "sales office", "data centre", "policy office")
_FEATURES = ("reasoning", "multimodal", "coding", "speech", "small", "long-context")


# -- the templates ---------------------------------------------------------------------------------
# One kind of happening: its category (sent as the reporter's tag), the headlines outlets write for
# it (each names every anchor, so two happenings of one company never share a headline), the
# summaries, and how its anchors are drawn. A retelling uses another headline and summary.
@dataclass(frozen=True, slots=True)
class _Kind:
    name: str
    category: str
    weight: float
    titles: tuple[str, ...]
    summaries: tuple[str, ...]


_KINDS: tuple[_Kind, ...] = (
    _Kind(
        "release",
        "product",
        0.17,
        (
            "{co} releases {model}, a {feature} model for developers",
            "{co} launches {model}, its new {feature} model",
            "{co} unveils {model} {feature} model",
            "{model}, a {feature} model from {co}, is now available",
            "{co} rolls out {feature} model {model} to paying customers",
            "{co} introduces {model} for {feature} tasks",
        ),
        (
            "{co} made {model} available through its API and apps in {regions} regions.",
            "The {feature} model {model} is offered to {co_s} customers in {regions} regions.",
            "{person}, {co_s} head of product, presented {model} to developers.",
        ),
    ),
    _Kind(
        "open-weights",
        "licensing",
        0.07,
        (
            "{co} releases the weights of {model} under {licence}",
            "{co} open-sources {model} under {licence}",
            "{model} weights published by {co} under {licence}",
            "{co} makes {model} open weights, licensed under {licence}",
        ),
        (
            "Developers can download {model} from {co} and use it under {licence}.",
            "{co} said the open-weight {model} ships under {licence}.",
        ),
    ),
    _Kind(
        "relicence",
        "licensing",
        0.04,
        (
            "{co} moves {model} from {old} to {licence}",
            "{co} relicenses {model} under {licence}, dropping {old}",
            "{model} switches from {old} to {licence}, {co} says",
        ),
        (
            "{co} changed the licence of {model}; it was under {old} until now.",
            "Users of {model} now receive it under {licence}, {co} said.",
        ),
    ),
    _Kind(
        "price-cut",
        "competition",
        0.05,
        (
            "{co} cuts {model} API prices by {pct}%",
            "{co} lowers the price of {model} by {pct}% to win developers",
            "{model} gets {pct}% cheaper as {co} takes on rivals",
        ),
        (
            "{co} is competing for developers on price with {model}.",
            "{co} announced a price cut of {pct}% for {model}.",
        ),
    ),
    _Kind(
        "funding",
        "funding",
        0.12,
        (
            "{co} raises {amount} in a {round} round led by {investor}",
            "{co} closes {amount} {round} round led by {investor}",
            "{investor} leads {amount} {round} round in {co}",
            "{co} secures {amount} from {investor} in {round} funding",
        ),
        (
            "{investor} led a {amount} {round} investment in {co}.",
            "The {round} round brings {co} {amount}; {investor} led it.",
        ),
    ),
    _Kind(
        "credit",
        "funding",
        0.04,
        (
            "{co} secures a {amount} credit facility from {lender}",
            "{lender} extends {amount} credit line to {co} for data centres",
            "{co} lines up {amount} in debt from {lender}",
        ),
        (
            "{co} will use the {amount} from {lender} to build data centres.",
            "A {amount} credit facility arranged by {lender} funds {co_s} compute.",
        ),
    ),
    _Kind(
        "lawsuit",
        "legal",
        0.09,
        (
            "{plaintiff} sues {co} over {issue}",
            "{co} hit with {issue} lawsuit by {plaintiff}",
            "{plaintiff} files {issue} suit against {co}",
        ),
        (
            "{plaintiff} brought a {issue} complaint against {co} in court.",
            "The {issue} lawsuit names {co}; {plaintiff} is the plaintiff.",
        ),
    ),
    _Kind(
        "restriction",
        "regulation",
        0.08,
        (
            "{agency} restricts {co_s} {model} over {concern}",
            "{agency} bars {co} from offering {model}, citing {concern}",
            "{agency} blocks {model} from {co} over {concern} concerns",
            "{co_s} {model} banned by {agency} over {concern}",
        ),
        (
            "{agency} acted against {co} over {concern} in {model}.",
            "{co} must stop offering {model} for now, {agency} said, citing {concern}.",
        ),
    ),
    _Kind(
        "fine",
        "regulation",
        0.03,
        (
            "{agency} fines {co} {amount} over {concern}",
            "{co} fined {amount} by {agency} for {concern} failings",
            "{agency} hands {co} a {amount} penalty over {concern}",
        ),
        (
            "{agency} imposed a {amount} fine on {co} over {concern}.",
            "{co} said it would appeal the {amount} penalty from {agency}.",
        ),
    ),
    _Kind(
        "appointment",
        "leadership",
        0.07,
        (
            "{co} names {person} {role}",
            "{co} appoints {person} as {role}",
            "{person} to become {role} of {co}",
            "{co} hires {person} as its new {role}",
        ),
        (
            "{person} joins {co} as {role}, the company confirmed.",
            "{co} announced that {person} takes over as {role}.",
        ),
    ),
    _Kind(
        "departure",
        "leadership",
        0.05,
        (
            "{person} steps down as {role} of {co}",
            "{co} {role} {person} departs",
            "{person} leaves {co}, where they were {role}",
            "{co} says {role} {person} is leaving",
        ),
        (
            "{person} is leaving the post of {role} at {co}.",
            "{co} confirmed the departure of {person}, its {role}.",
        ),
    ),
    _Kind(
        "partnership",
        "competition",
        0.10,
        (
            "{co} partners with {partner} on {topic}",
            "{co} and {partner} sign {topic} deal",
            "{partner} teams up with {co} for {topic}",
            "{co} strikes {topic} partnership with {partner}",
        ),
        (
            "{co} and {partner} will work together on {topic}.",
            "The {topic} agreement pairs {partner} with {co}.",
        ),
    ),
    _Kind(
        "office",
        "competition",
        0.09,
        (
            "{co} opens {a_site} in {city} with {staff} staff",
            "{co} launches {city} {site}, hiring {staff}",
            "{co} expands to {city} with {a_site} of {staff} people",
            "{city} to host {co_s} {site} with {staff} jobs",
        ),
        (
            "{co_s} new {site} in {city} will employ {staff} people.",
            "{co} picked {city} for {a_site}; {staff} jobs are planned.",
        ),
    ),
)


# -- amounts ---------------------------------------------------------------------------------------
def _money(millions: int, style: int) -> str:
    """An amount (whole millions of dollars) as outlets write it; `style` picks the spelling."""
    if millions >= 1000:
        billions = f"{millions / 1000:.3f}".rstrip("0").rstrip(".")
        return (
            f"${billions} billion",
            f"${billions}B",
            f"${millions:,} million",
            f"US${billions} billion",
        )[style % 4]
    return (f"${millions} million", f"${millions}M", f"US${millions} million", f"${millions}m")[
        style % 4
    ]


MONEY_STYLES = 4


def _round(millions: int) -> str:
    return next((name for below, name in _ROUNDS if millions < below), "growth")


def _draw_millions(rng: random.Random, wide: int) -> int:
    """A round-looking amount: a few tens of millions to tens of billions, log-uniform. `wide`
    grows when one company has used up the round amounts (only at hundreds of thousands of
    events a year): then amounts get more digits, still distinct."""
    exp = rng.uniform(1.0, 4.3)
    value = int(10**exp)
    step = (1 if value < 100 else 5 if value < 1000 else 50) if not wide else 1
    return max(10, value // step * step + (rng.randrange(wide * 1000) if wide else 0))


# -- the generator ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DenseEvent:
    ce: dict[str, Any]  # a CloudEvent as the batch endpoint and `store_chunk` take it
    happening: str  # the happening it tells: a retelling has its original's key
    retold: bool = False  # another outlet's retelling of an earlier event


@dataclass(slots=True)
class _Happening:
    key: str
    company: int
    kind: _Kind
    day: date
    slots: dict[str, Any]
    title_at: int
    summary_at: int
    money_style: int
    publisher: int


class _Company:
    """What one company has already used, so that its distinct happenings stay distinct."""

    def __init__(self, index: int, stems: list[str]) -> None:
        self.index = index
        self.name, self.short = COMPANIES[index]
        self.stems = stems
        self.models = 0
        self.used: set[tuple[Any, ...]] = set()
        self.happenings = 0

    def model(self) -> str:
        # Each new model is the next free (family, variant, version): versions climb as the year
        # fills up, and no two happenings of the company name the same model.
        c = self.models
        self.models += 1
        stem = self.stems[c % len(self.stems)]
        rest = c // len(self.stems)
        variant = _VARIANTS[rest % len(_VARIANTS)]
        v = rest // len(_VARIANTS)
        version = f"{1 + v // 2}" + (".5" if v % 2 else "")
        return f"{stem} {version}{variant}"

    def unique(self, tag: str, draw: Callable[[int], tuple[Any, ...]]) -> tuple[Any, ...]:
        """Draw anchors until they are new for this company; `draw(wide)` widens the space when
        the natural one is used up."""
        wide = 0
        for attempt in itertools.count():
            got = draw(wide)
            if (tag, *got) not in self.used:
                self.used.add((tag, *got))
                return got
            if attempt % 20 == 19:
                wide += 1
        raise AssertionError("unreachable")


def _weights(n: int, s: float) -> list[float]:
    return [1 / (k + 1) ** s for k in range(n)]


def _stems(rng: random.Random) -> list[list[str]]:
    """Model families per company, disjoint, more for the popular ones (they release more)."""
    pool = [h + t for h in _STEM_HEADS for t in _STEM_TAILS]
    rng.shuffle(pool)
    weights = _weights(len(COMPANIES), ZIPF_S)
    total = sum(weights)
    spare = len(pool) - 3 * len(COMPANIES)
    out: list[list[str]] = []
    at = 0
    for w in weights:
        n = 3 + int(spare * w / total)
        out.append(pool[at : at + n])
        at += n
    return out


class _Calendar:
    """Days of the year, weekdays busier than weekends (news follows the working week)."""

    def __init__(self, year: int) -> None:
        first = date(year, 1, 1)
        self.days = [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
        self.cum = list(itertools.accumulate(0.3 if d.weekday() >= 5 else 1.0 for d in self.days))
        self.last = self.days[-1]

    def draw(self, rng: random.Random) -> date:
        return rng.choices(self.days, cum_weights=self.cum)[0]


def _slots(rng: random.Random, co: _Company, kind: _Kind) -> dict[str, Any]:
    """The anchors and other words of one new happening of `kind` by `co`."""
    s: dict[str, Any] = {"feature": rng.choice(_FEATURES), "regions": rng.randint(3, 60)}
    s["person"] = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    # In `_SLOT_FILLERS` order: the draws from `rng` (and so the whole stream) follow it.
    for kinds, fill in _SLOT_FILLERS:
        if kind.name in kinds:
            fill(rng, co, kind.name, s)
    return s


def _product_slots(rng: random.Random, co: _Company, name: str, s: dict[str, Any]) -> None:
    """The model a product happening names, and its licences or price cut."""
    s["model"] = co.model()
    if name in ("open-weights", "relicence"):
        s["licence"], s["old"] = rng.sample(_LICENCES, 2)
    if name == "price-cut":
        s["pct"] = rng.randrange(10, 85, 5)


def _money_slots(rng: random.Random, co: _Company, name: str, s: dict[str, Any]) -> None:
    """The amount of a funding, credit or fine, and who pays it."""
    # One amount per company, whatever the kind: "$350M" never tells two happenings apart.
    (s["millions"],) = co.unique("money", lambda wide: (_draw_millions(rng, wide),))
    s["round"] = _round(s["millions"])
    s["investor"] = rng.choice(_INVESTORS)
    s["lender"] = rng.choice(_LENDERS)


def _lawsuit_slots(rng: random.Random, co: _Company, name: str, s: dict[str, Any]) -> None:
    """A lawsuit's plaintiff and issue, new for the company."""

    def plaintiff(wide: int) -> tuple[Any, ...]:
        who = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        if wide:  # a second plaintiff widens the space once single ones are used up
            who += f" and {rng.choice(_FIRST)} {rng.choice(_LAST)}"
        return (who, rng.choice(_ISSUES))

    s["plaintiff"], s["issue"] = co.unique("lawsuit", plaintiff)


def _agency_slots(rng: random.Random, co: _Company, name: str, s: dict[str, Any]) -> None:
    """The agency of a restriction or fine, and its concern."""
    s["agency"] = rng.choice(_AGENCIES)
    s["concern"] = rng.choice(_CONCERNS)


def _person_slots(rng: random.Random, co: _Company, name: str, s: dict[str, Any]) -> None:
    """The person appointed or departing and the role, new for the company."""

    def person(wide: int) -> tuple[Any, ...]:
        first = rng.choice(_FIRST)
        middle = f" {rng.choice(_FIRST)[0]}." if wide else ""
        return (f"{first}{middle} {rng.choice(_LAST)}", rng.choice(_ROLES))

    s["person"], s["role"] = co.unique(name, person)


def _partner_slots(rng: random.Random, co: _Company, name: str, s: dict[str, Any]) -> None:
    """A partnership's partner and topic, new for the company."""
    partners = [p for p in _PARTNERS if p != co.name]

    def partner(wide: int) -> tuple[Any, ...]:
        region = f" in {rng.choice(_CITIES)}" if wide else ""
        return (rng.choice(partners), rng.choice(_TOPICS) + region)

    s["partner"], s["topic"] = co.unique("partner", partner)


def _office_slots(rng: random.Random, co: _Company, name: str, s: dict[str, Any]) -> None:
    """A new office's city, site and staff, new for the company."""

    def office(wide: int) -> tuple[Any, ...]:
        staff = rng.randrange(20, 400, 10) if not wide else rng.randrange(20, 20000)
        return (rng.choice(_CITIES), rng.choice(_SITES), staff)

    s["city"], s["site"], s["staff"] = co.unique("office", office)
    s["a_site"] = ("an " if s["site"][0] in "aeiou" else "a ") + s["site"]


# Which kinds draw which slots, in the order they draw them.
_SLOT_FILLERS: tuple[
    tuple[frozenset[str], Callable[[random.Random, _Company, str, dict[str, Any]], None]], ...
] = (
    (
        frozenset({"release", "open-weights", "relicence", "price-cut", "restriction"}),
        _product_slots,
    ),
    (frozenset({"funding", "credit", "fine"}), _money_slots),
    (frozenset({"lawsuit"}), _lawsuit_slots),
    (frozenset({"restriction", "fine"}), _agency_slots),
    (frozenset({"appointment", "departure"}), _person_slots),
    (frozenset({"partnership"}), _partner_slots),
    (frozenset({"office"}), _office_slots),
)


def _render(h: _Happening, companies: list[_Company], short: bool) -> tuple[str, str]:
    co = companies[h.company]
    words = dict(h.slots)
    if "millions" in words:
        words["amount"] = _money(words["millions"], h.money_style)
    words["co"] = co.short if short else co.name
    words["co_s"] = _possessive(words["co"])
    title = h.kind.titles[h.title_at].format(**words)
    words["co"] = co.name
    words["co_s"] = _possessive(co.name)
    summary = h.kind.summaries[h.summary_at].format(**words)
    return title[0].upper() + title[1:], summary[0].upper() + summary[1:]


def _possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def _cloudevent(
    prefix: str,
    seq: str,
    co: _Company,
    h: _Happening,
    day: date,
    title: str,
    summary: str,
    publisher: int,
    minute: int,
) -> dict[str, Any]:
    outlet = _PUBLISHERS[publisher]
    actors = [co.name]
    for slot in ("person", "plaintiff", "partner"):
        if slot in h.slots and slot in h.kind.titles[h.title_at] + h.kind.summaries[h.summary_at]:
            actors.append(str(h.slots[slot]))
    return {
        "specversion": "1.0",
        "id": f"{prefix}-{seq}",
        "source": "/bench/dense",
        "type": "dev.pivotwatch.strategy.reported",
        "time": f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00Z",
        "data": {
            "company": co.name,
            "occurred": day.isoformat(),
            "title": title,
            "summary": summary,
            "tags": [h.kind.category],
            "actors": actors,
            "sources": [
                {
                    "url": f"https://example.org/dense/{outlet.lower().replace(' ', '-')}/{seq}",
                    "publisher": outlet,
                }
            ],
        },
    }


def dense_stream(
    seed: int = SEED, year: int = YEAR, prefix: str = "dense", id_prefix: str = ""
) -> Iterator[DenseEvent]:
    """Events without end, in the order a worker would store them. Each one's date is drawn over
    the whole year (so the first N events of the stream are a year at density N/365 a day: the
    table gets denser as it grows, as the benchmark's checkpoints need); a retelling follows its
    original within RETELL_REACH originals. `id_prefix` goes before each event's sequence number
    in its id and URL ("{n}-" lets the load generator make every request's events new)."""
    rng = random.Random(seed)
    companies = [_Company(i, stems) for i, stems in enumerate(_stems(rng))]
    cum_companies = list(itertools.accumulate(_weights(len(COMPANIES), ZIPF_S)))
    cum_kinds = list(itertools.accumulate(k.weight for k in _KINDS))
    calendar = _Calendar(year)
    recent: deque[_Happening] = deque(maxlen=RETELL_REACH)
    for n in itertools.count():
        seq = f"{id_prefix}{n}"
        if recent and rng.random() < RETELL_SHARE:
            # Another outlet tells a recent story: same company and happening, the same or the
            # next day, another headline and summary, the amount spelled another way.
            h = recent[rng.randrange(len(recent))]
            co = companies[h.company]
            day = min(h.day + timedelta(days=rng.randint(0, 1)), calendar.last)
            told = _Happening(
                h.key,
                h.company,
                h.kind,
                day,
                h.slots,
                (h.title_at + rng.randrange(1, len(h.kind.titles))) % len(h.kind.titles),
                (h.summary_at + rng.randrange(1, len(h.kind.summaries))) % len(h.kind.summaries),
                (h.money_style + rng.randrange(1, MONEY_STYLES)) % MONEY_STYLES,
                (h.publisher + rng.randrange(1, len(_PUBLISHERS))) % len(_PUBLISHERS),
            )
            title, summary = _render(told, companies, short=rng.random() < 0.5)
            ce = _cloudevent(
                prefix, seq, co, told, day, title, summary, told.publisher, rng.randrange(1440)
            )
            yield DenseEvent(ce, h.key, retold=True)
            continue
        co = companies[rng.choices(range(len(companies)), cum_weights=cum_companies)[0]]
        kind = rng.choices(_KINDS, cum_weights=cum_kinds)[0]
        h = _Happening(
            f"{co.index}:{co.happenings}",
            co.index,
            kind,
            calendar.draw(rng),
            _slots(rng, co, kind),
            rng.randrange(len(kind.titles)),
            rng.randrange(len(kind.summaries)),
            rng.randrange(MONEY_STYLES),
            rng.randrange(len(_PUBLISHERS)),
        )
        co.happenings += 1
        recent.append(h)
        title, summary = _render(h, companies, short=False)
        ce = _cloudevent(
            prefix, seq, co, h, h.day, title, summary, h.publisher, rng.randrange(1440)
        )
        yield DenseEvent(ce, h.key)


def dense_events(count: int, seed: int = SEED, year: int = YEAR) -> list[DenseEvent]:
    """The first `count` events of the stream."""
    return list(itertools.islice(dense_stream(seed, year), count))


def dense_bodies(
    prefix: str, size: int, count: int, seed: int = SEED
) -> list[list[dict[str, Any]]]:
    """`count` batches of `size` CloudEvents for the load generator (P1 dense), the stream's first
    count x size events in order. Ids and URLs carry {n}, filled per request (--unique), so a
    request that comes round to a batch again sends new events (then retellings of the first
    round's: the same stories told again on the same days)."""
    stream = dense_stream(seed, prefix=prefix, id_prefix="{n}-")
    return [[e.ce for e in itertools.islice(stream, size)] for _ in range(count)]
