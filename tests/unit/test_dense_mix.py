"""The dense benchmark workload (`bench.dense`): a year of news, skewed, with ~5% retellings.

The storage benchmark counts merges against the happening key each event records, so these
properties are what its figures rest on: the same events every time, every date in the year, a
few companies carrying most events, retellings close to their original under the same company
in other words, and distinct happenings never sharing a title.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date
from typing import Any

import orjson
import pytest

from bench.dense import YEAR, DenseEvent, dense_bodies, dense_events
from shared.events import CloudEvent

N = 6000


@pytest.fixture(scope="module")
def events() -> list[DenseEvent]:
    return dense_events(N)


def test_deterministic(events: list[DenseEvent]) -> None:
    again = dense_events(N)
    assert [(e.ce, e.happening, e.retold) for e in again] == [
        (e.ce, e.happening, e.retold) for e in events
    ]
    other = dense_events(200, seed=1)
    assert [e.ce["data"]["title"] for e in other] != [e.ce["data"]["title"] for e in events[:200]]


def test_every_event_is_a_valid_report_within_the_year(events: list[DenseEvent]) -> None:
    ids = set()
    for e in events:
        parsed = CloudEvent.model_validate(e.ce)  # the contract ingest enforces
        day = date.fromisoformat(parsed.data.occurred)
        assert day.year == YEAR
        ids.add((parsed.source, parsed.id))
    assert len(ids) == len(events)  # no two events share an idempotency key
    days = Counter(e.ce["data"]["occurred"] for e in events)
    assert len(days) > 300  # spread over the year, not a few days of it


def test_popularity_is_skewed(events: list[DenseEvent]) -> None:
    counts = Counter(e.ce["data"]["company"] for e in events).most_common()
    assert len(counts) == 30
    top3 = sum(n for _, n in counts[:3])
    assert top3 > 0.4 * len(events)  # a few companies carry most of the news
    assert counts[0][1] > 10 * counts[-1][1]


def test_about_five_percent_are_retellings_close_to_their_original(
    events: list[DenseEvent],
) -> None:
    first: dict[str, dict[str, Any]] = {}
    retold = 0
    for e in events:
        data = e.ce["data"]
        if not e.retold:
            assert e.happening not in first  # an original tells a happening of its own
            first[e.happening] = data
            continue
        retold += 1
        original = first[e.happening]  # a retelling comes after the story it retells
        assert data["company"] == original["company"]
        apart = date.fromisoformat(data["occurred"]) - date.fromisoformat(original["occurred"])
        assert 0 <= apart.days <= 1
        assert data["title"] != original["title"]
        assert data["sources"][0]["publisher"] != original["sources"][0]["publisher"]
        assert data["tags"] == original["tags"]
    assert 0.035 * N < retold < 0.065 * N


def test_distinct_happenings_have_distinct_titles(events: list[DenseEvent]) -> None:
    happening_of: dict[str, str] = {}
    for e in events:
        title = e.ce["data"]["title"]
        assert happening_of.setdefault(title, e.happening) == e.happening, title


def test_retellings_are_reworded_not_suffixed(events: list[DenseEvent]) -> None:
    """Another outlet's words: not the original's title with a phrase added (what SimHash and
    containment catch), but a synonym verb, the amount spelled another way, the words moved."""
    first = {e.happening: e.ce["data"]["title"] for e in events if not e.retold}
    retellings = [(first[e.happening], e.ce["data"]["title"]) for e in events if e.retold]
    prefixed = sum(1 for a, b in retellings if b.startswith(a) or a.startswith(b))
    assert prefixed < 0.05 * len(retellings)
    money = [(a, b) for a, b in retellings if "$" in a]
    assert money and all(a != b for a, b in money)


def test_load_generator_bodies_are_the_stream_with_placeholders() -> None:
    bodies = dense_bodies("p1d", 50, 3)
    assert [len(b) for b in bodies] == [50, 50, 50]
    flat = list(itertools.chain.from_iterable(bodies))
    assert all("{n}" in ce["id"] for ce in flat)
    # What the load generator sends once it has filled the placeholder: valid reports.
    raw = orjson.dumps(bodies[1]).decode().replace("{n}", "7")
    for ce in orjson.loads(raw):
        CloudEvent.model_validate(ce)
    stream = dense_events(150)
    assert [ce["data"]["title"] for ce in flat] == [e.ce["data"]["title"] for e in stream]
