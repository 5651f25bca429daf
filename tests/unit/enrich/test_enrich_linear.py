"""Reporter text is handled in linear time: sentence splitting, block dropping, the regex rules.

Each rewritten scan is pinned to the form it replaced (kept here as the reference) on generated
text, and bounded by the characters it goes over -- a step count, not a clock -- on adversarial
text: "Mr. A " repeated, unclosed `<!--` and `<script>`, long runs of spaces and digits.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.enrich import articles
from services.enrich.articles import scan_sentences, split_sentences
from services.enrich.decode import decode_entry, prepare
from services.enrich.steps import entities, normalize
from services.enrich.steps.normalize import drop_blocks, normalize_text, scan_blocks
from shared.events import ARTICLE_TYPE, event_uuid

# The forms the linear ones replaced.
_OLD_DROP_BLOCKS = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_OLD_PARAGRAPH_BREAK = re.compile(r"\s*\n\s*\n\s*")
_OLD_GPU_HOURS = re.compile(
    r"(?:(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>million|thousand|billion|[MKB])?\s+)?"
    r"(?:(?:H800|H100|H200|H20|A100|A800|B100|B200|GB200|MI300X?|TPUv?\d*)\s+)?GPU[- ]hours\b"
)
_UNCLOSED_OPENER = re.compile(r"<(?:script|style)\b[^>]*>|<!--", re.I)


def old_split_sentences(text: str) -> list[str]:
    """`split_sentences` as it was: the whole gathered text searched after every piece."""
    sentences: list[str] = []
    for paragraph in text.split("\n\n"):
        pending = ""
        for piece in articles.SENTENCE_BREAK.split(paragraph.strip()):
            pending = f"{pending} {piece}".strip() if pending else piece.strip()
            if not articles.ABBREVIATION.search(pending):
                sentences.append(pending)
                pending = ""
        if pending:
            sentences.append(pending)
    return [s for s in sentences if s]


def reference_drop_blocks(text: str) -> str:
    """The old regex tried position by position; an opener it cannot close drops the rest."""
    out: list[str] = []
    i = 0
    while i < len(text):
        m = _OLD_DROP_BLOCKS.match(text, i)
        if m is not None:
            out.append(" ")
            i = m.end()
        elif _UNCLOSED_OPENER.match(text, i):
            out.append(" ")
            break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


# Sentence-like text: words, the abbreviations the splitter knows, initials, breaks, quotes.
_WORDS = st.sampled_from(
    [
        "OpenAI", "released", "the", "model", "Mr.", "Mrs.", "Dr.", "U.S.", "N.D.", "Cal.",
        "Inc.", "e.g.", "i.e.", "approx.", "Sept.", "Jan.", "A.", "B.C.", "No.", "vs.", "St.",
        "x.", "end.", "end!", "why?", '"Quote."', "(Paren.)", "[1]", "2019.", "3.5", "é.", "Ö.",
        "'s", "-", "Meta", "said.", "..."
    ]
)  # fmt: skip
_SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "   ", "\n", "\n\n", " \n ", "\t"])
sentence_text = st.lists(st.tuples(_WORDS, _SEPARATORS), max_size=60).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)
_MARKUP = st.sampled_from(
    [
        "<script>", "</script>", "<SCRIPT type=x>", "</Script >", "<style>", "</style>",
        "</style\n>", "<!--", "-->", "<", ">", "a", " ", "\n", "<scripts>", "<script", "</scriptx>",
        "<style/>", "<!-->", "--", "<p>", "text", "\u017fcript", "</\u017fcript>",
    ]
)  # fmt: skip
markup_text = st.lists(_MARKUP, max_size=40).map("".join)


class TestSameOutputAsBefore:
    @given(sentence_text)
    @settings(max_examples=400, deadline=None)
    def test_split_sentences_matches_the_old_splitter(self, text: str) -> None:
        assert split_sentences(text) == old_split_sentences(text)

    @given(sentence_text)
    @settings(max_examples=200, deadline=None)
    def test_split_sentences_matches_on_normalized_text(self, text: str) -> None:
        body = normalize_text(text, keep_paragraphs=True)
        assert split_sentences(body) == old_split_sentences(body)

    @given(markup_text)
    @settings(max_examples=400, deadline=None)
    def test_drop_blocks_is_the_old_regex_with_unclosed_blocks_running_to_the_end(
        self, text: str
    ) -> None:
        assert drop_blocks(text) == reference_drop_blocks(text)

    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["", "a ", "b\n", "x > y", "a < b"]),
                st.sampled_from([("<script>", "</script>"), ("<STYLE a=1>", "</style >"),
                                 ("<Script\n>", "</SCRIPT\t>"), ("<!--", "-->")]),
                st.sampled_from(["", "a", " ", "\n", ">", "-", "/", "</p>", "</style>"]),
            ),
            max_size=20,
        )
    )  # fmt: skip
    @settings(max_examples=200, deadline=None)
    def test_closed_blocks_are_dropped_as_before(
        self, parts: list[tuple[str, tuple[str, str], str]]
    ) -> None:
        text = "".join(
            f"{prose}{opener}{inner if closer != '</style >' else ''}{closer}"
            for prose, (opener, closer), inner in parts
        )
        assert drop_blocks(text) == _OLD_DROP_BLOCKS.sub(" ", text)

    def test_an_unclosed_comment_or_script_drops_the_rest(self) -> None:
        assert drop_blocks("keep<!-- gone") == "keep "
        assert drop_blocks("keep<script>gone</style>gone") == "keep "
        assert drop_blocks("a<script no end") == "a<script no end"

    @given(st.lists(st.sampled_from([" ", "\n", "\t", "a", "\n\n", "  \n", "\r\n"]), max_size=40))
    @settings(max_examples=300, deadline=None)
    def test_paragraph_break_splits_as_before(self, parts: list[str]) -> None:
        text = "".join(parts)
        assert normalize.PARAGRAPH_BREAK.split(text) == _OLD_PARAGRAPH_BREAK.split(text)

    @given(
        st.lists(
            st.sampled_from(
                ["1", "12", ".", "5", " ", "  ", "\n", "M", "million", "B ", "H100", "TPUv4",
                 "GPU hours", "GPU-hours", "GPU hoursx", "x", "1.2.3", "2.788 million "]
            ),
            max_size=30,
        )
    )  # fmt: skip
    @settings(max_examples=400, deadline=None)
    def test_gpu_hours_matches_as_before(self, parts: list[str]) -> None:
        text = "".join(parts)

        def found(pattern: re.Pattern[str]) -> list[tuple[tuple[int, int], dict[str, Any]]]:
            return [(m.span(), m.groupdict()) for m in pattern.finditer(text)]

        rules = entities.RULES
        assert found(rules.plain(rules.index("gpu-hours"))) == found(_OLD_GPU_HOURS)


# Adversarial text: one unit repeated, so every position looks like the start of a match.
_ADVERSARIAL_UNITS = [
    "Mr. A ", "A. ", "U.S. ", "e.g. ", "Dr. ", "x.", ". ", "<!--", "<!-- a", "<script>",
    "<script>a<style>", "<script", "<style x", "</script ", "</style>", "<", " ", "\n ", "1",
    "1 ", "$1", ".", "\"'", "A",
]  # fmt: skip
adversarial = st.tuples(
    st.sampled_from(_ADVERSARIAL_UNITS),
    st.integers(min_value=1, max_value=20_000),
    st.sampled_from(["", "OpenAI released it. ", "<p>", "-->"]),
).map(lambda t: t[2] + t[0] * (t[1] // len(t[0]) + 1))
# Characters gone over per character of input; the old forms went over the whole rest each time.
STEPS_PER_CHAR = 4


class TestLinearSteps:
    @given(adversarial)
    @settings(max_examples=60, deadline=None)
    def test_sentence_splitting_goes_over_each_character_a_few_times(self, text: str) -> None:
        body = normalize_text(text, keep_paragraphs=True)
        _, steps = scan_sentences(body)
        # Each piece once, and at most the abbreviation's tail per piece of two or more characters.
        assert steps <= (STEPS_PER_CHAR + articles.ABBREVIATION_TAIL) * (len(body) + 2)

    @given(adversarial)
    @settings(max_examples=60, deadline=None)
    def test_block_dropping_goes_over_each_character_a_few_times(self, text: str) -> None:
        _, steps = scan_blocks(text)
        assert steps <= STEPS_PER_CHAR * (len(text) + 1)

    @given(adversarial)
    @settings(
        max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    def test_the_abbreviation_rule_reads_a_bounded_tail(
        self, monkeypatch: pytest.MonkeyPatch, text: str
    ) -> None:
        # Counted at the regex itself: what `split_sentences` hands it, in characters.
        seen = [0]
        rule = articles.ABBREVIATION

        class Counting:
            def search(self, s: str) -> re.Match[str] | None:
                seen[0] += len(s)
                return rule.search(s)

        with monkeypatch.context() as m:
            m.setattr(articles, "ABBREVIATION", Counting())
            pieces = articles.SENTENCE_BREAK.split(text)
            split_sentences(text)
        assert seen[0] <= articles.ABBREVIATION_TAIL * len(pieces)

    def test_the_old_splitter_was_not_linear(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The same count on the reference: the bound above is one the old code breaks.
        seen = [0]
        rule = articles.ABBREVIATION

        class Counting:
            def search(self, s: str) -> re.Match[str] | None:
                seen[0] += len(s)
                return rule.search(s)

        text = "Mr. A " * 2000
        monkeypatch.setattr(articles, "ABBREVIATION", Counting())
        pieces = articles.SENTENCE_BREAK.split(text)
        old_split_sentences(text)
        assert seen[0] > 100 * articles.ABBREVIATION_TAIL * len(pieces)


def _article_entry(text: str) -> dict[str, str]:
    url = "https://example.com/adversarial"
    source = "urn:test:articles"
    envelope = {
        "specversion": "1.0",
        "id": url,
        "source": source,
        "type": ARTICLE_TYPE,
        "data": {"url": url, "published_date": "2025-08-07", "text": text},
    }
    return {
        "id": str(event_uuid(source, url)),
        "kind": "article",
        "ce": orjson.dumps(envelope).decode(),
        "received_at": datetime.now(UTC).isoformat(),
        "cid": "",
    }


ARTICLE_LIMIT = 200_000  # shared.events.Article.text


@pytest.mark.parametrize(
    "unit",
    [
        "Mr. A ",
        "<!--",
        "<script>",
        "<script",
        " \n ",
        "1",
        "OpenAI released GPU hours. Mr. ",
        "OpenAI released 1    million   ",
    ],
)
def test_a_200k_adversarial_article_goes_through_extraction(unit: str) -> None:
    # What a worker does with an article entry, short of the database write: with the old forms
    # the first of these took minutes of a worker's CPU.
    text = ("OpenAI released a model in March 2019. " + unit * ARTICLE_LIMIT)[:ARTICLE_LIMIT]
    for incoming in decode_entry(_article_entry(text)):
        with contextlib.suppress(ValueError):  # refused as a report: a decision, not a stall
            prepare(incoming)
