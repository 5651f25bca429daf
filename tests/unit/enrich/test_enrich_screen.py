"""The literal screen may only skip regexes that cannot match: checked against the real rules."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from pivotwatch.seed import seed_events
from services.enrich.steps import category, entities, phase, stance
from services.enrich.steps.dedup import _to_signed, _vote_slowly, simhash64
from services.enrich.steps.screen import _CASE_EXTRA, Screen, fold, literals, quick

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

    @pytest.mark.parametrize("k", [1, 2, 63, 64, 65, 126, 127, 128, 129, 130, 200, 255, 256, 400])
    def test_lane_vote_at_the_lane_limit(self, k: int) -> None:
        # One word repeated: every lane counts 0 or all of the features, the fullest lanes can be;
        # and a mix of two words, counts near the half. Around 2 * k - 1 = 255 features the
        # fast 8-bit lanes give way to the slow count.
        from services.enrich.steps.dedup import terms

        for text in (" ".join(["alpha"] * k), " ".join(["alpha", "beta"] * k)):
            words = terms(text)
            features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            assert simhash64(text) == _to_signed(_vote_slowly(features))


def _lexicon_originals() -> list[re.Pattern[str]]:
    from services.enrich.steps.companies import _MENTIONS
    from services.enrich.steps.core import Lexicon, _trie_alternation

    out = []
    for lex in (_MENTIONS, entities._PEOPLE_LEX, entities._MODEL_LEX, entities._AGENCY_LEX):
        assert isinstance(lex, Lexicon)
        for table, flags in ((lex._exact, 0), (lex._folded, re.IGNORECASE)):
            if table:
                alts = _trie_alternation(table)
                out.append(re.compile(rf"(?<![\w-])(?:{alts})(?!\w)", flags))
    return out


RULES = [
    *ALL_PATTERNS,
    phase._INTENT,
    *(rule for rules in phase._OPENING_RULES.values() for rule in rules),
    *_lexicon_originals(),
]


def _corpus() -> list[str]:
    """Texts made of the rules' own words, cased and joined every which way."""
    rng = random.Random(4)
    vocab = sorted(
        {w for p in RULES for w in re.findall(r"[A-Za-z][A-Za-z0-9]*|\d+", p.pattern)}
        | {w for t in TEXTS for w in t.split()}
    )
    seps = [" ", " ", " ", "-", "_", "", "\n", ", ", "'", ".", "  ", "$"]
    odd = {"i": "\u0130\u0131", "s": "\u017f", "k": "\u212a", "e": "\u00e9"}
    texts = []
    for _ in range(600):
        parts = []
        for _ in range(rng.randint(1, 12)):
            word = rng.choice(vocab)
            shape = rng.random()
            if shape < 0.3:
                word = word.lower()
            elif shape < 0.45:
                word = word.upper()
            elif shape < 0.6:
                word = word.title()
            if rng.random() < 0.1:
                word = "".join(rng.choice(odd.get(c.lower(), c)) for c in word)
            parts.append(word + rng.choice(seps))
        texts.append("".join(parts))
    return texts


def _matches(pattern: re.Pattern[str], text: str) -> list[tuple[object, ...]]:
    return [(m.span(), m.groups(), m.groupdict()) for m in pattern.finditer(text)]


class TestQuick:
    @pytest.mark.parametrize(
        ("pattern", "flags", "expected"),
        [
            (r"\bnon-?profit\b", re.I, "[Nn](?i:(?:(?<=n)(?<!\\w.)on-?profit\\b))"),
            (r"\bMIT\b|\bPBC\b", 0, "[MP](?:(?<=M)(?<!\\w.)IT\\b|(?<=P)(?<!\\w.)BC\\b)"),
            (r"\b(?:a|b)c", 0, "[ab](?:(?:(?<=a)(?<!\\w.)|(?<=b)(?<!\\w.))c)"),
            (r"\bx", 0, "x(?:(?<=x)(?<!\\w.))"),
        ],
    )
    def test_rewrites_a_leading_boundary(self, pattern: str, flags: int, expected: str) -> None:
        assert quick(re.compile(pattern, flags)).pattern == expected

    @pytest.mark.parametrize(
        "pattern",
        [r"\bs?x", r"(?:\bx|y)", r"\b\w+", r"\b(?:x|y)?z", r"\b(?P<n>x)", r"\b[^x]y", r"x\b"],
    )
    def test_leaves_other_shapes_alone(self, pattern: str) -> None:
        compiled = re.compile(pattern)
        assert quick(compiled) is compiled

    def test_most_rules_get_the_quick_form(self) -> None:
        assert sum(quick(p) is not p for p in RULES) >= len(RULES) * 3 // 4

    def test_every_rule_matches_the_same(self) -> None:
        texts = TEXTS + _corpus()
        for pattern in RULES:
            fast = quick(pattern)
            for text in texts:
                assert _matches(fast, text) == _matches(pattern, text), (pattern.pattern, text)

    def test_case_extra_lists_everything_ignorecase_equates_with_ascii(self) -> None:
        every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
        for ch in "abcdefghijklmnopqrstuvwxyz0123456789":
            found = set(re.findall(ch, every, re.IGNORECASE))
            assert found <= set(ch.lower() + ch.upper() + _CASE_EXTRA.get(ch, "")), ch


