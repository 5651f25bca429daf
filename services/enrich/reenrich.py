"""Re-enrichment: run the current pipeline again over stored events, from their raw reports.

After the rules change, every stored event (or one company's) is enriched again from the report
kept in `events.raw`. Where the output differs, the event gets a new version (with `recorded_at`,
so the timeline can still be read as it was) and an outbox row announces the update; where it is
the same, nothing is written. What storage added beyond the report is kept: the sources merged
from near-duplicates and the duplicate/merge evidence. Work goes in batches of rows, each batch
one transaction, so a long run holds no lock for long and can be interrupted and run again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.enrich.decode import Incoming, prepare
from services.enrich.recoref import recoref
from shared.db import Event, EventVersion, Outbox
from shared.feed import Item, item
from shared.views import event_document

# The columns enrichment computes; the others (keys, clocks, raw) are the report's own.
ENRICHED = (
    "company",
    "companies",
    "occurred",
    "occurred_start",
    "occurred_end",
    "precision",
    "title",
    "summary",
    "body",
    "category",
    "category_confidence",
    "phase",
    "transition_to",
    "stance",
    "importance",
    "entities",
    "entity_values",
    "evidence",
    "sources",
    "fingerprint",
    "anchors",
)
# Evidence that storage (not enrichment) wrote: kept across re-enrichment.
_STORAGE_EVIDENCE = ("merged", "duplicate", "split")

Progress = Callable[[int], None]
SendFanout = Callable[[list[int]], None]
Announce = Callable[[list[Item]], None]


@dataclass(slots=True)
class ReenrichResult:
    scanned: int = 0
    changed: int = 0
    failed: int = 0
    merged: int = 0  # canonical events coreference now folds into an earlier one
    split: int = 0  # merged reports it no longer joins to their event


def _incoming(ev: Event) -> Incoming:
    raw = ev.raw
    extraction = raw.get("extraction")
    return Incoming(
        event_id=ev.id,
        source=ev.source,
        ce_id=ev.ce_id,
        type=ev.type,
        data=raw["data"],
        time=datetime.fromisoformat(raw["time"]) if raw.get("time") else None,
        received_at=ev.received_at,
        correlation_id=ev.correlation_id,
        extracted=ev.extracted,
        confidence=extraction.get("confidence") if extraction else None,
        extraction={k: v for k, v in extraction.items() if k != "confidence"}
        if extraction
        else None,
    )


def recompute(ev: Event) -> dict[str, Any]:
    """The enriched columns the current rules give `ev`, storage's additions kept."""
    cols = prepare(_incoming(ev)).cols
    out = {name: cols[name] for name in ENRICHED}
    fresh_urls = {s.get("url") for s in out["sources"]}
    out["sources"] = [*out["sources"], *(s for s in ev.sources if s.get("url") not in fresh_urls)]
    out["evidence"] = {
        **out["evidence"],
        **{k: ev.evidence[k] for k in _STORAGE_EVIDENCE if k in ev.evidence},
    }
    return out


def _differs(ev: Event, cols: dict[str, Any]) -> bool:
    return any(getattr(ev, name) != value for name, value in cols.items())


def count_events(session: Session, company: str | None = None) -> int:
    query = select(func.count()).select_from(Event)
    if company:
        query = query.where(Event.company == company)
    return int(session.scalar(query) or 0)


def reenrich(
    sessions: sessionmaker[Session],
    company: str | None = None,
    *,
    batch: int = 200,
    progress: Progress | None = None,
    send_fanout: SendFanout | None = None,
    announce: Announce | None = None,
) -> ReenrichResult:
    """Re-enrich stored events (one company's, or all); returns what it did. After each batch
    commits, its outbox ids go to `send_fanout` and its change-feed entries to `announce`."""
    result = ReenrichResult()
    after: uuid.UUID | None = None
    while True:
        outbox_ids: list[int] = []
        feed: list[Item] = []
        with sessions() as session, session.begin():
            rows = list(session.scalars(_batch_query(batch, company, after)))
            if not rows:
                # Then coreference again, over what the new rules made of every event.
                found = recoref(sessions, company, send_fanout=send_fanout, announce=announce)
                result.merged, result.split = found.merged, found.split
                return result
            now = datetime.now(UTC)
            outbox: list[Outbox] = []
            for ev in rows:
                result.scanned += 1
                try:
                    cols = recompute(ev)
                except (ValueError, KeyError, TypeError):
                    result.failed += 1  # a raw report today's parser refuses: left as it was
                    continue
                if not _differs(ev, cols):
                    continue
                entry, announced = _new_version(session, ev, cols, now)
                feed.append(entry)
                if announced is not None:
                    outbox.append(announced)
                result.changed += 1
            session.add_all(outbox)
            session.flush()
            outbox_ids = [row.id for row in outbox]
            after = rows[-1].id
        if feed and announce is not None:
            announce(feed)
        if outbox_ids and send_fanout is not None:
            send_fanout(outbox_ids)
        if progress is not None:
            progress(len(rows))


def _batch_query(batch: int, company: str | None, after: uuid.UUID | None) -> Select[Event]:
    """The next `batch` events (one company's, or all) after the id `after`, locked."""
    query = select(Event).order_by(Event.id).limit(batch).with_for_update(skip_locked=False)
    if company:
        query = query.where(Event.company == company)
    if after is not None:
        query = query.where(Event.id > after)
    return query


def _new_version(
    session: Session, ev: Event, cols: dict[str, Any], now: datetime
) -> tuple[Item, Outbox | None]:
    """Writes `cols` to `ev` as its next version (kept in `event_versions`); returns its
    change-feed entry and, for a canonical event, the outbox row that announces the update."""
    for name, value in cols.items():
        setattr(ev, name, value)
    ev.version += 1
    ev.updated_at = now
    session.add(
        EventVersion(
            event_id=ev.id,
            version=ev.version,
            recorded_at=now,
            data=event_document(ev),
        )
    )
    entry = item(ev, "event.updated", ev.version)
    if ev.duplicate_of is not None:
        return entry, None
    row = Outbox(
        event_id=ev.id,
        version=ev.version,
        kind="event.updated",
        correlation_id=ev.correlation_id,
    )
    return entry, row
