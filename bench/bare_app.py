"""The baselines for the HTTP scenarios: bare FastAPI endpoints that parse the same body (P2) or
return a fixed page of 50 events (P4) and do no I/O. Served with the same uvicorn settings."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from shared.events import CloudEvent


def _doc(i: int) -> dict[str, Any]:
    """An event document the size and shape of what the timeline serves (bench/p4.py's rows)."""
    return {
        "id": f"00000000-0000-0000-0000-{i:012d}",
        "source": "/bench/p4",
        "ce_id": f"p4-{i}",
        "company": "bench-co-7",
        "companies": ["bench-co-7"],
        "occurred": "2019-03-11",
        "occurred_start": "2019-03-11",
        "occurred_end": "2019-03-11",
        "precision": "day",
        "title": f"Bench company 7 raises a funding round ({i})",
        "summary": "A generated event for the read benchmark; its summary is about as long as a "
        "real one, a sentence or two of what happened and why it matters to the company.",
        "category": "funding",
        "category_label": "funding",
        "category_confidence": 0.8,
        "phase": None,
        "transition_to": None,
        "stance": 0.0,
        "importance": 42,
        "entities": [{"kind": "org", "value": "bench-co-7"}],
        "sources": [{"url": f"https://example.org/p4/{i}", "publisher": "Bench"}],
        "tags": [],
        "actors": [],
        "duplicate_of": None,
        "extracted": False,
        "reported_at": "2026-11-29T12:00:00+00:00",
        "received_at": "2026-11-29T12:00:00+00:00",
        "recorded_at": "2026-11-29T12:00:00+00:00",
        "updated_at": "2026-11-29T12:00:00+00:00",
        "version": 1,
    }


PAGE = orjson.dumps(
    {"company": "bench-co-7", "events": [_doc(i) for i in range(50)], "next_cursor": "abc"}
)


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/events", status_code=202)
    async def post_event(request: Request) -> Response:
        body = await request.body()
        event = CloudEvent.model_validate(orjson.loads(body))
        out: dict[str, Any] = {"id": str(event.event_id), "status": "accepted"}
        return Response(orjson.dumps(out), status_code=202, media_type="application/json")

    @app.get("/page")
    async def page() -> Response:
        return Response(PAGE, media_type="application/json")

    return app
