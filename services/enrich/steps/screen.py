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

import functools
import re
from collections.abc import Iterator, Sequence
from functools import reduce
from operator import or_

# The parser `re` itself uses (Python 3.11+): the same tree the regex engine compiles.
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any, Final

Literals = tuple[str, ...]

_FOLD: Final = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


# The steps screen the same few texts of an event (its title, summary, body and all of them
# joined) several times in a row: remember the last few folded/split. Small, so an event's texts
# never outlive the next events' texts.
_RECENT: Final = 8


@functools.lru_cache(maxsize=_RECENT)
def fold(text: str) -> str:
    """`text` lowered the way the literals are, so `literal in fold(text)` is a sound test."""
    return text.lower() if text.isascii() else text.translate(_FOLD).lower()


# `_ALNUM.findall(text)` in one C pass over the UTF-8 bytes: every byte but an ASCII lower-case
# letter or digit becomes a space (a non-ASCII character's bytes are all >= 128, and `[a-z0-9]`
# matches no non-ASCII character), then the runs are split apart.
_RUN_BYTES: Final = bytes(c if 0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 else 0x20 for c in range(256))


def runs(text: str) -> list[str]:
    """The ASCII lower-case letter/digit runs of `text`, in order (`_ALNUM.findall(text)`)."""
    return text.encode("utf-8", "surrogatepass").translate(_RUN_BYTES).decode("ascii").split()


@functools.lru_cache(maxsize=_RECENT)
def words(folded: str) -> frozenset[str]:
    """The distinct letter/digit runs of a folded text."""
    if "\n" in folded:
        # A word never spans lines, and the steps look at an event's lines alone too.
        return frozenset().union(*map(words, folded.split("\n")))
    return frozenset(runs(folded))


def _char(op: Any, av: Any) -> str | None:
    """The one lower-case ASCII character this node matches (ignoring case), if it is one."""
    if op is C.LITERAL and av < 128:
        return chr(av).lower()
    if op is C.IN:  # "[Pp]": a class of one letter in both cases
        chars = {chr(v).lower() for o, v in av if o is C.LITERAL and v < 128}
        if len(chars) == 1 and all(o is C.LITERAL and v < 128 for o, v in av):
            return chars.pop()
    return None


_ALNUM: Final = re.compile(r"[a-z0-9]+")


def _piece(word: str) -> str:
    """The longest ASCII letter/digit run of a literal ("" if it has none)."""
    return max(_ALNUM.findall(word), key=len, default="")


_RARE_SYMBOLS: Final = frozenset("$€£¥%@#")


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
    return any(map(folded.__contains__, need))


_MEMO_MAX: Final = 20_000  # words; bounded for flat memory (see dedup._MEMO_MAX)


class _Vocabulary:
    """Every screen's word pieces, as bits of one integer per text word (memoised per word).

    A text's mask is the OR of its words' masks, computed once per text and shared by every
    screen: each screen owns a slice of the bits. A text of several lines is the OR of its lines'
    masks (a word never spans lines), so an event's title and summary are split into words once
    even though the steps screen them alone and joined.
    """

    def __init__(self) -> None:
        self.bits = 0
        self.pieces: dict[str, int] = {}
        self.lengths: tuple[int, ...] = ()
        self.memo: dict[str, int] = {}
        self.recent: dict[str, int] = {}

    def clear(self) -> None:
        """Forget every word and text seen (the pieces stay)."""
        self.memo.clear()
        self.recent.clear()

    def register(self, by_piece: dict[str, set[int]], size: int) -> int:
        offset = self.bits
        self.bits += size
        for piece, ids in by_piece.items():
            bits = sum(1 << (offset + i) for i in ids)
            self.pieces[piece] = self.pieces.get(piece, 0) | bits
        self.lengths = tuple(sorted({len(piece) for piece in self.pieces}))
        self.clear()
        return offset

    def _learn(self, word: str) -> int:
        # The pieces inside `word`: each of its substrings of a piece's length, looked up.
        mask = 0
        pieces = self.pieces
        n = len(word)
        for size in self.lengths:
            if size > n:
                break
            for at in range(n - size + 1):
                bits = pieces.get(word[at : at + size])
                if bits is not None:
                    mask |= bits
        if len(self.memo) >= _MEMO_MAX:
            self.memo.clear()
        self.memo[word] = mask
        return mask

    def _line_mask(self, folded: str) -> int:
        found = words(folded)
        try:
            # Most words start no rule: OR only the non-zero masks.
            return reduce(or_, filter(None, map(self.memo.__getitem__, found)), 0)
        except KeyError:  # a word not seen yet: learn the new ones
            memo = self.memo
            mask = 0
            for word in found:
                bits = memo.get(word)
                mask |= self._learn(word) if bits is None else bits
            return mask

    def mask(self, folded: str) -> int:
        recent = self.recent
        mask = recent.get(folded)
        if mask is not None:
            return mask
        if "\n" in folded:
            mask = 0
            for line in folded.split("\n"):
                mask |= self.mask(line)
        else:
            mask = self._line_mask(folded)
        if len(recent) >= _RECENT:
            del recent[next(iter(recent))]
        recent[folded] = mask
        return mask


