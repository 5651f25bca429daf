"""Score an event's importance, 0..100, as a sum of named contributions.

A base per category, plus money at stake (log-scaled), plus a change of structural phase, plus
corroboration (independent sources: distinct publishers or hosts), plus major named entities.
The evidence lists every contribution and its points, so the score can be read back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from services.enrich.steps.core import Evidence, evidence

BASE: Final[Mapping[str, int]] = {
    "governance": 40,
    "leadership": 35,
    "licensing": 35,
    "legal": 30,
    "funding": 30,
    "product": 30,
    "regulation": 30,
    "competition": 25,
}
TRANSITION_POINTS: Final = 20
# $1M earns nothing; each tenfold adds 5 points, so $10B and more earn the cap.
MONEY_POINTS_PER_DECADE: Final = 5
MONEY_CAP: Final = 20
SOURCE_POINTS: Final = 4
SOURCE_CAP: Final = 12
ENTITY_POINTS: Final = 3
ENTITY_CAP: Final = 12
# Named in a curated list (registry, known people and agencies), not guessed by a heuristic.
_MAJOR_RULES: Final = frozenset({"registry", "known-person", "known-agency", "actor-hint"})


def _source_key(source: Mapping[str, str | None]) -> str:
    # Two articles from one outlet are one voice: count publishers, falling back to the host.
    publisher = (source.get("publisher") or "").strip().casefold()
    if publisher:
        return publisher
    host = urlsplit(source.get("url") or "").hostname or ""
    return host.removeprefix("www.")


def score_importance(
    category: str,
    entities: Iterable[Mapping[str, Any]],
    *,
    transition: bool = False,
    sources: Iterable[Mapping[str, str | None]] = (),
    company: str = "",
) -> tuple[int, list[Evidence]]:
    """(importance 0..100, one evidence item per contribution)."""
    ents = list(entities)
    base = BASE.get(category, 25)
    # Evidence items with no word or one word (or distinct ones) as literals: `evidence` would
    # only rebuild the same dict, and an event makes several.
    ev: list[Evidence] = [{"rule": f"base:{category}", "words": [], "points": base}]
    total = base

    amounts = [(e["value"], e["text"]) for e in ents if e["kind"] == "money"]
    if amounts:
        value, text = max(amounts)
        points = min(MONEY_CAP, round(MONEY_POINTS_PER_DECADE * math.log10(max(value, 1) / 1e6)))
        if points > 0:
            total += points
            ev.append({"rule": "money-log-scaled", "words": [text], "points": points, "usd": value})

    if transition:
        total += TRANSITION_POINTS
        ev.append({"rule": "phase-transition", "words": [], "points": TRANSITION_POINTS})

    cited = tuple(sources)
    # Independent voices need two sources at least (most events have one).
    voices = sorted({k for k in map(_source_key, cited) if k}) if len(cited) > 1 else []
    if len(voices) > 1:
        points = min(SOURCE_CAP, SOURCE_POINTS * (len(voices) - 1))
        total += points
        ev.append({"rule": "independent-sources", "words": voices, "points": points})  # distinct

    major = [
        str(e["text"])
        for e in ents
        if str(e["evidence"]).split(":")[0] in _MAJOR_RULES
        and e["value"] != company
        and not str(e["evidence"]).startswith(("actor-hint:unknown", "actor-hint:personish"))
    ]
    if major:
        points = min(ENTITY_CAP, ENTITY_POINTS * len(major))
        total += points
        ev.append(evidence("major-entities", major, points=points))

    return max(0, min(100, total)), ev
