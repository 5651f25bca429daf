"""The candidate index finds exactly what comparing with every known event in its blocks finds.

Pure functions, no database: sequences of events (stored ones, then new ones added one by one as
the storage step does) are checked, on random events built to collide (few companies, a small
vocabulary, near fingerprints, wide and open spans, entity values that differ only by case
folding) and on realistic ones (the seed timelines, the benchmark's mix and the dense year,
enriched). Without a cap the index must equal `duplicate_exhaustive` / `links_exhaustive`; with
one it must equal the plain comparison over the capped blocks (`duplicate_capped`,
`links_capped`) and find a subset of the exhaustive links.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.common import mix_bodies
from bench.dense import dense_events
from pivotwatch.seed import seed_events
from services.enrich import coref
from services.enrich.candidates import (
    BLOCK_CAP,
    DUPLICATE_WINDOW,
    LINK_WINDOW,
    CandidateIndex,
    Known,
    Link,
    cap_links,
    duplicate_capped,
    duplicate_exhaustive,
    links_capped,
    links_exhaustive,
    may_link,
)
from services.enrich.coref import anchors_of
from services.enrich.decode import to_report
from services.enrich.pipeline import enrich
from services.enrich.steps import links
from services.enrich.steps.dedup import MASK64, simhash64
from shared.dates import parse_occurred

DEDUP_DAYS, LINK_DAYS = DUPLICATE_WINDOW.days, LINK_WINDOW.days
COMPANIES = ("openai", "meta", "deepseek", "acme", "straße")
CATEGORIES = (
    "licensing",
    "product",
    "competition",
    "funding",
    "leadership",
    "governance",
    "legal",
    "regulation",
)
WORDS = (
    "releases",
    "launches",
    "Open-Weights",
    "unveils",
    "model",
    "licence",
    "sues",
    "board",
    "Llama",
    "GPT-4",
    "funding",
    "OpenAI",
    "Meta",
    "Straße",
    "the",
    "new",
    "\u017ftrategy",  # a long s: case-folds to "s"
    "debut",
)
VALUES = ("openai", "meta", "llama", "gpt-4", "STRASSE", "straße", "sam altman", "ﬁre")
BASE = date(2024, 3, 1)


def _occurred(kind: int, offset: int) -> str:
    day = BASE + timedelta(days=offset)
    if kind == 0:
        return f"{day.year:04d}-{day.month:02d}"
    if kind == 1:
        return f"{day.year:04d}"
    if kind == 2:
        return f"../{day.isoformat()}"
    if kind == 3:
        return f"{day.isoformat()}/.."
    if kind == 4:
        return f"{day.isoformat()}/{(day + timedelta(days=40)).isoformat()}"
    return day.isoformat()


@st.composite
def known(draw: st.DrawFn) -> Known:
    company = draw(st.sampled_from(COMPANIES))
    title = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=6)))
    kind = draw(st.integers(0, 20))  # mostly days
    occ = parse_occurred(_occurred(kind, draw(st.integers(0, 45))))
    base = simhash64(title)
    flips = draw(st.lists(st.integers(0, 63), max_size=5))
    fingerprint = draw(st.sampled_from((base, 0, -1, 12345)))
    for bit in flips:
        fingerprint ^= 1 << bit
    fingerprint = fingerprint - (1 << 64) if fingerprint & MASK64 >= 1 << 63 else fingerprint
    return Known(
        uuid.UUID(int=draw(st.integers(0, 2**64))),
        company,
        occ,
        fingerprint,
        title,
        draw(st.sampled_from(CATEGORIES)),
        tuple(draw(st.lists(st.sampled_from(VALUES + COMPANIES), max_size=3, unique=True))),
        tuple(anchors_of(title, "", company).encode()) if draw(st.booleans()) else (),
    )


def _ids(links: list[Link]) -> list[tuple[uuid.UUID, uuid.UUID, dict[str, object]]]:
    return [(a.id, b.id, link) for a, b, link in links]


def _check(stored: list[Known], new: list[Known], cap: int | None = None) -> tuple[int, int]:
    """Add `stored`, then each of `new` after comparing the index with the plain search (over
    every known event without a cap; over the capped blocks with one)."""
    index = CandidateIndex(DEDUP_DAYS, LINK_DAYS, cap=cap)
    for k in stored:
        index.add(k)
    n = len(stored)
    # What storage does: the first match among the stored events (found before any new event
    # is added), else among the new ones added since.
    firsts = [index.duplicate_of(k, exclude=k.id) for k in new]
    found = linked = 0
    for k, first in zip(new, firsts, strict=True):
        assert first == duplicate_capped(stored, k, DEDUP_DAYS, cap, k.id)
        fast = index.duplicate_of(k, exclude=k.id)
        assert fast == duplicate_capped(index.items, k, DEDUP_DAYS, cap, k.id)
        later = index.duplicate_of(k, exclude=k.id, start=n)
        assert later == duplicate_capped(index.items, k, DEDUP_DAYS, cap, k.id, start=n)
        slow = duplicate_exhaustive(index.items, k, DEDUP_DAYS, k.id)
        fast_links = _ids(index.links_of(k))
        assert fast_links == _ids(links_capped(index.items, k, LINK_DAYS, cap))
        slow_links = _ids(links_exhaustive(index.items, k, LINK_DAYS))
        if cap is None:
            assert fast == slow and (fast is None or slow is None or fast[0] is slow[0])
            assert later == duplicate_exhaustive(index.items[n:], k, DEDUP_DAYS, k.id)
            assert (first if first is not None else later) == slow
            assert fast_links == slow_links
        else:
            # Fewer candidates, never other answers: a match or a link the capped blocks find
            # is one the exhaustive comparison has too.
            assert fast is None or slow is not None
            assert all(link in slow_links for link in fast_links)
        found += fast is not None
        linked += len(fast_links)
        index.add(k)
    return found, linked


@settings(max_examples=300, deadline=None)
@given(st.lists(known(), max_size=25), st.lists(known(), min_size=1, max_size=25))
def test_the_index_finds_what_the_exhaustive_search_finds(
    stored: list[Known], new: list[Known]
) -> None:
    _check(stored, new)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(known(), max_size=25),
    st.lists(known(), min_size=1, max_size=25),
    st.sampled_from((1, 2, 3, BLOCK_CAP)),
)
def test_a_capped_index_finds_what_the_plain_search_of_its_blocks_finds(
    stored: list[Known], new: list[Known], cap: int
) -> None:
    _check(stored, new, cap)


@settings(max_examples=2000, deadline=None)
@given(known(), known())
def test_may_link_is_false_only_where_relate_finds_no_link(a: Known, b: Known) -> None:
    first, second = (b, a) if b.occ.start <= a.occ.start else (a, b)
    if links.relate(first.link(), second.link()) is not None:
        assert may_link(first, second)


def _enriched(datas: list[dict[str, object]], rng: random.Random) -> list[Known]:
    out = []
    for data in datas:
        report = to_report(data)
        en = enrich(report)
        out.append(
            Known(
                uuid.UUID(int=rng.getrandbits(128)),
                en.company,
                report.occurred,
                en.fingerprint,
                en.title,
                en.category,
                tuple(sorted({str(e["value"]).lower() for e in en.entities})),
                tuple(anchors_of(en.title, en.summary, en.company).encode()),
            )
        )
    return out


def test_on_the_seed_timelines_squeezed_into_two_months() -> None:
    rng = random.Random(1)
    datas = []
    for ev in seed_events():
        data = dict(ev["data"])
        data["occurred"] = (BASE + timedelta(days=rng.randrange(60))).isoformat()
        datas.append(data)
        if rng.random() < 0.3:  # a retelling a day or two later
            again = dict(data, title=data["title"] + " , sources say")
            day = date.fromisoformat(data["occurred"]) + timedelta(days=rng.randrange(3))
            datas.append(dict(again, occurred=day.isoformat()))
    events = _enriched(datas, rng)
    rng.shuffle(events)
    found, linked = _check(events[:30], events[30:])
    assert found and linked  # the comparison was not vacuous


def test_on_the_benchmark_mix() -> None:
    rng = random.Random(2)
    bodies = mix_bodies("t", 40, 16)
    datas = []
    for n, body in enumerate(bodies):
        for ce in body:
            data = dict(ce["data"])
            year = int(str(data["occurred"])[:4]) % 3 + 2020
            data["occurred"] = f"{year}-{(BASE + timedelta(days=n)).isoformat()[5:]}"
            datas.append(data)
    events = _enriched(datas, rng)
    found, linked = _check(events[:200], events[200:])
    assert found and linked
    # At the default cap every duplicate is still found; the releases of a busy fortnight fill
    # their block, so a few distant links (1801 of 1869 here) are left to the nearer ones.
    capped_found, capped_linked = _check(events[:200], events[200:], BLOCK_CAP)
    assert capped_found == found
    assert 0.95 * linked <= capped_linked <= linked


def test_on_the_dense_year_the_cap_binds_and_keeps_the_nearest() -> None:
    rng = random.Random(3)
    events = _enriched([e.ce["data"] for e in dense_events(1500)], rng)
    stored, new = events[:1400], events[1400:]
    found, linked = _check(stored, new, 4)
    assert found and linked
    _, every = _check(stored, new)
    assert linked < every  # the cap bound: the comparison above was not the exhaustive one


def test_what_the_buckets_rely_on_holds() -> None:
    # Two reports sharing no word and no anchor score at most the category's weight: below the
    # merge score, so the index may meet only events sharing one.
    assert coref.CATEGORY_WEIGHT < coref.MERGE_SCORE
    # A link without a shared term needs a positive Jaccard threshold.
    assert links.SAME_STORY_JACCARD > 0 and links.FOLLOW_UP_JACCARD > 0


def test_the_sql_release_words_match_every_ascii_release_title() -> None:
    sql = re.compile(links.RELEASE_WORDS_SQL, re.I)
    titles = [ev["data"]["title"] for ev in seed_events()]
    titles += [ce["data"]["title"] for body in mix_bodies("t", 100, 4) for ce in body]
    titles += ["Open Weights", "OPEN-SOURCED", "debuts", "Reintroduces", "prelaunch"]
    for title in titles:
        if links.RELEASE.search(title):
            assert sql.search(title), title


def test_the_cap_keeps_the_strongest_links() -> None:
    occ = parse_occurred("2024-03-01")
    me = Known(uuid.uuid4(), "acme", occ, 0, "x", "product", ())
    found = [
        (me, me, {"kind": "response", "rule": "same-category"}),
        (me, me, {"kind": "response", "rule": "names-the-release"}),
        (me, me, {"kind": "same-story", "rule": "close-dates-shared-terms"}),
        (me, me, {"kind": "follow-up", "rule": "shared-entity"}),
    ]
    kept = cap_links(found, 3)
    assert [link["rule"] for _, _, link in kept] == [
        "close-dates-shared-terms",
        "shared-entity",
        "names-the-release",
    ]
    assert cap_links(found, 10) == found