_VOCABULARY: Final = _Vocabulary()


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


# --- Faster equivalents of the rule patterns ------------------------------------------------------
#
# The engine scans quickly (in C, without trying a match at each position) only when a pattern
# starts with a literal character or a set of characters; a leading `\b` or lookbehind makes it
# attempt a match at every position. Most rules start "\bword" (or "(?<![\w-])" for a `Lexicon`),
# so `quick(pattern)` moves that check behind the first character:
#
#     \bnon-?profit\b|\bfor-?profit\b  ->  [FNfn](?i:(?:(?<=n)(?<!\w.)on-?profit\b|(?<=f)...))
#
# The set is the first characters of all alternatives (with every character IGNORECASE equates
# with them); the lookbehind `(?<=n)` picks the alternatives that character starts, and
# `(?<!\w.)` after a word character is exactly `\b` before it. Alternatives are tried in the same
# order and no group is added, so every match, span and group is the original's. A pattern of any
# other shape is returned as it is.

_LEADS: Final = {"\\b": "\\w", "(?<![\\w-])": "[\\w-]", "(?<!\\w)": "\\w"}
_QUANTIFIERS: Final = frozenset("?*+{")
# Characters other than a letter's two cases that IGNORECASE matches to it (see `fold`).
_CASE_EXTRA: Final = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}


