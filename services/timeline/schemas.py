"""The shapes of the timeline's JSON answers, for its OpenAPI document and the clients generated
from it. The routes build their answers as plain documents (shared/views.py, repository.py).
Timeline pages are sent as they are: validating every page against these would cost more than
the query, so `TimelinePage` and `TimelineJS` only describe them (`responses=`); the smaller
answers are the routes' `response_model` (their fields in the documents' own order, so the JSON
is what the documents say). A generated client test reads them back.

Every model allows more fields than it names, and requires only what every document has had
since the first version: an as-of read returns events as they were stored then."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.errors import ErrorBody

Json = dict[str, Any]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TimelineEvent(_Open):
    """A stored event as the timeline serves it (shared/views.py: `event_document`)."""

    id: str
    company: str
    occurred: str
    title: str
    precision: str | None = None
    occurred_start: str | None = None
    occurred_end: str | None = None
    companies: list[str] | None = None
    summary: str | None = None
    category: str | None = None
    category_label: str | None = None
    category_confidence: float | None = None
    phase: str | None = None
    transition_to: str | None = None
    stance: float | None = None
    importance: int | None = None
    entities: list[Json] | None = None
    sources: list[Json] | None = None
    tags: list[str] | None = None
    actors: list[str] | None = None
    duplicate_of: str | None = None
    version: int | None = None
    recorded_at: str | None = None
    updated_at: str | None = None


class TimelinePage(_Open):
    """One JSON page of a timeline: `next_cursor` is the next page's `cursor` (null on the last)."""

    events: list[TimelineEvent]
    next_cursor: str | None = None
    company: str | None = None
    companies: list[str] | None = None
    as_of: str | None = None


class TimelineJS(_Open):
    """`format=timelinejs`: a Knight Lab TimelineJS3 document (title slide, events, eras)."""

    events: list[Json]
    eras: list[Json] | None = None
    title: Json | None = None


class Company(_Open):
    slug: str
    events: int
    first: str | None = None
    last: str | None = None
    updated_at: str | None = None


class CompanyList(_Open):
    companies: list[Company]


class Phase(_Open):
    phase: str
    name: str | None = None
    company: str | None = None
    start: str | None = None
    start_date: str | None = None
    precision: str | None = None
    end: str | None = None
    end_date: str | None = None
    opened_by: Json | None = None


class PhaseList(_Open):
    company: str
    phases: list[Phase]


class EventDetail(TimelineEvent):
    """One event, with its links to related events and the reports folded into it."""

    links: list[Json] | None = None
    duplicates: list[Json] | None = None


class SplitOut(_Open):
    """A split: the event named, and the reports that became events of their own again."""

    event_id: str
    split_off: list[str]


class EventVersion(_Open):
    version: int
    recorded_at: str
    changed: list[str]
    event: Json


class EventHistory(_Open):
    id: str
    versions: list[EventVersion]


def answer(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


def error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# A timeline read in every format: JSON is a page, or TimelineJS's document with format=timelinejs.
TIMELINE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": TimelinePage | TimelineJS,
        "description": "The events in order; an export other than JSON carries the next page's "
        'URL in a `Link: <...>; rel="next"` header',
        "content": {
            "text/calendar": {"schema": {"type": "string"}},
            "application/atom+xml": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    404: error("No events for the company (or, merged, for one of them)"),
}
