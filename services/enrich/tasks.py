"""Celery tasks of the enrich worker: thin wrappers that open resources and call `service`."""

from __future__ import annotations

from typing import Any

from services.enrich import service
from shared.celery_app import NOTIFY_QUEUE, app
from shared.logs import correlation_id
from shared.resources import resources


def _send_fanout(outbox_ids: list[int]) -> None:
    app.send_task("notify.fanout", args=[outbox_ids], queue=NOTIFY_QUEUE)


@app.task(name="enrich.store_chunk")
def store_chunk(entries: list[dict[str, str]]) -> dict[str, Any]:
    r = resources()
    cids = {e.get("cid") for e in entries if e.get("cid")}
    token = correlation_id.set(next(iter(cids)) if len(cids) == 1 else None)
    try:
        result = service.process_chunk(r.sessions, r.redis, entries, _send_fanout)
    finally:
        correlation_id.reset(token)
    return {"stored": len(result.outcomes), "outbox": len(result.outbox_ids)}


@app.task(name="enrich.sweep_outbox")
def sweep_outbox() -> int:
    r = resources()
    return service.sweep_outbox(r.sessions, r.settings.outbox_sweep_after_seconds, _send_fanout)
