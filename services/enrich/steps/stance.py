"""Score an event's stance on model openness: -1 (closed) .. +1 (open), 0 without evidence.

Each rule that matches adds its weight once; the sum is clamped to [-1, 1]. Open weights, open
source, permissive licences and released weights push up; withheld weights or details, closed or
API-only access and staged releases push down.
"""

from __future__ import annotations

from typing import Final

from services.enrich.steps.core import Evidence, Rule, RuleSet, evidence

# `starts`: the words every match begins with (see `core.Rule`).
RULES: Final = RuleSet(
    (
        Rule("open-weights", r"\bopen[- ]weights?\b", 0.6, starts="open"),
        Rule("open-source", r"\bopen[- ]sourc(?:e|ed|ing)\b", 0.5, starts="open"),
        Rule(
            "released-weights",
            r"\b(?:releas\w*|publish\w*|shar\w*|mak\w*)\b.{0,40}\bweights\b"
            r"|\bcode and weights\b|\bweights (?:are|were) (?:released|available|published)\b",
            0.5,
            starts="code mak publish releas shar weights",
        ),
        Rule("permissive-licence", r"\bMIT\b|\bApache\b", 0.4, starts="apache mit", cased=True),
        Rule("wrong-side-of-history", r"\bwrong side of history\b", 0.6, starts="wrong"),
        Rule("openness", r"\bopenness\b|\bopen research\b", 0.3, starts="open"),
        Rule(
            "free-commercial-use",
            r"\bfree for (?:research and )?commercial use\b|\bcommercial use\b",
            0.4,
            starts="commercial free",
        ),
        Rule(
            "model-licence",
            r"\bunder (?:a|an|the|its) [\w' -]{0,40}licen[cs]e\b",
            0.2,
            starts="under",
        ),
        Rule(
            "research-only",
            r"\bresearch[- ]only\b|\bnon-?commercial\b",
            -0.1,
            starts="non research",
        ),
        Rule(
            "weights-withheld",
            r"\b(?:withh[eo]ld|held back|not release)\w*\b.{0,40}\bweights\b"
            r"|\bweights\b.{0,20}\b(?:withh[eo]ld|held back)\b",
            -0.6,
            starts="held not weights withh",
        ),
        Rule(
            "details-withheld",
            r"\b(?:withh[eo]ld\w*|without disclosing|not disclos\w*|undisclosed)\b"
            r".{0,40}\b(?:details|architecture|training data)\b|\bdetails\b.{0,20}\bwithheld\b",
            -0.4,
            starts="details not undisclosed withh without",
        ),
        Rule(
            "closed",
            r"\bclosed[- ](?:source|model|weights?)\b|\bproprietary\b",
            -0.5,
            starts="closed proprietary",
        ),
        Rule(
            "api-only",
            r"\bAPI[- ]only\b|\bonly (?:through|via) (?:an|the|its) API\b",
            -0.4,
            starts="api only",
            cased=True,
        ),
        Rule("api-access", r"\bAPI\b|\bprivate beta\b", -0.2, starts="api private", cased=True),
        Rule("staged-release", r"\bstaged release\b|\bin stages\b", -0.3, starts="in staged"),
    )
)

# "a staged release; full weights held back" mentions a release and weights, but says the opposite.
_OVERRIDES: Final = {"weights-withheld": "released-weights"}


def score_stance(text: str) -> tuple[float, list[Evidence]]:
    """(stance in [-1, 1], evidence) for normalized text; 0.0 and no evidence if nothing matches."""
    fired = {RULES.rules[i].name: (RULES.rules[i].weight, words) for i, words in RULES.fired(text)}
    for winner, loser in _OVERRIDES.items():
        if winner in fired:
            fired.pop(loser, None)
    total = float(sum(weight for weight, _ in fired.values()))
    ev = [evidence(f"stance:{name}", words, weight=w) for name, (w, words) in fired.items()]
    return round(max(-1.0, min(1.0, total)), 3), ev
