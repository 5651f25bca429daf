"""dedup: SimHash fingerprints and near-duplicate detection between reported events."""

from __future__ import annotations

import pytest

from services.enrich.steps.dedup import Candidate, hamming, near_duplicate, simhash64
from shared.dates import parse_occurred


def _cand(title: str, occurred: str = "2022-09-21", company: str = "openai") -> Candidate:
    return Candidate(company, parse_occurred(occurred), simhash64(title), title)


@pytest.mark.parametrize(
    "text",
    ["", "OpenAI releases Whisper", "a " * 500, "Ünïcödé — text", "x" * 10_000],
)
def test_simhash_is_a_signed_int64(text: str) -> None:
    value = simhash64(text)
    assert -(2**63) <= value < 2**63
    assert simhash64(text) == value  # deterministic (no per-process hash seed)


def test_simhash_of_nothing_is_zero_and_some_fingerprints_are_negative() -> None:
    assert simhash64("") == 0 == simhash64("the of and")
    values = [simhash64(f"event number {i} about OpenAI") for i in range(40)]
    assert any(v < 0 for v in values) and any(v > 0 for v in values)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(0, 0, 0), (0, 1, 1), (-1, 0, 64), (-1, 2**63 - 1, 1), (0b1010, 0b0101, 4)],
)
def test_hamming(a: int, b: int, expected: int) -> None:
    assert hamming(a, b) == expected == hamming(b, a)


def test_light_edits_keep_the_fingerprint_close() -> None:
    a = simhash64("OpenAI releases Whisper with code and weights under the MIT licence today")
    b = simhash64("OpenAI released Whisper, with code and weights under the MIT license, today")
    c = simhash64("Elon Musk sues OpenAI and Sam Altman in San Francisco Superior Court")
    assert hamming(a, b) < hamming(a, c)


# The same news told twice, in different words with light edits.
DUPLICATES = [
    (
        ("OpenAI releases Whisper with code and weights under the MIT licence", "2022-09-21"),
        ("OpenAI released Whisper, code and weights under the MIT license", "2022-09-22"),
    ),
    (
        ("Musk withdraws his state lawsuit against OpenAI", "2024-06-11"),
        ("Elon Musk withdraws state lawsuit against OpenAI without prejudice", "2024-06-11"),
    ),
    (
        ("OpenAI launches ChatGPT as a research preview", "2022-11-30"),
        ("ChatGPT launched by OpenAI as a research preview", "2022-12-01"),
    ),
    (
        (
            "OpenAI completes its recapitalization; Foundation controls OpenAI Group PBC",
            "2025-10-28",
        ),
        ("OpenAI completed recapitalization: the Foundation controls OpenAI Group PBC", "2025-10"),
    ),
    (
        ("OpenAI introduces o1-preview, its first reasoning model", "2024-09-12"),
        ("OpenAI introduces o1-preview, its first reasoning model", "2024-09-12"),
    ),
]


@pytest.mark.parametrize(("a", "b"), DUPLICATES)
def test_same_news_twice_is_a_duplicate(a: tuple[str, str], b: tuple[str, str]) -> None:
    found = near_duplicate(_cand(*a), _cand(*b))
    assert found is not None
    assert set(found) == {"rule", "words", "hamming", "jaccard", "containment", "days_apart"}
    assert found["words"]
    assert near_duplicate(_cand(*b), _cand(*a)) == found


NOT_DUPLICATES = [
    # two different events of the same company on the same day
    (
        ("OpenAI launches o3-mini for ChatGPT users", "2025-01-31"),
        ("Altman says OpenAI is on the wrong side of history on open source", "2025-01-31"),
    ),
    (
        ("OpenAI releases GPT-4", "2023-03-14"),
        ("OpenAI releases a GPT-4 system card", "2023-03-14"),
    ),
    (
        ("OpenAI launches ChatGPT Plus", "2023-02-01"),
        ("OpenAI launches the Whisper API", "2023-02-01"),
    ),
    # the same words, too far apart in time: the Musk suit withdrawn, then refiled
    (("Musk sues OpenAI and Altman", "2024-02-29"), ("Musk sues OpenAI and Altman", "2024-08-05")),
]


@pytest.mark.parametrize(("a", "b"), NOT_DUPLICATES)
def test_different_events_are_not_duplicates(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert near_duplicate(_cand(*a), _cand(*b)) is None


def test_different_companies_are_never_duplicates() -> None:
    title = "Italy's data-protection authority restricts the app"
    assert near_duplicate(_cand(title, company="deepseek"), _cand(title, company="openai")) is None


@pytest.mark.parametrize(
    ("a", "b", "gap"),
    [
        ("2025-01-30", "2025-02-02", 3),
        ("2025-01", "2025-01-30", 0),
        ("2025", "2025-06-01", 0),
        ("2024-12-30/2025-01-05", "2025-01-07", 2),
    ],
)
def test_dates_within_a_few_days_or_overlapping_spans(a: str, b: str, gap: int) -> None:
    title = "NASA bars DeepSeek on agency devices"
    found = near_duplicate(_cand(title, a, "deepseek"), _cand(title, b, "deepseek"))
    assert found is not None and found["days_apart"] == gap


@pytest.mark.parametrize(
    "text",
    [
        "OpenAI's GPT-4o, released in 2024 -- under the MIT licence.",
        "U.S. regulators said the model's weights were 'withheld' -- again...",
        "DeepSeek-R1 and R1-Zero: open weights; code and weights on GitHub",
        "",
    ],
)
def test_terms_per_chunk_are_the_stemmed_tokens(text: str) -> None:
    from services.enrich.steps import dedup
    from services.enrich.steps.normalize import tokens

    expected = [dedup._stem_uncached(w) for w in tokens(text) if w not in dedup._STOPWORDS]
    dedup._CHUNK_TERMS.clear()
    assert dedup.terms(text) == expected  # learnt chunk by chunk
    assert dedup.terms(text) == expected  # from the memo
