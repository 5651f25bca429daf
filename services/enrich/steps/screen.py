"""A cheap, sound pre-check for regular expressions: the literals any match must contain.

Most rules of the vocabulary-driven steps do not fire on a given event, and running a regex over
a text costs far more than looking for a short string in it. `literals(pattern)` reads the
pattern's syntax tree and returns lower-case strings of which every match contains at least one
(or None when it cannot tell, e.g. a pattern made only of classes). A caller skips the regex when
none of them occurs in `fold(text)`. The check never skips a text the regex would match: literals
are only taken from parts every match must pass through, and `fold` maps the few non-ASCII
characters that IGNORECASE equates with ASCII letters (dotted and dotless i, long s, the
Kelvin sign) before lowering.
"""

from __future__ import annotations

import re

# The parser `re` itself uses (Python 3.11+): the same tree the regex engine compiles.
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

Literals = tuple[str, ...]

_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def fold(text: str) -> str:
    """`text` lowered the way the literals are, so `literal in fold(text)` is a sound test."""
    return text.translate(_FOLD).lower()


def _char(op: Any, av: Any) -> str | None:
    """The one lower-case ASCII character this node matches (ignoring case), if it is one."""
    if op is C.LITERAL and av < 128:
        return chr(av).lower()
    if op is C.IN:  # "[Pp]": a class of one letter in both cases
        chars = {chr(v).lower() for o, v in av if o is C.LITERAL and v < 128}
        if len(chars) == 1 and all(o is C.LITERAL and v < 128 for o, v in av):
            return chars.pop()
    return None


_ALNUM = re.compile(r"[a-z0-9]+")


def _piece(word: str) -> str:
    """The longest ASCII letter/digit run of a literal ("" if it has none)."""
    return max(_ALNUM.findall(word), key=len, default="")


def _selectivity(word: str) -> int:
    # A symbol ("$") is rare in prose; otherwise the longer the word part, the rarer.
    return len(_piece(word)) or 5


def _best(options: list[frozenset[str]]) -> frozenset[str] | None:
    # The most selective requirement: its least selective literal is best, then fewest literals.
    if not options:
        return None
    return max(options, key=lambda s: (min(_selectivity(w) for w in s), -len(s)))


def _sequence(items: Any) -> frozenset[str] | None:
    options: list[frozenset[str]] = []
    run: list[str] = []
    for op, av in items:
        ch = _char(op, av)
        if ch is not None:
            run.append(ch)
            continue
        if run:
            options.append(frozenset(["".join(run)]))
            run = []
        need = _node(op, av)
        if need is not None:
            options.append(need)
    if run:
        options.append(frozenset(["".join(run)]))
    return _best(options)


def _node(op: Any, av: Any) -> frozenset[str] | None:
    if op is C.SUBPATTERN:
        return _sequence(av[-1])
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _high, sub = av
        return _sequence(sub) if low >= 1 else None
    if op is C.ATOMIC_GROUP:
        return _sequence(av)
    if op is C.BRANCH:
        union: set[str] = set()
        for alt in av[1]:
            need = _sequence(alt)
            if need is None:
                return None
            union |= need
        return frozenset(union)
    # Anchors, lookarounds, classes, any-char, back-references: no literal every match contains.
    return None


def literals(pattern: re.Pattern[str]) -> Literals | None:
    """Lower-case strings, one of which every match of `pattern` contains; None if unknown."""
    need = _sequence(P.parse(pattern.pattern, pattern.flags))
    if need is None or not all(need):
        return None
    # Drop literals that contain another one: finding the shorter one is already enough.
    kept = sorted(need, key=len)
    out: list[str] = []
    for word in kept:
        if not any(w in word for w in out):
            out.append(word)
    return tuple(out)


def may_match(need: Literals | None, folded: str) -> bool:
    """False only when no match of the pattern `need` was computed for can occur in the text."""
    if need is None:
        return True
    return any(word in folded for word in need)


_MEMO_MAX = 100_000


class Screen:
    """The literal check for many patterns at once, by the words of the text.

    Every literal's longest letter/digit run lies inside one word of any text that contains the
    literal, so a pattern is a candidate only if one of its runs is part of a word of the text
    (a literal with no letters or digits, like "$", is looked for as it is).
    Which patterns a word can start is learnt once per distinct word (a bounded memo), so an
    event costs one tokenisation and a dictionary look-up per distinct word.
    """

    __slots__ = ("_always", "_by_piece", "_memo", "_symbols", "needs")

    def __init__(self, patterns: list[re.Pattern[str]]) -> None:
        self.needs: tuple[Literals | None, ...] = tuple(literals(p) for p in patterns)
        always: set[int] = set()
        by_piece: dict[str, set[int]] = {}
        symbols: dict[str, set[int]] = {}
        for i, need in enumerate(self.needs):
            if need is None:
                always.add(i)
                continue
            for word in need:
                piece = _piece(word)
                if piece:
                    by_piece.setdefault(piece, set()).add(i)
                else:
                    symbols.setdefault(word, set()).add(i)
        self._always = frozenset(always)
        self._symbols = tuple((word, frozenset(ids)) for word, ids in symbols.items())
        self._by_piece = tuple((piece, frozenset(ids)) for piece, ids in by_piece.items())
        self._memo: dict[str, frozenset[int]] = {}

    def _learn(self, word: str) -> frozenset[int]:
        ids: set[int] = set()
        for piece, owners in self._by_piece:
            if piece in word:
                ids |= owners
        if len(self._memo) >= _MEMO_MAX:
            self._memo.clear()
        found = self._memo[word] = frozenset(ids)
        return found

    def candidates(self, folded: str) -> set[int]:
        """Indexes of the patterns that may match the text `folded` (see `fold`)."""
        out = set(self._always)
        for symbol, owners in self._symbols:
            if symbol in folded:
                out |= owners
        memo = self._memo
        for word in set(_ALNUM.findall(folded)):
            ids = memo.get(word)
            if ids is None:
                ids = self._learn(word)
            if ids:
                out |= ids
        return out
