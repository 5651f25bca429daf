"""What every step shares: the evidence shape, `{"rule": ..., "words": [...]}` with optional extra
keys; `RuleSet`, the named, weighted patterns a step declares and asks which fired; and `Lexicon`,
the whole-phrase matcher for fixed vocabularies (companies, people, models, agencies).

Most rules fire on few events, and trying a regex at every position of a text costs far more
than looking for a short string in it. So a rule may declare `starts`: the lower-case words one
of which every match begins with. The rule is then tried only where one of them occurs, and its
pattern is compiled behind a lookahead on them, so a rule that declares too few starts misses
matches (its tests fail) instead of a screen skipping them silently.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

Evidence = dict[str, Any]


def evidence(rule: str, words: Iterable[str] = (), **extra: Any) -> Evidence:
    """Evidence: the rule that fired and the words it matched (deduplicated, in order)."""
    out: Evidence = {"rule": rule, "words": list(dict.fromkeys(words))}
    if extra:
        out.update(extra)
    return out


# IGNORECASE equates these non-ASCII characters with ASCII letters; `fold` maps them first, so a
# lower-case ASCII start found in `fold(text)` is where the rule can match in `text`.
_FOLD: Final = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
_ALNUM: Final = re.compile(r"[a-z0-9]+")


# The steps look at the same few texts of an event (its title, summary, body, all of them joined)
# one after another: remembering the last few is enough.
@functools.lru_cache(maxsize=8)
def fold(text: str) -> str:
    """`text` lowered as rule starts are, so `start in fold(text)` is a sound test."""
    return text.lower() if text.isascii() else text.translate(_FOLD).lower()


@functools.lru_cache(maxsize=8)
def words(folded: str) -> frozenset[str]:
    """The distinct ASCII letter/digit runs of a folded text."""
    return frozenset(_ALNUM.findall(folded))


def places(heads: Iterable[str], folded: str) -> list[int]:
    """Where any of `heads` occurs in `folded`, ascending."""
    out: list[int] = []
    for head in heads:
        at = folded.find(head)
        while at >= 0:
            out.append(at)
            at = folded.find(head, at + 1)
    out.sort()
    return out


def matches_at(pattern: re.Pattern[str], text: str, at: list[int]) -> list[re.Match[str]]:
    """`list(pattern.finditer(text))` when every match starts at one of the places `at`
    (ascending) and none is empty: the leftmost match, then the next one after it."""
    out: list[re.Match[str]] = []
    end = 0
    for start in at:
        if start >= end:
            m = pattern.match(text, start)
            if m is not None:
                out.append(m)
                end = m.end()
    return out


@dataclass(frozen=True, slots=True)
class Rule:
    """A named pattern a step looks for: the evidence says `name`, the step adds `weight`.

    `starts` (space-separated, lower case): the words one of which every match begins with
    ("non for" for `\\bnon-?profit\\b|\\bfor-?profit\\b`); empty, the pattern is scanned for.
    Patterns ignore case unless `cased`."""

    name: str
    pattern: str
    weight: float = 0.0
    starts: str = ""
    cased: bool = False


class RuleSet:
    """A step's rules, compiled once; which of them fired on a text, and what they matched."""

    __slots__ = ("_begun", "_compiled", "_heads", "_scan", "_scanned", "rules")

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._heads = tuple(tuple(rule.starts.split()) for rule in self.rules)
        self._compiled = tuple(map(_compile, self.rules, self._heads))
        self._scanned = frozenset(i for i, heads in enumerate(self._heads) if not heads)
        # One scan of a folded text finds every place where a start occurs, and there the longest
        # (the shorter ones there are its prefixes): per start, the rules it or its prefixes begin.
        heads = {head for rule_heads in self._heads for head in rule_heads}
        self._begun = {
            head: [i for i, rule_heads in enumerate(self._heads) if head.startswith(rule_heads)]
            for head in heads
        }
        self._scan = re.compile(f"(?=({trie_alternation(heads)}))") if heads else None

    def __len__(self) -> int:
        return len(self.rules)

    def index(self, name: str) -> int:
        """The position of the rule called `name`."""
        return next(i for i, rule in enumerate(self.rules) if rule.name == name)

    def plain(self, i: int) -> re.Pattern[str]:
        """Rule `i`'s pattern as written, without its starts (what `finditer` must agree with)."""
        return re.compile(self.rules[i].pattern, _flags(self.rules[i]))

    def finditer(self, i: int, text: str) -> list[re.Match[str]]:
        """`finditer` of rule `i` over `text`: tried only where one of its starts occurs."""
        pattern, heads = self._compiled[i], self._heads[i]
        if not heads:
            return list(pattern.finditer(text))
        folded = fold(text)
        if len(folded) != len(text):  # folding moved the places: scan
            return list(pattern.finditer(text))
        return matches_at(pattern, text, places(heads, folded))

    def matches(self, text: str) -> dict[int, list[re.Match[str]]]:
        """The matches of every rule that matched `text`, by rule index in order."""
        folded = fold(text)
        if self._scan is None or len(folded) != len(text):
            found = {i: self.finditer(i, text) for i in range(len(self.rules))}
        else:
            # Only the rules one of whose starts occurs (most do not fire), only at those places.
            starts_at: dict[int, list[int]] = {i: [] for i in self._scanned}
            for m in self._scan.finditer(folded):
                for i in self._begun[m.group(1)]:
                    starts_at.setdefault(i, []).append(m.start())
            found = {
                i: (
                    self.finditer(i, text)
                    if i in self._scanned
                    else matches_at(self._compiled[i], text, at)
                )
                for i, at in sorted(starts_at.items())
            }
        return {i: ms for i, ms in found.items() if ms}

    def fired(self, text: str) -> list[tuple[int, list[str]]]:
        """(rule index, the texts it matched) for every rule that matched `text`, in order."""
        return [(i, [m.group() for m in ms]) for i, ms in self.matches(text).items()]


