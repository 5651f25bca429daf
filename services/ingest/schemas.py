"""What ingest answers, as models: the routes build their bodies from these, OpenAPI shows them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared.errors import FieldError


class EventResult(BaseModel):
    """One event's outcome: accepted (newly written), duplicate (already known) or rejected."""

    index: int = Field(description="position of the event in the request (0 for a single event)")
    status: Literal["accepted", "duplicate", "rejected"]
    id: str | None = Field(
        default=None, description="pivotwatch's id: a UUID derived from source + id"
    )
    source: str | None = None
    ce_id: str | None = Field(default=None, description="the CloudEvents id as posted")
    duplicate: bool | None = None
    correction: bool | None = Field(
        default=None,
        description="true when this source+id was known with other content: a new version",
    )
    status_url: str | None = None
    # Present on rejections only: the one error shape, inline.
    error: str | None = None
    detail: str | None = None
    field: str | None = None
    errors: list[FieldError] | None = None


class BatchReport(BaseModel):
    accepted: int
    duplicate: int
    rejected: int
    results: list[EventResult]


class ArticleAccepted(BaseModel):
    id: str
    status: Literal["accepted", "duplicate"]
    duplicate: bool
    correction: bool = False
    status_url: str


class EventStatus(BaseModel):
    id: str
    status: Literal["accepted", "processing", "stored", "duplicate", "rejected"] = Field(
        description=(
            "accepted: durable on the ingest log, waiting for a worker; processing: a worker "
            "holds it (since processing_since); stored: in the timeline; duplicate: the same "
            "happening was already stored under another id (see duplicate_of); rejected: see "
            "reason"
        )
    )
    kind: str | None = None
    received_at: str | None = None
    processing_since: str | None = Field(
        default=None, description="processing: when the worker that holds it took it"
    )
    detail: str | None = Field(
        default=None, description="accepted again after the worker that held it stopped"
    )
    # The hops between receipt and storage (docs/benchmarks.md "Per hop"), once stored.
    read_at: str | None = Field(default=None, description="when the relay read it off the log")
    published_at: str | None = Field(
        default=None, description="when the relay put its chunk on the enrich queue"
    )
    started_at: str | None = Field(default=None, description="when a worker started its chunk")
    stored_at: str | None = Field(default=None, description="when its chunk's commit returned")
    reason: str | None = None
    duplicate_of: str | None = None
    events: str | None = Field(
        default=None, description="for an article: the ids of the events extracted from it"
    )
    timeline_url: str | None = None