def test_lexicons_try_their_pattern_wherever_it_can_match() -> None:
    from services.enrich.steps.companies import _MENTIONS

    texts = TEXTS + _corpus()
    for lex in (_MENTIONS, entities._PEOPLE_LEX, entities._MODEL_LEX, entities._AGENCY_LEX):
        for i, (pattern, _) in enumerate(lex._patterns):
            for text in texts:
                got = [(m.span(), m.group()) for m in lex._matches(i, pattern, text)]
                assert got == [(m.span(), m.group()) for m in pattern.finditer(text)], text


def test_runs_are_the_letter_digit_runs() -> None:
    from services.enrich.steps.screen import runs

    odd = [
        "\u0130stanbul \u212aelvin",
        "caf\u00e9-na\u00efve 2.5x",
        "a\ud800b",
        "\u00c0 la A1b2",
        "x\u0301y",
    ]
    for text in TEXTS + _corpus() + odd:
        for t in (text, fold(text)):
            assert runs(t) == re.findall(r"[a-z0-9]+", t), t


def test_a_word_gets_the_bits_of_every_piece_inside_it() -> None:
    from services.enrich.steps.screen import _VOCABULARY

    words = {w for text in TEXTS + _corpus() for w in re.findall(r"[a-z0-9]+", fold(text))}
    for word in words:
        expected = 0
        for piece, bits in _VOCABULARY.pieces.items():
            if piece in word:
                expected |= bits
        assert _VOCABULARY._learn(word) == expected, word


def test_literal_gate_never_skips_a_rule_that_matches() -> None:
    from services.enrich.steps.screen import may_match

    texts = TEXTS + _corpus()
    for pattern in RULES:
        need = literals(pattern)
        for text in texts:
            if pattern.search(text):
                assert may_match(need, fold(text)), (pattern.pattern, text)


def test_lowered_forms_match_the_same_on_ascii_text() -> None:
    from services.enrich.steps.screen import lowered, matched_texts

    texts = [t for t in TEXTS + _corpus() if t.isascii()]
    forms = [(p, lowered(p)) for p in RULES]
    assert sum(low is not None for _, low in forms) >= 30
    for pattern, low in forms:
        if low is None:
            continue
        assert low.pattern[0].islower() or low.pattern[0].isdigit(), low.pattern
        for text in texts:
            spans = [m.span() for m in low.finditer(fold(text))]
            assert spans == [m.span() for m in pattern.finditer(text)], (pattern.pattern, text)
            if not pattern.groups:
                got = matched_texts(quick(pattern), low, text, fold(text))
                assert got == pattern.findall(text)


class TestFinder:
    @pytest.mark.parametrize(
        ("pattern", "flags", "expected"),
        [
            (r"\bnon-?profit\b", re.I, {"non-", "nonprofi"}),
            (r"\b(?:shares?|stocks?)\b", 0, {"share", "stock"}),
            (r"(?<=under )(?:the )?MIT\b", 0, {"the ", "mit"}),
            (r"\b[Pp]ublic[- ]benefit", 0, {"public"}),
            (r"\$\s?\d", 0, {"$"}),
            (r"\b[A-Z][a-z]+", 0, None),
            (r"(?:ab)?\d", 0, None),
            (r"a?", 0, None),
        ],
    )
    def test_starts_every_match_begins_with(
        self, pattern: str, flags: int, expected: set[str] | None
    ) -> None:
        from services.enrich.steps.screen import starts

        got = starts(re.compile(pattern, flags))
        assert (set(got) if got is not None else None) == expected

    def test_every_rule_finds_what_finditer_finds(self) -> None:
        from services.enrich.steps.screen import Finder

        texts = TEXTS + _corpus()
        rules = [*RULES, entities._MONEY, entities._GPU_HOURS, entities._NAME_AFTER]
        assert sum(Finder(p).heads is not None for p in rules) >= len(rules) * 3 // 4
        for pattern in rules:
            finder = Finder(pattern)
            for text in texts:
                expected = [(m.span(), m.groups()) for m in pattern.finditer(text)]
                got = [(m.span(), m.groups()) for m in finder.finditer(text, fold(text))]
                assert got == expected, (pattern.pattern, text)
                if not pattern.groups:
                    assert finder.texts(text, fold(text)) == pattern.findall(text)
