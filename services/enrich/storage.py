"""Store a chunk of reports in one PostgreSQL transaction: events, versions, links, outbox.

The key is CloudEvents source + id. A replayed or redelivered report changes nothing; a report whose
content differs is a correction and becomes a new version; a report of a happening already stored
under another key becomes a duplicate row pointing at the canonical event, whose sources grow.
The caller commits; afterwards it announces what changed (`ChunkResult`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.enrich.articles import extract_events
from services.enrich.pipeline import Enriched, Report, enrich
from services.enrich.steps.dedup import Candidate, near_duplicate
from services.enrich.steps.links import LinkCandidate, relate
from shared.dates import OccurredDate, parse_occurred
from shared.db import Event, EventLink, EventVersion, Outbox
from shared.events import EVENT_TYPE, event_uuid
from shared.views import event_document

DUPLICATE_WINDOW = timedelta(days=7)
LINK_WINDOW = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One report as it came off the ingest log."""

    event_id: uuid.UUID
    source: str
    ce_id: str
    type: str
    data: dict[str, Any]
    time: datetime | None
    received_at: datetime
    correlation_id: str | None
    extracted: bool = False
    confidence: float | None = None


@dataclass(slots=True)
class Outcome:
    event_id: str
    state: str  # created | updated | unchanged | duplicate
    duplicate_of: str | None = None
    version: int = 1


@dataclass(slots=True)
class ChunkResult:
    outcomes: list[Outcome] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)
    feed: list[dict[str, str]] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # stream event id -> reason
    articles: dict[str, list[str]] = field(default_factory=dict)  # article id -> event ids


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def decode_entry(entry: dict[str, str]) -> list[Incoming]:
    """A stream entry (event or article) -> the reports it carries."""
    ce = orjson.loads(entry["ce"])
    received = datetime.fromisoformat(entry["received_at"])
    cid = entry.get("cid") or None
    if entry.get("kind") == "article":
        return _article_reports(ce, received, cid)
    return [
        Incoming(
            event_id=uuid.UUID(entry["id"]),
            source=ce["source"],
            ce_id=ce["id"],
            type=ce.get("type", EVENT_TYPE),
            data=ce["data"],
            time=_parse_time(ce.get("time")),
            received_at=received,
            correlation_id=cid,
        )
    ]


def _article_reports(ce: dict[str, Any], received: datetime, cid: str | None) -> list[Incoming]:
    art = ce["data"]
    day = art.get("published_date") or str(art["published"])[:10]
    published = date.fromisoformat(day)
    found = extract_events(art["text"], published, art["url"], art.get("publisher"))
    out = []
    for ex in found:
        key = hashlib.sha256(" ".join(ex.sentences).encode()).hexdigest()[:16]
        ce_id = f"{ce['id']}#{key}"
        company = art.get("company") or ex.company
        data = {
            "company": company,
            "occurred": ex.occurred.text,
            "title": ex.title,
            "summary": " ".join(ex.sentences),
            "sources": [{"url": art["url"], "publisher": art.get("publisher")}],
        }
        out.append(
            Incoming(
                event_id=event_uuid(ce["source"], ce_id),
                source=ce["source"],
                ce_id=ce_id,
                type=EVENT_TYPE,
                data=data,
                time=datetime.combine(published, datetime.min.time(), UTC),
                received_at=received,
                correlation_id=cid,
                extracted=True,
                confidence=ex.confidence,
            )
        )
    return out


def to_report(data: dict[str, Any]) -> Report:
    return Report(
        company=str(data["company"]),
        occurred=parse_occurred(str(data["occurred"])),
        title=str(data["title"]),
        summary=str(data.get("summary") or ""),
        body=str(data.get("body") or ""),
        sources=tuple(
            {
                "url": str(s.get("url")),
                "publisher": s.get("publisher"),
                "published_at": s.get("published_at"),
            }
            for s in data.get("sources") or []
        ),
        tags=tuple(str(t) for t in data.get("tags") or []),
        actors=tuple(str(a) for a in data.get("actors") or []),
    )


