"""Timeline REST routes: companies, a company's chronology and phases, several merged, one event
and its history, exports of any timeline query, and the live stream.

Exports: the timeline endpoints take `format=json|timelinejs|ics|atom|csv`. JSON pages (at most
500 events, `next_cursor` in the body); the other formats carry up to EXPORT_MAX events in one
document, and when more match, the next page's URL is in a `Link: <...>; rel="next"` header.
With `require_read_key` on, every route here needs an API key (any scope).
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from kombu.exceptions import KombuError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response, StreamingResponse

from services.enrich import split
from services.timeline import cache, exports, phases, queries, stream
from services.timeline import schemas as doc
from services.timeline.exports import Format
from services.timeline.queries import Doc, TimelineQuery
from shared.auth import Principal, Scope
from shared.celery_app import app as celery_app
from shared.errors import INVALID_ANSWER, Conflict, InvalidInput, NotFound, RateLimited
from shared.events import Category
from shared.http import (
    EVENT_ID_DETAIL,
    SessionDep,
    UUIDPath,
    authenticate,
    path_uuid,
    require,
)
from shared.redis_keys import NOTIFY_QUEUE, TIMELINE_STREAM, TIMELINE_STREAM_MAXLEN

log = logging.getLogger("pivotwatch.timeline")
PAGE_MAX = 500
EXPORT_MAX = 10_000
PHASES_MAX = 1000
CACHE_HEADER = cache.CACHE_HEADER.decode()


async def read_access(request: Request) -> None:
    if request.app.state.settings.require_read_key:
        await authenticate(request)


router = APIRouter(prefix="/v1", dependencies=[Depends(read_access)], responses=INVALID_ANSWER)


AsOf = Annotated[
    datetime | None,
    Query(description="read as recorded at this moment (RFC 3339; no offset means UTC)"),
]
FormatParam = Annotated[Format, Query(description="json, timelinejs, ics, atom or csv")]


def _slug_list(raw: str) -> list[str]:
    return list(dict.fromkeys(s.strip().lower() for s in raw.split(",") if s.strip()))


def _categories(raw: list[str] | None) -> list[str] | None:
    if not raw:
        return None
    values = [c.strip() for part in raw for c in part.split(",") if c.strip()]
    for v in values:
        try:
            Category(v)
        except ValueError as exc:
            allowed = ", ".join(c.value for c in Category)
            raise InvalidInput(
                f"unknown category '{v}'; one of {allowed}", field="category"
            ) from exc
    return values


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _event_id(raw: str) -> uuid.UUID:
    return path_uuid(raw, "event_id", EVENT_ID_DETAIL)


class Filters:
    def __init__(
        self,
        from_: date | None,
        to: date | None,
        category: list[str] | None,
        phase: str | None,
        entity: str | None,
        q: str | None,
        min_importance: int | None,
        include_duplicates: bool,
        as_of: datetime | None,
        limit: int | None,
        cursor: str | None,
    ) -> None:
        if from_ and to and from_ > to:
            raise InvalidInput("'from' is after 'to'", field="from")
        self.limit = limit
        self.as_of = _utc(as_of)
        self.kwargs: dict[str, Any] = {
            "date_from": from_,
            "date_to": to,
            "category": _categories(category),
            "phase": phase,
            "entity": entity,
            "q": q,
            "min_importance": min_importance,
            "include_duplicates": include_duplicates,
            "as_of": self.as_of,
            "cursor": cursor,
        }

    def query(self, companies: list[str], fmt: Format) -> TimelineQuery:
        if fmt is Format.JSON:
            if self.limit is not None and self.limit > PAGE_MAX:
                raise InvalidInput(
                    f"limit is at most {PAGE_MAX} for JSON (exports allow {EXPORT_MAX})",
                    field="limit",
                )
            limit = self.limit or 50
        else:
            limit = self.limit or EXPORT_MAX
        return TimelineQuery(companies=companies, limit=limit, **self.kwargs)


async def filters(
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    category: Annotated[list[str] | None, Query()] = None,
    phase: Annotated[str | None, Query(max_length=100)] = None,
    entity: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=500)] = None,
    min_importance: Annotated[int | None, Query(ge=0, le=100)] = None,
    include_duplicates: bool = False,
    as_of: AsOf = None,
    limit: Annotated[
        int | None, Query(ge=1, le=EXPORT_MAX, description="JSON: at most 500")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Filters:
    """The query parameters every timeline route takes. A coroutine: FastAPI would run a plain
    class dependency in a worker thread, a thread hand-off on every request."""
    return Filters(
        from_,
        to,
        category,
        phase,
        entity,
        q,
        min_importance,
        include_duplicates,
        as_of,
        limit,
        cursor,
    )


FiltersDep = Annotated[Filters, Depends(filters)]


async def _phases(session: AsyncSession, company: str, as_of: datetime | None) -> list[Doc]:
    query = TimelineQuery(companies=[company], transitions_only=True, as_of=as_of, limit=PHASES_MAX)
    docs, _ = await queries.page(session, query)
    return phases.derive(docs)


async def _require_companies(session: AsyncSession, slugs: list[str], merged: bool) -> None:
    if not slugs:
        return
    missing = await queries.missing_companies(session, slugs, merged)
    if missing:
        raise NotFound(
            f"no events for company '{missing[0]}'", field="companies" if merged else "slug"
        )


def _filename(slugs: list[str], fmt: Format) -> str:
    stem = re.sub(r"[^a-z0-9._-]+", "-", "_".join(slugs))[:80] or "timeline"
    return f"{stem}.{exports.EXTENSIONS[fmt]}"


async def _timeline(
    request: Request,
    filters: Filters,
    slugs: list[str],
    fmt: Format,
    head: dict[str, Any],
    merged: bool,
) -> Response:
    """A timeline page in `fmt`, marked as one the page cache may keep (cache.py: a page the
    cache holds and the change feed says is current never reaches this route)."""
    async with request.app.state.sessions() as session:
        body, media_type, headers = await _render(
            request, session, filters, slugs, fmt, head, merged
        )
    return Response(body, media_type=media_type, headers={**headers, CACHE_HEADER: "miss"})


async def _render(
    request: Request,
    session: AsyncSession,
    filters: Filters,
    slugs: list[str],
    fmt: Format,
    head: dict[str, Any],
    merged: bool,
) -> tuple[bytes, str, dict[str, str]]:
    query = filters.query(slugs, fmt)
    docs, cursor = await queries.page(session, query)
    # A company that appears in the page exists; only the others need the existence query
    # (the common case, a non-empty page of one company, costs no second round trip).
    present = {d["company"] for d in docs}
    if merged:
        present.update(c for d in docs for c in d.get("companies") or ())
    await _require_companies(session, [s for s in slugs if s not in present], merged)
    if fmt is Format.JSON:
        as_of = {"as_of": filters.as_of.isoformat()} if filters.as_of else {}
        page = {**head, **as_of, "events": docs, "next_cursor": cursor}
        return orjson.dumps(page, option=orjson.OPT_NON_STR_KEYS), "application/json", {}
    title = f"{', '.join(slugs)}: timeline"
    now = datetime.now(UTC)
    meta = exports.Meta(title=title, url=str(request.url), generated_at=now)
    content: bytes | str
    if fmt is Format.TIMELINEJS:
        eras = [p for slug in slugs for p in await _phases(session, slug, filters.as_of)]
        content = orjson.dumps(exports.to_timelinejs(docs, eras, title, now.date()))
    elif fmt is Format.ICS:
        content = exports.to_ics(docs, meta)
    elif fmt is Format.ATOM:
        content = exports.to_atom(docs, meta)
    else:
        content = exports.to_csv(docs)
    headers = {"content-disposition": f'inline; filename="{_filename(slugs, fmt)}"'}
    if cursor:
        headers["link"] = f'<{request.url.include_query_params(cursor=cursor)}>; rel="next"'
    body = content.encode() if isinstance(content, str) else content
    return body, exports.MEDIA_TYPES[fmt], headers


@router.get(
    "/companies",
    operation_id="listCompanies",
    tags=["companies"],
    response_model=None,
    responses={200: doc.answer(doc.CompanyList, "Every company with published events")},
)
async def list_companies(session: SessionDep) -> dict[str, Any]:
    return {"companies": await queries.companies(session)}


@router.get(
    "/companies/{slug}/timeline",
    operation_id="getCompanyTimeline",
    tags=["timeline"],
    response_model=None,
    responses=doc.TIMELINE_ANSWERS,
)
async def company_timeline(
    slug: str,
    request: Request,
    filters: FiltersDep,
    format: FormatParam = Format.JSON,
) -> Response:
    slug = slug.lower()
    return await _timeline(request, filters, [slug], format, {"company": slug}, False)


@router.get(
    "/companies/{slug}/phases",
    operation_id="getCompanyPhases",
    tags=["companies"],
    response_model=None,
    responses={
        200: doc.answer(doc.PhaseList, "The company's phases (eras), oldest first"),
        404: doc.error("No events for the company"),
    },
)
async def company_phases(slug: str, session: SessionDep, as_of: AsOf = None) -> dict[str, Any]:
    slug = slug.lower()
    await _require_companies(session, [slug], merged=False)
    return {"company": slug, "phases": await _phases(session, slug, _utc(as_of))}


@router.get(
    "/timeline",
    operation_id="getTimeline",
    tags=["timeline"],
    response_model=None,
    responses=doc.TIMELINE_ANSWERS,
)
async def merged_timeline(
    request: Request,
    filters: FiltersDep,
    companies: Annotated[str, Query(min_length=1, max_length=1000)],
    format: FormatParam = Format.JSON,
) -> Response:
    slugs = _slug_list(companies)
    if not slugs:
        raise InvalidInput("name at least one company slug", field="companies")
    return await _timeline(request, filters, slugs, format, {"companies": slugs}, True)


@router.get(
    "/events/{event_id}",
    operation_id="getEvent",
    tags=["events"],
    response_model=None,
    responses={
        200: doc.answer(doc.EventDetail, "The event, its links and the reports folded into it"),
        404: doc.error("No such event (or none recorded by `as_of`)"),
    },
)
async def get_event(event_id: UUIDPath, session: SessionDep, as_of: AsOf = None) -> dict[str, Any]:
    ev_id = _event_id(event_id)
    doc = await queries.event_at(session, ev_id, _utc(as_of))
    if doc is None:
        detail = "no such event" if as_of is None else "the event was not recorded by as_of"
        raise NotFound(detail, field="event_id")
    doc["links"] = await queries.links(session, ev_id)
    doc["duplicates"] = await queries.duplicates(session, ev_id)
    return doc


@router.post("/events/{event_id}/split", operation_id="splitEvent", tags=["events"])
async def split_event(
    event_id: UUIDPath, request: Request, _: Annotated[Principal, Depends(require(Scope.ADMIN))]
) -> dict[str, Any]:
    """Undo a wrong merge (admin key): the merged report named, or every report merged into the
    event named, becomes an event of its own again, as new versions; subscribers are told."""
    ev_id = _event_id(event_id)
    try:
        async with request.app.state.sessions() as session, session.begin():
            # The timeline's engine reads in autocommit; a split writes, and must hold its company
            # lock and rows until it commits, or roll back whole: one real transaction.
            await session.connection(execution_options={"isolation_level": "READ COMMITTED"})
            result = await session.run_sync(lambda s: split.split(s, ev_id))
    except LookupError as exc:
        raise NotFound("no such event", field="event_id") from exc
    except split.NothingToSplit as exc:
        raise Conflict(str(exc), field="event_id") from exc
    # Committed. The change feed (pages, streams) and fan-out are told now; should Redis be away,
    # the outbox rows are written and the sweeper announces them.
    try:
        pipe = request.app.state.redis.pipeline(transaction=False)
        for entry in result.feed:
            pipe.xadd(TIMELINE_STREAM, entry, maxlen=TIMELINE_STREAM_MAXLEN, approximate=True)
        await pipe.execute()
        await anyio.to_thread.run_sync(_send_fanout, result.outbox_ids)
    except (RedisError, OSError, KombuError) as exc:
        log.warning("split %s committed; the outbox sweeper will announce it (%s)", ev_id, exc)
    return {"event_id": result.event_id, "split_off": result.split_off}


def _send_fanout(outbox_ids: list[int]) -> None:
    celery_app.send_task("notify.fanout", args=[outbox_ids], queue=NOTIFY_QUEUE)


@router.get(
    "/events/{event_id}/history",
    operation_id="getEventHistory",
    tags=["events"],
    response_model=None,
    responses={
        200: doc.answer(doc.EventHistory, "Every version, oldest first, with what changed"),
        404: doc.error("No such event"),
    },
)
async def event_history(event_id: UUIDPath, session: SessionDep) -> dict[str, Any]:
    ev_id = _event_id(event_id)
    versions = await queries.history(session, ev_id)
    if not versions:
        raise NotFound("no such event", field="event_id")
    return {"id": str(ev_id), "versions": versions}


@router.get(
    "/stream",
    operation_id="streamChanges",
    tags=["stream"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live_stream(
    request: Request,
    companies: Annotated[str | None, Query(max_length=1000)] = None,
    category: Annotated[list[str] | None, Query()] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    phase: Annotated[str | None, Query(max_length=100)] = None,
    entity: Annotated[str | None, Query(max_length=200)] = None,
    min_importance: Annotated[int | None, Query(ge=0, le=100)] = None,
    include_duplicates: bool = False,
    last_event_id: Annotated[str | None, Header(alias="last-event-id")] = None,
    resume: Annotated[
        str | None, Query(alias="last_event_id", description="as the Last-Event-ID header")
    ] = None,
) -> StreamingResponse:
    kinds = [k for part in kind or [] for k in part.split(",") if k]
    for k in kinds:
        if k not in stream.KINDS:
            raise InvalidInput(
                f"unknown kind '{k}'; one of {', '.join(sorted(stream.KINDS))}", field="kind"
            )
    flt = stream.StreamFilter(
        companies=tuple(_slug_list(companies or "")),
        categories=frozenset(_categories(category) or ()),
        kinds=frozenset(kinds),
        phase=phase,
        entity=entity,
        min_importance=min_importance,
        include_duplicates=include_duplicates,
    )
    # Streams hold their Redis connection for their whole life: a pool of their own, so that
    # many of them never starve the read-key checks and pages of the shared one.
    client = request.app.state.stream_redis
    slots: stream.Slots = request.app.state.stream_slots
    address = request.client.host if request.client else "-"
    refused = slots.take(address)
    if refused is not None:
        raise RateLimited(f"{refused}; try again later", field="stream", retry_after=30)
    settings = request.app.state.settings
    try:
        # Fix the starting point before answering, so nothing stored after it is missed.
        after = stream.resume_id(last_event_id, resume) or await stream.feed_position(client)
    except BaseException:
        slots.give_back(address)
        raise
    return StreamingResponse(
        stream.held(
            slots,
            address,
            stream.events(
                client,
                request.app.state.sessions,
                after,
                flt,
                settings.stream_heartbeat_seconds,
                settings.stream_max_seconds,
            ),
        ),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
