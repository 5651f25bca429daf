"""Which known events a new one can be a near-duplicate of, or linked to, without meeting them all.

A chunk compares each new event with the stored and new events near its dates. Comparing with all
of them costs (chunk x window) calls of `near_duplicate` and `relate`; most pairs cannot match.
`CandidateIndex` buckets the known events by what a match *needs*, so each new event meets only
the events that share such a key, and then applies the very same tests in the same order: the
result is identical to the exhaustive comparison (`duplicate_exhaustive`, `links_exhaustive`, which
the tests compare it with).

What a match needs (from `dedup.near_duplicate` and `links.relate`):
- near-duplicate: the same company, at most MAX_DAYS_APART days apart, and either fingerprints at
  most HAMMING_ALONE bits apart -- then, by pigeonhole, one of HAMMING_ALONE + 1 bands of the
  fingerprint is equal -- or a shared title term (every other rule needs a Jaccard > 0 or shared
  terms);
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

from services.enrich.steps.dedup import (
    HAMMING_ALONE,
    MASK64,
    MAX_DAYS_APART,
    Candidate,
    days_apart,
    near_duplicate,
    title_terms,
)
from services.enrich.steps.links import OPEN_WEIGHTS_TRACK, LinkCandidate, is_release, relate
from shared.dates import OccurredDate

SLOT_DAYS = 16
MAX_SLOTS = 32  # a span over ~1.4 years (an interval, an open end) goes to the always-met list
BANDS = HAMMING_ALONE + 1
_BAND_BITS = [64 // BANDS + (1 if i < 64 % BANDS else 0) for i in range(BANDS)]


def fingerprint_bands(fingerprint: int) -> list[tuple[int, int]]:
    """(band number, value) of each of BANDS slices of the 64-bit fingerprint."""
    value = fingerprint & MASK64
    out = []
    for i, bits in enumerate(_BAND_BITS):
        out.append((i, value & ((1 << bits) - 1)))
        value >>= bits
    return out


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
    row: Any = None  # the full stored row once loaded (corrections, merges)
    new: bool = False
    _terms: frozenset[str] | None = field(default=None, repr=False)
    _values: frozenset[str] | None = field(default=None, repr=False)
    _release: bool | None = field(default=None, repr=False)

    @property
    def terms(self) -> frozenset[str]:
        if self._terms is None:
            self._terms = title_terms(self.title, self.company)
        return self._terms

    def dedup(self) -> Candidate:
        return Candidate(self.company, self.occ, self.fingerprint, self.title)

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


def _ordered(me: Known, other: Known) -> tuple[Known, Known]:
    return (other, me) if other.occ.start <= me.occ.start else (me, other)


# -- the exhaustive comparison (the reference the index must equal) ------------------------------
def duplicate_exhaustive(
    others: Iterable[Known], new: Known, max_days: int, exclude: uuid.UUID | None = None
) -> Known | None:
    """The first of `others` that `new` near-duplicates (same company, within `max_days`)."""
    cand = new.dedup()
    for other in others:
        if other.id == exclude or other.company != new.company:
            continue
        if days_apart(other.occ, new.occ) > max_days:
            continue
        if near_duplicate(other.dedup(), cand) is not None:
            return other
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
        keys: list[Hashable] = [("dt", k.company, t) for t in terms]
        keys += [("db", k.company, i, v) for i, v in fingerprint_bands(k.fingerprint)]
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
    ) -> Known | None:
        """`duplicate_exhaustive(self.items[start:], new, self.dedup_days, exclude)`, quicker."""
        keys: list[Hashable] = [("dt", new.company, t) for t in new.terms]
        keys += [("db", new.company, i, v) for i, v in fingerprint_bands(new.fingerprint)]
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
