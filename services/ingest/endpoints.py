"""Ingest HTTP routes: events (single and batch), articles, an event's processing status and the
operator's pipeline report. Each reads the request, calls `service.py` and answers.

The write routes read their bodies raw (the content mode decides how to parse them), so their
request bodies are declared in `openapi.py`; each `response_model` documents the 2xx answer the
route renders itself (a batch's status depends on its entries)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request

from services.ingest import openapi, service
from services.ingest.deps import Admin, IngestDep, RedisDep, SettingsDep, Writer
from services.ingest.schemas import ArticleAccepted, BatchReport, EventResult, EventStatus
from shared.http import KEY_REQUIRED, UUIDPath, bearer_token, read_body
from shared.responses import JSONResponse

router = APIRouter(prefix="/v1")


@router.post(
    "/events",
    status_code=202,
    summary="Submit one event (CloudEvents structured or binary mode, or plain JSON)",
    operation_id="postEvent",
    tags=["events"],
    response_model=EventResult,
    responses=openapi.EVENT_RESPONSES,
    # It reads its key itself (cached: one Redis round trip per event), not through `require`,
    # so the key requirement is declared here.
    openapi_extra={**openapi.EVENT_BODY, **KEY_REQUIRED},
)
async def post_event(request: Request, settings: SettingsDep, ingest: IngestDep) -> JSONResponse:
    result = await service.post_event(
        ingest, settings, bearer_token(request), request.headers, partial(read_body, request)
    )
    return JSONResponse(result, status_code=202)


@router.post(
    "/events/batch",
    status_code=202,
    summary="Submit a batch (application/cloudevents-batch+json, or a JSON array of plain events)",
    operation_id="postEventBatch",
    tags=["events"],
    response_model=BatchReport,
    responses=openapi.BATCH_RESPONSES,
    openapi_extra=openapi.BATCH_BODY,
)
async def post_batch(
    request: Request, principal: Writer, settings: SettingsDep, ingest: IngestDep
) -> JSONResponse:
    report, status = await service.post_batch(
        ingest, settings, principal, request.headers, partial(read_body, request)
    )
    return JSONResponse(report, status_code=status)


@router.post(
    "/articles",
    status_code=202,
    summary="Submit a news article; the dated strategy events in it are extracted",
    operation_id="postArticle",
    tags=["articles"],
    response_model=ArticleAccepted,
    responses=openapi.ARTICLE_RESPONSES,
    openapi_extra=openapi.ARTICLE_BODY,
)
async def post_article(
    request: Request, principal: Writer, settings: SettingsDep, ingest: IngestDep
) -> JSONResponse:
    result = await service.post_article(
        ingest, settings, principal, request.headers, partial(read_body, request)
    )
    return JSONResponse(result, status_code=202)


@router.get(
    "/events/{event_id}/status",
    summary="Where an accepted event is in the pipeline",
    operation_id="getEventStatus",
    tags=["events"],
    response_model=EventStatus,
    responses=openapi.STATUS_RESPONSES,
)
async def event_status(
    event_id: UUIDPath, redis: RedisDep, settings: SettingsDep, principal: Writer
) -> JSONResponse:
    return JSONResponse(await service.event_status(redis, settings, principal, event_id))


@router.get(
    "/status",
    summary="Where the work is: backlog, held messages, workers, outbox, deliveries",
    operation_id="getPipelineStatus",
    tags=["operations"],
    # The report is `shared.opstatus`'s, which has no model yet; `dict[str, Any]` would change
    # this operation's documented schema, so it stays undeclared.
    response_model=None,
)
async def pipeline_status(_: Admin, ingest: IngestDep) -> JSONResponse:
    """The operator's view (`pivotwatch status --json` prints the same report)."""
    return JSONResponse(await service.pipeline_status(ingest))
