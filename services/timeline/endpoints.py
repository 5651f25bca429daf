"""Timeline REST routes: companies, a company's chronology and phases, several merged, one event
and its history, exports of any timeline query, and the live stream. Each parses the request,
calls `service.py` and answers.

The timeline endpoints take `format=json|timelinejs|ics|atom|csv` (service.py: pages and
exports). With `require_read_key` on, every route here needs an API key (any scope).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from starlette.responses import JSONResponse, Response, StreamingResponse

from services.timeline import cache, service, stream
from services.timeline import schemas as doc
from services.timeline.deps import (
    Admin,
    AsOf,
    FiltersDep,
    FormatParam,
    RedisDep,
    SessionDep,
    Sessions,
    SettingsDep,
    StreamRedis,
    StreamSlots,
    read_access,
)
from services.timeline.exports import Format
from services.timeline.service import Filters
from shared.errors import INVALID_ANSWER, InvalidInput, RateLimited
from shared.http import EVENT_ID_DETAIL, UUIDPath, path_uuid

CACHE_HEADER = cache.CACHE_HEADER.decode()

router = APIRouter(prefix="/v1", dependencies=[Depends(read_access)], responses=INVALID_ANSWER)


async def _timeline(
    request: Request,
    sessions: Sessions,
    filters: Filters,
    slugs: list[str],
    fmt: Format,
    head: dict[str, Any],
    merged: bool,
) -> Response:
    """A timeline page in `fmt`, marked as one the page cache may keep (cache.py: a page the
    cache holds and the change feed says is current never reaches this route)."""
    async with sessions() as session:
        body, media_type, headers = await service.render(
            session,
            filters,
            slugs,
            fmt,
            head,
            merged,
            url=str(request.url),
            next_url=lambda cursor: str(request.url.include_query_params(cursor=cursor)),
        )
    return Response(body, media_type=media_type, headers={**headers, CACHE_HEADER: "miss"})


@router.get(
    "/companies",
    operation_id="listCompanies",
    tags=["companies"],
    response_model=doc.CompanyList,
    response_description="Every company with published events",
)
async def list_companies(session: SessionDep) -> dict[str, Any]:
    return await service.list_companies(session)


@router.get(
    "/companies/{slug}/timeline",
    operation_id="getCompanyTimeline",
    tags=["timeline"],
    # Pages in five formats, sent as rendered (schemas.py): documented, not validated.
    response_model=None,
    responses=doc.TIMELINE_ANSWERS,
)
async def company_timeline(
    slug: str,
    request: Request,
    sessions: Sessions,
    filters: FiltersDep,
    format: FormatParam = Format.JSON,
) -> Response:
    slug = slug.lower()
    return await _timeline(request, sessions, filters, [slug], format, {"company": slug}, False)


@router.get(
    "/companies/{slug}/phases",
    operation_id="getCompanyPhases",
    tags=["companies"],
    response_model=doc.PhaseList,
    response_description="The company's phases (eras), oldest first",
    responses={404: doc.error("No events for the company")},
)
async def company_phases(slug: str, session: SessionDep, as_of: AsOf = None) -> dict[str, Any]:
    return await service.phase_list(session, slug.lower(), as_of)


@router.get(
    "/timeline",
    operation_id="getTimeline",
    tags=["timeline"],
    response_model=None,  # as the company timeline
    responses=doc.TIMELINE_ANSWERS,
)
async def merged_timeline(
    request: Request,
    sessions: Sessions,
    filters: FiltersDep,
    companies: Annotated[str, Query(min_length=1, max_length=1000)],
    format: FormatParam = Format.JSON,
) -> Response:
    slugs = service.slug_list(companies)
    if not slugs:
        raise InvalidInput("name at least one company slug", field="companies")
    return await _timeline(request, sessions, filters, slugs, format, {"companies": slugs}, True)


@router.get(
    "/events/{event_id}",
    operation_id="getEvent",
    tags=["events"],
    response_model=doc.EventDetail,
    response_description="The event, its links and the reports folded into it",
    responses={404: doc.error("No such event (or none recorded by `as_of`)")},
)
async def get_event(event_id: UUIDPath, session: SessionDep, as_of: AsOf = None) -> Response:
    ev_id = path_uuid(event_id, "event_id", EVENT_ID_DETAIL)
    detail = await service.event_detail(session, ev_id, as_of)
    # Sent as the document is: an as-of read returns the event as it was stored then, its keys
    # in the stored order, which a model would put in its own.
    return JSONResponse(jsonable_encoder(detail))


@router.post(
    "/events/{event_id}/split",
    operation_id="splitEvent",
    tags=["events"],
    response_model=doc.SplitOut,
)
async def split_event(
    event_id: UUIDPath, _: Admin, sessions: Sessions, client: RedisDep
) -> dict[str, Any]:
    """Undo a wrong merge (admin key): the merged report named, or every report merged into the
    event named, becomes an event of its own again, as new versions; subscribers are told."""
    ev_id = path_uuid(event_id, "event_id", EVENT_ID_DETAIL)
    return await service.split_event(sessions, client, ev_id)


@router.get(
    "/events/{event_id}/history",
    operation_id="getEventHistory",
    tags=["events"],
    response_model=doc.EventHistory,
    response_description="Every version, oldest first, with what changed",
    responses={404: doc.error("No such event")},
)
async def event_history(event_id: UUIDPath, session: SessionDep) -> dict[str, Any]:
    ev_id = path_uuid(event_id, "event_id", EVENT_ID_DETAIL)
    return await service.event_history(session, ev_id)


@router.get(
    "/stream",
    operation_id="streamChanges",
    tags=["stream"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live_stream(
    request: Request,
    client: StreamRedis,
    slots: StreamSlots,
    sessions: Sessions,
    settings: SettingsDep,
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
    flt = service.stream_filter(
        companies, category, kind, phase, entity, min_importance, include_duplicates
    )
    address = request.client.host if request.client else "-"
    refused = slots.take(address)
    if refused is not None:
        raise RateLimited(f"{refused}; try again later", field="stream", retry_after=30)
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
                sessions,
                after,
                flt,
                settings.stream_heartbeat_seconds,
                settings.stream_max_seconds,
            ),
        ),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
