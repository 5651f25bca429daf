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
from collections.abc import Sequence

# The parser `re` itself uses (Python 3.11+): the same tree the regex engine compiles.
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

Literals = tuple[str, ...]

_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


# The steps screen the same text several times in a row: remember the last one folded/split.
_last_fold: list[str] = ["", ""]
_last_words: list[Any] = ["", frozenset()]


def fold(text: str) -> str:
    """`text` lowered the way the literals are, so `literal in fold(text)` is a sound test."""
    if text == _last_fold[0]:
        return _last_fold[1]
    folded = text.lower() if text.isascii() else text.translate(_FOLD).lower()
    _last_fold[:] = [text, folded]
    return folded


def words(folded: str) -> frozenset[str]:
    """The distinct letter/digit runs of a folded text."""
    if folded == _last_words[0]:
        found: frozenset[str] = _last_words[1]
        return found
    found = frozenset(_ALNUM.findall(folded))
    _last_words[:] = [folded, found]
    return found


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


_RARE_SYMBOLS = frozenset("$€£¥%@#")


def _selectivity(word: str) -> int:
    # The longer the word part, the rarer; a currency sign is rare in prose, a space is not.
    piece = _piece(word)
    if piece:
        return len(piece)
    return 5 if _RARE_SYMBOLS & set(word) else 0


def _best(options: list[frozenset[str]]) -> frozenset[str] | None:
    # The most selective requirement: its least selective literal is best, then its most
    # selective one ("open" + "ness|research": the "ness|research" side), then fewest literals.
    if not options:
        return None
    return max(
        options,
        key=lambda s: (
            min(_selectivity(w) for w in s),
            max(_selectivity(w) for w in s),
            -len(s),
        ),
    )


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


class _Vocabulary:
    """Every screen's word pieces, as bits of one integer per text word (memoised per word).

    A text's mask is the OR of its words' masks, computed once per text and shared by every
    screen: each screen owns a slice of the bits.
    """

    def __init__(self) -> None:
        self.bits = 0
        self.pieces: list[tuple[str, int]] = []
        self.memo: dict[str, int] = {}
        self.last: tuple[str, int] = ("", 0)

    def register(self, by_piece: dict[str, set[int]], size: int) -> int:
        offset = self.bits
        self.bits += size
        for piece, ids in by_piece.items():
            self.pieces.append((piece, sum(1 << (offset + i) for i in ids)))
        self.memo.clear()
        self.last = ("", 0)
        return offset

    def _learn(self, word: str) -> int:
        mask = 0
        for piece, bits in self.pieces:
            if piece in word:
                mask |= bits
        if len(self.memo) >= _MEMO_MAX:
            self.memo.clear()
        self.memo[word] = mask
        return mask

    def mask(self, folded: str) -> int:
        if folded == self.last[0]:
            return self.last[1]
        memo = self.memo
        mask = 0
        for word in words(folded):
            bits = memo.get(word)
            mask |= self._learn(word) if bits is None else bits
        self.last = (folded, mask)
        return mask


_VOCABULARY = _Vocabulary()


def indexes(mask: int) -> list[int]:
    """The positions of the set bits of `mask`, ascending."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


class Screen:
    """The literal check for many patterns at once, by the words of the text.

    Every literal's longest letter/digit run lies inside one word of any text that contains the
    literal, so a pattern is a candidate only if one of its runs is part of a word of the text
    (a literal with no letters or digits, like "$", is looked for as it is).
    Which patterns a word can start is learnt once per distinct word (a bounded memo shared by
    all screens), so a text costs one tokenisation and a dictionary look-up per distinct word.
    """

    __slots__ = ("_always", "_full", "_offset", "_symbols", "needs")

    def __init__(
        self,
        patterns: Sequence[re.Pattern[str]] = (),
        *,
        needs: Sequence[Literals | None] | None = None,
    ) -> None:
        """Screen `patterns` (their literals are derived), or items with the given `needs`."""
        self.needs: tuple[Literals | None, ...] = (
            tuple(needs) if needs is not None else tuple(literals(p) for p in patterns)
        )
        always = 0
        by_piece: dict[str, set[int]] = {}
        symbols: dict[str, int] = {}
        for i, need in enumerate(self.needs):
            if need is None:
                always |= 1 << i
                continue
            for word in need:
                piece = _piece(word)
                if piece:
                    by_piece.setdefault(piece, set()).add(i)
                else:
                    symbols[word] = symbols.get(word, 0) | 1 << i
        self._always = always
        self._symbols = tuple(symbols.items())
        self._full = (1 << len(self.needs)) - 1
        self._offset = _VOCABULARY.register(by_piece, len(self.needs))

    def candidates(self, folded: str) -> int:
        """Bit i set: pattern i may match the text `folded` (see `fold`)."""
        out = self._always | (_VOCABULARY.mask(folded) >> self._offset & self._full)
        for symbol, bits in self._symbols:
            if symbol in folded:
                out |= bits
        return out
