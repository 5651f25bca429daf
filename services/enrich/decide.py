"""Store a chunk of reports in one PostgreSQL transaction: events, versions, links, outbox.

The key is CloudEvents source + id. A replayed or redelivered report changes nothing; a report whose
content differs is a correction and becomes a new version; a report of a happening already stored
under another key becomes a duplicate row pointing at the canonical event, whose sources grow (a
new version of the canonical). The raw report is kept (`events.raw`) for re-enrichment.

This module decides; `decode` reads and enriches the entries, `persist` holds the SQL (a fixed
number of round trips per chunk). Decisions are made in memory in chunk order, so a duplicate or
a correction of an event earlier in the same chunk is handled as if they had come one by one.
The caller commits; afterwards it announces what changed (`ChunkResult`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from services.enrich import persist
from services.enrich.budget import OverBudget, cpu_budget
from services.enrich.candidates import (
    DUPLICATE_WINDOW,
    LINK_WINDOW,
    CandidateIndex,
    Match,
    cap_links,
)
from services.enrich.decode import Prepared, prepare_entry
from shared import feed
from shared.db import EventRecord
from shared.views import event_document

# How many links one new event may get: an event answering a busy week of releases would
# otherwise be linked to every release of its category by every company (the "same-category"
# rule), thousands at 10,000 events/s. The strongest are kept (`candidates.cap_links`).
MAX_LINKS_PER_EVENT = 20


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


class ChunkWriter:
    """Decides what one chunk changes and writes it inside the caller's transaction."""

    # Rows are read and written as plain records (`EventRecord`), not ORM instances: the batched
    # statements of `persist` write every change, the session's unit of work has nothing to track.
    def __init__(self, session: Session) -> None:
        self.s = session
        self.now = datetime.now(UTC)
        self.result = ChunkResult()
        self.pending = persist.Pending()

    def _snapshot(self, ev: EventRecord) -> None:
        self.pending.versions.append(
            {
                "event_id": ev.id,
                "version": ev.version,
                "recorded_at": ev.updated_at,
                "data": event_document(ev),
            }
        )

    def _announce(self, ev: EventRecord, kind: str) -> None:
        self.pending.outbox.append((ev, kind, ev.version))

    def _correct(self, ev: EventRecord, p: Prepared) -> Outcome:
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
        if ev.id not in self.pending.inserts:
            self.pending.updates[ev.id] = ev
        self._snapshot(ev)
        if ev.duplicate_of is None:
            self._announce(ev, "event.updated")
        return Outcome(str(ev.id), "updated", version=ev.version)

    def _merge_sources(self, canonical: EventRecord, p: Prepared, why: dict[str, Any]) -> None:
        known = _urls(canonical.sources)
        added = [dict(s) for s in p.en.sources if s.get("url") not in known]
        if not added:
            return  # the same source told twice: nothing new for the canonical event
        evidence = dict(canonical.evidence)
        merged = {"event": str(p.inc.event_id), "title": p.en.title, **why}
        evidence["merged"] = [*evidence.get("merged", []), merged]
        canonical.evidence = evidence
        canonical.sources = [*canonical.sources, *added]
        if canonical.id in self.pending.inserts:
            # Not stored yet: the one version this chunk records already has both sources.
            return
        canonical.version += 1
        canonical.updated_at = self.now
        self.pending.updates[canonical.id] = canonical
        self._snapshot(canonical)
        self._announce(canonical, "event.updated")

    def _create(self, p: Prepared, match: Match | None, others: CandidateIndex) -> Outcome:
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
        self.pending.inserts[ev.id] = ev
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
            self.pending.links.setdefault((first.id, second.id, link["kind"]), link)
        others.add(me)
        return Outcome(str(ev.id), "created")

    def _find_duplicate(self, p: Prepared, others: CandidateIndex, start: int = 0) -> Match | None:
        return others.duplicate_of(p.known(), exclude=p.inc.event_id, start=start)

    def write_all(self, items: list[Prepared]) -> None:
        persist.lock_companies(self.s, items)
        existing = persist.load_existing(self.s, items)
        fresh = [p for p in items if (p.inc.source, p.inc.ce_id) not in existing]
        others = CandidateIndex(DUPLICATE_WINDOW.days, LINK_WINDOW.days)
        for known in persist.load_candidates(self.s, fresh):
            others.add(known)
        stored = len(others)
        # Which stored canonicals will be merged into: load (and lock) their full rows first.
        # The index only grows (new events go after the stored ones), so a report's first match
        # among the stored events stays its first match; without one, only the events this
        # chunk adds are left to compare with.
        found = {id(p): self._find_duplicate(p, others) for p in fresh}
        persist.load_rows(self.s, [m[0] for m in found.values() if m is not None])
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
            by_key[key] = self.pending.inserts[p.inc.event_id]
            self.result.outcomes.append(outcome)
        self.result.outbox_ids.extend(persist.write(self.s, self.pending))
        for ev, kind, version in self.pending.outbox:
            self.result.feed.append(feed.item(ev, kind, version))


def _urls(sources: list[dict[str, Any]]) -> set[Any]:
    return {s.get("url") for s in sources}


def store_chunk(
    session: Session, entries: list[dict[str, str]], cpu_seconds: float | None = None
) -> ChunkResult:
    """Decode, enrich and write every entry of a chunk; the caller commits. An entry whose
    decoding and enrichment take more than `cpu_seconds` of CPU is set aside (`over_budget`)
    and the rest of the chunk goes on."""
    writer = ChunkWriter(session)
    items: list[Prepared] = []
    for entry in entries:
        try:
            with cpu_budget(cpu_seconds):
                prepared, reports, rejected = prepare_entry(entry)
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
