"""The registry of known companies, and resolving a reporter's company name to a slug.

Each company has a slug, a display name, the aliases reporters use, its structural phases (with
the rule that recognises the event opening each one) and, for a company whose timeline is followed,
the rivals whose moves count as competition for it. Unknown companies still get a stable slug.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from services.enrich.steps.core import Evidence, Lexicon, evidence


@dataclass(frozen=True, slots=True)
class Phase:
    slug: str
    name: str
    start: date
    # Regexes (case-insensitive) that must all match an event's text for it to open this phase.
    opens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Company:
    slug: str
    name: str
    aliases: tuple[str, ...]
    # Aliases that are also ordinary words ("Meta", "Mistral"): they count only as capitalised.
    exact_case: tuple[str, ...] = ()
    phases: tuple[Phase, ...] = ()
    # Set on a company whose timeline is followed: releases by these rivals are competition to it.
    rivals: tuple[str, ...] = ()


_OPENAI_PHASES: Final = (
    Phase(
        "nonprofit",
        "Nonprofit research lab",
        date(2015, 12, 11),
        (
            r"\bnon-?profit\b",
            r"\b(?:found(?:ed|s|ing)?|launch(?:ed|es)?|announced as|established|creat(?:ed|es)"
            r"|formed|starts? as|debuts? as)\b",
        ),
    ),
    Phase(
        "capped-profit",
        "Capped-profit LP under the nonprofit",
        date(2019, 3, 11),
        (
            r"\bcapped[- ]profit\b",
            r"\b(?:creat(?:ed|es)|forms?|formed|establish(?:ed|es)?|launch(?:ed|es)?|set up"
            r"|becomes|became|restructur(?:ed|es)|convert(?:ed|s))\b",
        ),
    ),
    Phase(
        "public-benefit-corporation",
        "Public benefit corporation under the OpenAI Foundation",
        date(2025, 10, 28),
        (
            r"\b(?:public[- ]benefit corporation|PBC)\b",
            r"\b(?:complet(?:ed|es|ion)|finali[sz](?:ed|es)|closes|closed|becomes|became"
            r"|converted|takes effect|now controls)\b",
        ),
    ),
)

_REGISTRY: Final = (
    Company(
        "openai",
        "OpenAI",
        (
            "OpenAI",
            "Open AI",
            "OpenAI LP",
            "OpenAI Inc",
            "OpenAI Group PBC",
            "OpenAI Group",
            "OpenAI Foundation",
            "OpenAI Global LLC",
            "OpenAI Global",
            "OpenAI OpCo",
            "OpenAI Holdings",
        ),
        phases=_OPENAI_PHASES,
        rivals=("anthropic", "deepseek", "google", "meta", "mistral", "xai"),
    ),
    Company(
        "deepseek",
        "DeepSeek",
        (
            "DeepSeek",
            "DeepSeek AI",
            "Hangzhou DeepSeek",
            "Hangzhou DeepSeek Artificial Intelligence",
        ),
    ),
    Company(
        "meta",
        "Meta",
        ("Meta", "Meta Platforms", "Meta AI", "Facebook", "Facebook AI Research"),
        exact_case=("Meta",),
    ),
    Company(
        "microsoft",
        "Microsoft",
        ("Microsoft", "Microsoft Corp", "Microsoft Corporation", "Microsoft Azure", "Azure"),
        exact_case=("Azure",),
    ),
    Company("nvidia", "Nvidia", ("Nvidia", "NVIDIA Corporation", "Nvidia Corp")),
    Company("anthropic", "Anthropic", ("Anthropic", "Anthropic PBC")),
    Company(
        "google",
        "Google",
        ("Google", "Google DeepMind", "DeepMind", "Alphabet", "Google LLC", "Google Brain"),
        exact_case=("Google", "Alphabet"),
    ),
    Company("xai", "xAI", ("xAI", "X.AI", "X.AI Corp"), exact_case=("xAI",)),
    Company("mistral", "Mistral AI", ("Mistral", "Mistral AI"), exact_case=("Mistral",)),
)

COMPANIES: Final[Mapping[str, Company]] = MappingProxyType({c.slug: c for c in _REGISTRY})

# Legal-form words that do not change which company is meant ("OpenAI, Inc." is OpenAI).
_LEGAL_SUFFIXES: Final = frozenset(
    {"inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "plc", "gmbh"}
    | {"sa", "ag", "lp", "pbc", "holdings"}
)
_NON_WORD: Final = re.compile(r"[^\w]+")


def _key(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold().replace("&", " and ")
    return " ".join(_NON_WORD.sub(" ", folded).split())


def _strip_suffixes(key: str) -> str:
    words = key.split()
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for company in _REGISTRY:
        for name in (company.slug, company.name, *company.aliases):
            index.setdefault(_key(name), company.slug)
    return index


_INDEX: Final = _build_index()
_MAX_ALIAS_WORDS: Final = max(len(k.split()) for k in _INDEX)

MENTIONS: Final = Lexicon(
    ((alias, c.slug) for c in _REGISTRY for alias in (c.name, *c.aliases)),
    case_sensitive=[a for c in _REGISTRY for a in c.exact_case],
)


def slugify(name: str) -> str:
    """A URL-safe slug for a company name, legal suffixes dropped ("Acme AI, Inc." -> "acme-ai")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = "-".join(_strip_suffixes(_key(ascii_name)).replace("_", " ").split())
    return slug or "unknown"


