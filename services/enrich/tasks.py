"""Celery tasks of the enrich worker: thin wrappers that open resources and call `service`."""

from __future__ import annotations

from typing import Any

from celery import Task

from services.enrich import deadletter, service
from shared import workers
from shared.celery_app import ENRICH_QUEUE, NOTIFY_QUEUE, app
from shared.logs import correlation_id
from shared.resources import resources

# Retrying a chunk after a lost connection: quickly at first, never more than this apart (well
# under the visibility timeout, so a countdown never outlives it -- DESIGN, "No long delays").
MAX_RETRY_DELAY = 30.0


def _send_fanout(outbox_ids: list[int]) -> None:
    app.send_task("notify.fanout", args=[outbox_ids], queue=NOTIFY_QUEUE)


def _requeue(entry: dict[str, str]) -> None:
    """Send an entry that failed back on its own, after a short pause."""
    delay = resources().settings.enrich_retry_delay_seconds
    app.send_task(
        "enrich.store_chunk",
        args=[[entry]],
        kwargs={"requeued": True},
        queue=ENRICH_QUEUE,
        countdown=delay,
    )


@app.task(name="enrich.store_chunk", bind=True, max_retries=None)
def store_chunk(
    self: Task[Any, Any], entries: list[dict[str, str]], requeued: bool = False
) -> dict[str, Any]:
    r = resources()
    cids = {e.get("cid") for e in entries if e.get("cid")}
    token = correlation_id.set(next(iter(cids)) if len(cids) == 1 else None)
    try:
        service.mark_processing(r.redis, entries, workers.current_worker_id())
        result = service.process_resilient(
            r.sessions,
            r.redis,
            entries,
            _send_fanout,
            max_attempts=r.settings.enrich_max_attempts,
            requeue=_requeue,
            cpu_seconds=r.settings.enrich_entry_cpu_seconds,
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
