"""importance: 0..100 as a sum of explained contributions."""

from __future__ import annotations

from typing import Any

import pytest

from services.enrich.steps.importance import score_importance


def _money(value: int) -> dict[str, Any]:
    return {"kind": "money", "text": f"${value}", "value": value, "evidence": "money-usd"}


def _ent(kind: str, value: str, rule: str) -> dict[str, Any]:
    return {"kind": kind, "text": value, "value": value, "evidence": rule}


def _src(url: str, publisher: str | None = None) -> dict[str, str | None]:
    return {"url": url, "publisher": publisher, "published_at": None}


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("governance", 40),
        ("leadership", 35),
        ("licensing", 35),
        ("competition", 25),
        ("unknown", 25),
    ],
)
def test_base_by_category(category: str, expected: int) -> None:
    score, ev = score_importance(category, [])
    assert score == expected
    assert ev == [{"rule": f"base:{category}", "words": [], "points": expected}]


@pytest.mark.parametrize(
    ("usd", "points"),
    [
        (500_000, 0),
        (1_000_000, 0),
        (5_576_000, 4),
        (1_000_000_000, 15),
        (10**10, 20),
        (590 * 10**9, 20),
    ],
)
def test_money_is_log_scaled_and_capped(usd: int, points: int) -> None:
    score, ev = score_importance("funding", [_money(usd)])
    assert score == 30 + points
    money = [e for e in ev if e["rule"] == "money-log-scaled"]
    assert (money[0]["points"] if money else 0) == points


def test_the_largest_amount_counts_once() -> None:
    score, _ = score_importance("funding", [_money(10**6), _money(10**9), _money(10**8)])
    assert score == 30 + 15


@pytest.mark.parametrize(
    ("sources", "points"),
    [
        ([_src("https://a.com/1")], 0),
        ([_src("https://a.com/1"), _src("https://www.a.com/2")], 0),  # one host
        ([_src("https://a.com/1", "A"), _src("https://b.com/1", "a")], 0),  # one publisher
        ([_src("https://a.com/1"), _src("https://b.com/1")], 4),
        ([_src(f"https://{h}.com/") for h in "abcdefg"], 12),
    ],
)
def test_independent_sources(sources: list[dict[str, str | None]], points: int) -> None:
    score, _ = score_importance("product", [], sources=sources)
    assert score == 30 + points


def test_transition_and_major_entities_add_points() -> None:
    entities = [
        _ent("organization", "openai", "registry"),  # the company itself does not count
        _ent("person", "Sam Altman", "known-person"),
        _ent("agency", "NASA", "known-agency"),
        _ent("organization", "microsoft", "registry"),
        _ent("person", "Jane Doe", "person-after-title"),  # a guess, not a major name
    ]
    score, ev = score_importance("governance", entities, transition=True, company="openai")
    assert score == 40 + 20 + 9
    rules = {e["rule"]: e for e in ev}
    assert rules["phase-transition"]["points"] == 20
    assert rules["major-entities"]["words"] == ["Sam Altman", "NASA", "microsoft"]


def test_score_is_capped_at_100() -> None:
    entities = [_money(10**12)] + [_ent("person", f"P{i}", "known-person") for i in range(9)]
    sources = [_src(f"https://{h}.com/") for h in "abcdefgh"]
    score, ev = score_importance("governance", entities, transition=True, sources=sources)
    assert score == 100
    assert sum(e["points"] for e in ev) > 100