def resolve_company(raw: str) -> tuple[str, str, Evidence]:
    """(slug, display name, evidence) for a reporter's company field: a slug or any alias."""
    # Reporters name the same few companies again and again; the answer depends on the string
    # alone. The evidence is the caller's to keep: a fresh copy each time.
    slug, name, (rule, words) = _resolve_cached(raw)
    return slug, name, {"rule": rule, "words": list(words)}


@lru_cache(maxsize=4096)
def _resolve_cached(raw: str) -> tuple[str, str, tuple[str, tuple[str, ...]]]:
    slug, name, ev = _resolve(raw)
    return slug, name, (ev["rule"], tuple(ev["words"]))


def _resolve(raw: str) -> tuple[str, str, Evidence]:
    cleaned = " ".join(unicodedata.normalize("NFKC", raw).split())
    key = _key(cleaned)
    if key in _INDEX:
        slug = _INDEX[key]
        rule = "slug" if cleaned == slug else "alias"
        return slug, COMPANIES[slug].name, {"rule": rule, "words": [cleaned]}
    stripped = _strip_suffixes(key)
    if stripped in _INDEX:
        slug = _INDEX[stripped]
        return slug, COMPANIES[slug].name, evidence("alias-without-legal-suffix", [cleaned])
    # "Meta Platforms Ireland", "Microsoft Research": a known name leading a longer one.
    words = key.split()
    for n in range(min(len(words) - 1, _MAX_ALIAS_WORDS), 0, -1):
        prefix = " ".join(words[:n])
        if prefix in _INDEX:
            slug = _INDEX[prefix]
            return slug, COMPANIES[slug].name, evidence("alias-prefix", [prefix])
    return slugify(cleaned), cleaned, evidence("unknown-company-slugified", [cleaned])


def mentioned_companies(text: str) -> list[tuple[str, Evidence]]:
    """Registry companies named in `text`, in order of first mention, with the naming words."""
    found: dict[str, list[str]] = {}
    for hit in MENTIONS.find(text):
        found.setdefault(hit.value, []).append(hit.text)
    return [
        (slug, {"rule": "alias-mention", "words": list(dict.fromkeys(words))})
        for slug, words in found.items()
    ]


_RIVAL_OF: Final[dict[str, str]] = {}
for _company in _REGISTRY:
    for _rival in _company.rivals:
        _RIVAL_OF.setdefault(_rival, _company.slug)


def rival_of(slug: str) -> str | None:
    """The followed company `slug` is a listed rival of (the first in the registry), if any."""
    return _RIVAL_OF.get(slug)
