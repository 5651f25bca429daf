"""Store a chunk of reports in one PostgreSQL transaction: events, versions, links, outbox.

The key is CloudEvents source + id. A replayed or redelivered report changes nothing; a report whose
content differs is a correction and becomes a new version; a report of a happening already stored
under another key becomes a duplicate row pointing at the canonical event, whose sources grow (a
new version of the canonical). The raw report is kept (`events.raw`) for re-enrichment.

A chunk costs a fixed number of round trips, not one per event: one SELECT of the chunk's keys,
one SELECT of the stored events near the chunk's dates (near-duplicate and link candidates), one
of the canonical rows to merge into (only when there are duplicates), then one multi-row
statement per table. Decisions are made in memory in chunk order, so a duplicate or a correction
of an event earlier in the same chunk is handled as if they had come one by one.
The caller commits; afterwards it announces what changed (`ChunkResult`).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from typing import cast as type_cast

import orjson
from sqlalchemy import (
    Table,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TableValuedAlias

from services.enrich.articles import extract_events
from services.enrich.budget import OverBudget, cpu_budget
from services.enrich.candidates import CandidateIndex, Known, Match, cap_links
from services.enrich.coref import MAX_DAYS_APART, anchors_of
from services.enrich.pipeline import Enriched, Report, enrich
from services.enrich.steps.links import (
    OPEN_WEIGHTS_TRACK,
    RELEASE_CATEGORIES,
    RELEASE_WORDS_SQL,
    is_release,
)
from shared import feed
from shared.content_hash import content_hash
from shared.dates import OccurredDate, parse_occurred
from shared.db import Event, EventLink, EventRecord, EventVersion, Outbox
from shared.events import EVENT_TYPE, event_uuid
from shared.views import event_document

DUPLICATE_WINDOW = timedelta(days=7)
LINK_WINDOW = timedelta(days=14)
# How far apart a near-duplicate can be: the storage window or the dedup rule's, the nearer.
DUPLICATE_REACH = min(DUPLICATE_WINDOW.days, MAX_DAYS_APART)


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
    # For an event extracted from an article: the sentences it came from and the extraction rules.
    extraction: dict[str, Any] | None = None


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
    failed: list[str] = field(default_factory=list)  # entries set aside (retried or dead-lettered)
    # Entries whose enrichment used up its CPU budget: dead-lettered by the caller, with why.
    over_budget: list[tuple[dict[str, str], str]] = field(default_factory=list)


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
        extraction = {
            "confidence": ex.confidence,
            "sentences": list(ex.sentences),
            "article": art["url"],
            "evidence": {k: [dict(e) for e in v] for k, v in ex.evidence.items()},
        }
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
                extraction=extraction,
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


class ConcurrentWrite(Exception):
    """Another worker stored one of this chunk's keys meanwhile; the chunk must be run again."""


def _columns(inc: Incoming, en: Enriched, occ: OccurredDate) -> dict[str, Any]:
    evidence = dict(en.evidence)
    raw: dict[str, Any] = {
        "data": inc.data,
        "time": inc.time.isoformat() if inc.time else None,
        "hash": content_hash(inc.data, inc.time),
    }
    if inc.extracted:
        extraction = inc.extraction or {}
        evidence["extraction"] = [
            {
                "rule": "article",
                "words": [],
                "confidence": inc.confidence,
                "sentences": list(extraction.get("sentences") or []),
                "article": extraction.get("article"),
            },
            *(e for evs in (extraction.get("evidence") or {}).values() for e in evs),
        ]
        raw["extraction"] = {"confidence": inc.confidence, **extraction}
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
        "anchors": anchors_of(en.title, en.summary, en.company).encode(),
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
        "raw": raw,
    }


