"""Decode a stream entry into the reports it carries and enrich each one (pure, no SQL).

An event entry carries one report; an article entry the happenings its extractor finds, each a
report of its own keyed by the article's id and its sentences. `prepare` enriches a report and
computes the columns its row will have, raw report and content hash included.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from services.enrich.articles import extract_events
from services.enrich.candidates import Known
from services.enrich.coref import anchors_of
from services.enrich.pipeline import Enriched, Report, enrich
from shared.content_hash import content_hash
from shared.dates import OccurredDate, parse_occurred
from shared.events import EVENT_TYPE, event_uuid


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


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def decode_entry(entry: dict[str, str]) -> list[Incoming]:
    """A stream entry (event or article) -> the reports it carries."""
    ce = orjson.loads(entry["ce"])
    received = datetime.fromisoformat(entry["received_at"])
    cid = entry.get("cid") or None
    if entry.get("kind") == "article":
        return article_reports(ce, received, cid)
    return [
        Incoming(
            event_id=uuid.UUID(entry["id"]),
            source=ce["source"],
            ce_id=ce["id"],
            type=ce.get("type", EVENT_TYPE),
            data=ce["data"],
            time=parse_time(ce.get("time")),
            received_at=received,
            correlation_id=cid,
        )
    ]


def article_reports(ce: dict[str, Any], received: datetime, cid: str | None) -> list[Incoming]:
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


def columns_of(inc: Incoming, en: Enriched, occ: OccurredDate) -> dict[str, Any]:
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


@functools.lru_cache(maxsize=8192)
def occurred_of(text: str) -> OccurredDate:
    return parse_occurred(text)


@dataclass(slots=True)
class Prepared:
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


def prepare(inc: Incoming) -> Prepared:
    """Enrich one report (pure); raises ValueError/KeyError for a report it cannot read."""
    report = to_report(inc.data)
    en = enrich(report)
    return Prepared(inc, en, report.occurred, columns_of(inc, en, report.occurred))


def prepare_entry(
    entry: dict[str, str],
) -> tuple[list[Prepared], list[Incoming], dict[str, str]]:
    """One entry's reports, enriched: (prepared, reports, rejected event id -> reason)."""
    reports = decode_entry(entry)
    prepared: list[Prepared] = []
    rejected: dict[str, str] = {}
    for inc in reports:
        try:
            prepared.append(prepare(inc))
        except (ValueError, KeyError, TypeError) as exc:
            rejected[str(inc.event_id)] = f"enrichment failed: {exc}"
    return prepared, reports, rejected
