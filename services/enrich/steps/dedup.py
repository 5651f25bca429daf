"""The words of a text as coreference and links compare them, and its SimHash fingerprint.

`terms` are the stemmed content words; `title_terms` a title's without the company's own name.
A 64-bit SimHash of the normalized text is kept on every event (a signed int64, so it fits a
PostgreSQL bigint). Whether two reports tell one happening is decided in `services.enrich.coref`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from typing import Final

from services.enrich.steps.companies import COMPANIES
from services.enrich.steps.normalize import chunk_tokens, chunks
from shared.dates import OccurredDate

MASK64: Final = (1 << 64) - 1

STOPWORDS: Final = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "as",
        "at",
        "by",
        "with",
        "its",
        "it",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "that",
        "this",
        "from",
        "into",
        "after",
        "over",
        "about",
        "than",
        "new",
        "says",
        "said",
        "his",
        "her",
        "their",
        "he",
        "she",
        "they",
        "against",
    }
)
# British and American spellings of the words this domain uses are the same word.
_SPELLING: Final = {"licence": "license", "licences": "licenses", "licenced": "licensed"}
_SUFFIXES: Final = ("ing", "ed", "es", "s", "e")
# Per-word work (stems, feature digests) is memoised: the vocabulary of company news recurs.
# Bounded (least recently used out) so that a worker's memory stays flat whatever it reads; the
# recurring vocabulary fits (docs/benchmarks.md has the soak's memory figures).
_MEMO_MAX: Final = 20_000


@functools.lru_cache(maxsize=_MEMO_MAX)
def stem(word: str) -> str:
    """The word as terms compare it: one spelling, a common suffix off ("releases" -> "releas")."""
    word = _SPELLING.get(word, word)
    if len(word) > 4 and not word[-1].isdigit():
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                return word[: -len(suffix)]
    return word


# The terms of each chunk of text (a word with its punctuation, "model's" or "weights."; see
# `normalize.chunks`), memoised like the stems: a text's terms are then one look-up per chunk.
@functools.lru_cache(maxsize=_MEMO_MAX)
def _chunk_terms(chunk: str) -> tuple[str, ...]:
    return tuple(stem(word) for word in chunk_tokens(chunk) if word not in STOPWORDS)


def terms(text: str) -> list[str]:
    """Stemmed content words of `text`, stopwords dropped, in order."""
    return list(itertools.chain.from_iterable(map(_chunk_terms, chunks(text))))


@functools.lru_cache(maxsize=4096)
def title_terms(title: str, company: str = "") -> frozenset[str]:
    """The title's terms without the company's own name: every event of a company shares it."""
    entry = COMPANIES.get(company)
    own = {company}
    if entry:
        own |= {w for alias in (entry.name, *entry.aliases) for w in terms(alias)}
    return frozenset(t for t in terms(title) if t not in own)


def _to_signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# The vote counts every bit column at once: each digest bit becomes an 8-bit lane of one integer
# (written as hex "0b" per bit), so summing the integers sums the columns lane by lane. (8-bit
# lanes, not wider: the sum of an event's features is half as long an integer.)
_LANE_ONES: Final = int("01" * 64, 16)
_LANE_BITS: Final = 8
# Up to this many features no lane can carry into the next, even with the vote's bias added (see
# `simhash64`); more are counted slowly.
_LANE_LIMIT: Final = 1 << (_LANE_BITS - 1)
_MAX_FAST_FEATURES: Final = 2 * _LANE_LIMIT - 1
# A byte's eight bits as eight 8-bit lanes (8 bytes, most significant bit first).
_BYTE_LANES: Final = tuple(bytes((byte >> (7 - k)) & 1 for k in range(8)) for byte in range(256))


@functools.lru_cache(maxsize=_MEMO_MAX)
def _lanes(feature: str) -> int:
    """The feature's 64-bit BLAKE2b digest, one 8-bit lane per bit, most significant first."""
    return _digest_lanes(feature)


def _digest_lanes(feature: str) -> int:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    return int.from_bytes(b"".join(map(_BYTE_LANES.__getitem__, digest)))


# The lanes of the pair feature "a b" plus those of the word b, by (a, b): the words come from
# the stem memo, so the pair is hashed from their cached hashes, without building and hashing
# the string "a b". A text's sum is then the lanes of its first word plus one look-up per pair
# (w0 + (w0 w1 + w1) + (w1 w2 + w2) + ...): half the look-ups and additions of word and pair
# apart. A lane of a step holds at most 2, so the sum's lanes are the same.
@functools.lru_cache(maxsize=_MEMO_MAX)
def _pair_lanes(pair: tuple[str, str]) -> int:
    return _digest_lanes(" ".join(pair)) + _lanes(pair[1])


def _vote_slowly(features: list[str]) -> int:
    digests = [
        format(int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "big"), "064b")
        for f in features
    ]
    value = 0
    for column in zip(*digests, strict=True):
        value = value << 1 | (2 * column.count("1") > len(digests))
    return value


def simhash64(text: str) -> int:
    """64-bit SimHash of the text's terms and term pairs, as a signed int64 (0 for no terms)."""
    words = terms(text)
    if not words:
        return 0
    n = 2 * len(words) - 1  # the words and the pairs of neighbours ("a b", kept as (a, b))
    if n > _MAX_FAST_FEATURES:
        pairs = map(" ".join, itertools.pairwise(words))
        return _to_signed(_vote_slowly(words + list(pairs)))
    # Column-wise vote (most significant bit first): a bit is set when most features set it,
    # i.e. its count reaches n // 2 + 1; adding 2**7 - (n // 2 + 1) to every lane sets the
    # lane's top bit exactly then (and a lane stays below 2**8 while n < 2**8).
    counts = _lanes(words[0]) + sum(map(_pair_lanes, itertools.pairwise(words)))
    top = (counts + (_LANE_LIMIT - n // 2 - 1) * _LANE_ONES) >> (_LANE_BITS - 1) & _LANE_ONES
    return _to_signed(int(format(top, "0128x")[1::2], 2))


def hamming(a: int, b: int) -> int:
    """Bits that differ between two fingerprints (signed or unsigned)."""
    return ((a ^ b) & MASK64).bit_count()


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def days_apart(a: OccurredDate, b: OccurredDate) -> int:
    """Days between two spans; 0 when they overlap. Ordinals keep open ends (date.min) safe."""
    return max(0, a.start.toordinal() - b.end.toordinal(), b.start.toordinal() - a.end.toordinal())