# The stored events a chunk's new reports can be near-duplicates of or linked to, in blocks of
# bounded size (see `candidates`): per report, the nearest (by start date, from both sides, on
# the chronological indexes) canonical events of
# - its company within DUPLICATE_REACH days (near-duplicates, same story): NEAR_BLOCK;
# - its company and category within LINK_WINDOW (follow-ups): LINK_BLOCK;
# - every company within SAME_STORY_DAYS (the same story under another company): LINK_BLOCK;
# - releases of any company up to LINK_WINDOW earlier (the earlier event of a response; its
#   category and, for ASCII titles, its words: `links.is_release` decides): LINK_BLOCK;
# - when the report is itself a release, the events up to LINK_WINDOW later of its category (or
#   the open-weights track) or naming its company or one of its entity values (a non-ASCII value
#   is kept: case folding): LINK_BLOCK;
# and every wider span in the link window (few: ix_events_wide_spans, its predicate repeated).
# A block's size does not grow with the table: a dense week gives each report its nearest
# events, not all of them. `near` marks the rows of the first block (and wide ones of the
# company), the only ones coreference compares with. Only the columns the comparisons read.
#
# A narrow event (spanning at most NARROW_SPAN_DAYS) overlapping [lo, hi] starts in
# [lo - NARROW_SPAN_DAYS, hi]: each side's scan is bounded by index from both ends.
NARROW_SPAN_DAYS = 31
NEAR_BLOCK = 8
LINK_BLOCK = 4
_COLUMNS = "id, company, occurred, fingerprint, title, category, entity_values, anchors, summary"


def _nearest(where: str, lo: str, hi: str, limit: int, sides: str = "both") -> str:
    """The `limit` narrow canonical events matching `where` that start nearest before the
    report's start (within lo), and the `limit` nearest after it (within hi)."""
    # Composed at import from this module's constants only: no value reaches the text.
    narrow = f"duplicate_of IS NULL AND occurred_end - occurred_start <= {NARROW_SPAN_DAYS}"
    before = f"""(SELECT {_COLUMNS} FROM events
          WHERE {where} AND {narrow} AND occurred_start BETWEEN w.{lo}_narrow AND w.start
            AND occurred_end >= w.{lo}
          ORDER BY occurred_start DESC LIMIT {limit})"""  # noqa: S608
    after = f"""(SELECT {_COLUMNS} FROM events
          WHERE {where} AND {narrow} AND occurred_start > w.start AND occurred_start <= w.{hi}
          ORDER BY occurred_start LIMIT {limit})"""  # noqa: S608
    return {"before": before, "after": after, "both": f"{before} UNION ALL {after}"}[sides]


_RELEASE_SQL = (
    "category = ANY(CAST(:release_categories AS text[]))"
    " AND (title ~* :release_words OR title ~ :non_ascii)"
)
_RELEASE_LATER = (
    "(category = w.category OR (w.category = ANY(CAST(:track AS text[]))"
    " AND category = ANY(CAST(:track AS text[])))"
    " OR entity_values && CAST(:names AS text[])"
    " OR array_to_string(entity_values, ' ') ~ :non_ascii)"
)
_NEAR_ROWS = _nearest("company = w.company", "near_lo", "near_hi", NEAR_BLOCK)
_LINK_ROWS = " UNION ALL ".join(
    (
        _nearest("company = w.company AND category = w.category", "far_lo", "far_hi", LINK_BLOCK),
        _nearest("true", "near_lo", "near_hi", LINK_BLOCK),
        _nearest(_RELEASE_SQL, "far_lo", "far_hi", LINK_BLOCK, "before"),
    )
)
_RELEASE_ROWS = _nearest(_RELEASE_LATER, "far_lo", "far_hi", LINK_BLOCK, "after")
_CANDIDATES = text(
    f"""
    SELECT DISTINCT ON (e.id) e.id, e.company, e.occurred, e.fingerprint, e.title, e.category,
           e.entity_values, e.anchors, e.summary, e.near
    FROM unnest(CAST(:start AS date[]), CAST(:near_lo AS date[]), CAST(:near_lo_narrow AS date[]),
                CAST(:near_hi AS date[]), CAST(:far_lo AS date[]), CAST(:far_lo_narrow AS date[]),
                CAST(:far_hi AS date[]), CAST(:company AS text[]), CAST(:category AS text[]),
                CAST(:release AS boolean[]))
         AS w(start, near_lo, near_lo_narrow, near_hi, far_lo, far_lo_narrow, far_hi, company,
              category, release)
    JOIN LATERAL (
        SELECT b.*, true AS near FROM ({_NEAR_ROWS}) b
        UNION ALL
        SELECT b.*, false FROM ({_LINK_ROWS}) b
        UNION ALL
        SELECT b.*, false FROM ({_RELEASE_ROWS}) b WHERE w.release
        UNION ALL
        SELECT {_COLUMNS}, company = w.company FROM events x
        WHERE x.occurred_end >= w.far_lo AND x.occurred_start <= w.far_hi
          AND x.duplicate_of IS NULL AND x.occurred_end - x.occurred_start > {NARROW_SPAN_DAYS}
    ) e ON true
    ORDER BY e.id, e.near DESC
    """  # noqa: S608
)
_NON_ASCII = r"[^\u0001-\u007f]"
_ORDINAL_MIN, _ORDINAL_MAX = date.min.toordinal(), date.max.toordinal()
# How many links one new event may get: an event answering a busy week of releases would
# otherwise be linked to every release of its category by every company (the "same-category"
# rule), thousands at 10,000 events/s. The strongest are kept (`candidates.cap_links`).
MAX_LINKS_PER_EVENT = 20


