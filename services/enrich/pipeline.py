"""The enrichment pipeline: a reported event in, an explained, labelled event out.

normalize -> resolve company -> entities -> category -> phase -> stance -> importance ->
fingerprint. Pure and deterministic: no I/O, every label with the evidence that produced it.
Near-duplicates and links compare events with each other, so the storage worker runs them
(`steps.dedup`, `steps.links`) against what is already stored, using the fingerprint made here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.enrich.steps.category import categorize
from services.enrich.steps.companies import mentioned_companies, resolve_company
from services.enrich.steps.core import Evidence
from services.enrich.steps.dedup import simhash64
from services.enrich.steps.entities import extract_entities
from services.enrich.steps.importance import score_importance
from services.enrich.steps.normalize import normalize_sources, normalize_text
from services.enrich.steps.phase import phase_of, transition
from services.enrich.steps.stance import score_stance
from shared.dates import OccurredDate


@dataclass(frozen=True, slots=True)
class Report:
    company: str  # a slug or any alias ("OpenAI LP", "OpenAI Group PBC", "openai")
    occurred: OccurredDate
    title: str
    summary: str = ""
    body: str = ""
    sources: tuple[dict[str, str | None], ...] = ()  # each {"url", "publisher", "published_at"}
    tags: tuple[str, ...] = ()  # hints; a tag equal to a Category value is a strong hint
    actors: tuple[str, ...] = ()


@dataclass(slots=True)
class Enriched:
    """The pipeline's output for one report. Not frozen, though nothing changes it: a frozen
    dataclass's `__init__` sets each field through `object.__setattr__`, 3% of an event's
    instructions when the pipeline is compiled (callgrind)."""

    company: str
    company_name: str
    companies: tuple[str, ...]
    title: str
    summary: str
    body: str
    sources: tuple[dict[str, str | None], ...]
    entities: tuple[dict[str, Any], ...]
    category: str
    category_confidence: float
    phase: str | None
    transition_to: str | None
    stance: float
    importance: int
    fingerprint: int  # signed int64 SimHash of the normalized title and summary
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (tuples become lists, mappings are copied)."""
        return {
            "company": self.company,
            "company_name": self.company_name,
            "companies": list(self.companies),
            "title": self.title,
            "summary": self.summary,
            "body": self.body,
            "sources": [dict(s) for s in self.sources],
            "entities": [dict(e) for e in self.entities],
            "category": self.category,
            "category_confidence": self.category_confidence,
            "phase": self.phase,
            "transition_to": self.transition_to,
            "stance": self.stance,
            "importance": self.importance,
            "fingerprint": self.fingerprint,
            "evidence": {k: [dict(e) for e in v] for k, v in self.evidence.items()},
        }


def _entity_evidence(entities: list[dict[str, Any]]) -> list[Evidence]:
    by_rule: dict[str, list[str]] = {}
    for ent in entities:
        by_rule.setdefault(f"{ent['kind']}:{ent['evidence']}", []).append(str(ent["text"]))
    return [{"rule": rule, "words": list(dict.fromkeys(words))} for rule, words in by_rule.items()]


def enrich(report: Report) -> Enriched:
    """Enrich one reported event."""
    title = normalize_text(report.title)
    summary = normalize_text(report.summary)
    body = normalize_text(report.body)
    text = "\n".join(part for part in (title, summary, body) if part)
    sources, source_ev = normalize_sources(report.sources)

    slug, name, company_ev = resolve_company(report.company)
    mentions = mentioned_companies(text)
    others = [(s, ev) for s, ev in mentions if s != slug]
    entities = extract_entities(text, report.actors, mentions=mentions)
    category, confidence, category_ev = categorize(title, summary, body, report.tags, slug)
    phase, phase_ev = phase_of(slug, report.occurred)
    opens, transition_ev = transition(slug, report.occurred, f"{title}\n{summary}")
    stance, stance_ev = score_stance(text)
    importance, importance_ev = score_importance(
        category, entities, transition=opens is not None, sources=sources, company=slug
    )

    ev: dict[str, list[Evidence]] = {
        "company": [company_ev],
        "companies": [e for _, e in others],
        "entities": _entity_evidence(entities),
        "category": category_ev,
        "phase": phase_ev,
        "transition": transition_ev,
        "stance": stance_ev,
        "importance": importance_ev,
        "fingerprint": [{"rule": "simhash64", "words": [], "of": "title+summary"}],
    }
    if source_ev:
        ev["sources"] = source_ev
    return Enriched(
        company=slug,
        company_name=name,
        companies=tuple(s for s, _ in others),
        title=title,
        summary=summary,
        body=body,
        sources=sources,
        entities=tuple(entities),
        category=category,
        category_confidence=confidence,
        phase=phase,
        transition_to=opens,
        stance=stance,
        importance=importance,
        fingerprint=simhash64(f"{title} {summary}"),
        evidence=ev,
    )
