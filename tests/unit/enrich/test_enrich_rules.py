"""A rule's declared starts and a lexicon's word places never change what they match: checked
for every rule of the steps against the seed texts and a corpus made of the rules' own words."""

from __future__ import annotations

import hashlib
import itertools
import random
import re

import pytest

from pivotwatch.seed import seed_events
from services.enrich.steps import category, companies, entities, phase, stance
from services.enrich.steps.core import Lexicon, Rule, RuleSet, fold, trie_alternation
from services.enrich.steps.dedup import simhash64, terms

RULESETS = [category.RULES, stance.RULES, entities.RULES]
LEXICONS = [
    companies.MENTIONS,
    entities.PEOPLE_LEXICON,
    entities.MODEL_LEXICON,
    entities.AGENCY_LEXICON,
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


def _corpus() -> list[str]:
    """Texts made of the rules' own words, cased and joined every which way."""
    rng = random.Random(4)
    sources = [rs.rules[i].pattern for rs in RULESETS for i in range(len(rs))]
    sources += [phase.INTENT.pattern]
    vocab = sorted(
        {w for p in sources for w in re.findall(r"[A-Za-z][A-Za-z0-9]*|\d+", p)}
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


CORPUS = TEXTS + _corpus()


def _found(matches: list[re.Match[str]]) -> list[tuple[object, ...]]:
    return [(m.span(), m.group(), m.groupdict()) for m in matches]


class TestRuleSet:
    @pytest.mark.parametrize("rules", RULESETS, ids=["category", "stance", "entities"])
    def test_every_rule_matches_as_its_pattern_does(self, rules: RuleSet) -> None:
        assert sum(bool(rule.starts) for rule in rules.rules) >= len(rules) * 3 // 4
        for i in range(len(rules)):
            plain = rules.plain(i)
            for text in CORPUS:
                expected = _found(list(plain.finditer(text)))
                assert _found(rules.finditer(i, text)) == expected, (rules.rules[i].name, text)

    def test_fired_names_each_matching_rule_once_in_order(self) -> None:
        rules = RuleSet(
            [
                Rule("open", r"\bopen[- ]weights?\b", starts="open"),
                Rule("api", r"\bAPI\b", starts="api", cased=True),
                Rule("any-number", r"\d+"),
            ]
        )
        text = "Open weights, then open-weight again; an api is not an API in 2025"
        assert rules.fired(text) == [
            (0, ["Open weights", "open-weight"]),
            (1, ["API"]),
            (2, ["2025"]),
        ]
        assert rules.fired("nothing here") == []

    def test_a_start_declared_too_narrowly_misses_instead_of_matching_anyway(self) -> None:
        rules = RuleSet([Rule("funding", r"\bfunding\b|\braises?\b", starts="funding")])
        assert rules.fired("OpenAI raises $6.6 billion") == []
        assert rules.plain(0).search("OpenAI raises $6.6 billion")

    def test_fold_maps_what_ignorecase_equates_with_ascii(self) -> None:
        assert fold("\u0130\u0131 \u017f \u212a") == "ii s k"

    def test_what_ignorecase_equates_with_ascii_is_found(self) -> None:
        # A dotted capital I is an i to IGNORECASE; folded, it is found where an i would be.
        rules = RuleSet([Rule("invest", r"\binvest\w*", starts="invest")])
        assert rules.fired("\u0130nvestors and ﬁnance investors") == [
            (0, ["\u0130nvestors", "investors"])
        ]


class TestLexicon:
    @pytest.mark.parametrize("lex", LEXICONS, ids=["companies", "people", "models", "agencies"])
    def test_tried_at_word_places_it_matches_as_a_scan(self, lex: Lexicon) -> None:
        for i, pattern in enumerate(lex.patterns()):
            for text in CORPUS:
                assert _found(lex.matches(i, text)) == _found(list(pattern.finditer(text))), text

    def test_trie_alternation_prefers_the_longer_phrase(self) -> None:
        alts = trie_alternation(["gpt-4", "gpt-4o", "o1"])
        assert re.fullmatch(alts, "gpt-4o") and re.fullmatch(alts, "gpt-4")
        assert re.match(alts, "gpt-4o").group() == "gpt-4o"  # type: ignore[union-attr]


def _column_vote(features: list[str]) -> int:
    """SimHash by the book: per bit, the majority of the features' 64-bit BLAKE2b digests."""
    digests = [
        int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest()) for f in features
    ]
    value = 0
    for bit in range(63, -1, -1):
        value = value << 1 | (2 * sum(d >> bit & 1 for d in digests) > len(digests))
    return value - (1 << 64) if value >= 1 << 63 else value


class TestSimhash:
    @pytest.mark.parametrize("text", TEXTS)
    def test_lane_vote_equals_column_vote(self, text: str) -> None:
        words = terms(text)
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        assert simhash64(text) == (_column_vote(features) if features else 0)

    @pytest.mark.parametrize("k", [1, 2, 63, 64, 65, 127, 128, 129, 255, 256, 400, 3000])
    def test_lane_vote_with_full_and_half_lanes(self, k: int) -> None:
        # One word repeated: every lane counts 0 or all of the features; two words in turn:
        # counts near the half, where the vote's bias decides.
        for text in (" ".join(["alpha"] * k), " ".join(["alpha", "beta"] * k)):
            words = terms(text)
            features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            assert simhash64(text) == _column_vote(features)
