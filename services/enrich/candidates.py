"""Which known events a new one can be a near-duplicate of, or linked to, without meeting them all.

A chunk compares each new event with the stored and new events near its dates. Comparing with all
of them costs (chunk x window) calls of `coref.decide` and `relate`; most pairs cannot match.
`CandidateIndex` buckets the known events by what a match *needs*, so each new event meets only
the events that share such a key, and then applies the very same tests in the same order: the
result is identical to the exhaustive comparison (`duplicate_exhaustive`, `links_exhaustive`, which
the tests compare it with).

What a match needs (from `coref.decide` and `links.relate`):
- same happening (`coref.decide`): the same company, at most MAX_DAYS_APART days apart, and a
  shared content word (headline or summary) or anchor: with neither, a pair scores at most the
  category's weight, below the merge score;
- link (at most `link_days` apart): a shared title term (same-story and follow-up by terms), a
  shared entity value (same-story and follow-up by entities, a response naming the release), or a
  release: the earlier of a response is a release (`links.is_release`), so every release is a
  candidate of every event, and when the new event is a release, the events of its category (or
  of the open-weights track) and those naming its company are too.
Every key is also bucketed by time (SLOT_DAYS slots of the event's span), so an event meets only
keys' events within reach of its dates; spans too wide for MAX_SLOTS slots are kept apart and
always met.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from services.enrich import coref
from services.enrich.coref import MAX_DAYS_APART, Anchors, Mention
from services.enrich.steps.dedup import days_apart, title_terms
from services.enrich.steps.links import OPEN_WEIGHTS_TRACK, LinkCandidate, is_release, relate
from shared.dates import OccurredDate

SLOT_DAYS = 16
MAX_SLOTS = 32  # a span over ~1.4 years (an interval, an open end) goes to the always-met list


@dataclass(slots=True)
class Known:
    """What the chunk knows of one event: a stored row, or a row this chunk will insert."""

    id: uuid.UUID
    company: str
    occ: OccurredDate
    fingerprint: int
    title: str
    category: str
    entity_values: tuple[str, ...]
    anchors: tuple[str, ...] = ()  # `coref.Anchors.encode()`, as stored
    summary: str = ""
    row: Any = None  # the full stored row once loaded (corrections, merges)
    new: bool = False
    _terms: frozenset[str] | None = field(default=None, repr=False)
    _values: frozenset[str] | None = field(default=None, repr=False)
    _release: bool | None = field(default=None, repr=False)
    _mention: Mention | None = field(default=None, repr=False)

    @property
    def terms(self) -> frozenset[str]:
        if self._terms is None:
            self._terms = title_terms(self.title, self.company)
        return self._terms

    def mention(self) -> Mention:
        if self._mention is None:
            self._mention = Mention(
                self.company,
                self.occ,
                self.category,
                self.title,
                Anchors.decode(self.anchors),
                self.summary,
            )
        return self._mention

    def coref_keys(self) -> list[Hashable]:
        """The blocks of coreference: company x (content word | anchor)."""
        m = self.mention()
        keys: list[Hashable] = [("dt", self.company, w) for w in m.text_words]
        keys += [("da", self.company, kind, v) for kind, vs in m.anchors.more.items() for v in vs]
        return keys

    def link(self) -> LinkCandidate:
        return LinkCandidate(self.company, self.occ, self.category, self.title, self.entity_values)

    def values(self) -> frozenset[str]:
        # Computed once: an event is indexed once and met by many (add, links_of).
        if self._values is None:
            self._values = frozenset(v.casefold() for v in self.entity_values)
        return self._values

    def release(self) -> bool:
        if self._release is None:
            self._release = is_release(self.category, self.title)
        return self._release


Link = tuple[Known, Known, dict[str, Any]]  # first (earlier), second, evidence
Match = tuple[Known, dict[str, Any]]  # the canonical event, the evidence of the merge


def _ordered(me: Known, other: Known) -> tuple[Known, Known]:
    return (other, me) if other.occ.start <= me.occ.start else (me, other)


# -- the exhaustive comparison (the reference the index must equal) ------------------------------
def duplicate_exhaustive(
    others: Iterable[Known], new: Known, max_days: int, exclude: uuid.UUID | None = None
) -> Match | None:
    """The first of `others` that tells the same happening as `new` (same company, within
    `max_days`), with the evidence."""
    me = new.mention()
    for other in others:
        if other.id == exclude or other.company != new.company:
            continue
        if days_apart(other.occ, new.occ) > max_days:
            continue
        found = coref.decide(other.mention(), me)
        if found is not None:
            return other, found
    return None


def links_exhaustive(others: Iterable[Known], me: Known, max_days: int) -> list[Link]:
    """Every link between `me` and one of `others` at most `max_days` apart, in `others` order."""
    out = []
    for other in others:
        if other.id == me.id or days_apart(me.occ, other.occ) > max_days:
            continue
        first, second = _ordered(me, other)
        link = relate(first.link(), second.link())
        if link is not None:
            out.append((first, second, link))
    return out


# -- the index ------------------------------------------------------------------------------------
class CandidateIndex:
    """Known events in insertion order, bucketed by the keys a match needs and by time."""

    def __init__(self, dedup_days: int, link_days: int) -> None:
        self.dedup_days = dedup_days
        self.link_days = link_days
        self.items: list[Known] = []
        self._slots: dict[Hashable, dict[int, list[int]]] = {}
        self._wide: dict[Hashable, list[int]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, k: Known) -> None:
        pos = len(self.items)
        self.items.append(k)
        terms = k.terms
        keys = k.coref_keys()
        keys += [("t", t) for t in terms]
        keys += [("e", v) for v in k.values()]
        keys.append(("c", k.category))
        if k.release():
            keys.append(("r",))
        lo, hi = k.occ.start.toordinal() // SLOT_DAYS, k.occ.end.toordinal() // SLOT_DAYS
        if hi - lo >= MAX_SLOTS:
            for key in keys:
                self._wide.setdefault(key, []).append(pos)
            return
        slots = self._slots
        for key in keys:
            bucket = slots.get(key)
            if bucket is None:
                bucket = slots[key] = {}
            for s in range(lo, hi + 1):
                at = bucket.get(s)
                if at is None:
                    bucket[s] = [pos]
                else:
                    at.append(pos)

    def _positions(self, keys: Iterable[Hashable], occ: OccurredDate, reach: int) -> list[int]:
        lo = (occ.start.toordinal() - reach) // SLOT_DAYS
        hi = (occ.end.toordinal() + reach) // SLOT_DAYS
        found: set[int] = set()
        for key in keys:
            wide = self._wide.get(key)
            if wide:
                found.update(wide)
            bucket = self._slots.get(key)
            if not bucket:
                continue
            if hi - lo + 1 <= len(bucket):
                for s in range(lo, hi + 1):
                    at = bucket.get(s)
                    if at:
                        found.update(at)
            else:
                for s, at in bucket.items():
                    if lo <= s <= hi:
                        found.update(at)
        return sorted(found)

    def duplicate_of(
        self, new: Known, exclude: uuid.UUID | None = None, start: int = 0
    ) -> Match | None:
        """`duplicate_exhaustive(self.items[start:], new, self.dedup_days, exclude)`, quicker."""
        keys = new.coref_keys()
        items, reach = self.items, min(self.dedup_days, MAX_DAYS_APART)
        return duplicate_exhaustive(
            (items[i] for i in self._positions(keys, new.occ, reach) if i >= start),
            new,
            self.dedup_days,
            exclude,
        )

    def links_of(self, me: Known) -> list[Link]:
        """`links_exhaustive(self.items, me, self.link_days)`, quicker."""
        keys: list[Hashable] = [("t", t) for t in me.terms]
        values = me.values()
        keys += [("e", v) for v in values]
        keys.append(("r",))
        if me.release():
            keys.append(("c", me.category))
            if me.category in OPEN_WEIGHTS_TRACK:
                keys += [("c", c) for c in OPEN_WEIGHTS_TRACK]
            keys.append(("e", me.company))
        items = self.items
        return links_exhaustive(
            (items[i] for i in self._positions(keys, me.occ, self.link_days)), me, self.link_days
        )


# -- the cap --------------------------------------------------------------------------------------
_KIND_RANK = {"same-story": 0, "follow-up": 1, "response": 2}
_RULE_RANK = {"names-the-release": 0}


def cap_links(links: list[Link], limit: int) -> list[Link]:
    """At most `limit` links, the strongest first: same story, then follow-ups, then responses
    (those naming the release before those only of the same category), nearer dates first."""
    if len(links) <= limit:
        return links
    ranked = sorted(
        enumerate(links),
        key=lambda il: (
            _KIND_RANK.get(il[1][2]["kind"], 9),
            _RULE_RANK.get(il[1][2]["rule"], 1),
            days_apart(il[1][0].occ, il[1][1].occ),
            il[0],
        ),
    )
    return [link for _, link in ranked[:limit]]
