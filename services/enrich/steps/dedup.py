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


# The vote counts every bit column at once: each digest bit becomes a 16-bit lane of one integer,
# so summing the integers sums the columns lane by lane. A lane holds a count below 2**15 with the
# vote's bias added (see `simhash64`): more features than a title and summary within the event
# limits can have (500 + 5,000 characters: under 5,600 words and pairs).
_LANE_BITS: Final = 16
_LANE_ONES: Final = int("0001" * 64, 16)
_LANE_LIMIT: Final = 1 << (_LANE_BITS - 1)
# A byte's eight bits as eight 16-bit lanes (16 bytes, most significant bit first).
_BYTE_LANES: Final = tuple(
    b"".join((byte >> (7 - k) & 1).to_bytes(2) for k in range(8)) for byte in range(256)
)


@functools.lru_cache(maxsize=_MEMO_MAX)
def _lanes(feature: str) -> int:
    """The feature's 64-bit BLAKE2b digest, one 16-bit lane per bit, most significant first."""
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    return int.from_bytes(b"".join(map(_BYTE_LANES.__getitem__, digest)))


def simhash64(text: str) -> int:
    """64-bit SimHash of the text's terms and neighbouring term pairs ("a b"), as a signed int64
    (0 for no terms): a bit is set when most features' digests set it."""
    words = terms(text)
    if not words:
        return 0
    # A longer text (none within the event limits) is fingerprinted by its first features.
    features = [*words, *map(" ".join, itertools.pairwise(words))][: _LANE_LIMIT - 1]
    n = len(features)
    # A lane's top bit is set exactly when its count reaches n // 2 + 1, once 2**15 - (n // 2 + 1)
    # is added to every lane (and a lane stays below 2**16 while n < 2**15).
    counts = sum(map(_lanes, features))
    top = (counts + (_LANE_LIMIT - n // 2 - 1) * _LANE_ONES) >> (_LANE_BITS - 1) & _LANE_ONES
    return _to_signed(int(format(top, "0256x")[3::4], 2))


def hamming(a: int, b: int) -> int:
    """Bits that differ between two fingerprints (signed or unsigned)."""
    return ((a ^ b) & MASK64).bit_count()


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def days_apart(a: OccurredDate, b: OccurredDate) -> int:
    """Days between two spans; 0 when they overlap. Ordinals keep open ends (date.min) safe."""
    return max(0, a.start.toordinal() - b.end.toordinal(), b.start.toordinal() - a.end.toordinal())
