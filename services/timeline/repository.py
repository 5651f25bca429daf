"""Read-side SQL of the chronology: ordering at real precision, filters, cursor pages, as-of.

A timeline is read either from the current rows (`events`) or, with `as_of`, from the versions
recorded by that moment (`event_versions`: for each event its latest version recorded at or before
`as_of`; an event first recorded later is absent, a corrected one appears as it was). Both sources
expose the same columns (`_Columns`), so every filter, the order and the cursor are written once.
Both return the public event document (`shared.views.event_document`).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TEXT, array, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.db import Event, EventLink, EventVersion
from shared.errors import InvalidInput
from shared.views import DOCUMENT_COLUMNS, event_document

Doc = dict[str, Any]
Col = ColumnElement[Any] | InstrumentedAttribute[Any]


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
    as_of: datetime | None = None
    transitions_only: bool = False
    limit: int = 50
    cursor: str | None = None


def encode_cursor(doc: Doc) -> str:
    raw = orjson.dumps([doc["occurred_start"], doc["occurred_end"], doc["id"]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[date, date, uuid.UUID]:
    try:
        pad = "=" * (-len(cursor) % 4)
        start, end, ev_id = orjson.loads(base64.urlsafe_b64decode(cursor + pad))
        return date.fromisoformat(start), date.fromisoformat(end), uuid.UUID(ev_id)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("cursor is not one this API issued", field="cursor") from exc


@dataclass(frozen=True, slots=True)
class _Columns:
    """The columns a timeline query filters and orders on, whichever table they come from."""

    stmt: Select[Any]
    id: Col
    company: Col
    occurred_start: Col
    occurred_end: Col
    category: Col
    phase: Col
    transition_to: Col
    importance: Col
    duplicate_of: Col
    in_companies: Callable[[list[str]], ColumnElement[bool]]
    has_entity: Callable[[str], ColumnElement[bool]]
    matches_text: Callable[[str], ColumnElement[bool]]


def _current() -> _Columns:
    return _Columns(
        # Only the columns of the document (not the text search vector, the raw report, the
        # evidence), as plain rows: no ORM instance is built or tracked per event.
        stmt=select(*DOCUMENT_COLUMNS).where(Event.published.is_(True)),
        id=Event.id,
        company=Event.company,
        occurred_start=Event.occurred_start,
        occurred_end=Event.occurred_end,
        category=Event.category,
        phase=Event.phase,
        transition_to=Event.transition_to,
        importance=Event.importance,
        duplicate_of=Event.duplicate_of,
        in_companies=lambda slugs: or_(
            Event.company.in_(slugs), Event.companies.overlap(cast(array(slugs), ARRAY(TEXT)))
        ),
        has_entity=lambda value: Event.entity_values.contains([value]),
        matches_text=lambda q: Event.search.op("@@")(func.websearch_to_tsquery("english", q)),
    )


def _recorded_by(moment: datetime, companies: list[str]) -> _Columns:
    versions = select(EventVersion.event_id, EventVersion.data).where(
        EventVersion.recorded_at <= moment
    )
    if companies:
        # Start from the events that ever belonged to (or named) these companies: an indexed
        # lookup (migration 0006_perf) instead of every version of every event. Their latest
        # version by `moment` is then filtered on the company again, so an event moved to
        # another company by a later correction is judged by the version that counts.
        ever = select(EventVersion.event_id).where(
            or_(
                EventVersion.data["company"].astext.in_(companies),
                # `->`, the spelling the index has (SQLAlchemy would write data['companies']).
                type_coerce(EventVersion.data.op("->")("companies"), JSONB).has_any(
                    array(companies)
                ),
            )
        )
        versions = versions.where(EventVersion.event_id.in_(ever))
    latest = (
        versions.ext(distinct_on(EventVersion.event_id))
        .order_by(EventVersion.event_id, EventVersion.version.desc())
        .subquery("v")
    )
    data = latest.c.data

    def text(name: str) -> ColumnElement[Any]:
        value: ColumnElement[Any] = data[name].astext
        return value

    def has_entity(value: str) -> ColumnElement[bool]:
        ent = func.jsonb_array_elements(data["entities"]).table_valued("value").alias("ent")
        return exists(
            select(literal(1))
            .select_from(ent)
            .where(func.lower(type_coerce(ent.c.value, JSONB)["value"].astext) == value)
        )

    def matches_text(q: str) -> ColumnElement[bool]:
        # The snapshot keeps title and summary (not the body), so an as-of search covers those.
        doc = func.coalesce(text("title"), "") + " " + func.coalesce(text("summary"), "")
        return func.to_tsvector("english", doc).op("@@")(func.websearch_to_tsquery("english", q))

    return _Columns(
        # Publication is a property of the event now (a retracted event stays hidden in the past).
        stmt=select(data)
        .select_from(latest)
        .join(Event, Event.id == latest.c.event_id)
        .where(Event.published.is_(True)),
        id=latest.c.event_id,
        company=text("company"),
        occurred_start=cast(text("occurred_start"), Date),
        occurred_end=cast(text("occurred_end"), Date),
        category=text("category"),
        phase=text("phase"),
        transition_to=text("transition_to"),
        importance=cast(text("importance"), Integer),
        duplicate_of=text("duplicate_of"),
        in_companies=lambda slugs: or_(
            text("company").in_(slugs), data["companies"].has_any(array(slugs))
        ),
        has_entity=has_entity,
        matches_text=matches_text,
    )


def build(query: TimelineQuery) -> Select[Any]:
    # The order is (start, end, id): a year-precision event sorts before the days of that year,
    # a month before its days; the id makes it total, so cursor pages never skip or repeat rows
    # while new events arrive.
    c = _recorded_by(query.as_of, query.companies) if query.as_of else _current()
    stmt = c.stmt
    if query.companies:
        stmt = stmt.where(
            c.in_companies(query.companies)
            if len(query.companies) > 1
            else c.company == query.companies[0]
        )
    if not query.include_duplicates:
        stmt = stmt.where(c.duplicate_of.is_(None))
    if query.date_from:
        stmt = stmt.where(c.occurred_end >= query.date_from)
    if query.date_to:
        stmt = stmt.where(c.occurred_start <= query.date_to)
    if query.category:
        stmt = stmt.where(c.category.in_(query.category))
    if query.phase:
        stmt = stmt.where(or_(c.phase == query.phase, c.transition_to == query.phase))
    if query.transitions_only:
        stmt = stmt.where(c.transition_to.is_not(None))
    if query.entity:
        stmt = stmt.where(c.has_entity(query.entity.lower()))
    if query.q:
        stmt = stmt.where(c.matches_text(query.q))
    if query.min_importance is not None:
        stmt = stmt.where(c.importance >= query.min_importance)
    if query.cursor:
        start, end, ev_id = decode_cursor(query.cursor)
        stmt = stmt.where(
            tuple_(c.occurred_start, c.occurred_end, c.id) > tuple_(start, end, ev_id)
        )
    return stmt.order_by(c.occurred_start, c.occurred_end, c.id).limit(query.limit + 1)


async def page(session: AsyncSession, query: TimelineQuery) -> tuple[list[Doc], str | None]:
    """One page of event documents and the cursor of the next page (None on the last)."""
    result = await session.execute(build(query))
    if query.as_of:
        docs: list[Doc] = [row[0] for row in result.all()]
    else:
        docs = [event_document(row) for row in result.all()]
    more = len(docs) > query.limit
    docs = docs[: query.limit]
    return docs, (encode_cursor(docs[-1]) if more and docs else None)


async def missing_companies(session: AsyncSession, slugs: list[str], merged: bool) -> list[str]:
    """The slugs that name no stored event (as its company, or as a co-company when merged)."""
    found: set[str] = set()
    for slug in slugs:
        cond = Event.company == slug
        if merged:
            cond = or_(cond, Event.companies.contains(cast(array([slug]), ARRAY(TEXT))))
        if await session.scalar(select(literal(1)).where(exists().where(cond))):
            found.add(slug)
    return [s for s in slugs if s not in found]


async def companies(session: AsyncSession) -> list[dict[str, Any]]:
    stmt = (
        select(
            Event.company,
            func.count(),
            func.min(Event.occurred_start),
            func.max(Event.occurred_end),
            func.max(Event.updated_at),
        )
        .where(and_(Event.duplicate_of.is_(None), Event.published.is_(True)))
        .group_by(Event.company)
        .order_by(Event.company)
    )
    return [
        {
            "slug": c,
            "events": n,
            "first": lo.isoformat(),
            "last": hi.isoformat(),
            "updated_at": updated.isoformat(),
        }
        for c, n, lo, hi, updated in (await session.execute(stmt)).all()
    ]


async def event_at(
    session: AsyncSession, event_id: uuid.UUID, as_of: datetime | None
) -> Doc | None:
    """The event's document now, or as recorded at `as_of` (None if not recorded by then)."""
    if as_of is None:
        ev = await session.get(Event, event_id)
        if ev is None:
            return None
        doc = event_document(ev)
        doc["body"] = ev.body
        doc["evidence"] = ev.evidence
        return doc
    data = await session.scalar(
        select(EventVersion.data)
        .where(EventVersion.event_id == event_id, EventVersion.recorded_at <= as_of)
        .order_by(EventVersion.version.desc())
        .limit(1)
    )
    return dict(data) if data is not None else None


