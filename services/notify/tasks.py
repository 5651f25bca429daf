"""Celery tasks of the notify worker: fan-out, immediate delivery, the beat-driven dispatcher."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import signals

from services.notify import sender
from services.notify.dispatcher import deliver, dispatch, send_claimed
from services.notify.repository import claim, fanout
from shared import tracing
from shared.celery_app import app
from shared.resources import resources

log = logging.getLogger("pivotwatch.notify")
# Deliveries a fan-out sends per claim-send-record round.
FANOUT_SEND_BATCH = 500
# Deliveries one fan-out task may create, its own outbox rows' and those of rows still waiting
# (taken along so that a queue of small fan-out tasks is worked off in a few transactions).
FANOUT_MAX_DELIVERIES = 5000


@signals.worker_process_shutdown.connect
def _close_sender(**_: Any) -> None:
    """Close the kept-alive webhook connections of this pool process before it exits."""
    sender.close()


@app.task(name="notify.fanout")
def fanout_task(outbox_ids: list[int]) -> int:
    r = resources()
    # The deliveries created here keep this span's context: their attempts, now or retried
    # later, are its children.
    with tracing.span("notify.fanout", attributes={"pivotwatch.outbox_rows": len(outbox_ids)}):
        with r.sessions() as session, session.begin():
            created = fanout(session, outbox_ids, budget=FANOUT_MAX_DELIVERIES)
            # The first batch is claimed in the fan-out's own transaction (one commit fewer per
            # task); the claim is committed with the deliveries, before anything is sent.
            first = created[:FANOUT_SEND_BATCH]
            claimed = claim(session, r.settings, first, limit=len(first)) if first else []
        send_claimed(r.sessions, r.settings, claimed)
        # The rest at once, in batches (beat's dispatcher would otherwise take them a tick later).
        for start in range(FANOUT_SEND_BATCH, len(created), FANOUT_SEND_BATCH):
            deliver(r.sessions, r.settings, created[start : start + FANOUT_SEND_BATCH])
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
    return dispatch(r.sessions, r.settings, redis=r.redis)