def _content_hash(inc: Incoming) -> str:
    raw = {"data": inc.data, "time": inc.time.isoformat() if inc.time else None}
    return hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _columns(inc: Incoming, en: Enriched, occ: OccurredDate) -> dict[str, Any]:
    evidence = dict(en.evidence)
    if inc.extracted:
        evidence["extraction"] = [{"rule": "article", "confidence": inc.confidence}]
    return {
        "type": inc.type,
        "company": en.company,
        "companies": list(en.companies),
        "occurred": occ.text,
        "occurred_start": occ.start,
        "occurred_end": occ.end,
        "precision": occ.precision.value,
        "title": en.title,
        "summary": en.summary,
        "body": en.body,
        "category": en.category,
        "category_confidence": en.category_confidence,
        "phase": en.phase,
        "transition_to": en.transition_to,
        "stance": en.stance,
        "importance": en.importance,
        "entities": list(en.entities),
        "entity_values": sorted({str(e["value"]).lower() for e in en.entities}),
        "evidence": evidence,
        "sources": [dict(s) for s in en.sources],
        "tags": list(dict.fromkeys(inc.data.get("tags") or [])),
        "actors": list(dict.fromkeys(inc.data.get("actors") or [])),
        "fingerprint": en.fingerprint,
        "extracted": inc.extracted,
        "published": bool(inc.data.get("publish", True)),
        "reported_at": inc.time,
        "received_at": inc.received_at,
        "correlation_id": inc.correlation_id,
        "raw": {
            "data": inc.data,
            "time": inc.time.isoformat() if inc.time else None,
            "hash": _content_hash(inc),
        },
    }