def _shift(d: date, days: int) -> date:
    return date.fromordinal(min(_ORDINAL_MAX, max(_ORDINAL_MIN, d.toordinal() + days)))


@functools.lru_cache(maxsize=8192)
def _occurred(text: str) -> OccurredDate:
    return parse_occurred(text)


@dataclass(slots=True)
class _Prepared:
    inc: Incoming
    en: Enriched
    occ: OccurredDate
    cols: dict[str, Any]
    _known: Known | None = None

    def known(self) -> Known:
        """The report as a candidate (for finding its near-duplicate)."""
        if self._known is None:
            self._known = Known(
                self.inc.event_id,
                self.en.company,
                self.occ,
                self.en.fingerprint,
                self.en.title,
                self.en.category,
                tuple(self.cols["entity_values"]),
                tuple(self.cols["anchors"]),
                self.en.summary,
            )
        return self._known


class ChunkWriter:
    """Writes one chunk inside the caller's transaction, in a fixed number of round trips."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.now = datetime.now(UTC)
        self.result = ChunkResult()
        self._versions: list[dict[str, Any]] = []
        self._outbox: list[tuple[EventRecord, str, int]] = []  # event, kind, version announced
        self._links: dict[tuple[uuid.UUID, uuid.UUID, str], dict[str, Any]] = {}
        self._inserts: dict[uuid.UUID, EventRecord] = {}  # new rows, in chunk order
        self._updates: dict[uuid.UUID, EventRecord] = {}  # stored rows changed by this chunk

    # -- reads ---------------------------------------------------------------------------------
    # Rows are read and written as plain records (`EventRecord`), not ORM instances: the batched
    # statements below write every change, the session's unit of work has nothing to track.
    def _load_existing(self, items: list[_Prepared]) -> dict[tuple[str, str], EventRecord]:
        keys = sorted({(p.inc.source, p.inc.ce_id) for p in items})
        if not keys:
            return {}
        rows = self.s.execute(
            _SELECT_BY_KEYS,
            {"sources": [k[0] for k in keys], "ce_ids": [k[1] for k in keys]},
        ).mappings()
        records = [EventRecord(dict(r)) for r in rows]
        return {(r.source, r.ce_id): r for r in records}

    def _load_candidates(self, items: list[_Prepared]) -> list[Known]:
        """Stored canonical events the new reports could match or link to (one query)."""
        if not items:
            return []
        near, far = DUPLICATE_REACH, LINK_WINDOW.days
        keys = (
            "start",
            "near_lo",
            "near_lo_narrow",
            "near_hi",
            "far_lo",
            "far_lo_narrow",
            "far_hi",
            "company",
            "category",
            "release",
        )
        cols: dict[str, list[Any]] = {k: [] for k in keys}
        names: set[str] = set()
        for p in items:
            release = is_release(p.en.category, p.en.title)
            start, end = p.occ.start, p.occ.end
            cols["start"].append(start)
            cols["near_lo"].append(_shift(start, -near))
            cols["near_lo_narrow"].append(_shift(start, -near - NARROW_SPAN_DAYS))
            cols["near_hi"].append(_shift(end, near))
            cols["far_lo"].append(_shift(start, -far))
            cols["far_lo_narrow"].append(_shift(start, -far - NARROW_SPAN_DAYS))
            cols["far_hi"].append(_shift(end, far))
            cols["company"].append(p.en.company)
            cols["category"].append(p.en.category)
            cols["release"].append(release)
            if release:
                names.add(p.en.company)
                names.update(v.casefold() for v in p.cols["entity_values"])
        rows = self.s.execute(
            _CANDIDATES,
            {
                **cols,
                "release_categories": sorted(RELEASE_CATEGORIES),
                "track": sorted(OPEN_WEIGHTS_TRACK),
                "names": sorted(names),
                "release_words": RELEASE_WORDS_SQL,
                "non_ascii": _NON_ASCII,
            },
        ).all()
        return [
            Known(
                r.id,
                r.company,
                _occurred(r.occurred),
                r.fingerprint,
                r.title,
                r.category,
                tuple(r.entity_values or ()),
                tuple(r.anchors or ()),
                r.summary or "",
                coref=r.near,
            )
            for r in rows
        ]

    def _load_rows(self, known: list[Known]) -> None:
        """Full rows (locked) for the stored canonicals this chunk merges into."""
        wanted = {k.id: k for k in known if k.row is None}
        if not wanted:
            return
        rows = self.s.execute(_SELECT_BY_IDS, {"ids": sorted(wanted)}).mappings()
        for r in rows:
            wanted[r["id"]].row = EventRecord(dict(r))

    # -- decisions -----------------------------------------------------------------------------
    def _snapshot(self, ev: EventRecord) -> None:
        self._versions.append(
            {
                "event_id": ev.id,
                "version": ev.version,
                "recorded_at": ev.updated_at,
                "data": event_document(ev),
            }
        )

    def _announce(self, ev: EventRecord, kind: str) -> None:
        self._outbox.append((ev, kind, ev.version))

    def _correct(self, ev: EventRecord, p: _Prepared) -> Outcome:
        if ev.raw.get("hash") == p.cols["raw"]["hash"]:
            return Outcome(
                str(ev.id),
                "unchanged",
                version=ev.version,
                duplicate_of=str(ev.duplicate_of) if ev.duplicate_of else None,
            )
        # A correction replaces the report; what merging added (other reports' sources) stays.
        merged_sources = [s for s in ev.sources if s.get("url") not in _urls(p.cols["sources"])]
        kept: dict[str, Any] = {
            k: ev.evidence[k] for k in ("merged", "duplicate", "split") if k in ev.evidence
        }
        vars(ev).update(p.cols)
        if ev.evidence.get("merged"):
            ev.sources = [*p.cols["sources"], *merged_sources]
        ev.evidence = {**p.cols["evidence"], **kept}
        ev.version += 1
        ev.updated_at = self.now
        if ev.id not in self._inserts:
            self._updates[ev.id] = ev
        self._snapshot(ev)
        if ev.duplicate_of is None:
            self._announce(ev, "event.updated")
        return Outcome(str(ev.id), "updated", version=ev.version)

    def _merge_sources(self, canonical: EventRecord, p: _Prepared, why: dict[str, Any]) -> None:
        known = _urls(canonical.sources)
        added = [dict(s) for s in p.en.sources if s.get("url") not in known]
        if not added:
            return  # the same source told twice: nothing new for the canonical event
        evidence = dict(canonical.evidence)
        merged = {"event": str(p.inc.event_id), "title": p.en.title, **why}
        evidence["merged"] = [*evidence.get("merged", []), merged]
        canonical.evidence = evidence
        canonical.sources = [*canonical.sources, *added]
        if canonical.id in self._inserts:
            # Not stored yet: the one version this chunk records already has both sources.
            return
        canonical.version += 1
        canonical.updated_at = self.now
        self._updates[canonical.id] = canonical
        self._snapshot(canonical)
        self._announce(canonical, "event.updated")

    def _create(self, p: _Prepared, match: Match | None, others: CandidateIndex) -> Outcome:
        canonical = match[0] if match is not None else None
        ev = EventRecord(
            {
                "id": p.inc.event_id,
                "source": p.inc.source,
                "ce_id": p.inc.ce_id,
                "version": 1,
                "recorded_at": self.now,
                "updated_at": self.now,
                "duplicate_of": canonical.id if canonical is not None else None,
                **p.cols,
            }
        )
        why: dict[str, Any] = match[1] if match is not None else {}
        if canonical is not None:
            # What decided the merge (coref.explain: rule, score, shared anchors, words), on both
            # rows: the duplicate says what it joined, the canonical what joined it.
            evidence = dict(ev.evidence)
            evidence["duplicate"] = [{"of": str(canonical.id), "title": canonical.title, **why}]
            ev.evidence = evidence
        self._inserts[ev.id] = ev
        self._snapshot(ev)
        if canonical is not None:
            assert canonical.row is not None
            self._merge_sources(canonical.row, p, why)
            return Outcome(str(ev.id), "duplicate", duplicate_of=str(canonical.id))
        self._announce(ev, "event.created")
        if ev.transition_to:
            self._announce(ev, "phase.changed")
        me = p.known()
        me.row, me.new = ev, True
        for first, second, link in cap_links(others.links_of(me), MAX_LINKS_PER_EVENT):
            self._links.setdefault((first.id, second.id, link["kind"]), link)
        others.add(me)
        return Outcome(str(ev.id), "created")

    def _find_duplicate(self, p: _Prepared, others: CandidateIndex, start: int = 0) -> Match | None:
        return others.duplicate_of(p.known(), exclude=p.inc.event_id, start=start)

    def _lock_companies(self, items: list[_Prepared]) -> None:
        """Wait for any other chunk that is storing events of these companies to commit.

        Near-duplicates are found among the stored events of the same company, read in this
        transaction: a chunk written beside it by another worker process is invisible until it
        commits, and the same story would be stored twice. Transaction-level advisory locks, one
        per company, taken in one statement in a fixed order (no two chunks wait on each other).
        """
        companies = sorted({p.en.company for p in items})
        if companies:
            self.s.execute(_LOCK_COMPANIES, {"companies": companies})

    def write_all(self, items: list[_Prepared]) -> None:
        self._lock_companies(items)
        existing = self._load_existing(items)
        fresh = [p for p in items if (p.inc.source, p.inc.ce_id) not in existing]
        others = CandidateIndex(DUPLICATE_WINDOW.days, LINK_WINDOW.days)
        for known in self._load_candidates(fresh):
            others.add(known)
        stored = len(others)
        # Which stored canonicals will be merged into: load (and lock) their full rows first.
        # The index only grows (new events go after the stored ones), so a report's first match
        # among the stored events stays its first match; without one, only the events this
        # chunk adds are left to compare with.
        found = {id(p): self._find_duplicate(p, others) for p in fresh}
        self._load_rows([m[0] for m in found.values() if m is not None])
        by_key: dict[tuple[str, str], EventRecord] = dict(existing)
        for p in items:
            key = (p.inc.source, p.inc.ce_id)
            current = by_key.get(key)
            if current is not None:
                self.result.outcomes.append(self._correct(current, p))
                continue
            match = found[id(p)]  # every report without a stored key is fresh
            if match is None:
                match = self._find_duplicate(p, others, start=stored)
            if match is not None and match[0].row is None:
                match = None  # deleted since the candidate query: nothing to merge into
            outcome = self._create(p, match, others)
            by_key[key] = self._inserts[p.inc.event_id]
            self.result.outcomes.append(outcome)
        self._flush()

    # -- writes: one statement per table -------------------------------------------------------
    def _flush(self) -> None:
        # Each table's rows go as one JSON array parameter (orjson, in C) that PostgreSQL expands
        # with jsonb_populate_recordset: one short statement and one round trip per table,
        # nothing for the driver to render or parse per row (multi-row VALUES pages were
        # thousands of placeholders, parsed by psycopg on every chunk).
        conn = self.s.connection()
        rows = list(self._inserts.values())
        # Canonicals before the duplicates that point at them (foreign key on duplicate_of).
        rows.sort(key=lambda ev: ev.duplicate_of is not None)
        if rows:
            inserted = conn.execute(_INSERT_EVENTS, {"rows": _json([vars(ev) for ev in rows])})
            if len(inserted.all()) != len(rows):
                raise ConcurrentWrite("another worker stored some of these events meanwhile")
        if self._updates:
            updated = [vars(ev) for ev in self._updates.values()]
            conn.execute(_UPDATE_EVENTS, {"rows": _json(updated)})
        if self._versions:
            conn.execute(_INSERT_VERSIONS, {"rows": _json(self._versions)})
        if self._links:
            link_rows = [
                {"a": a, "b": b, "kind": kind, "evidence": link}
                for (a, b, kind), link in self._links.items()
            ]
            conn.execute(_INSERT_LINKS, {"rows": _json(link_rows)})
        outbox_rows = [
            {
                "event_id": ev.id,
                "version": version,
                "kind": kind,
                "correlation_id": ev.correlation_id,
            }
            for ev, kind, version in self._outbox
        ]
        if outbox_rows:
            ids = conn.execute(_INSERT_OUTBOX, {"rows": _json(outbox_rows)}).scalars().all()
            self.result.outbox_ids.extend(ids)
        for ev, kind, version in self._outbox:
            self.result.feed.append(feed.item(ev, kind, version))


def _urls(sources: list[dict[str, Any]]) -> set[Any]:
    return {s.get("url") for s in sources}


def _table(model: type[Any]) -> Table:
    return type_cast(Table, model.__table__)


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


_EVENTS = _table(Event)
_EVENT_COLUMNS = tuple(c.key for c in _EVENTS.columns if c.key != "search")
_UPDATE_COLUMNS = tuple(c for c in _EVENT_COLUMNS if c not in ("id", "source", "ce_id"))


def _recordset(table: Table, columns: Sequence[str]) -> TableValuedAlias:
    """The rows of the JSON array parameter `rows`, typed as `table`'s rows."""
    rows = cast(bindparam("rows", type_=Text), JSONB)
    record = literal_column(f"NULL::{table.name}", type_=Text)
    return func.jsonb_populate_recordset(record, rows).table_valued(*columns).alias("v")


