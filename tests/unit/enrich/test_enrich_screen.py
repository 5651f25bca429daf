"""The literal screen may only skip regexes that cannot match: checked against the real rules."""

from __future__ import annotations

import itertools
import re

import pytest

from pivotwatch.seed import seed_events
from services.enrich.steps import category, entities, stance
from services.enrich.steps.dedup import _to_signed, _vote_slowly, simhash64
from services.enrich.steps.screen import Screen, fold, literals

ALL_PATTERNS = [
    *(p for _, _, p, _ in category._FLAT),
    *(p for _, p, _ in stance._COMPILED),
    *entities._PATTERNS,
]
TEXTS = [
    " ".join(str(e["data"].get(k) or "") for k in ("title", "summary", "body"))
    for e in seed_events()
] + [
    "\u0130nvestors backed the nonprof\u0131t; \u017fhares fell as the \u212aELVIN sign appeared",
    "DeepSeek-R1 under the MIT licence, $5.6M, 2.788M H800 GPU-hours, Apache 2.0",
    "Sam Altman said the company was on the wrong side of history about open-weights.",
    "",
]


class TestLiterals:
    @pytest.mark.parametrize(
        ("pattern", "expected"),
        [
            (r"\bopen[- ]weights?\b", ("weight",)),
            (r"\b[Cc]hair(?:man)?\b", ("chair",)),
            (r"\bAPI\b|\bprivate beta\b", ("api", "private beta")),
            (r"\w+", None),
            (r"(?:ab)?c", ("c",)),
        ],
    )
    def test_literals_every_match_contains(
        self, pattern: str, expected: tuple[str, ...] | None
    ) -> None:
        got = literals(re.compile(pattern))
        assert (set(got) if got else None) == (set(expected) if expected else None)

    def test_fold_maps_what_ignorecase_equates_with_ascii(self) -> None:
        assert fold("\u0130\u0131 \u017f \u212a") == "ii s k"


class TestScreenIsSound:
    @pytest.mark.parametrize("text", TEXTS)
    def test_no_pattern_that_matches_is_screened_out(self, text: str) -> None:
        screen = Screen(ALL_PATTERNS)
        candidates = screen.candidates(fold(text))
        for i, pattern in enumerate(ALL_PATTERNS):
            if pattern.search(text):
                assert candidates >> i & 1, pattern.pattern


class TestSimhashVote:
    @pytest.mark.parametrize("text", TEXTS)
    def test_lane_vote_equals_column_vote(self, text: str) -> None:
        from services.enrich.steps.dedup import terms

        words = terms(text)
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        expected = _to_signed(_vote_slowly(features)) if features else 0
        assert simhash64(text) == expected