def _brief(ev: Event) -> Doc:
    return {
        "id": str(ev.id),
        "company": ev.company,
        "occurred": ev.occurred,
        "title": ev.title,
        "category": ev.category,
    }


async def links(session: AsyncSession, event_id: uuid.UUID) -> list[Doc]:
    """Links in both directions. A link runs from the earlier event (`a`) to the later (`b`), so
    `position` says where the other event stands relative to this one."""
    out: list[Doc] = []
    for mine, other, position in (
        (EventLink.a, EventLink.b, "later"),
        (EventLink.b, EventLink.a, "earlier"),
    ):
        rows = await session.execute(
            select(EventLink, Event)
            .join(Event, Event.id == other)
            .where(mine == event_id, Event.published.is_(True))
            .order_by(Event.occurred_start, Event.occurred_end, Event.id)
        )
        for link, ev in rows.all():
            out.append(
                {
                    "kind": link.kind,
                    "position": position,
                    "event": _brief(ev),
                    "evidence": link.evidence,
                }
            )
    out.sort(key=lambda x: (x["event"]["occurred"], x["event"]["id"]))
    return out


async def duplicates(session: AsyncSession, event_id: uuid.UUID) -> list[Doc]:
    """Other reports of the same happening, folded into this event."""
    rows = await session.scalars(
        select(Event).where(Event.duplicate_of == event_id).order_by(Event.recorded_at, Event.id)
    )
    return [{**_brief(ev), "sources": ev.sources, "merge": merge_evidence(ev)} for ev in rows]


_MERGE_FIELDS = ("rule", "score", "shared", "words", "days_apart", "parts")


def merge_evidence(ev: Event) -> Doc | None:
    """Why coreference folded `ev` into its canonical event: the rule, the score, the anchors
    and words the two reports share (services/enrich/coref.py)."""
    found = (ev.evidence or {}).get("duplicate") or []
    if not found:
        return None
    return {k: found[0][k] for k in _MERGE_FIELDS if k in found[0]}


async def history(session: AsyncSession, event_id: uuid.UUID) -> list[Doc]:
    """Every version, oldest first, each with the fields that changed from the one before."""
    rows = (
        await session.scalars(
            select(EventVersion)
            .where(EventVersion.event_id == event_id)
            .order_by(EventVersion.version)
        )
    ).all()
    out: list[Doc] = []
    before: Doc | None = None
    volatile = {"version", "updated_at", "recorded_at"}
    for row in rows:
        changed = (
            sorted(k for k in row.data if k not in volatile and row.data.get(k) != before.get(k))
            if before is not None
            else []
        )
        out.append(
            {
                "version": row.version,
                "recorded_at": row.recorded_at.isoformat(),
                "changed": changed,
                "event": row.data,
            }
        )
        before = row.data
    return out
