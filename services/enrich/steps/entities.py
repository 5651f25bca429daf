"""Extract named entities: organisations, people, AI models, money, hardware, agencies, licences.

Vocabulary-driven (the company registry and the lists below) plus a few precise patterns: money
with its unit normalised to US dollars, GPU-hours, and a "Firstname Lastname" heuristic next to
reporting words ("said", "CEO"). Each entity is {"kind", "text", "value", "evidence"}, where text is
as written, value is normalised and evidence names the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final

from services.enrich.steps.companies import COMPANIES, mentioned_companies, resolve_company
from services.enrich.steps.core import Evidence, Hit, Lexicon, Rule, RuleSet
from shared.dates import MONTH_NAMES, WEEKDAY_NAMES

Entity = dict[str, Any]

_PEOPLE: Final[dict[str, tuple[str, ...]]] = {
    "Sam Altman": ("Altman",),
    "Elon Musk": ("Musk",),
    "Mira Murati": ("Murati",),
    "Greg Brockman": ("Brockman",),
    "Ilya Sutskever": ("Sutskever",),
    "Satya Nadella": ("Nadella",),
    "Yann LeCun": ("LeCun",),
    "Mark Zuckerberg": ("Zuckerberg",),
    "Liang Wenfeng": (),
    "Jensen Huang": (),
    "Dario Amodei": ("Amodei",),
    "Sundar Pichai": ("Pichai",),
    "Demis Hassabis": ("Hassabis",),
    "Arthur Mensch": (),
    "Bret Taylor": (),
    "Adam D'Angelo": ("D'Angelo",),
    "Helen Toner": (),
    "Tasha McCauley": ("McCauley",),
    "Emmett Shear": (),
    "Kevin Scott": (),
    "Reid Hoffman": (),
    "Larry Summers": (),
    "Jakub Pachocki": ("Pachocki",),
}
PEOPLE_LEXICON: Final = Lexicon(
    ((v, name) for name, short in _PEOPLE.items() for v in (name, *short)),
    # Surnames are matched only capitalised: "musk" the scent is not Elon Musk.
    case_sensitive=[v for name, short in _PEOPLE.items() for v in (name, *short)],
)

# (variants, value, case-sensitive?) -- short codes ("o1", "R1", "V3") and ordinary words
# ("Whisper", "Llama") only count with their capitals.
_MODELS: Final[tuple[tuple[tuple[str, ...], str, bool], ...]] = (
    (("GPT-2", "GPT2"), "GPT-2", False),
    (("GPT-3",), "GPT-3", False),
    (("GPT-3.5",), "GPT-3.5", False),
    (("GPT-4",), "GPT-4", False),
    (("GPT-4o",), "GPT-4o", False),
    (("GPT-4.5",), "GPT-4.5", False),
    (("GPT-4 Turbo",), "GPT-4 Turbo", False),
    (("GPT-5",), "GPT-5", False),
    (("ChatGPT",), "ChatGPT", False),
    (("Whisper",), "Whisper", True),
    (("DALL-E", "DALL·E", "DALLE"), "DALL-E", False),
    (("DALL-E 2",), "DALL-E 2", False),
    (("DALL-E 3",), "DALL-E 3", False),
    (("Sora",), "Sora", True),
    (("Codex",), "Codex", True),
    (("gpt-oss",), "gpt-oss", False),
    (("gpt-oss-120b",), "gpt-oss-120b", False),
    (("gpt-oss-20b",), "gpt-oss-20b", False),
    (("o1",), "o1", True),
    (("o1-preview",), "o1-preview", True),
    (("o1-mini",), "o1-mini", True),
    (("o3",), "o3", True),
    (("o3-mini",), "o3-mini", True),
    (("o4-mini",), "o4-mini", True),
    (("R1", "DeepSeek-R1", "DeepSeek R1"), "DeepSeek-R1", False),
    (("R1-Zero", "DeepSeek-R1-Zero"), "DeepSeek-R1-Zero", False),
    (("V3", "DeepSeek-V3", "DeepSeek V3"), "DeepSeek-V3", False),
    (("DeepSeek-V2",), "DeepSeek-V2", False),
    (("LLaMA", "LLaMA 1"), "LLaMA", True),
    (("Llama",), "Llama", True),
    (("Llama 2", "Llama-2", "Llama2"), "Llama 2", True),
    (("Llama 3", "Llama-3", "Llama3"), "Llama 3", True),
    (("Llama 4",), "Llama 4", True),
    (("Claude",), "Claude", True),
    (("Gemini",), "Gemini", True),
    (("Grok",), "Grok", True),
    (("Mistral 7B",), "Mistral 7B", False),
    (("Mixtral",), "Mixtral", False),
)
MODEL_LEXICON: Final = Lexicon(
    ((v, value) for variants, value, _ in _MODELS for v in variants),
    # "R1"/"V3" are short codes: keep their capitals; the prefixed forms are case-insensitive.
    case_sensitive=[v for variants, _, exact in _MODELS for v in variants if exact or len(v) <= 3],
)

_AGENCIES: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("NASA",), "NASA"),
    (("US Navy", "U.S. Navy", "United States Navy"), "US Navy"),
    (
        (
            "Italy's data-protection authority",
            "Italy's data protection authority",
            "Italian data-protection authority",
            "Italian data protection authority",
            "Italy's privacy regulator",
            "Italian privacy regulator",
            "Italy's privacy watchdog",
            "Italian privacy watchdog",
            "Garante",
            "Garante per la protezione dei dati personali",
        ),
        "Garante (Italy)",
    ),
    (("FTC", "Federal Trade Commission"), "FTC"),
    (("SEC", "Securities and Exchange Commission"), "SEC"),
    (("EU Commission", "European Commission"), "European Commission"),
    (("Pentagon", "Department of Defense", "DoD"), "US Department of Defense"),
    (("Department of Justice", "DOJ", "Justice Department"), "US Department of Justice"),
    (("Commerce Department", "Department of Commerce"), "US Department of Commerce"),
    (("Congress",), "US Congress"),
    (("CMA", "Competition and Markets Authority"), "CMA (UK)"),
    (("Delaware Attorney General",), "Delaware Attorney General"),
    (("California Attorney General",), "California Attorney General"),
    (("San Francisco Superior Court",), "San Francisco Superior Court"),
    (
        ("Northern District of California", "N.D. Cal.", "N.D. Cal"),
        "US District Court, N.D. Cal.",
    ),
)
AGENCY_LEXICON: Final = Lexicon(
    ((v, value) for variants, value in _AGENCIES for v in variants),
    # Acronyms only as acronyms: "sec" and "cma" are ordinary lower-case strings.
    case_sensitive=[v for variants, _ in _AGENCIES for v in variants if v.isupper() or v == "DoD"],
)

# The regex rules (`core.Rule`: `starts` are the words every match begins with). A licence rule
# stands for the licence it names.
_LICENSES: Final[tuple[tuple[Rule, str], ...]] = (
    (
        Rule(
            "license-mit",
            r"\bMIT[- ]licen[cs](?:e|ed)\b|(?<=under )(?:the )?MIT\b",
            starts="mit the",
            cased=True,
        ),
        "MIT",
    ),
    (
        Rule(
            "license-apache",
            r"\bApache(?:[- ]License)?[- ](?:2\.0|v2)\b|\bApache[- ]licen[cs]e\b",
            starts="apache",
        ),
        "Apache-2.0",
    ),
    (
        Rule("license-research", r"\bresearch[- ]only licen[cs]e\b", starts="research"),
        "research-only",
    ),
    (
        Rule(
            "license-noncommercial",
            r"\bnon-?commercial(?: research)? licen[cs]e\b",
            starts="non",
        ),
        "non-commercial",
    ),
    (Rule("license-custom", r"\bcustom(?: commercial)? licen[cs]e\b", starts="custom"), "custom"),
    (
        Rule(
            "license-llama",
            r"\bLlama(?: ?\d(?:\.\d)?)?(?: Community)? licen[cs]e\b",
            starts="llama",
        ),
        "Llama Community License",
    ),
    (
        Rule(
            "license-deepseek",
            r"\bDeepSeek(?:'s)?(?: own)? model licen[cs]e\b",
            starts="deepseek",
        ),
        "DeepSeek Model License",
    ),
)

_MONEY: Final = Rule(
    "money-usd",
    r"(?:\b(?:about|around|roughly|nearly|almost|approximately|some|over|more than|up to)\s+|~\s?)?"
    r"(?:US\$|U\.S\.\s?\$|\$|\bUSD\s?)\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s*(?P<word>trillion|billion|million|thousand)\b|\s?(?P<abbr>tn|bn|mn|mln)\b"
    r"|(?P<letter>[TtBbMmKk])\b)?",
    starts="$ ~ about almost approximately around more nearly over roughly some u.s up us",
)
# Words and letters after an amount, as powers of ten (coreference reads amounts with them too).
SCALE: Final = {
    "trillion": 10**12,
    "tn": 10**12,
    "t": 10**12,
    "billion": 10**9,
    "bn": 10**9,
    "b": 10**9,
    "million": 10**6,
    "mn": 10**6,
    "mln": 10**6,
    "m": 10**6,
    "thousand": 10**3,
    "k": 10**3,
}

_CHIPS: Final = r"H800|H100|H200|H20|A100|A800|B100|B200|GB200|MI300X?|TPUv?\d*"
_CHIP: Final = Rule(
    "known-chip",
    rf"\b(?:{_CHIPS})\b",
    starts="a100 a800 b100 b200 gb200 h100 h20 h800 mi300 tpu",
    cased=True,
)
# The number is tried only where a run of digits starts, and the spaces before and after an absent
# unit are one `\s*` (`(?<=\s)`: at least one): a long run of digits or spaces is scanned once.
_GPU_HOURS: Final = Rule(
    "gpu-hours",
    r"(?:(?<!\d)(?P<num>\d+(?:\.\d+)?)\s*(?:(?P<unit>million|thousand|billion|[MKB])\s+|(?<=\s)))?"
    rf"(?:(?:{_CHIPS})\s+)?GPU[- ]hours\b",
    cased=True,
)

_NAME: Final = r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?\s+(?:(?:de|van|von|da)\s+)?[A-Z][a-zA-Z'-]+"
_NAME_AFTER: Final = Rule(
    "person-after-title",
    r"\b(?:CEO|CTO|CFO|COO|[Cc]hief (?:[Ee]xecutive|[Ss]cientist)(?: [Oo]fficer)?|[Pp]resident"
    r"|[Cc]hair(?:man|woman)?|(?:[Cc]o-?)?[Ff]ounder|[Dd]irector|[Rr]esearcher|[Ss]cientist"
    rf"|[Aa]ccording to|said|says|told)\s+(?P<name>{_NAME})",
    starts="according ceo cfo chair chief co cto director founder president researcher said says"
    " scientist told",
    cased=True,
)
_NAME_BEFORE: Final = Rule(
    "person-before-said",
    rf"\b(?P<name>{_NAME}),?\s+(?:said|says|told|wrote|argued)\b",
    cased=True,
)
# Capitalised pairs that are not people: sentence openers, calendar words, places, institutions.
_NOT_NAMES: Final = frozenset(
    {
        "The",
        "This",
        "That",
        "These",
        "Those",
        "It",
        "Its",
        "In",
        "On",
        "At",
        "By",
        "For",
        "From",
        "With",
        "After",
        "Before",
        "And",
        "But",
        "Also",
        "New",
        "San",
        "Los",
        "Hong",
        "United",
        "States",
        "Court",
        "Superior",
        "District",
        "Federal",
        "Board",
        "Company",
        "Reddit",
        "Street",
        "Journal",
        "Times",
        "Reuters",
        "Bloomberg",
        "House",
        "Senate",
        "Navy",
        "Department",
        "Commission",
        "Authority",
        "AI",
        "LLC",
        "Inc",
    }
    | set(WEEKDAY_NAMES)
    | set(MONTH_NAMES)
)
_PERSONISH: Final = re.compile(rf"^{_NAME}$")


def _money_value(m: re.Match[str]) -> int | None:
    try:
        number = Decimal(m["num"].replace(",", ""))
    except InvalidOperation:
        return None
    unit = (m["word"] or m["abbr"] or m["letter"] or "").lower()
    return int((number * SCALE.get(unit, 1)).to_integral_value())


def _entity(kind: str, text: str, value: Any, rule: str) -> Entity:
    return {"kind": kind, "text": text, "value": value, "evidence": rule}


def _lexicon_entities(hits: list[Hit], kind: str, rule: str) -> list[tuple[int, Entity]]:
    return [(h.start, _entity(kind, h.text, h.value, rule)) for h in hits]


RULES: Final = RuleSet(
    (_NAME_AFTER, _NAME_BEFORE, _MONEY, _GPU_HOURS, _CHIP, *(rule for rule, _ in _LICENSES))
)
_NAME_AFTER_I, _NAME_BEFORE_I, _MONEY_I, _GPU_HOURS_I, _CHIP_I, _LICENSES_I = range(6)


Matches = dict[int, list[re.Match[str]]]  # `RULES.matches(text)`


def _heuristic_people(found: Matches, taken: list[tuple[int, int]]) -> list[tuple[int, Entity]]:
    """Capitalised pairs next to a title or a reporting verb that no vocabulary names."""
    out: list[tuple[int, Entity]] = []
    for index in (_NAME_AFTER_I, _NAME_BEFORE_I):
        rule = RULES.rules[index].name
        for m in found.get(index, ()):
            start, end = m.span("name")
            if any(s < end and start < e for s, e in taken):
                continue  # already a known person, company or agency
            name = m["name"].removesuffix("'s")
            words = name.split()
            if any(w in _NOT_NAMES or w.isupper() for w in words):
                continue
            if mentioned_companies(name):
                continue
            out.append((start, _entity("person", name, name, rule)))
    return out


def _pattern_entities(matches: Matches) -> list[tuple[int, Entity]]:
    """Money in US dollars, GPU-hours, chips and licences, each where it starts."""
    found: list[tuple[int, Entity]] = []
    for m in matches.get(_MONEY_I, ()):
        usd = _money_value(m)
        if usd is not None:
            found.append((m.start(), _entity("money", m.group().strip(), usd, _MONEY.name)))
    for m in matches.get(_GPU_HOURS_I, ()):
        hours: Any = "GPU-hours"
        if m["num"]:
            scale = SCALE.get((m["unit"] or "").lower(), 1)
            hours = int((Decimal(m["num"]) * scale).to_integral_value())
        found.append((m.start(), _entity("hardware", m.group().strip(), hours, _GPU_HOURS.name)))
    for m in matches.get(_CHIP_I, ()):
        found.append((m.start(), _entity("hardware", m.group(), m.group(), _CHIP.name)))
    for k, (rule, licence) in enumerate(_LICENSES):
        for m in matches.get(_LICENSES_I + k, ()):
            found.append((m.start(), _entity("license", m.group(), licence, rule.name)))
    return found


def _actor_entity(actor: str) -> Entity | None:
    # Reporters name the same few actors again and again; the answer depends on the string alone.
    known = _actor_entity_cached(actor)
    return dict(known) if known is not None else None


@lru_cache(maxsize=4096)
def _actor_entity_cached(actor: str) -> Entity | None:
    text = " ".join(actor.split())
    if not text:
        return None
    for lex, kind in ((PEOPLE_LEXICON, "person"), (AGENCY_LEXICON, "agency")):
        hits = lex.find(text)
        if hits and hits[0].text == text:
            return _entity(kind, text, hits[0].value, "actor-hint")
    slug, _, ev = resolve_company(text)
    if slug in COMPANIES:
        return _entity("organization", text, slug, f"actor-hint:{ev['rule']}")
    if _PERSONISH.match(text):
        return _entity("person", text, text, "actor-hint:personish")
    return _entity("organization", text, slug, "actor-hint:unknown-organization")


def extract_entities(
    text: str,
    actors: Iterable[str] = (),
    *,
    mentions: list[tuple[str, Evidence]] | None = None,
) -> list[Entity]:
    """Entities found in normalized `text` (in reading order), then any only the actors name.

    `mentions` is `mentioned_companies(text)` when the caller has it already.
    """
    found: list[tuple[int, Entity]] = []
    company_hits: list[tuple[int, Entity]] = []
    for slug, ev in mentioned_companies(text) if mentions is None else mentions:
        written = ev["words"][0]
        company_hits.append(
            (text.find(written), _entity("organization", written, slug, "registry"))
        )
    found += company_hits
    people_hits = PEOPLE_LEXICON.find(text)
    agency_hits = AGENCY_LEXICON.find(text)
    found += _lexicon_entities(people_hits, "person", "known-person")
    found += _lexicon_entities(agency_hits, "agency", "known-agency")
    found += _lexicon_entities(MODEL_LEXICON.find(text), "model", "known-model")

    taken = [(h.start, h.end) for hits in (people_hits, agency_hits) for h in hits]
    matches = RULES.matches(text)
    found += _heuristic_people(matches, taken)
    found += _pattern_entities(matches)

    found.sort(key=itemgetter(0))
    out: list[Entity] = []
    seen: set[tuple[str, str]] = set()
    for _, ent in found:
        key = (ent["kind"], str(ent["value"]))
        if key not in seen:
            seen.add(key)
            out.append(ent)
    for actor in actors:
        hinted = _actor_entity(actor)
        if hinted is not None and (hinted["kind"], str(hinted["value"])) not in seen:
            seen.add((hinted["kind"], str(hinted["value"])))
            out.append(hinted)
    return out
