"""The ingest OpenAPI document: request bodies per content mode, and every answer, with examples.

The routes read their bodies raw (the content mode decides how to parse them), so FastAPI cannot
infer the request schemas; they are declared here and the models they reference are added to the
document's components.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from services.ingest.modes import BATCH, JSON, STRUCTURED
from services.ingest.schemas import ArticleAccepted, BatchReport, EventResult, EventStatus
from shared.errors import ErrorBody
from shared.events import EVENT_TYPE, Article, CloudEvent, StrategyEvent

_REF = "#/components/schemas/{model}"

_STRATEGY: dict[str, Any] = {
    "company": "OpenAI LP",
    "occurred": "2019-03-11",
    "title": "OpenAI LP created as a capped-profit company",
    "summary": "OpenAI creates OpenAI LP, a capped-profit company governed by the nonprofit.",
    "sources": [
        {
            "url": "https://openai.com/index/openai-lp/",
            "publisher": "OpenAI",
            "published_at": "2019-03-11T17:00:00Z",
        }
    ],
    "tags": ["governance"],
}
_STRUCTURED: dict[str, Any] = {
    "specversion": "1.0",
    "id": "openai-lp-2019",
    "source": "https://reporter.example/feeds/openai",
    "type": EVENT_TYPE,
    "time": "2019-03-11T17:00:00Z",
    "datacontenttype": JSON,
    "data": _STRATEGY,
}
_APPROXIMATE = {
    **_STRATEGY,
    "occurred": "2024-12/2025-01",
    "title": "Restructuring plan discussed with investors",
}


def _schema_ref(model: type) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _examples(**named: tuple[str, Any]) -> dict[str, Any]:
    return {name: {"summary": summary, "value": value} for name, (summary, value) in named.items()}


# The two bodies with several media types leave `required` out (OpenAPI's default, false), though
# a missing body is answered 422 like any bad one: for a required body with several media types
# openapi-python-client 0.29 writes a module that does not import (its issue 1451), and the
# clients it generates type such a body as optional either way.
EVENT_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Plain mode: the event's id, so that a retry is a duplicate, not a "
            "second event (without it an id is generated)",
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        }
    ],
    "requestBody": {
        "description": (
            "Structured mode: the whole CloudEvent as `application/cloudevents+json`. Binary "
            "mode: the StrategyEvent as the body with `ce-specversion`, `ce-id`, `ce-source`, "
            "`ce-type` (and optionally `ce-time`, `ce-subject`, extensions) as percent-encoded "
            "headers. Plain mode: the StrategyEvent as `application/json`; send an "
            "`Idempotency-Key` header to make retries safe (otherwise an id is generated)."
        ),
        "content": {
            STRUCTURED: {
                "schema": _schema_ref(CloudEvent),
                "examples": _examples(
                    structured=("A CloudEvent in structured mode", _STRUCTURED),
                    extension=(
                        "With an extension attribute (lowercase a-z0-9, at most 20 chars)",
                        {**_STRUCTURED, "id": "openai-lp-2019-b", "region": "us"},
                    ),
                ),
            },
            JSON: {
                "schema": _schema_ref(StrategyEvent),
                "examples": _examples(
                    plain=("Plain or binary mode: the StrategyEvent alone", _STRATEGY),
                    interval=("EDTF interval precision", _APPROXIMATE),
                    unpublished=(
                        "A draft (publish false) needs no source",
                        {**_STRATEGY, "sources": [], "publish": False},
                    ),
                ),
            },
        },
    },
}

BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "description": (
            "A CloudEvents batch (`application/cloudevents-batch+json`, a JSON array of "
            "structured events) or a JSON array of plain StrategyEvents (`application/json`). "
            "One bad event does not sink the others: the answer reports each event."
        ),
        "content": {
            BATCH: {
                "schema": {"type": "array", "items": _schema_ref(CloudEvent)},
                "examples": _examples(
                    batch=(
                        "Two CloudEvents",
                        [
                            _STRUCTURED,
                            {**_STRUCTURED, "id": "reporter-2", "data": _APPROXIMATE},
                        ],
                    )
                ),
            },
            JSON: {
                "schema": {"type": "array", "items": _schema_ref(StrategyEvent)},
                "examples": _examples(plain=("Plain StrategyEvents", [_STRATEGY, _APPROXIMATE])),
            },
        },
    }
}

ARTICLE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {
                "schema": _schema_ref(Article),
                "examples": _examples(
                    article=(
                        "A news text with its URL, publisher and publication date",
                        {
                            "url": "https://news.example/2025/01/31/altman-open-source",
                            "publisher": "News Example",
                            "published_date": "2025-01-31",
                            "title": "Altman: OpenAI on the wrong side of history",
                            "text": (
                                "On Friday Sam Altman said OpenAI has been on the wrong side "
                                "of history on open-sourcing its models."
                            ),
                            "company": "openai",
                        },
                    )
                ),
            }
        },
    }
}


def _error(description: str, headers: bool = False, **examples: tuple[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"examples": _examples(**examples)}},
    }
    if headers:
        out["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before retrying",
                "schema": {"type": "integer"},
            }
        }
    return out


def _err(code: str, detail: str, field: str | None) -> dict[str, Any]:
    return {"error": code, "detail": detail, "field": field}


UNAUTHORIZED = _error(
    "No API key, or an unknown or revoked one",
    missing=(
        "No key",
        _err(
            "unauthorized",
            "an API key is required: 'Authorization: Bearer <key>'",
            "authorization",
        ),
    ),
)
FORBIDDEN = _error(
    "The key lacks the scope",
    scope=(
        "Wrong scope",
        _err("forbidden", "this key lacks the 'events:write' scope", "authorization"),
    ),
)
FORBIDDEN_WRITE = _error(
    "The key lacks the scope, or the event's `source` is not the key's: the first key to post "
    "under a source owns it (an admin key may post under any), and `urn:pivotwatch:` sources are "
    "reserved (a key may use only its own `urn:pivotwatch:key:<key id>`). In a batch, such an "
    "entry is refused by itself, inline in the report; the batch answers 403 only when every "
    "entry was refused so",
    scope=(
        "Wrong scope",
        _err("forbidden", "this key lacks the 'events:write' scope", "authorization"),
    ),
    source=(
        "Another key's source",
        _err(
            "forbidden",
            "source 'https://reporter.example/feeds/openai' belongs to another API key: the "
            "first key to post under a source owns it; post under a source of your own",
            "source",
        ),
    ),
    reserved=(
        "A reserved source",
        _err(
            "forbidden",
            "sources under 'urn:pivotwatch:' are reserved: a key may use only its own, "
            "'urn:pivotwatch:key:6f1f8a52-3c2b-4f57-9a43-1d2b7c0f5e11'",
            "source",
        ),
    ),
)
TOO_LARGE = _error(
    "The event, the batch or the request is over its limit",
    event=(
        "Event too large",
        _err("too_large", "event is 70123 bytes; the limit is 65536", "body"),
    ),
    request=(
        "Request too large",
        _err("too_large", "request body is 5000000 bytes; the limit is 4194304", "body"),
    ),
    batch=(
        "Too many events",
        _err("too_large", "batch has 1200 events; the limit is 1000", "body"),
    ),
)
UNSUPPORTED = _error(
    "The content type is not one ingest reads",
    media=(
        "Unsupported type",
        _err(
            "unsupported_media_type",
            "unsupported content type 'text/plain'; use application/cloudevents+json, "
            "application/json or binary mode",
            "content-type",
        ),
    ),
)
INVALID = _error(
    "A field is wrong: `field` names it, `detail` says why",
    missing=(
        "Missing attribute",
        {
            **_err("invalid", "Field required", "source"),
            "errors": [{"field": "source", "reason": "Field required"}],
        },
    ),
    occurred=(
        "Bad date",
        {
            **_err("invalid", "month 13 is out of range 01-12", "data.occurred"),
            "errors": [{"field": "data.occurred", "reason": "month 13 is out of range 01-12"}],
        },
    ),
    json=(
        "Malformed JSON",
        _err("invalid", "body is not valid JSON: unexpected character: line 1 column 2", "body"),
    ),
)
RATE_LIMITED = _error(
    "This key sent more than its rate; retry after `Retry-After` seconds",
    headers=True,
    rate=("Rate limited", _err("rate_limited", "rate limit of 2000 events/s exceeded", None)),
)
UNAVAILABLE = _error(
    "Redis is unreachable, or the ingest log is full (the workers are far behind): nothing was "
    "written; retry after `Retry-After` seconds",
    headers=True,
    redis=("Redis down", _err("unavailable", "Redis is unreachable; nothing was written", None)),
    full=(
        "Ingest log full",
        _err(
            "unavailable",
            "the ingest log holds 1000000 or more events the workers have not taken yet; "
            "nothing was written, retry later",
            None,
        ),
    ),
)
NOT_FOUND = _error(
    "No event with this id is known to this key (statuses are kept for the status TTL); another "
    "key's event is answered the same, so that its existence is not revealed (an admin key reads "
    "every status)",
    unknown=("Unknown id", _err("not_found", "no event with this id is known", "event_id")),
)

_ACCEPTED_EVENT = {
    "index": 0,
    "status": "accepted",
    "id": "0f3f3b7e-1b1e-5c8d-9a57-3c1e4c6f2a10",
    "source": _STRUCTURED["source"],
    "ce_id": _STRUCTURED["id"],
    "duplicate": False,
    "status_url": "/v1/events/0f3f3b7e-1b1e-5c8d-9a57-3c1e4c6f2a10/status",
}

WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: UNAUTHORIZED,
    403: FORBIDDEN_WRITE,
    413: TOO_LARGE,
    415: UNSUPPORTED,
    422: INVALID,
    429: RATE_LIMITED,
    503: UNAVAILABLE,
}

EVENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": EventResult,
        "description": "Durable on the ingest log (or already known: `duplicate` true)",
        "content": {
            "application/json": {
                "examples": _examples(
                    accepted=("Accepted", _ACCEPTED_EVENT),
                    duplicate=(
                        "A re-post: same id",
                        {**_ACCEPTED_EVENT, "status": "duplicate", "duplicate": True},
                    ),
                )
            }
        },
    },
    **WRITE_ERRORS,
}

BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": BatchReport,
        "description": "Per-event results; at least one event was accepted or already known",
        "content": {
            "application/json": {
                "examples": _examples(
                    mixed=(
                        "One accepted, one rejected",
                        {
                            "accepted": 1,
                            "duplicate": 0,
                            "rejected": 1,
                            "results": [
                                _ACCEPTED_EVENT,
                                {
                                    "index": 1,
                                    "status": "rejected",
                                    "error": "invalid",
                                    "detail": "time must carry a timezone (RFC 3339)",
                                    "field": "1.time",
                                },
                            ],
                        },
                    ),
                    foreign=(
                        "One accepted, one under another key's source",
                        {
                            "accepted": 1,
                            "duplicate": 0,
                            "rejected": 1,
                            "results": [
                                _ACCEPTED_EVENT,
                                {
                                    "index": 1,
                                    "status": "rejected",
                                    "error": "forbidden",
                                    "detail": "source 'https://other.example/feed' belongs to "
                                    "another API key: the first key to post under a source "
                                    "owns it; post under a source of your own",
                                    "field": "1.source",
                                },
                            ],
                        },
                    ),
                )
            }
        },
    },
    **WRITE_ERRORS,
}

ARTICLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": ArticleAccepted,
        "description": "Queued for event extraction",
        "content": {
            "application/json": {
                "examples": _examples(
                    queued=(
                        "Queued",
                        {
                            "id": "5a0c2d4e-8d9b-5b61-a0c4-2f7d1e3b9c55",
                            "status": "accepted",
                            "duplicate": False,
                            "status_url": "/v1/events/5a0c2d4e-8d9b-5b61-a0c4-2f7d1e3b9c55/status",
                        },
                    )
                )
            }
        },
    },
    **WRITE_ERRORS,
}

STATUS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": EventStatus,
        "description": "Where the event is",
        "content": {
            "application/json": {
                "examples": _examples(
                    stored=(
                        "Stored",
                        {
                            "id": _ACCEPTED_EVENT["id"],
                            "status": "stored",
                            "kind": "event",
                            "received_at": "2025-01-31T10:00:00.120000+00:00",
                            "read_at": "2025-01-31T10:00:00.121000+00:00",
                            "published_at": "2025-01-31T10:00:00.123000+00:00",
                            "started_at": "2025-01-31T10:00:00.125000+00:00",
                            "stored_at": "2025-01-31T10:00:00.180000+00:00",
                            "timeline_url": f"/v1/events/{_ACCEPTED_EVENT['id']}",
                        },
                    ),
                    processing=(
                        "A worker holds it",
                        {
                            "id": _ACCEPTED_EVENT["id"],
                            "status": "processing",
                            "kind": "event",
                            "received_at": "2025-01-31T10:00:00.120000+00:00",
                            "processing_since": "2025-01-31T10:00:00.140000+00:00",
                        },
                    ),
                    rejected=(
                        "Rejected",
                        {
                            "id": _ACCEPTED_EVENT["id"],
                            "status": "rejected",
                            "reason": "data.occurred: month 13 is out of range 01-12",
                        },
                    ),
                )
            }
        },
    },
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    422: _error(
        "The id is not a UUID",
        id=("Not a UUID", _err("invalid", "not a pivotwatch event id (a UUID)", "event_id")),
    ),
    503: UNAVAILABLE,
}


def _restore_null_fields(doc: dict[str, Any]) -> None:
    """FastAPI drops null values from the document, `"field": null` in error examples included;
    put it back so the examples show the shape clients really receive."""
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            for answer in operation.get("responses", {}).values():
                for media in answer.get("content", {}).values():
                    for example in media.get("examples", {}).values():
                        value = example.get("value")
                        if isinstance(value, dict) and {"error", "detail"} <= set(value):
                            value.setdefault("field", None)


def install_openapi(app: FastAPI) -> None:
    """Generate the document once, with the request-body models added to its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _, defs = models_json_schema(
            [(CloudEvent, "validation"), (StrategyEvent, "validation"), (Article, "validation")],
            ref_template=_REF,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in defs.get("$defs", {}).items():
            schemas.setdefault(name, schema)
        _restore_null_fields(doc)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
