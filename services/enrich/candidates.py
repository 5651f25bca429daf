"""Which known events a new one can be a near-duplicate of, or linked to, without meeting them all.

A chunk compares each new event with the stored and new events near its dates. Comparing with all
of them costs (chunk x window) calls of `coref.decide` and `relate`, and in a dense year the window
holds thousands of events. `CandidateIndex` buckets the known events by what a match *needs* (the
blocks: company x content word or anchor, title term, entity value, release) and by day, and a new
event meets, per key, only the BLOCK_CAP nearest events of that block: the cost per event is
O(keys x BLOCK_CAP), whatever the window holds. Then it applies the very same tests in the same
order.

What a match needs (from `coref.decide` and `links.relate`):
- same happening (`coref.decide`): the same company, at most MAX_DAYS_APART days apart, and a
  shared content word (headline or summary) or anchor: with neither, a pair scores at most the
  category's weight, below the merge score;
- link (at most `link_days` apart): a shared title term (same-story and follow-up by terms), a
  shared entity value (same-story and follow-up by entities, a response naming the release), or a
  release: the earlier of a response is a release (`links.is_release`), so every release is a
  candidate of every event, and when the new event is a release, the events of its category (or
  of the open-weights track) and those naming its company are too.

The cap. A block larger than BLOCK_CAP within reach is a common word ("model", "round"), a busy
category or the releases of a busy fortnight: sharing it says little, and its nearest events are
the likeliest matches (a retelling comes the same day or the next; `cap_links` keeps the nearest
responses). A pair that also shares a rarer key (a model and version, an amount, a person, a rare
term) still meets through that key's block. So the result is the exhaustive comparison's over
the capped candidates: `duplicate_capped` and `links_capped` (what the tests compare the index
with), a subset of `duplicate_exhaustive` / `links_exhaustive`, and equal to them while no block
exceeds the cap (the sparse mix, any `cap=None` index).
Events spanning over NARROW_DAYS (years, intervals, open ends) are few: they are kept apart and
always met when within reach, not capped.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from services.enrich import coref
from services.enrich.coref import MAX_DAYS_APART, Anchors, Mention
from services.enrich.steps.dedup import days_apart, title_terms
from services.enrich.steps.links import (
    OPEN_WEIGHTS_TRACK,
    RESPONSE_DAYS,
    SAME_STORY_DAYS,
    LinkCandidate,
    is_release,
    relate,
)
from shared.dates import OccurredDate

# How far the stored events a new report is compared with reach: near-duplicates within
# DUPLICATE_WINDOW (or the coreference rule's own reach, the nearer), links within LINK_WINDOW.
DUPLICATE_WINDOW = timedelta(days=7)
LINK_WINDOW = timedelta(days=14)
DUPLICATE_REACH = min(DUPLICATE_WINDOW.days, MAX_DAYS_APART)

# Events a new event meets per key: its nearest in time. Sized so that the comparisons per event
# cost less than the rest of storing it (docs/benchmarks.md, "Dense timeline").
BLOCK_CAP = 16
NARROW_DAYS = 31  # a day or a month is bucketed by day; a wider span is always met


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
    # Whether coreference compares with it: a stored row the candidate query found only for links
    # (another company, or farther than coreference reaches) is not put in the coreference blocks.
    coref: bool = True
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

    def index_keys(self) -> list[Hashable]:
        """Every block the event is in (what `coref_keys` and `link_keys` look up)."""
        keys = self.coref_keys() if self.coref else []
        keys += [("t", t) for t in self.terms]
        keys += [("e", v) for v in self.values()]
        keys.append(("c", self.category))
        if self.release():
            keys.append(("r",))
        return keys

    def link_keys(self) -> list[Hashable]:
        """The blocks a link of this event is found in."""
        keys: list[Hashable] = [("t", t) for t in self.terms]
        keys += [("e", v) for v in self.values()]
        keys.append(("r",))
        if self.release():
            keys.append(("c", self.category))
            if self.category in OPEN_WEIGHTS_TRACK:
                keys += [("c", c) for c in sorted(OPEN_WEIGHTS_TRACK - {self.category})]
            keys.append(("e", self.company))
        return list(dict.fromkeys(keys))

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


def may_link(first: Known, second: Known) -> bool:
    """False only when `relate` finds no link between the two (a quick test of what each of its
    rules needs; a property test pins it to `relate`)."""
    a, b = first.values(), second.values()
    shared = not a.isdisjoint(b)
    common = shared or not first.terms.isdisjoint(second.terms)
    gap = days_apart(first.occ, second.occ)
    if gap <= SAME_STORY_DAYS and common:
        return True
    if first.company == second.company:
        return first.category == second.category and common
    lag = abs(second.occ.start.toordinal() - first.occ.start.toordinal())
    return (
        lag <= RESPONSE_DAYS
        and (first.release() or second.release())
        and (
            shared
            or first.company in b
            or second.company in a
            or first.category == second.category
            or {first.category, second.category} <= OPEN_WEIGHTS_TRACK
        )
    )


# -- the same comparisons over capped blocks, the plain way (the reference the index must equal) --
def _nearest(
    items: list[Known], key: Hashable, occ: OccurredDate, reach: int, start: int, cap: int | None
) -> list[int]:
    """The positions of the events of `items[start:]` in `key`'s block at most `reach` days from
    `occ`: every wide one, and the `cap` nearest narrow ones (then the earliest inserted)."""
    narrow: list[tuple[int, int]] = []
    wide: list[int] = []
    for i in range(start, len(items)):
        k = items[i]
        gap = days_apart(k.occ, occ)
        if gap > reach or key not in k.index_keys():
            continue
        if k.occ.end.toordinal() - k.occ.start.toordinal() > NARROW_DAYS:
            wide.append(i)
        else:
            narrow.append((gap, i))
    narrow.sort()
    return wide + [i for _, i in narrow[:cap]]


def capped_candidates(
    items: list[Known],
    keys: Iterable[Hashable],
    occ: OccurredDate,
    reach: int,
    cap: int | None,
    start: int = 0,
) -> list[Known]:
    """The events a capped index meets for these keys, in insertion order."""
    found: set[int] = set()
    for key in keys:
        found.update(_nearest(items, key, occ, reach, start, cap))
    return [items[i] for i in sorted(found)]


def duplicate_capped(
    items: list[Known],
    new: Known,
    max_days: int,
    cap: int | None,
    exclude: uuid.UUID | None = None,
    start: int = 0,
) -> Match | None:
    """`duplicate_exhaustive` over the events each of `new`'s coreference keys' capped blocks."""
    reach = min(max_days, MAX_DAYS_APART)
    others = capped_candidates(items, new.coref_keys(), new.occ, reach, cap, start)
    return duplicate_exhaustive(others, new, max_days, exclude)


def links_capped(items: list[Known], me: Known, max_days: int, cap: int | None) -> list[Link]:
    """`links_exhaustive` over the events of `me`'s link keys' capped blocks."""
    others = capped_candidates(items, me.link_keys(), me.occ, max_days, cap)
    return links_exhaustive(others, me, max_days)


# -- the index ------------------------------------------------------------------------------------
class CandidateIndex:
    """Known events in insertion order, bucketed by the keys a match needs and by day.

    With `cap` (the default BLOCK_CAP) each key of a new event yields at most `cap` narrow events:
    its nearest in time (then the earliest inserted); `cap=None` yields every one, which is the
    exhaustive comparison's result (see the module docstring).
    """

    def __init__(self, dedup_days: int, link_days: int, cap: int | None = BLOCK_CAP) -> None:
        self.dedup_days = dedup_days
        self.link_days = link_days
        self.cap = cap
        self.items: list[Known] = []
        self._days: dict[Hashable, dict[int, list[int]]] = {}
        self._wide: dict[Hashable, list[int]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, k: Known) -> None:
        pos = len(self.items)
        self.items.append(k)
        lo, hi = k.occ.start.toordinal(), k.occ.end.toordinal()
        if hi - lo > NARROW_DAYS:
            for key in k.index_keys():
                self._wide.setdefault(key, []).append(pos)
            return
        days = self._days
        for key in k.index_keys():
            bucket = days.get(key)
            if bucket is None:
                bucket = days[key] = {}
            for d in range(lo, hi + 1):
                at = bucket.get(d)
                if at is None:
                    bucket[d] = [pos]
                else:
                    at.append(pos)  # ascending: positions only grow

    def _block(self, key: Hashable, occ: OccurredDate, reach: int, start: int) -> list[int]:
        """The positions (>= start) of the key's events at most `reach` days from `occ`: every
        wide one, and of the narrow ones the `cap` nearest (then the earliest inserted)."""
        s, e = occ.start.toordinal(), occ.end.toordinal()
        out = [
            i
            for i in self._wide.get(key, ())
            if i >= start and days_apart(self.items[i].occ, occ) <= reach
        ]
        bucket = self._days.get(key)
        if not bucket:
            return out
        lo, hi = s - reach, e + reach
        if hi - lo + 1 <= len(bucket):
            days: Iterable[int] = range(lo, hi + 1)
        else:
            days = [d for d in bucket if lo <= d <= hi]
        by_distance: dict[int, list[list[int]]] = {}
        for d in days:
            at = bucket.get(d)
            if at:
                by_distance.setdefault(max(0, s - d, d - e), []).append(at)
        need = self.cap if self.cap is not None else len(self.items)
        seen: set[int] = set()
        for dist in sorted(by_distance):
            group: set[int] = set()
            for at in by_distance[dist]:
                # Each day's list is ascending: its first `need` unseen positions are enough.
                taken = 0
                for i in at[bisect.bisect_left(at, start) :]:
                    if i in seen or i in group:
                        continue
                    group.add(i)
                    taken += 1
                    if taken == need:
                        break
            chosen = sorted(group)[:need]
            seen.update(chosen)
            need -= len(chosen)
            if need == 0:
                break
        out.extend(seen)
        return out

    def _candidates(
        self, keys: Iterable[Hashable], occ: OccurredDate, reach: int, start: int = 0
    ) -> list[int]:
        found: set[int] = set()
        for key in keys:
            found.update(self._block(key, occ, reach, start))
        return sorted(found)

    def duplicate_of(
        self, new: Known, exclude: uuid.UUID | None = None, start: int = 0
    ) -> Match | None:
        """`duplicate_capped(self.items, new, ..., start, self.cap)`, quicker; with `cap=None`,
        `duplicate_exhaustive(self.items[start:], new, self.dedup_days, exclude)`."""
        items, reach = self.items, min(self.dedup_days, MAX_DAYS_APART)
        positions = self._candidates(new.coref_keys(), new.occ, reach, start)
        return duplicate_exhaustive((items[i] for i in positions), new, self.dedup_days, exclude)

    def links_of(self, me: Known) -> list[Link]:
        """`links_capped(self.items, me, self.link_days, self.cap)`, quicker; with `cap=None`,
        `links_exhaustive(self.items, me, self.link_days)`."""
        items, days = self.items, self.link_days
        out = []
        for i in self._candidates(me.link_keys(), me.occ, days):
            other = items[i]
            if other.id == me.id or days_apart(me.occ, other.occ) > days:
                continue
            first, second = _ordered(me, other)
            if not may_link(first, second):
                continue
            link = relate(first.link(), second.link())
            if link is not None:
                out.append((first, second, link))
        return out


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
