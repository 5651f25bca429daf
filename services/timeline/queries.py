"""Read-side queries of the chronology: ordering at real precision, filters, cursor pages."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Select, and_, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Event
from shared.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class TimelineQuery:
    companies: list[str]
    date_from: date | None = None
    date_to: date | None = None
    category: list[str] | None = None
    phase: str | None = None
    entity: str | None = None
    q: str | None = None
    min_importance: int | None = None
    include_duplicates: bool = False
    limit: int = 50
    cursor: str | None = None


def encode_cursor(ev: Event) -> str:
    raw = orjson.dumps([ev.occurred_start.isoformat(), ev.occurred_end.isoformat(), str(ev.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[date, date, uuid.UUID]:
    try:
        pad = "=" * (-len(cursor) % 4)
        start, end, ev_id = orjson.loads(base64.urlsafe_b64decode(cursor + pad))
        return date.fromisoformat(start), date.fromisoformat(end), uuid.UUID(ev_id)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("cursor is not one this API issued", field="cursor") from exc


def build(query: TimelineQuery) -> Select[Event]:
    # The order is (start, end, id): a year-precision event sorts before the days of that year,
    # a month before its days; the id makes it total, so cursor pages never skip or repeat rows
    # while new events arrive.
    stmt = select(Event).where(Event.published.is_(True))
    if query.companies:
        stmt = stmt.where(
            or_(Event.company.in_(query.companies), Event.companies.overlap(query.companies))
            if len(query.companies) > 1
            else Event.company == query.companies[0]
        )
    if not query.include_duplicates:
        stmt = stmt.where(Event.duplicate_of.is_(None))
    if query.date_from:
        stmt = stmt.where(Event.occurred_end >= query.date_from)
    if query.date_to:
        stmt = stmt.where(Event.occurred_start <= query.date_to)
    if query.category:
        stmt = stmt.where(Event.category.in_(query.category))
    if query.phase:
        stmt = stmt.where(or_(Event.phase == query.phase, Event.transition_to == query.phase))
    if query.entity:
        stmt = stmt.where(Event.entity_values.contains([query.entity.lower()]))
    if query.q:
        stmt = stmt.where(Event.search.op("@@")(func.websearch_to_tsquery("english", query.q)))
    if query.min_importance is not None:
        stmt = stmt.where(Event.importance >= query.min_importance)
    if query.cursor:
        start, end, ev_id = decode_cursor(query.cursor)
        stmt = stmt.where(
            tuple_(Event.occurred_start, Event.occurred_end, Event.id) > tuple_(start, end, ev_id)
        )
    return stmt.order_by(Event.occurred_start, Event.occurred_end, Event.id).limit(query.limit + 1)


async def page(session: AsyncSession, query: TimelineQuery) -> tuple[list[Event], str | None]:
    rows = list((await session.scalars(build(query))).all())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


async def companies(session: AsyncSession) -> list[dict[str, Any]]:
    stmt = (
        select(
            Event.company,
            func.count(),
            func.min(Event.occurred_start),
            func.max(Event.occurred_end),
        )
        .where(and_(Event.duplicate_of.is_(None), Event.published.is_(True)))
        .group_by(Event.company)
        .order_by(Event.company)
    )
    return [
        {"slug": c, "events": n, "first": lo.isoformat(), "last": hi.isoformat()}
        for c, n, lo, hi in (await session.execute(stmt)).all()
    ]
