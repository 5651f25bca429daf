"""Coreference again over stored events, after its rules change (`pivotwatch reenrich` ends here).

Per company, in the order the events were recorded, each event meets the canonical events before
it, as the worker's storage would have met them (`CandidateIndex`, `coref.decide`):
- a merged report that today's rules no longer join to its event is split off (`split`), and
- a canonical event that today's rules join to an earlier one is merged into it (its sources join
  the earlier event's, its own merged reports follow it), with the merge's evidence;
pairs an admin split stay apart. Each change is a new version with an outbox row, as in storage.
One transaction per company, under the company's lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.enrich import coref
from services.enrich.candidates import DUPLICATE_WINDOW, LINK_WINDOW, CandidateIndex, Known
from services.enrich.decode import occurred_of
from services.enrich.split import LOCK_COMPANY, SplitResult, kept_apart, record_version, split_pair
from shared import feed
from shared.db import Event, Outbox
from shared.feed import Item


@dataclass(slots=True)
class RecorefResult:
    merged: int = 0
    split: int = 0
    outbox_ids: list[int] = field(default_factory=list)
    feed: list[Item] = field(default_factory=list)


def _known(ev: Event) -> Known:
    return Known(
        ev.id,
        ev.company,
        occurred_of(ev.occurred),
        ev.fingerprint,
        ev.title,
        ev.category,
        tuple(ev.entity_values or ()),
        tuple(ev.anchors or ()),
        ev.summary or "",
    )


def _merge(
    session: Session, canonical: Event, ev: Event, why: dict[str, Any], now: datetime
) -> list[tuple[Event, str]]:
    """Fold canonical event `ev` (and its merged reports) into `canonical`."""
    known = {s.get("url") for s in canonical.sources}
    followers = session.scalars(select(Event).where(Event.duplicate_of == ev.id)).all()
    added = [dict(s) for s in ev.sources if s.get("url") not in known]
    merged = [{"event": str(ev.id), "title": ev.title, **why}]
    for f in followers:
        f.duplicate_of = canonical.id
        merged.append({"event": str(f.id), "title": f.title, "via": str(ev.id)})
    ev.duplicate_of = canonical.id
    ev.evidence = {
        **{k: v for k, v in ev.evidence.items() if k != "merged"},
        "duplicate": [{"of": str(canonical.id), "title": canonical.title, **why}],
    }
    canonical.sources = [*canonical.sources, *added]
    canonical.evidence = {
        **canonical.evidence,
        "merged": [*canonical.evidence.get("merged", []), *merged],
    }
    record_version(session, ev, now)
    record_version(session, canonical, now)
    return [(canonical, "event.updated")]


def _recoref_company(session: Session, company: str, result: RecorefResult) -> None:
    session.execute(LOCK_COMPANY, {"company": company})
    rows = session.scalars(
        select(Event)
        .where(Event.company == company)
        .order_by(Event.recorded_at, Event.id)
        .with_for_update()
    ).all()
    by_id = {ev.id: ev for ev in rows}
    index = CandidateIndex(DUPLICATE_WINDOW.days, LINK_WINDOW.days)
    now = datetime.now(UTC)
    announce: list[tuple[Event, str]] = []
    for ev in rows:
        me = _known(ev)
        if ev.duplicate_of is not None:
            canonical = by_id.get(ev.duplicate_of)
            if canonical is None:
                continue
            if coref.decide(_known(canonical).mention(), me.mention()) is None:
                split = SplitResult(str(ev.id))
                split_pair(session, canonical, ev, now, split)
                result.split += 1
                result.outbox_ids += split.outbox_ids
                result.feed += split.feed
                index.add(me)
            continue
        apart = kept_apart(ev)
        match = index.duplicate_of(me, exclude=ev.id)
        if match is not None and str(match[0].id) not in apart:
            canonical = by_id[match[0].id]
            if str(ev.id) not in kept_apart(canonical):
                announce += _merge(session, canonical, ev, match[1], now)
                result.merged += 1
                continue
        index.add(me)
    session.flush()
    for ev, kind in announce:
        outbox = Outbox(
            event_id=ev.id, version=ev.version, kind=kind, correlation_id=ev.correlation_id
        )
        session.add(outbox)
        session.flush()
        result.outbox_ids.append(outbox.id)
        result.feed.append(feed.item(ev, kind, ev.version))


def recoref(
    sessions: sessionmaker[Session],
    company: str | None = None,
    *,
    send_fanout: Callable[[list[int]], None] | None = None,
    announce: Callable[[list[Item]], None] | None = None,
) -> RecorefResult:
    """Re-decide every merge of one company (or of all), one transaction per company."""
    total = RecorefResult()
    with sessions() as session:
        companies = (
            [company]
            if company
            else list(session.scalars(select(Event.company).distinct().order_by(Event.company)))
        )
    for slug in companies:
        result = RecorefResult()
        with sessions() as session, session.begin():
            _recoref_company(session, slug, result)
        if result.feed and announce is not None:
            announce(result.feed)
        if result.outbox_ids and send_fanout is not None:
            send_fanout(result.outbox_ids)
        total.merged += result.merged
        total.split += result.split
        total.outbox_ids += result.outbox_ids
    return total
