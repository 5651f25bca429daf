"""dedup: SimHash fingerprints and the terms coreference and links compare."""

from __future__ import annotations

import pytest

from services.enrich.steps.dedup import hamming, simhash64


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

    expected = [dedup.stem(w) for w in tokens(text) if w not in dedup.STOPWORDS]
    assert dedup.terms(text) == expected  # learnt chunk by chunk
    assert dedup.terms(text) == expected  # from the memo
