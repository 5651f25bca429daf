"""Which changes a subscription's filter takes."""

from __future__ import annotations

from typing import Any

import pytest

from services.notify.matching import matches

DOC = {
    "company": "openai",
    "companies": ["openai", "microsoft"],
    "category": "governance",
    "phase": "capped-profit",
    "transition_to": "pbc",
    "importance": 70,
}
ALL = ["event.created", "event.updated", "phase.changed"]


@pytest.mark.parametrize(
    ("types", "flt", "kind", "expected"),
    [
        (ALL, {}, "event.created", True),
        (["phase.changed"], {}, "event.created", False),
        ([], {}, "event.updated", True),  # no types listed: all of them
        (ALL, {"companies": ["openai"]}, "event.created", True),
        (ALL, {"companies": ["microsoft"]}, "event.created", True),  # a co-subject counts
        (ALL, {"companies": ["meta"]}, "event.created", False),
        (ALL, {"categories": ["governance", "funding"]}, "event.created", True),
        (ALL, {"categories": ["licensing"]}, "event.created", False),
        (ALL, {"phases": ["capped-profit"]}, "event.created", True),
        (ALL, {"phases": ["pbc"]}, "phase.changed", True),  # the phase it moves into
        (ALL, {"phases": ["nonprofit"]}, "event.created", False),
        (ALL, {"min_importance": 70}, "event.created", True),
        (ALL, {"min_importance": 71}, "event.created", False),
        (ALL, {"companies": ["openai"], "min_importance": 90}, "event.created", False),
    ],
)
def test_filter(types: list[str], flt: dict[str, Any], kind: str, expected: bool) -> None:
    assert matches(types, flt, kind, DOC) is expected