def _insert_from_json(table: Table, columns: Sequence[str]) -> Insert:
    v = _recordset(table, columns)
    return pg_insert(table).from_select(list(columns), select(*(v.c[c] for c in columns)))


# One advisory lock per company (a 64-bit hash of its slug; a collision only makes two companies
# wait for each other), taken in ascending key order: the sorted subquery feeds the aggregate in
# order, so two chunks sharing companies take their common locks in the same order.
#
# The same statement turns JIT off for the rest of the transaction: the candidate query's estimated
# cost is far above jit_above_cost (100,000) once a chunk has hundreds of reports, and PostgreSQL
# spent ~4 s compiling it per chunk (EXPLAIN at 10,000 dense events) for a query that runs in
# milliseconds.
_LOCK_COMPANIES = text(
    """
    SELECT count(pg_advisory_xact_lock(k)), min(set_config('jit', 'off', true))
    FROM (SELECT DISTINCT hashtextextended('pivotwatch.enrich.company:' || c, 0) AS k
          FROM unnest(CAST(:companies AS text[])) AS c
          ORDER BY k) AS keys
    """
)
# The rows of a chunk's keys / of the canonicals to merge into, locked (a concurrent chunk waits).
_KEYS = (
    func.unnest(cast(bindparam("sources"), ARRAY(Text)), cast(bindparam("ce_ids"), ARRAY(Text)))
    .table_valued("source", "ce_id")
    .render_derived(name="k")
)
_SELECT_BY_KEYS = (
    select(*(_EVENTS.c[c] for c in _EVENT_COLUMNS))
    .join_from(
        _EVENTS, _KEYS, and_(_EVENTS.c.source == _KEYS.c.source, _EVENTS.c.ce_id == _KEYS.c.ce_id)
    )
    .order_by(_EVENTS.c.id)
    .with_for_update(of=_EVENTS)
)
_SELECT_BY_IDS = (
    select(*(_EVENTS.c[c] for c in _EVENT_COLUMNS))
    .where(_EVENTS.c.id == any_(cast(bindparam("ids"), ARRAY(UUID(as_uuid=True)))))
    .order_by(_EVENTS.c.id)
    .with_for_update()
)
_INSERT_EVENTS = (
    _insert_from_json(_EVENTS, _EVENT_COLUMNS)
    .on_conflict_do_nothing(constraint="uq_events_source_ce_id")
    .returning(_EVENTS.c.id)
)
_UPDATED = _recordset(_EVENTS, ("id", *_UPDATE_COLUMNS))
_UPDATE_EVENTS = (
    update(_EVENTS)
    .values({c: _UPDATED.c[c] for c in _UPDATE_COLUMNS})
    .where(_EVENTS.c.id == _UPDATED.c.id)
)
_INSERT_VERSIONS = _insert_from_json(
    _table(EventVersion), ("event_id", "version", "recorded_at", "data")
)
_INSERT_LINKS = _insert_from_json(
    _table(EventLink), ("a", "b", "kind", "evidence")
).on_conflict_do_nothing()
_INSERT_OUTBOX = _insert_from_json(
    _table(Outbox), ("event_id", "version", "kind", "correlation_id")
).returning(_table(Outbox).c.id)


