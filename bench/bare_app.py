"""The baselines for the HTTP scenarios: bare FastAPI endpoints that parse the same body (P2) or
return a fixed page of 50 events (P4) and do no I/O. Served with the same uvicorn settings."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from shared.events import CloudEvent

PAGE = orjson.dumps(
    {
        "events": [
            {"id": str(i), "title": f"event {i}", "occurred": "2019-03-11", "summary": "x" * 200}
            for i in range(50)
        ],
        "next_cursor": "abc",
    }
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
