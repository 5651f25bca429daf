"""Timeline REST routes: companies, a company's chronology, several merged, one event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.timeline import queries
from services.timeline.queries import TimelineQuery
from shared.db import Event
from shared.errors import InvalidInput, NotFound
from shared.events import Category
from shared.views import event_document

router = APIRouter(prefix="/v1", tags=["timeline"])


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def _slug_list(raw: str) -> list[str]:
    return [s.strip().lower() for s in raw.split(",") if s.strip()]


def _categories(raw: list[str] | None) -> list[str] | None:
    if not raw:
        return None
    values = [c for part in raw for c in part.split(",") if c]
    for v in values:
        try:
            Category(v)
        except ValueError as exc:
            allowed = ", ".join(c.value for c in Category)
            raise InvalidInput(
                f"unknown category '{v}'; one of {allowed}", field="category"
            ) from exc
    return values


class Filters:
    def __init__(
        self,
        from_: Annotated[date | None, Query(alias="from")] = None,
        to: date | None = None,
        category: Annotated[list[str] | None, Query()] = None,
        phase: Annotated[str | None, Query(max_length=100)] = None,
        entity: Annotated[str | None, Query(max_length=200)] = None,
        q: Annotated[str | None, Query(max_length=500)] = None,
        min_importance: Annotated[int | None, Query(ge=0, le=100)] = None,
        include_duplicates: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
    ) -> None:
        if from_ and to and from_ > to:
            raise InvalidInput("'from' is after 'to'", field="from")
        self.kwargs: dict[str, Any] = {
            "date_from": from_,
            "date_to": to,
            "category": _categories(category),
            "phase": phase,
            "entity": entity,
            "q": q,
            "min_importance": min_importance,
            "include_duplicates": include_duplicates,
            "limit": limit,
            "cursor": cursor,
        }

    def query(self, companies: list[str]) -> TimelineQuery:
        return TimelineQuery(companies=companies, **self.kwargs)


FiltersDep = Annotated[Filters, Depends()]


def _page(rows: list[Event], cursor: str | None) -> dict[str, Any]:
    return {"events": [event_document(e) for e in rows], "next_cursor": cursor}


@router.get("/companies")
async def list_companies(session: SessionDep) -> dict[str, Any]:
    return {"companies": await queries.companies(session)}


@router.get("/companies/{slug}/timeline")
async def company_timeline(slug: str, filters: FiltersDep, session: SessionDep) -> dict[str, Any]:
    rows, cursor = await queries.page(session, filters.query([slug.lower()]))
    return {"company": slug.lower(), **_page(rows, cursor)}


@router.get("/timeline")
async def merged_timeline(
    filters: FiltersDep,
    session: SessionDep,
    companies: Annotated[str, Query(min_length=1, max_length=1000)],
) -> dict[str, Any]:
    slugs = _slug_list(companies)
    if not slugs:
        raise InvalidInput("name at least one company slug", field="companies")
    rows, cursor = await queries.page(session, filters.query(slugs))
    return {"companies": slugs, **_page(rows, cursor)}


@router.get("/events/{event_id}")
async def get_event(event_id: str, session: SessionDep) -> dict[str, Any]:
    try:
        ev_id = uuid.UUID(event_id)
    except ValueError as exc:
        raise InvalidInput("not a pivotwatch event id (a UUID)", field="event_id") from exc
    ev = await session.get(Event, ev_id)
    if ev is None:
        raise NotFound("no such event", field="event_id")
    doc = event_document(ev)
    doc["evidence"] = ev.evidence
    doc["body"] = ev.body
    return doc
