"""Pure enrichment steps: data in, labels plus the evidence that produced them out.

One module per step (normalize, companies, entities, category, phase, stance, importance, dedup,
links). They share the evidence shape defined here, `{"rule": ..., "words": [...]}` with optional
extra keys, and `Lexicon`, the whole-phrase matcher the vocabulary-driven steps compile once at
import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Evidence = dict[str, Any]


def evidence(rule: str, words: Iterable[str] = (), **extra: Any) -> Evidence:
    """Evidence: the rule that fired and the words it matched (deduplicated, in order)."""
    out: Evidence = {"rule": rule, "words": list(dict.fromkeys(words))}
    out.update(extra)
    return out


@dataclass(frozen=True, slots=True)
class Hit:
    start: int
    end: int
    text: str
    value: str


def _squash(text: str) -> str:
    return " ".join(text.split())


class Lexicon:
    """Whole-phrase matcher over a fixed vocabulary: leftmost match wins, then the longest.

    Phrases are case-insensitive unless listed in `case_sensitive` (aliases that are also ordinary
    words, like "Meta", or short codes, like "o1", must keep their capitals to count). Spaces in a
    phrase match any run of whitespace. A phrase may be followed by a hyphen ("DeepSeek" in
    "DeepSeek-R1") but not preceded by one, so "R1" does not fire inside "DeepSeek-R1".
    """

    __slots__ = ("_exact", "_folded", "_patterns")

    def __init__(
        self, entries: Iterable[tuple[str, str]], *, case_sensitive: Iterable[str] = ()
    ) -> None:
        sensitive = set(case_sensitive)
        self._exact: dict[str, str] = {}
        self._folded: dict[str, str] = {}
        for phrase, value in entries:
            if phrase in sensitive:
                self._exact.setdefault(_squash(phrase), value)
            else:
                self._folded.setdefault(_squash(phrase).casefold(), value)
        self._patterns: list[tuple[re.Pattern[str], bool]] = []
        for table, flags in ((self._exact, 0), (self._folded, re.IGNORECASE)):
            if table:
                # Longest first so the alternation prefers "GPT-4o" over "GPT-4".
                alts = "|".join(
                    r"\s+".join(re.escape(w) for w in phrase.split(" "))
                    for phrase in sorted(table, key=lambda p: (-len(p), p))
                )
                pattern = re.compile(rf"(?<![\w-])(?:{alts})(?!\w)", flags)
                self._patterns.append((pattern, flags == 0))

    def find(self, text: str) -> list[Hit]:
        """Every non-overlapping hit in `text`, in reading order."""
        hits: list[Hit] = []
        for pattern, exact in self._patterns:
            for m in pattern.finditer(text):
                key = _squash(m.group())
                value = self._exact[key] if exact else self._folded[key.casefold()]
                hits.append(Hit(m.start(), m.end(), m.group(), value))
        hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
        out: list[Hit] = []
        for hit in hits:
            if not out or hit.start >= out[-1].end:
                out.append(hit)
        return out
