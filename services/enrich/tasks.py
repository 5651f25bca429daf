"""Celery tasks of the enrich worker: thin wrappers that open resources and call `service`."""

from __future__ import annotations

import time
from typing import Any

from celery import Task

from services.enrich import deadletter, service
from shared import procmetrics, tracing, workers
from shared.celery_app import ENRICH_QUEUE, NOTIFY_QUEUE, PUBLISHED_AT, app
from shared.logs import correlation_id
from shared.resources import resources

# Retrying a chunk after a lost connection: quickly at first, never more than this apart (well
# under the visibility timeout, so a countdown never outlives it -- DESIGN, "No long delays").
MAX_RETRY_DELAY = 30.0
_QUEUE_HOP = procmetrics.hop("queue")


def _send_fanout(outbox_ids: list[int]) -> None:
    app.send_task("notify.fanout", args=[outbox_ids], queue=NOTIFY_QUEUE, headers=tracing.headers())


def _requeue(entry: dict[str, str]) -> None:
    """Send an entry that failed back on its own, after a short pause."""
    delay = resources().settings.enrich_retry_delay_seconds
    app.send_task(
        "enrich.store_chunk",
        args=[[entry]],
        kwargs={"requeued": True},
        queue=ENRICH_QUEUE,
        countdown=delay,
        headers=tracing.headers(),
    )


@app.task(name="enrich.store_chunk", bind=True, max_retries=None)
def store_chunk(
    self: Task[Any, Any], entries: list[dict[str, str]], requeued: bool = False
) -> dict[str, Any]:
    started = time.time()
    published = getattr(self.request, PUBLISHED_AT, None)  # absent: a retry, a requeued entry
    clock = service.Clock(started=started)
    if isinstance(published, int | float):
        clock.published = float(published)
        _QUEUE_HOP.observe(max(0.0, started - published))
    r = resources()
    cids = {e.get("cid") for e in entries if e.get("cid")}
    token = correlation_id.set(next(iter(cids)) if len(cids) == 1 else None)
    try:
        # A child of the relay's publish (Celery's headers), linked to every event it stores.
        with tracing.span(
            "enrich.store_chunk",
            links=(e.get(tracing.ENTRY_FIELD, "") for e in entries),
            attributes={"pivotwatch.entries": len(entries)},
        ):
            service.mark_processing(r.redis, entries, workers.current_worker_id())
            result = service.process_resilient(
                r.sessions,
                r.redis,
                entries,
                _send_fanout,
                max_attempts=r.settings.enrich_max_attempts,
                requeue=_requeue,
                cpu_seconds=r.settings.enrich_entry_cpu_seconds,
                clock=clock,
            )
            if requeued and not result.failed:
                deadletter.resolve(r.sessions, entries)
    except service.TRANSIENT as exc:
        delay = min(2.0**self.request.retries, MAX_RETRY_DELAY)
        raise self.retry(countdown=delay) from exc
    finally:
        correlation_id.reset(token)
    return {"stored": len(result.outcomes), "outbox": len(result.outbox_ids)}


@app.task(name="enrich.sweep_outbox")
def sweep_outbox() -> int:
    r = resources()
    return service.sweep_outbox(r.sessions, r.settings.outbox_sweep_after_seconds, _send_fanout)
