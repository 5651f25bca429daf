"""Celery tasks of the notify worker: fan-out, immediate delivery, the beat-driven dispatcher."""

from __future__ import annotations

import uuid

from services.notify.delivery import deliver, dispatch, fanout
from shared.celery_app import app
from shared.resources import resources


@app.task(name="notify.fanout")
def fanout_task(outbox_ids: list[int]) -> int:
    r = resources()
    with r.sessions() as session, session.begin():
        created = fanout(session, outbox_ids)
    if created:
        deliver(r.sessions, r.settings, created)
    return len(created)


@app.task(name="notify.deliver")
def deliver_task(delivery_ids: list[str]) -> int:
    r = resources()
    return deliver(r.sessions, r.settings, [uuid.UUID(i) for i in delivery_ids])


@app.task(name="notify.dispatch_due")
def dispatch_due() -> int:
    """Send every delivery whose time has come (claimed with SKIP LOCKED); beat calls it again
    on the next tick, so a pass that meets a database outage simply ends."""
    r = resources()
    return dispatch(r.sessions, r.settings)
