"""A neutral headline for an extracted happening: subject, verb in the present tense, object.

Built from the clause that reports the happening, never copied from the sentence: the subject is
the actor of the clause as the timeline names it (a company, a person's full name, an agency),
the verb is the strategy verb in the present tense ("released" -> "releases", "admitted" ->
"says": a headline reports, it does not characterise), and the object is the rest of the clause,
without its dates (the event carries those), quotation marks or inserted phrases, cut where a
comma or a subordinate clause begins and kept to `MAX_HEADLINE` characters on a word boundary.
"""

from __future__ import annotations

import re
from typing import Final

MAX_HEADLINE: Final = 90

# Where the object of a headline ends: a comma, a subordinate clause, a participle, a reason.
_OBJECT_END: Final = re.compile(
    r"\s*(?:[,;:(]|\s--\s|\.$|\.\s)"
    r"|\s+(?:which|who|whose|when|while|whereas|because|although|though|if|unless|until|but"
    r"|saying|citing|adding|arguing|accusing|according to|after|before|amid|as part of"
    r"|(?:\w+\s+)?(?:hours|days|weeks|months|years)\s+(?:after|before|later|earlier)"
    r"|and\s+(?=(?:\w+ed|made|took|gave|said|began|became|sent|won|left|put|set|told|wrote)\b))\b"
)
# An inserted description after a name (", the company's chief technology officer,"): skipped.
_APPOSITIVE: Final = re.compile(r"^,\s+(?:the|a|an|its|his|her|their)\s+[^,;]{1,80},\s+(?=\w)")
_NAMED: Final = re.compile(r"^,\s+(?P<name>(?:[A-Z][\w'.-]+\s?){1,3})(?:,\s+(?=[a-z])|$)")
_QUOTES: Final = re.compile(r"[\"\u201c\u201d]")
_QUOTED: Final = re.compile(r'"[^"]*"')
_SPACES: Final = re.compile(r"\s+")
# Words a cut headline must not end on.
_DANGLING: Final = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "for", "with", "by", "at", "from", "and", "or"}
    | {"but", "as", "that", "its", "their", "his", "her", "this", "these", "those", "than"}
    | {"into", "about", "over", "under", "which", "who", "whose", "is", "are", "was", "were"}
    | {"be"}
)
_LEADING_THAT: Final = re.compile(r"^(?:that|how)\s+", re.I)


# Where something was said: left out ("said in a statement on X that ...").
_ASIDE: Final = re.compile(
    r"\s+(?:in an? (?:statement|post|blog post|letter|filing|note|memo|interview|email)"
    r"(?:\s+(?:to|with|on)\s+(?:[A-Z]\w*|employees|staff|investors|reporters))?"
    r"|on (?:X|Twitter|Reddit|LinkedIn|Threads|its website|its blog))\b"
)


def object_text(after: str) -> str:
    """The object of the verb: `after` (the clause's words after the verb) up to where it ends,
    an inserted description skipped; a quotation is read whole ("a "multiyear, multibillion
    dollar" investment"), and where something was said is left out."""
    after = _QUOTED.sub(lambda m: m.group().replace(",", "").replace(";", ""), after)
    after = _ASIDE.sub("", after)
    out = []
    rest = after
    while rest:
        m = _OBJECT_END.search(rest)
        if m is None:
            out.append(rest)
            break
        out.append(rest[: m.start()])
        tail = rest[m.start() :]
        apposition = _APPOSITIVE.match(tail)
        named = _NAMED.match(tail)
        if named is not None:  # "its chief executive, Sam Altman, in ...": the name stays
            out.append(" " + named["name"])
            rest = " " + tail[named.end() :]
            continue
        if apposition is None:
            break
        rest = " " + tail[apposition.end() :]
    return _SPACES.sub(" ", " ".join(out)).strip()


# What a cut clause can leave of a time ("reinstated five days | after he was fired").
_DURATION_TAIL: Final = re.compile(r"\s+(?:\w+\s+)?(?:hours|days|weeks|months|years)$", re.I)


def clean(text: str) -> str:
    text = _SPACES.sub(" ", _QUOTES.sub("", text)).strip(" ,;:")
    return _DURATION_TAIL.sub("", text)


def trim(text: str, limit: int = MAX_HEADLINE) -> str:
    """At most `limit` characters, cut on a word boundary, never ending on a function word."""
    text = text.strip()
    if len(text) > limit:
        text = text[: limit + 1].rsplit(" ", 1)[0]
    words = text.split()
    while len(words) > 3 and words[-1].casefold().strip(",;:") in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(",;:.-")


# Amounts as headlines write them: "$6.6 billion" -> "$6.6B", "1.5-billion-parameter" ->
# "1.5B-parameter"; "that case" -> "the case" (a headline stands alone).
_AMOUNT: Final = re.compile(r"(\$\s?\d+(?:\.\d+)?)[\s-](billion|million|trillion)\b", re.I)
_SIZE: Final = re.compile(r"\b(\d+(?:\.\d+)?)-(billion|million|trillion)-", re.I)
_DEMONSTRATIVE: Final = re.compile(
    r"\b(?:that|this|these|those)\s+(?=(?:case|suit|lawsuit|model|deal|round|bid|offer|plan)s?\b)",
    re.I,
)


def compact(text: str) -> str:
    text = _AMOUNT.sub(lambda m: f"{m[1].replace(' ', '')}{m[2][0].upper()}", text)
    text = _SIZE.sub(lambda m: f"{m[1]}{m[2][0].upper()}-", text)
    return _DEMONSTRATIVE.sub("the ", text)


def build(subject: str, verb: str, obj: str, *, statement: bool = False) -> str:
    """ "Subject verb object", capitalised and trimmed."""
    obj = _LEADING_THAT.sub("", compact(clean(obj))) if statement else compact(clean(obj))
    obj = re.sub(r"^that\s+(?=(?:it|he|she|they|the|[A-Z])\b)", "", obj)
    headline = trim(" ".join(part for part in (subject, verb, obj) if part))
    first = headline.split(" ", 1)[0]
    if first[1:] != first[1:].lower():
        return headline  # "xAI", "iPhone": a name keeps its case
    return headline[:1].upper() + headline[1:]