def _is_word_ascii(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _structure(src: str) -> Iterator[tuple[int, str]]:
    """The positions of `src`'s "(", ")" and "|" outside escapes and character classes;
    ValueError when a class does not close."""
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _class_end(src, i)
            if i < 0:
                raise ValueError("unclosed character class")
            continue
        if ch in "()|":
            yield i, ch
        i += 1


def _split_top(src: str) -> list[str] | None:
    """`src` cut at its top-level "|" (None if the brackets do not balance)."""
    parts: list[str] = []
    depth, start = 0, 0
    try:
        for i, ch in _structure(src):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    return None
            elif depth == 0:
                parts.append(src[start:i])
                start = i + 1
    except ValueError:
        return None
    if depth:
        return None
    parts.append(src[start:])
    return parts


def _class_end(src: str, i: int) -> int:
    """The index after the character class opening at `src[i]` ("["), or -1."""
    j = i + 1
    if j < len(src) and src[j] == "^":
        j += 1
    if j < len(src) and src[j] == "]":
        j += 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
            continue
        if src[j] == "]":
            return j + 1
        j += 1
    return -1


def _group_end(src: str) -> int:
    """The index after the group opening at `src[0]` ("("), or -1."""
    depth = 0
    try:
        for i, ch in _structure(src):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    return i + 1
    except ValueError:
        return -1
    return -1


def _first_char(src: str) -> tuple[str, str, str] | None:
    """(the first item's source, the letters/digits it matches, the rest) when the item is one
    ASCII letter/digit or a plain class of them, matched exactly once."""
    if not src:
        return None
    if _is_word_ascii(src[0]):
        item, chars = src[0], src[0]
    elif src[0] == "[":
        end = _class_end(src, 0)
        if end < 0:
            return None
        item, chars = src[:end], src[1 : end - 1]
        if not chars or not all(_is_word_ascii(c) for c in chars):
            return None  # negated, a range, an escape: not a plain set
    else:
        return None
    rest = src[len(item) :]
    if rest[:1] in _QUANTIFIERS:
        return None
    return item, chars, rest


def _starts(src: str, behind: str) -> tuple[set[str], str] | None:
    """(the characters a match can start with, the rewritten source) for one alternative
    without its lead: one letter/digit, or a group of alternatives that each start so."""
    first = _first_char(src)
    if first is not None:
        item, chars, rest = first
        return set(chars), f"(?<={item})(?<!{behind}.){rest}"
    if not src.startswith("(?:"):
        return None
    end = _group_end(src)
    if end < 0 or src[end : end + 1] in _QUANTIFIERS:
        return None
    branches = _split_top(src[3 : end - 1])
    if branches is None:
        return None
    starts: set[str] = set()
    out: list[str] = []
    for branch in branches:
        started = _starts(branch, behind)
        if started is None:
            return None
        starts |= started[0]
        out.append(started[1])
    return starts, "(?:" + "|".join(out) + ")" + src[end:]


def _quick_parts(pattern: re.Pattern[str]) -> tuple[set[str], str, bool] | None:
    """(the characters a match starts with, the rest of the quick form, ignoring case?)."""
    src, flags = pattern.pattern, pattern.flags & ~re.UNICODE
    if flags & ~re.IGNORECASE:
        return None
    alternatives = _split_top(src)
    if alternatives is None:
        return None
    chars: set[str] = set()
    out: list[str] = []
    for alt in alternatives:
        lead = next((lead for lead in _LEADS if alt.startswith(lead)), None)
        if lead is None:
            return None
        started = _starts(alt[len(lead) :], _LEADS[lead])
        if started is None:
            return None
        chars |= started[0]
        out.append(started[1])
    body = "(?:" + "|".join(out) + ")"
    ignore_case = bool(flags & re.IGNORECASE)
    return chars, f"(?i:{body})" if ignore_case else body, ignore_case


def quick(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """An equivalent of `pattern` the engine can scan for quickly (see above), or `pattern`."""
    parts = _quick_parts(pattern)
    if parts is None:
        return pattern
    chars, body, ignore_case = parts
    if ignore_case:
        chars = {
            v for c in list(chars) for v in c.lower() + c.upper() + _CASE_EXTRA.get(c.lower(), "")
        }
    first = "".join(sorted(chars))
    return re.compile((first if len(first) == 1 else f"[{first}]") + body)


# A case-insensitive rule whose matches all start with one letter (or digit) runs fastest on the
# lower-cased text: its quick form then starts with that one character, which the engine finds
# with a plain character search instead of testing a class at every position. On ASCII text
# (where `fold(text)` is `text.lower()`, position for position) the spans are the same as the
# rule's on the text itself: the rest of the pattern ignores case, and lower-casing ASCII changes
# no word boundary, class or length.


def lowered(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """The form of `pattern` for `fold(text)` of an ASCII text (see above), or None."""
    parts = _quick_parts(pattern)
    if parts is None:
        return None
    chars, body, ignore_case = parts
    lowers = {c.lower() for c in chars}
    if not ignore_case or len(lowers) != 1:
        return None
    return re.compile(lowers.pop() + body)


def matched_texts(
    pattern: re.Pattern[str], low: re.Pattern[str] | None, text: str, folded: str
) -> list[str]:
    """The texts `pattern` matches in `text`, using `low` (see `lowered`) where it applies."""
    if low is None or not text.isascii():
        return pattern.findall(text)
    return [text[m.start() : m.end()] for m in low.finditer(folded)]


# --- Trying a rule only where a match can start -----------------------------------------------
#
# Even the quick form scans the whole text, testing its first character at every position. Most
# rules' matches all start with one of a few literals ("non" or "for" for
# `\bnon-?profit\b|\bfor-?profit\b`); where none of them occurs in the folded text, no match
# starts, so the rule is tried with `pattern.match` only at the places `str.find` gives (C, fast).
# The matches so found, taken left to right and skipping those that start inside the previous
# one, are exactly `finditer`'s: its scan also takes the leftmost match, then goes on after it
# (no rule with a known start can match the empty string). The places are those of the folded
# text, which are the text's only when folding kept the length (always for ASCII).

_ZERO_WIDTH: Final = frozenset({C.AT, C.ASSERT, C.ASSERT_NOT})
_REPEATS: Final = frozenset({C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT})
_MAX_HEADS: Final = 16  # more alternatives for how a match goes on than are worth looking for
_HEAD_LENGTH: Final = 8


def _starts_of(items: list[Any]) -> frozenset[str] | None:
    """Lower-case strings, one of which starts every match of the sequence `items` (None if
    unknown, or if a match could be empty)."""
    run: list[str] = []
    for i, (op, av) in enumerate(items):
        if op in _ZERO_WIDTH:
            continue  # consumes nothing: what follows still starts the match
        ch = _char(op, av)
        if ch is not None:
            run.append(ch)
            continue
        if run:
            # The letters so far start every match, followed by how the rest starts if known
            # ("s" + "hare" or "tock" for `s(?:hares?|tocks?)`).
            tail = _starts_of(items[i:])
            head = "".join(run)
            if tail is None or len(tail) > _MAX_HEADS:
                return frozenset([head])
            return frozenset(head + t for t in tail)
        rest = items[i + 1 :]
        if op is C.SUBPATTERN:
            return _starts_of([*av[-1], *rest])
        if op is C.BRANCH:
            return _union([_starts_of([*alt, *rest]) for alt in av[1]])
        if op in _REPEATS:
            low, _high, sub = av
            first = _starts_of(list(sub))  # a match repeating `sub` starts with its first copy
            return first if low >= 1 else _union([first, _starts_of(rest)])
        return None  # a class, any character, a category...: no literal start
    return frozenset(["".join(run)]) if run else None


def _union(options: list[frozenset[str] | None]) -> frozenset[str] | None:
    out: set[str] = set()
    for option in options:
        if option is None:
            return None
        out |= option
    return frozenset(out)


def starts(pattern: re.Pattern[str]) -> Literals | None:
    """Lower-case strings, one of which every match of `pattern` starts with; None if unknown."""
    found = _starts_of(list(P.parse(pattern.pattern, pattern.flags)))
    if not found:
        return None
    # A string that starts with another one is found where that one is; the first few letters
    # are rare enough ("only via" for "only via an API", "only via the API"...).
    kept: list[str] = []
    for word in sorted({w[:_HEAD_LENGTH] for w in found}, key=len):
        if not any(word.startswith(k) for k in kept):
            kept.append(word)
    return tuple(kept)


def places(heads: Literals, folded: str) -> list[int]:
    """Where any of `heads` occurs in `folded`, ascending."""
    out: list[int] = []
    for head in heads:
        if head in folded:  # cheaper than a `find` call that finds nothing
            at = folded.find(head)
            while at >= 0:
                out.append(at)
                at = folded.find(head, at + 1)
    if len(heads) > 1:
        out.sort()
    return out


def matches_at(pattern: re.Pattern[str], text: str, at: list[int]) -> list[re.Match[str]]:
    """`list(pattern.finditer(text))` when every match starts at one of the places `at`
    (ascending) and none is empty."""
    out: list[re.Match[str]] = []
    end = 0
    for start in at:
        if start >= end:
            m = pattern.match(text, start)
            if m is not None:
                out.append(m)
                end = m.end()
    return out


class Finder:
    """One rule's matches in a text, found the cheapest way it can be (see above)."""

    __slots__ = ("heads", "low", "pattern", "quick")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.quick = quick(pattern)
        self.low = lowered(pattern)
        # A case-sensitive rule that starts with one character ("$", the "M" of "MIT") is found
        # by the engine's own character search, as fast as `str.find`: it scans.
        first = P.parse(self.quick.pattern, self.quick.flags)[0][0]
        scans = first is C.LITERAL and not self.quick.flags & re.IGNORECASE
        self.heads = None if scans else starts(pattern)

    def finditer(self, text: str, folded: str) -> list[re.Match[str]]:
        """`list(pattern.finditer(text))`; `folded` is `fold(text)`."""
        heads = self.heads
        if heads is not None and len(folded) == len(text):
            return matches_at(self.pattern, text, places(heads, folded))
        return list(self.quick.finditer(text))

    def texts(self, text: str, folded: str) -> list[str]:
        """The texts the rule matches in `text` (its `findall` when it has no group)."""
        heads = self.heads
        if heads is None or len(folded) != len(text):
            return matched_texts(self.quick, self.low, text, folded)
        # `matches_at(pattern, text, places(heads, folded))`, inlined: an event runs this for
        # every rule that may fire, and most have one head that occurs once.
        match = self.pattern.match
        out: list[str] = []
        if len(heads) == 1:
            head = heads[0]
            end = 0
            at = folded.find(head)
            while at >= 0:
                m = match(text, at)
                if m is None:
                    at = folded.find(head, at + 1)
                else:
                    out.append(m.group())
                    end = m.end()
                    at = folded.find(head, end)
            return out
        starts: list[int] = []
        for head in heads:
            # Most of a rule's heads do not occur: `in` says so for less than a `find` call.
            if head in folded:
                at = folded.find(head)
                while at >= 0:
                    starts.append(at)
                    at = folded.find(head, at + 1)
        starts.sort()
        end = 0
        for at in starts:
            if at >= end:
                m = match(text, at)
                if m is not None:
                    out.append(m.group())
                    end = m.end()
        return out
