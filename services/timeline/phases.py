"""A company's phases (eras), derived from the events that opened them.

Enrichment marks an event that puts a new structure in force with `transition_to` (with the
evidence). Read in chronological order, each such event opens a phase that lasts until the next
one opens; the last phase is open-ended. A second report of the phase already in force (a
restatement that enrichment did not fold as a duplicate) opens nothing.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

Doc = dict[str, Any]


def phase_name(slug: str) -> str:
    """A readable name for a phase slug ("public-benefit-corporation" -> "public benefit
    corporation"); the registry with display names belongs to enrichment, not to this service."""
    return slug.replace("-", " ")


def derive(transitions: list[Doc]) -> list[Doc]:
    """Phases from transition events (documents ordered chronologically)."""
    phases: list[Doc] = []
    for doc in transitions:
        slug = doc.get("transition_to")
        if not slug or (phases and phases[-1]["phase"] == slug):
            continue
        phases.append(
            {
                "phase": slug,
                "name": phase_name(slug),
                "company": doc["company"],
                "start": doc["occurred"],
                "start_date": doc["occurred_start"],
                "precision": doc["precision"],
                "end": None,
                "end_date": None,
                "opened_by": {
                    "id": doc["id"],
                    "title": doc["title"],
                    "occurred": doc["occurred"],
                    "sources": doc["sources"],
                },
            }
        )
    for current, following in pairwise(phases):
        current["end"] = following["start"]
        current["end_date"] = following["start_date"]
    return phases


def phase_at(phases: list[Doc], day: str) -> Doc | None:
    """The phase in force on `day` (ISO date), or None before the first."""
    found = None
    for phase in phases:
        if phase["start_date"] <= day:
            found = phase
    return found
