"""What every step shares: the evidence shape, `{"rule": ..., "words": [...]}` with optional extra
keys, and `Lexicon`, the whole-phrase matcher the vocabulary-driven steps compile once at import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from typing import Any, Final, NamedTuple

from services.enrich.steps.screen import Screen, fold, matches_at, places, quick, words

Evidence = dict[str, Any]


def evidence(rule: str, words: Iterable[str] = (), **extra: Any) -> Evidence:
    """Evidence: the rule that fired and the words it matched (deduplicated, in order)."""
    out: Evidence = {"rule": rule, "words": list(dict.fromkeys(words))}
    if extra:
        out.update(extra)
    return out


class Hit(NamedTuple):
    """A phrase found in a text: where, as written, and the value it stands for. (A named tuple:
    an event makes several, and a tuple is built several times faster than a frozen dataclass.)"""

    start: int
    end: int
    text: str
    value: str


# `Hit(*fields)` without the Python-level `__new__` a named tuple has (a C call).
_hit: Final = partial(tuple.__new__, Hit)

_ALNUM: Final = re.compile(r"[a-z0-9]+")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _trie_alternation(phrases: Iterable[str]) -> str:
    """One regex alternative per phrase, factored as a trie ("gpt-4o|gpt-4" -> "gpt\\-4(?:o)?").

    The engine then tests a phrase's first letter once instead of once per phrase. A phrase that
    continues is tried before the one it extends (greedy `?`), so the longest phrase that matches
    wins, as in a longest-first alternation. A space matches any run of whitespace.
    """
    root: dict[str, Any] = {}
    for phrase in phrases:
        node = root
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        alts = [
            (r"\s+" if ch == " " else re.escape(ch)) + emit(node[ch]) for ch in sorted(node) if ch
        ]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


class Lexicon:
    """Whole-phrase matcher over a fixed vocabulary: leftmost match wins, then the longest.

    Phrases are case-insensitive unless listed in `case_sensitive` (aliases that are also ordinary
    words, like "Meta", or short codes, like "o1", must keep their capitals to count). Spaces in a
    phrase match any run of whitespace. A phrase may be followed by a hyphen ("DeepSeek" in
    "DeepSeek-R1") but not preceded by one, so "R1" does not fire inside "DeepSeek-R1".
    """

    __slots__ = ("_any_first", "_exact", "_firsts", "_folded", "_patterns", "_screen")

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
        # A match starts where a word of the folded text (see `screen.words`) equals the first
        # letter/digit run of one of the phrases: the phrase begins with that run, and what follows
        # it (the end, then no word character; or a space, hyphen, dot...) ends the word there.
        # So the pattern is tried only where such a word occurs, not scanned for.
        self._firsts: list[frozenset[str] | None] = []
        for table, flags in ((self._exact, 0), (self._folded, re.IGNORECASE)):
            if table:
                alts = _trie_alternation(table)
                pattern = quick(re.compile(rf"(?<![\w-])(?:{alts})(?!\w)", flags))
                self._patterns.append((pattern, flags == 0))
                runs = [_ALNUM.match(phrase.lower()) for phrase in table]
                self._firsts.append(frozenset(m.group() for m in runs if m) if all(runs) else None)
        # Every pattern's first words, when all are known: a text with none of them has no hit.
        known = [firsts for firsts in self._firsts if firsts is not None]
        self._any_first: frozenset[str] | None = (
            frozenset().union(*known) if len(known) == len(self._firsts) else None
        )
        # Most texts name none of the phrases: a phrase's words must be among the text's words.
        self._screen = Screen(
            needs=[
                tuple(p.lower() for p in table) for table in (self._exact, self._folded) if table
            ]
        )

    def find(self, text: str) -> list[Hit]:
        """Every non-overlapping hit in `text`, in reading order."""
        folded = fold(text)
        present = words(folded)
        aligned = len(folded) == len(text)
        if aligned and self._any_first is not None and self._any_first.isdisjoint(present):
            return []  # no word of the text begins a phrase (see below)
        hits: list[Hit] = []
        patterns_hit = 0
        for i, (pattern, exact) in enumerate(self._patterns):
            firsts = self._firsts[i]
            if firsts is not None and aligned:
                # A match starts at a word that begins a phrase (see `_matches`): none, no match.
                starting = firsts & present
                if not starting:
                    continue
                matches = self._matches_at(pattern, text, folded, starting)
            elif self._screen.candidates(folded) >> i & 1:
                matches = list(pattern.finditer(text))
            else:
                continue
            if not matches:
                continue
            patterns_hit += 1
            table = self._exact if exact else self._folded
            for m in matches:
                written = m.group()
                key = written if exact else written.casefold()
                value = table.get(key)
                if value is None:  # a phrase written across a line break or double space
                    value = table[_squash(key)]
                hits.append(_hit((m.start(), m.end(), written, value)))
        if patterns_hit < 2:
            return hits  # one pattern's matches: in order, and they never overlap
        hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
        out: list[Hit] = []
        for hit in hits:
            if not out or hit.start >= out[-1].end:
                out.append(hit)
        return out

    def _matches(self, i: int, pattern: re.Pattern[str], text: str) -> Iterable[re.Match[str]]:
        """`pattern.finditer(text)`, trying the pattern only where a match can start."""
        firsts = self._firsts[i]
        folded = fold(text)
        if firsts is None or len(folded) != len(text):
            return pattern.finditer(text)
        return self._matches_at(pattern, text, folded, firsts & words(folded))

    @staticmethod
    def _matches_at(
        pattern: re.Pattern[str], text: str, folded: str, starting: Iterable[str]
    ) -> list[re.Match[str]]:
        """The matches of `pattern` in `text` that start where a word in `starting` occurs."""
        return matches_at(pattern, text, places(tuple(starting), folded))
