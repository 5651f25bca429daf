"""The public document of a stored event: what the timeline serves, what a version snapshot
keeps and what a webhook carries. One function, so the three never disagree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from shared.db import Event, EventRecord
from shared.events import CATEGORY_LABELS

# The columns the document is made of: a page selects just these (a Core row, no ORM instance to
# build and track per event, which was a third of the timeline service's CPU per page).
DOCUMENT_COLUMNS = (
    Event.id,
    Event.source,
    Event.ce_id,
    Event.company,
    Event.companies,
    Event.occurred,
    Event.occurred_start,
    Event.occurred_end,
    Event.precision,
    Event.title,
    Event.summary,
    Event.category,
    Event.category_confidence,
    Event.phase,
    Event.transition_to,
    Event.stance,
    Event.importance,
    Event.entities,
    Event.sources,
    Event.tags,
    Event.actors,
    Event.duplicate_of,
    Event.extracted,
    Event.reported_at,
    Event.received_at,
    Event.recorded_at,
    Event.updated_at,
    Event.version,
)

_LABELS = {c.value: label for c, label in CATEGORY_LABELS.items()}


def event_document(ev: Event | EventRecord | Row[Any]) -> dict[str, Any]:
    """The document of a stored event, from the ORM object, a plain record or a row of
    DOCUMENT_COLUMNS."""
    category_label = _LABELS.get(ev.category, ev.category)
    return {
        "id": str(ev.id),
        "source": ev.source,
        "ce_id": ev.ce_id,
        "company": ev.company,
        "companies": list(ev.companies or []),
        "occurred": ev.occurred,
        "occurred_start": ev.occurred_start.isoformat(),
        "occurred_end": ev.occurred_end.isoformat(),
        "precision": ev.precision,
        "title": ev.title,
        "summary": ev.summary,
        "category": ev.category,
        "category_label": category_label,
        "category_confidence": ev.category_confidence,
        "phase": ev.phase,
        "transition_to": ev.transition_to,
        "stance": ev.stance,
        "importance": ev.importance,
        "entities": ev.entities,
        "sources": ev.sources,
        "tags": list(ev.tags or []),
        "actors": list(ev.actors or []),
        "duplicate_of": str(ev.duplicate_of) if ev.duplicate_of else None,
        "extracted": ev.extracted,
        "reported_at": ev.reported_at.isoformat() if ev.reported_at else None,
        "received_at": ev.received_at.isoformat() if ev.received_at else None,
        "recorded_at": ev.recorded_at.isoformat() if ev.recorded_at else None,
        "updated_at": ev.updated_at.isoformat() if ev.updated_at else None,
        "version": ev.version,
    }
