"""Place an event in its company's structural phases, and recognise the events that open one.

Phases come from the company registry (OpenAI: nonprofit, capped-profit, public benefit
corporation). An event *opens* a phase only when its text matches the phase's opening rule, it
is not a plan or proposal, and it happened near the date the registry gives for that phase --
so a later article recalling "OpenAI became a capped-profit in 2019" opens nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from services.enrich.steps.companies import COMPANIES, Phase
from services.enrich.steps.core import Evidence, evidence
from shared.dates import OccurredDate

# A plan, a proposal or a reversal talks about a structure; it does not put one in force.
INTENT: Final = re.compile(
    r"\b(?:plans?|planned|planning|proposals?|propos(?:es|ed|ing)|intends?|intention|will|would"
    r"|could|considering|considers|seeks? to|aims? to|expects? to|in talks|explor(?:es|ing)"
    r"|reverses? course|reversal|backtracks?|scraps?|abandons?|u-turn)\b",
    re.I,
)


def _intent(sentence: str) -> list[str]:
    """The intent words of `sentence`, in order."""
    return INTENT.findall(sentence)


# Sentences end at a full stop, semicolon, exclamation or question mark, or a line break.
_SENTENCE_END: Final = re.compile(r"(?<=[.;!?])\s+|\n+")
# How far from the registry's date an event may sit and still be the one that opened the phase.
TRANSITION_WINDOW: Final = timedelta(days=31)

_OPENING_RULES: Final[dict[tuple[str, str], tuple[re.Pattern[str], ...]]] = {
    (company.slug, phase.slug): tuple(re.compile(rx, re.I) for rx in phase.opens)
    for company in COMPANIES.values()
    for phase in company.phases
}


def _phases(company: str) -> tuple[Phase, ...]:
    entry = COMPANIES.get(company)
    return entry.phases if entry else ()


def phase_of(company: str, occurred: OccurredDate) -> tuple[str | None, list[Evidence]]:
    """The phase of `company` in force at the start of `occurred`, with evidence."""
    phases = _phases(company)
    if not phases:
        return None, [evidence("no-phases-for-company", [company])]
    current: Phase | None = None
    for phase in phases:
        if phase.start <= occurred.start:
            current = phase
    ev: list[Evidence] = []
    if current is None:
        ev.append(
            evidence("before-first-phase", [phases[0].slug], first=phases[0].start.isoformat())
        )
    else:
        ev.append(
            {"rule": "phase-in-force", "words": [current.slug], "since": current.start.isoformat()}
        )
    # A coarse date ("2019") can straddle a change of structure; say so rather than pretend.
    crossed = [p for p in phases if occurred.start < p.start <= occurred.end]
    if crossed:
        ev.append(
            evidence(
                "span-crosses-phase-boundary",
                [p.slug for p in crossed],
                precision=occurred.precision.value,
                span=[occurred.start.isoformat(), occurred.end.isoformat()],
            )
        )
    return (current.slug if current else None), ev


def transition(
    company: str, occurred: OccurredDate, text: str
) -> tuple[str | None, list[Evidence]]:
    """The phase this event opens, if any. `text` is the title, then the summary on later lines.

    An intent word in the headline (first line) vetoes the event; in a later sentence it vetoes only
    that sentence, so "...; Microsoft will hold 27%" does not undo a completed recapitalization.
    """
    phases = _phases(company)
    if not phases:
        return None, []
    # A phase whose rules do not all match the whole text matches in none of its sentences (the
    # rules are word-bounded, and a sentence is a part of the text between spaces): most events
    # open no phase, and this tries each rule once instead of once per sentence.
    possible = [
        phase
        for phase in phases
        if all(rule.search(text) for rule in _OPENING_RULES[(company, phase.slug)])
    ]
    if not possible:
        return None, []
    headline, _, rest = text.strip().partition("\n")
    headline_intent = _intent(headline)
    sentences = [headline, *(s for s in _SENTENCE_END.split(rest) if s.strip())]
    ev: list[Evidence] = []
    for phase in possible:
        rules = _OPENING_RULES[(company, phase.slug)]
        for i, sentence in enumerate(sentences):
            matches = [rule.search(sentence) for rule in rules]
            if not all(matches):
                continue
            words = [m.group() for m in matches if m]
            intent = headline_intent or (_intent(sentence) if i else [])
            if intent:
                ev.append(evidence("plan-not-transition", words + intent, phase=phase.slug))
                break
            lo, hi = phase.start - TRANSITION_WINDOW, phase.start + TRANSITION_WINDOW
            if occurred.end < lo or occurred.start > hi:
                ev.append(
                    evidence(
                        "opening-words-far-from-phase-date",
                        words,
                        phase=phase.slug,
                        registry_start=phase.start.isoformat(),
                    )
                )
                break
            ev.append(
                evidence(
                    "phase-opening", words, phase=phase.slug, registry_start=phase.start.isoformat()
                )
            )
            return phase.slug, ev
    return None, ev
