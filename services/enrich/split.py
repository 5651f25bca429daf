"""Undo a wrong merge: a report coreference folded into another event becomes an event again.

`split(session, event_id)` takes either the merged report (a row with `duplicate_of`) or the
canonical event (then every report merged into it is split off). Nothing is lost and nothing is
rewritten in place: each row changed gets a new version (the old ones stay readable as of their
time), the canonical event gives back the sources the report brought, both rows record the split
(`evidence.split`, with the merge's evidence), and the outbox tells subscribers: `event.created`
for the report now standing alone, `event.updated` for the event it left. A split pair is kept
apart afterwards: `pivotwatch reenrich` does not merge them again.

The caller commits, then sends the outbox ids to fan-out and the feed items to the change feed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared import feed
from shared.db import Event, EventVersion, Outbox
from shared.feed import Item
from shared.views import event_document

# The same lock the enrich worker takes per company (persist._LOCK_COMPANIES): a chunk storing
# the company's events waits, so it never merges into a row being split.
LOCK_COMPANY = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('pivotwatch.enrich.company:' || :company, 0))"
)


class NothingToSplit(Exception):
    """The event is neither a merged report nor an event with reports merged into it."""


@dataclass(slots=True)
class SplitResult:
    event_id: str
    split_off: list[str] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)
    feed: list[Item] = field(default_factory=list)


def kept_apart(ev: Event) -> set[str]:
    """The events `ev` was split from (or that were split from it): never merged again."""
    return {str(s.get("from") or s.get("event")) for s in (ev.evidence or {}).get("split", [])}


def record_version(session: Session, ev: Event, now: datetime) -> None:
    """The event's next version, recorded as its document now."""
    ev.version += 1
    ev.updated_at = now
    session.add(
        EventVersion(event_id=ev.id, version=ev.version, recorded_at=now, data=event_document(ev))
    )


def _own_sources(ev: Event) -> list[dict[str, Any]]:
    """The sources of the event's own report (as stored, before any merge added others)."""
    data = (ev.raw or {}).get("data") or {}
    urls = {s.get("url") for s in data.get("sources") or []}
    return [s for s in ev.sources if s.get("url") in urls]


def split_pair(
    session: Session, canonical: Event, report: Event, now: datetime, result: SplitResult
) -> None:
    merge = (report.evidence or {}).get("duplicate") or []
    why = {k: v for k, v in (merge[0] if merge else {}).items() if k != "of"}
    at = now.isoformat()
    # The report stands alone again, with its own sources (those merging added to it: none).
    report.duplicate_of = None
    report.evidence = {
        **{k: v for k, v in report.evidence.items() if k != "duplicate"},
        "split": [*report.evidence.get("split", []), {"from": str(canonical.id), "at": at, **why}],
    }
    # The canonical event gives back what the report brought: the sources no other report of it
    # (its own, another merged one) still carries.
    merged = [m for m in canonical.evidence.get("merged", []) if m.get("event") != str(report.id)]
    others = session.scalars(
        select(Event).where(Event.duplicate_of == canonical.id, Event.id != report.id)
    ).all()
    keep = {s.get("url") for s in _own_sources(canonical)}
    keep |= {s.get("url") for o in others for s in o.sources}
    brought = {s.get("url") for s in report.sources} - keep
    canonical.sources = [s for s in canonical.sources if s.get("url") not in brought]
    evidence = {k: v for k, v in canonical.evidence.items() if k != "merged"}
    if merged:
        evidence["merged"] = merged
    evidence["split"] = [*canonical.evidence.get("split", []), {"event": str(report.id), "at": at}]
    canonical.evidence = evidence
    for ev, kind in ((report, "event.created"), (canonical, "event.updated")):
        record_version(session, ev, now)
        outbox = Outbox(
            event_id=ev.id, version=ev.version, kind=kind, correlation_id=ev.correlation_id
        )
        session.add(outbox)
        session.flush()
        result.outbox_ids.append(outbox.id)
        result.feed.append(feed.item(ev, kind, ev.version))
    result.split_off.append(str(report.id))


def split(session: Session, event_id: uuid.UUID) -> SplitResult:
    """Split the merge(s) `event_id` takes part in; raises LookupError (no such event) or
    NothingToSplit. In the caller's transaction."""
    ev = session.get(Event, event_id)
    if ev is None:
        raise LookupError(str(event_id))
    session.execute(LOCK_COMPANY, {"company": ev.company})
    session.refresh(ev, with_for_update=True)
    now = datetime.now(UTC)
    result = SplitResult(str(event_id))
    if ev.duplicate_of is not None:
        canonical = session.get(Event, ev.duplicate_of, with_for_update=True)
        if canonical is None:
            raise NothingToSplit("the event it was merged into no longer exists")
        split_pair(session, canonical, ev, now, result)
        return result
    reports = session.scalars(
        select(Event).where(Event.duplicate_of == ev.id).order_by(Event.id).with_for_update()
    ).all()
    if not reports:
        raise NothingToSplit("no report was merged into this event, and it is not merged")
    for report in reports:
        split_pair(session, ev, report, now, result)
    return result