class ChunkWriter:
    """Writes one chunk inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.now = datetime.now(UTC)
        self.result = ChunkResult()

    def _snapshot(self, ev: Event) -> None:
        self.s.flush()
        self.s.add(
            EventVersion(
                event_id=ev.id,
                version=ev.version,
                recorded_at=ev.updated_at,
                data=event_document(ev),
            )
        )

    def _outbox(self, ev: Event, kind: str) -> None:
        row = Outbox(
            event_id=ev.id, version=ev.version, kind=kind, correlation_id=ev.correlation_id
        )
        self.s.add(row)
        self.s.flush()
        self.result.outbox_ids.append(row.id)
        self.result.feed.append(
            {
                "id": str(ev.id),
                "kind": kind,
                "company": ev.company,
                "version": str(ev.version),
                "category": ev.category,
                "occurred": ev.occurred,
            }
        )

    def _find_duplicate(self, ev_id: uuid.UUID, en: Enriched, occ: OccurredDate) -> Event | None:
        rows = self.s.scalars(
            select(Event)
            .where(
                Event.company == en.company,
                Event.duplicate_of.is_(None),
                Event.id != ev_id,
                Event.occurred_start <= occ.end + DUPLICATE_WINDOW,
                Event.occurred_end >= occ.start - DUPLICATE_WINDOW,
            )
            .limit(200)
        ).all()
        new = Candidate(en.company, occ, en.fingerprint, en.title)
        for row in rows:
            old = Candidate(row.company, parse_occurred(row.occurred), row.fingerprint, row.title)
            if near_duplicate(old, new) is not None:
                return row
        return None

    def _link(self, ev: Event, occ: OccurredDate, en: Enriched) -> None:
        rows = self.s.scalars(
            select(Event)
            .where(
                Event.id != ev.id,
                Event.duplicate_of.is_(None),
                Event.occurred_start <= occ.end + LINK_WINDOW,
                Event.occurred_end >= occ.start - LINK_WINDOW,
            )
            .limit(200)
        ).all()
        me = LinkCandidate(
            en.company,
            occ,
            en.category,
            en.title,
            tuple(sorted({str(e["value"]).lower() for e in en.entities})),
        )
        for row in rows:
            other = LinkCandidate(
                row.company,
                parse_occurred(row.occurred),
                row.category,
                row.title,
                tuple(row.entity_values or ()),
            )
            first, second = (row, ev) if row.occurred_start <= ev.occurred_start else (ev, row)
            a, b = (other, me) if first is row else (me, other)
            link = relate(a, b)
            if link is not None:
                self.s.execute(
                    pg_insert(EventLink)
                    .values(a=first.id, b=second.id, kind=link["kind"], evidence=link)
                    .on_conflict_do_nothing()
                )

    def _merge_sources(self, canonical: Event, inc: Incoming, en: Enriched) -> None:
        known = {s.get("url") for s in canonical.sources}
        added = [dict(s) for s in en.sources if s.get("url") not in known]
        if not added:
            return
        canonical.sources = [*canonical.sources, *added]
        canonical.version += 1
        canonical.updated_at = self.now
        evidence = dict(canonical.evidence)
        evidence["merged"] = [*evidence.get("merged", []), {"event": str(inc.event_id)}]
        canonical.evidence = evidence
        self._snapshot(canonical)
        self._outbox(canonical, "event.updated")

    def write(self, inc: Incoming) -> Outcome:
        report = to_report(inc.data)
        en = enrich(report)
        occ = report.occurred
        cols = _columns(inc, en, occ)
        existing = self.s.scalars(
            select(Event)
            .where(and_(Event.source == inc.source, Event.ce_id == inc.ce_id))
            .with_for_update()
        ).first()
        if existing is not None:
            if existing.raw.get("hash") == cols["raw"]["hash"]:
                return Outcome(
                    str(existing.id),
                    "unchanged",
                    version=existing.version,
                    duplicate_of=str(existing.duplicate_of) if existing.duplicate_of else None,
                )
            for name, value in cols.items():
                setattr(existing, name, value)
            existing.version += 1
            existing.updated_at = self.now
            self._snapshot(existing)
            if existing.duplicate_of is None:
                self._outbox(existing, "event.updated")
            return Outcome(str(existing.id), "updated", version=existing.version)

        canonical = self._find_duplicate(inc.event_id, en, occ)
        ev = Event(
            id=inc.event_id,
            source=inc.source,
            ce_id=inc.ce_id,
            version=1,
            recorded_at=self.now,
            updated_at=self.now,
            duplicate_of=canonical.id if canonical is not None else None,
            **cols,
        )
        if canonical is not None:
            evidence = dict(ev.evidence)
            evidence["duplicate"] = [{"rule": "near-duplicate", "of": str(canonical.id)}]
            ev.evidence = evidence
        self.s.add(ev)
        self._snapshot(ev)
        if canonical is not None:
            self._merge_sources(canonical, inc, en)
            return Outcome(str(ev.id), "duplicate", duplicate_of=str(canonical.id))
        self._outbox(ev, "event.created")
        if ev.transition_to:
            self._outbox(ev, "phase.changed")
        self._link(ev, occ, en)
        return Outcome(str(ev.id), "created")


def store_chunk(session: Session, entries: list[dict[str, str]]) -> ChunkResult:
    """Decode, enrich and write every entry of a chunk; the caller commits."""
    writer = ChunkWriter(session)
    for entry in entries:
        try:
            reports = decode_entry(entry)
        except (KeyError, ValueError, orjson.JSONDecodeError) as exc:
            # Ingest validated it; a malformed entry here is a bug or tampering. Record, go on.
            writer.result.rejected[entry.get("id", "?")] = f"undecodable entry: {exc}"
            continue
        if entry.get("kind") == "article":
            writer.result.articles[entry["id"]] = [str(r.event_id) for r in reports]
        for inc in reports:
            try:
                with session.begin_nested():
                    writer.result.outcomes.append(writer.write(inc))
            except (ValueError, KeyError) as exc:
                writer.result.rejected[str(inc.event_id)] = f"enrichment failed: {exc}"
    return writer.result