def prepare(inc: Incoming) -> _Prepared:
    """Enrich one report (pure); raises ValueError/KeyError for a report it cannot read."""
    report = to_report(inc.data)
    en = enrich(report)
    return _Prepared(inc, en, report.occurred, _columns(inc, en, report.occurred))


def _prepare_entry(
    entry: dict[str, str],
) -> tuple[list[_Prepared], list[Incoming], dict[str, str]]:
    """One entry's reports, enriched: (prepared, reports, rejected event id -> reason)."""
    reports = decode_entry(entry)
    prepared: list[_Prepared] = []
    rejected: dict[str, str] = {}
    for inc in reports:
        try:
            prepared.append(prepare(inc))
        except (ValueError, KeyError, TypeError) as exc:
            rejected[str(inc.event_id)] = f"enrichment failed: {exc}"
    return prepared, reports, rejected


def store_chunk(
    session: Session, entries: list[dict[str, str]], cpu_seconds: float | None = None
) -> ChunkResult:
    """Decode, enrich and write every entry of a chunk; the caller commits. An entry whose
    decoding and enrichment take more than `cpu_seconds` of CPU is set aside (`over_budget`)
    and the rest of the chunk goes on."""
    writer = ChunkWriter(session)
    items: list[_Prepared] = []
    for entry in entries:
        try:
            with cpu_budget(cpu_seconds):
                prepared, reports, rejected = _prepare_entry(entry)
        except OverBudget:
            reason = f"enrichment used up its CPU budget of {cpu_seconds:g} s"
            writer.result.over_budget.append((entry, reason))
            continue
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
            # Ingest validated it; a malformed entry here is a bug or tampering. Record, go on.
            writer.result.rejected[entry.get("id", "?")] = f"undecodable entry: {exc}"
            continue
        if entry.get("kind") == "article":
            writer.result.articles[entry["id"]] = [str(r.event_id) for r in reports]
        items += prepared
        writer.result.rejected.update(rejected)
    if items:
        writer.write_all(items)
    return writer.result