def _flags(rule: Rule) -> int:
    return 0 if rule.cased else re.IGNORECASE


def _compile(rule: Rule, heads: tuple[str, ...]) -> re.Pattern[str]:
    if not heads:
        return re.compile(rule.pattern, _flags(rule))
    alts = "|".join(re.escape(h) for h in sorted(heads, key=len, reverse=True))
    # Every match begins with a declared start: that is what makes trying only there sound.
    return re.compile(rf"(?=(?i:{alts}))(?:{rule.pattern})", _flags(rule))


class Hit(NamedTuple):
    """A phrase found in a text: where, as written, and the value it stands for."""

    start: int
    end: int
    text: str
    value: str


def _squash(text: str) -> str:
    return " ".join(text.split())


def trie_alternation(phrases: Iterable[str]) -> str:
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

    __slots__ = ("_tables",)

    def __init__(
        self, entries: Iterable[tuple[str, str]], *, case_sensitive: Iterable[str] = ()
    ) -> None:
        sensitive = set(case_sensitive)
        exact: dict[str, str] = {}
        folded: dict[str, str] = {}
        for phrase, value in entries:
            if phrase in sensitive:
                exact.setdefault(_squash(phrase), value)
            else:
                folded.setdefault(_squash(phrase).casefold(), value)
        # Per table: its pattern, whether it keeps case, and the first letter/digit run of every
        # phrase (None if a phrase starts otherwise). A match begins a word of the text equal to
        # one of those runs: what follows a run in a phrase (its end, then no word character; or
        # a space, hyphen, dot...) ends the word there. So the pattern is tried only at such words.
        self._tables: list[tuple[re.Pattern[str], bool, dict[str, str], frozenset[str] | None]]
        self._tables = []
        for table, flags in ((exact, 0), (folded, re.IGNORECASE)):
            if table:
                alts = trie_alternation(table)
                pattern = re.compile(rf"(?<![\w-])(?:{alts})(?!\w)", flags)
                runs = [_ALNUM.match(phrase.lower()) for phrase in table]
                firsts = frozenset(m.group() for m in runs if m) if all(runs) else None
                self._tables.append((pattern, flags == 0, table, firsts))

    def patterns(self) -> list[re.Pattern[str]]:
        """Each table's pattern (case-sensitive phrases first)."""
        return [pattern for pattern, *_ in self._tables]

    def matches(self, i: int, text: str) -> list[re.Match[str]]:
        """`finditer` of table `i`'s pattern over `text`, tried only where a phrase can begin."""
        pattern, _, _, firsts = self._tables[i]
        folded = fold(text)
        if firsts is None or len(folded) != len(text):
            return list(pattern.finditer(text))
        starting = firsts & words(folded)
        if not starting:
            return []
        return matches_at(pattern, text, places(starting, folded))

    def find(self, text: str) -> list[Hit]:
        """Every non-overlapping hit in `text`, in reading order."""
        hits: list[Hit] = []
        tables_hit = 0
        for i, (_, exact, table, _) in enumerate(self._tables):
            found = self.matches(i, text)
            if found:
                tables_hit += 1
            for m in found:
                written = m.group()
                key = written if exact else written.casefold()
                value = table.get(key)
                if value is None:  # a phrase written across a line break or double space
                    value = table[_squash(key)]
                hits.append(Hit(m.start(), m.end(), written, value))
        if tables_hit < 2:
            return hits  # one pattern's matches: in order, and they never overlap
        hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
        out: list[Hit] = []
        for hit in hits:
            if not out or hit.start >= out[-1].end:
                out.append(hit)
        return out
