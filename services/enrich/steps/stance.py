"""Score an event's stance on model openness: -1 (closed) .. +1 (open), 0 without evidence.

Each rule that matches adds its weight once; the sum is clamped to [-1, 1]. Open weights, open
source, permissive licences and released weights push up; withheld weights or details, closed or
API-only access and staged releases push down.
"""

from __future__ import annotations

import re
from typing import Final

from services.enrich.steps.core import Evidence
from services.enrich.steps.screen import Finder, Screen, fold, indexes

_RULES: Final[tuple[tuple[str, str, float], ...]] = (
    ("open-weights", r"\bopen[- ]weights?\b", 0.6),
    ("open-source", r"\bopen[- ]sourc(?:e|ed|ing)\b", 0.5),
    (
        "released-weights",
        r"\b(?:releas\w*|publish\w*|shar\w*|mak\w*)\b.{0,40}\bweights\b"
        r"|\bcode and weights\b|\bweights (?:are|were) (?:released|available|published)\b",
        0.5,
    ),
    ("permissive-licence", r"\bMIT\b|\bApache\b", 0.4),
    ("wrong-side-of-history", r"\bwrong side of history\b", 0.6),
    ("openness", r"\bopenness\b|\bopen research\b", 0.3),
    (
        "free-commercial-use",
        r"\bfree for (?:research and )?commercial use\b|\bcommercial use\b",
        0.4,
    ),
    ("model-licence", r"\bunder (?:a|an|the|its) [\w' -]{0,40}licen[cs]e\b", 0.2),
    ("research-only", r"\bresearch[- ]only\b|\bnon-?commercial\b", -0.1),
    (
        "weights-withheld",
        r"\b(?:withh[eo]ld|held back|not release)\w*\b.{0,40}\bweights\b"
        r"|\bweights\b.{0,20}\b(?:withh[eo]ld|held back)\b",
        -0.6,
    ),
    (
        "details-withheld",
        r"\b(?:withh[eo]ld\w*|without disclosing|not disclos\w*|undisclosed)\b"
        r".{0,40}\b(?:details|architecture|training data)\b|\bdetails\b.{0,20}\bwithheld\b",
        -0.4,
    ),
    ("closed", r"\bclosed[- ](?:source|model|weights?)\b|\bproprietary\b", -0.5),
    ("api-only", r"\bAPI[- ]only\b|\bonly (?:through|via) (?:an|the|its) API\b", -0.4),
    ("api-access", r"\bAPI\b|\bprivate beta\b", -0.2),
    ("staged-release", r"\bstaged release\b|\bin stages\b", -0.3),
)
_COMPILED: Final = tuple(
    (
        name,
        re.compile(rx, 0 if name in ("permissive-licence", "api-access", "api-only") else re.I),
        w,
    )
    for name, rx, w in _RULES
)

_SCREEN: Final = Screen([pattern for _, pattern, _ in _COMPILED])
# What runs: each rule tried where its matches can start, or in the form the engine scans
# quickly (see `screen.Finder`). None has a group, so the matched texts are its `findall`.
_FINDERS: Final = tuple((name, Finder(pattern), weight) for name, pattern, weight in _COMPILED)
assert not any(pattern.groups for _, pattern, _ in _COMPILED)

# "a staged release; full weights held back" mentions a release and weights, but says the opposite.
_OVERRIDES: Final = {"weights-withheld": "released-weights"}


def score_stance(text: str) -> tuple[float, list[Evidence]]:
    """(stance in [-1, 1], evidence) for normalized text; 0.0 and no evidence if nothing matches."""
    fired: dict[str, tuple[float, list[str]]] = {}
    folded = fold(text)
    for i in indexes(_SCREEN.candidates(folded)):
        name, finder, weight = _FINDERS[i]
        words = finder.texts(text, folded)
        if words:
            fired[name] = (weight, words)
    for winner, loser in _OVERRIDES.items():
        if winner in fired:
            fired.pop(loser, None)
    total = float(sum(weight for weight, _ in fired.values()))
    # `evidence(f"stance:{n}", words, weight=w)`, built in place (an event makes several).
    ev: list[Evidence] = [
        {"rule": f"stance:{n}", "words": list(dict.fromkeys(words)), "weight": w}
        for n, (w, words) in fired.items()
    ]
    return round(max(-1.0, min(1.0, total)), 3), ev
