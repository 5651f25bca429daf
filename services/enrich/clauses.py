"""Which words of a sentence report a strategy happening, and who did it.

A news sentence often reports several happenings, and many of its strategy words report none. The
sentence is cut into clauses at the words that open one ("which", "when", "and" before a verb,
"; "...), each clause knowing how it hangs on the sentence: a main clause, one joined to the
previous by "and" (it shares its subject), a relative clause (its subject is the noun before it),
an adverbial one ("when it created ..."), a participle ("..., saying ...", background of the
clause before it) or what a speaker said ("... said that ...").

A **trigger** is a strategy verb in a finite form (released, sued, said, barred; a passive "was
founded"; "before releasing"), or an action told as a noun that carries its own date or agent
("the release of ChatGPT a year ago", "a ban by Italy's privacy regulator"). Infinitives, modals,
perfects ("has opposed": a standing position), negations, progressives ("is being sued") and
nouns without a date or an agent report nothing. Each trigger's **subject** is the nearest actor
before it in its clause (a company, a person, an agency, or a pronoun or "the company" read as
the last one named), else the one its clause inherits.

Everything here is a pure function of the sentence, linear in its length: the regexes run once
over it, and each trigger finds its clause and subject by bisection.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Final

from services.enrich.steps.companies import COMPANIES
from services.enrich.steps.core import Hit, Lexicon
from services.enrich.steps.entities import extract_entities

# --- Strategy verbs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verb:
    """A strategy verb: the kind of happening, the headline's present tense, and what it needs
    in its clause to report one (an amount for "raised", a role for "named", a suit for "filed")."""

    kind: str
    present: str
    needs: str = ""


# (kind, present, needs, written forms). General news English, not any article's wording.
_VERBS: Final[tuple[tuple[str, str, str, tuple[str, ...]], ...]] = (
    ("release", "releases", "", ("released", "releases")),
    ("release", "launches", "", ("launched", "launches")),
    ("release", "unveils", "", ("unveiled", "unveils")),
    ("release", "introduces", "", ("introduced", "introduces")),
    ("release", "publishes", "object", ("published", "publishes")),
    ("release", "open-sources", "", ("open-sourced", "open-sources")),
    ("release", "debuts", "", ("debuted", "debuts")),
    ("release", "rolls out", "", ("rolled out", "rolls out")),
    ("release", "holds back", "object", ("held back", "holds back")),
    ("release", "withholds", "object", ("withheld", "withholds")),
    ("structure", "founds", "", ("founded", "founds")),
    ("structure", "co-founds", "", ("co-founded", "cofounded", "co-founds")),
    ("structure", "starts", "entity", ("started", "starts")),
    ("structure", "creates", "entity", ("created", "creates")),
    ("structure", "forms", "entity", ("formed", "forms")),
    ("structure", "establishes", "entity", ("established", "establishes")),
    ("structure", "sets up", "entity", ("set up", "sets up")),
    ("structure", "restructures", "", ("restructured", "restructures")),
    ("structure", "recapitalizes", "", ("recapitalized", "recapitalised", "recapitalizes")),
    ("structure", "converts", "into", ("converted", "converts")),
    ("structure", "completes", "deal", ("completed", "completes")),
    ("structure", "finalizes", "deal", ("finalized", "finalised", "finalizes")),
    ("funding", "invests", "money-or-in", ("invested", "invests")),
    ("funding", "raises", "money-or-round", ("raised", "raises")),
    ("funding", "pledges", "money", ("pledged", "pledges")),
    ("funding", "commits", "money", ("committed", "commits")),
    ("funding", "bids", "money", ("offered", "offers", "bid", "bids")),
    ("funding", "acquires", "", ("acquired", "acquires")),
    ("funding", "closes", "round", ("closed", "closes")),
    ("restriction", "bans", "", ("banned", "bans")),
    ("restriction", "bars", "", ("barred", "bars")),
    ("restriction", "blocks", "", ("blocked", "blocks")),
    ("restriction", "restricts", "", ("restricted", "restricts")),
    ("restriction", "prohibits", "", ("prohibited", "prohibits")),
    ("restriction", "limits", "object", ("limited", "limits")),
    ("restriction", "suspends", "object", ("suspended", "suspends")),
    ("restriction", "tells", "not-to-use", ("told", "tells")),
    ("restriction", "orders", "object", ("ordered", "orders")),
    ("restriction", "fines", "object", ("fined", "fines")),
    ("restriction", "issues", "directive", ("issued", "issues")),
    ("lawsuit", "sues", "", ("sued", "sues")),
    ("lawsuit", "countersues", "", ("countersued", "countersues")),
    ("lawsuit", "refiles", "", ("refiled", "refiles")),
    ("lawsuit", "withdraws", "case", ("withdrew", "withdrawn", "withdraws")),
    ("lawsuit", "revives", "case", ("revived", "revives")),
    ("lawsuit", "drops", "case", ("dropped", "drops")),
    ("lawsuit", "files", "suit", ("filed", "files")),
    ("lawsuit", "dismisses", "case", ("dismissed", "dismisses")),
    ("lawsuit", "settles", "case", ("settled", "settles")),
    ("lawsuit", "seeks", "court-ask", ("sought", "seeks")),
    ("lawsuit", "asks", "court-ask", ("asked", "asks")),
    ("leadership", "removes", "role-or-person", ("removed", "removes")),
    ("leadership", "fires", "person", ("fired", "fires")),
    ("leadership", "ousts", "", ("ousted", "ousts")),
    ("leadership", "names", "role", ("named", "names")),
    ("leadership", "appoints", "", ("appointed", "appoints")),
    ("leadership", "hires", "", ("hired", "hires")),
    ("leadership", "resigns", "", ("resigned", "resigns")),
    ("leadership", "steps down", "", ("stepped down", "steps down", "step down")),
    ("leadership", "quits", "", ("quit", "quits")),
    ("leadership", "leaves", "post", ("left", "leaves")),
    ("leadership", "returns", "role", ("returned", "returns")),
    ("leadership", "reinstates", "", ("reinstated", "reinstates")),
    ("leadership", "rehires", "", ("rehired", "rehires")),
    ("leadership", "rejoins", "", ("rejoined", "rejoins")),
    ("leadership", "joins", "board", ("joined", "joins")),
    ("structure", "gains", "seat", ("gained", "gains", "received", "secured", "took", "takes")),
    ("structure", "becomes", "form", ("became", "becomes")),
    ("structure", "reaches", "agreement", ("reached", "reaches")),
    ("structure", "reverses course", "", ("reversed course", "reverses course")),
    ("statement", "says", "speaker", ("said", "says")),
    ("statement", "says", "speaker", ("admitted", "admits")),
    ("statement", "says", "speaker", ("acknowledged", "acknowledges")),
    ("statement", "says", "speaker", ("conceded", "concedes")),
    ("statement", "says", "speaker", ("confirmed", "confirms")),
    ("statement", "says", "speaker", ("declared", "declares")),
    ("statement", "replies", "speaker", ("replied", "replies", "responded", "responds")),
    ("statement", "argues", "speaker", ("argued", "argues")),
    ("statement", "accuses", "speaker", ("accused", "accuses")),
    ("statement", "criticises", "speaker", ("criticised", "criticized", "criticises")),
    ("statement", "calls for", "speaker", ("called for", "calls for")),
    ("statement", "calls", "speaker-object", ("called", "calls")),
    ("statement", "warns", "decider", ("warned", "warns")),
    ("statement", "writes", "speaker", ("wrote", "writes")),
    ("statement", "announces", "speaker", ("announced", "announces")),
    ("statement", "rejects", "decider", ("rejected", "rejects")),
    ("statement", "turns down", "decider-down", ("turned", "turns")),
    ("statement", "signs", "signed", ("signed", "signs")),
    ("statement", "denies", "decider", ("denied", "denies")),
    ("statement", "urges", "decider", ("urged", "urges")),
    ("statement", "promises", "speaker", ("promised", "promises")),
    ("market", "fall", "shares", ("fell", "falls", "plunged", "slid", "tumbled")),
    ("market", "rise", "shares", ("rose", "rises", "jumped", "soared", "surged")),
    ("market", "sends", "shares-sent", ("sent", "sends", "send")),
)
# One entry per written form ("dropped" is a suit's, not a share price's: shares "fell").
VERBS: Final[dict[str, Verb]] = {
    form: Verb(kind, present, needs) for kind, present, needs, forms in _VERBS for form in forms
}
# A present form ("says", "bans") counts only right after its subject: "releases" and "bids" are
# also nouns. Every present form of the table, and no past one, has a first word ending in "s".
_PRESENT_FORMS: Final = frozenset(
    f for f in VERBS if f.split()[0].endswith("s") and not f.split()[0].endswith("ss")
)
_TRIGGER: Final = re.compile(
    r"\b(?:"
    + "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in sorted(VERBS, key=len, reverse=True))
    + r")\b",
    re.I,
)
# "before releasing", "after launching": a happening of the clause's subject.
ING_PATTERN: Final = re.compile(
    r"\b(?:before|after)\s+(?P<verb>releasing|launching|unveiling|introducing|publishing"
    r"|open-sourcing|suing|filing|raising|founding|creating|leaving|resigning|stepping down)\b",
    re.I,
)
_ING_VERB: Final = {
    "releasing": "released",
    "launching": "launched",
    "unveiling": "unveiled",
    "introducing": "introduced",
    "publishing": "published",
    "open-sourcing": "open-sourced",
    "suing": "sued",
    "filing": "filed",
    "raising": "raised",
    "founding": "founded",
    "creating": "created",
    "leaving": "left",
    "resigning": "resigned",
    "stepping down": "stepped down",
}

# Actions told as nouns: (kind, the headline's verb, noun forms). "the release of X" is a release.
_NOUNS: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("release", "releases", ("release", "launch", "debut", "unveiling")),
    ("restriction", "restricts", ("restrictions", "restriction")),
    ("restriction", "issues guidance", ("guidance",)),
    ("restriction", "bans", ("ban", "bans")),
    ("restriction", "blocks", ("block",)),
    ("lawsuit", "files", ("lawsuit", "suit", "countersuit", "complaint")),
    ("funding", "raises", ("round", "funding round", "financing")),
    ("funding", "bids", ("bid", "takeover bid", "offer")),
    ("leadership", "ousts", ("ouster", "firing", "removal")),
    ("leadership", "resigns", ("resignation", "departure")),
    ("structure", "restructures", ("restructuring", "recapitalization", "recapitalisation")),
)
NOUNS: Final[dict[str, tuple[str, str]]] = {
    form: (kind, verb) for kind, verb, forms in _NOUNS for form in forms
}
_NOUN_TRIGGER: Final = re.compile(
    r"\b(?:"
    + "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in sorted(NOUNS, key=len, reverse=True))
    + r")\b",
    re.I,
)

# --- What a verb needs in its clause -----------------------------------------------------------

_MONEY: Final = re.compile(
    r"\$\s?\d|\b\d[\d,.]*\s+(?:billion|million)\s+dollars\b|\bbillions? of dollars\b"
)
NEEDS: Final[dict[str, re.Pattern[str]]] = {
    "money": _MONEY,
    "money-or-in": re.compile(_MONEY.pattern + r"|^\s+in\s+[A-Z]"),
    "money-or-round": re.compile(
        _MONEY.pattern + r"|\b(?:round|funding|capital|financing|money)\b", re.I
    ),
    "round": re.compile(r"\b(?:round|funding|financing)\b", re.I),
    "entity": re.compile(
        r"\b(?:company|companies|entity|subsidiary|arm|LP|LLC|PBC|corporation|foundation|lab"
        r"|nonprofit|non-profit|startup|firm|venture|out)\b"
    ),
    "into": re.compile(r"\b(?:into|to)\b"),
    "deal": re.compile(
        r"\b(?:round|restructuring|recapitali[sz]ation|conversion|acquisition|deal|merger"
        r"|transition|sale|takeover|investment|funding|financing)\b",
        re.I,
    ),
    "case": re.compile(
        r"\b(?:case|suit|lawsuit|complaint|claims?|bid|offer|charges|appeal|motion)\b", re.I
    ),
    "suit": re.compile(
        r"\b(?:suit|lawsuit|countersuit|complaint|motion|claims?|brief|appeal|counterclaims?)\b",
        re.I,
    ),
    # "removed Sam Altman as chief executive", "was removed from the board"; not "from stores".
    "role-or-person": re.compile(
        r"\b(?:as|CEO|chief|president|chair\w*|director|from (?:the|its|his|her) board)\b"
        r"|^\s+(?:[A-Z][a-z]+\s+[A-Z][\w'-]+|him|her)\b"
    ),
    "role": re.compile(
        r"\b(?:as|CEO|chief|president|chair(?:man|woman)?|director|head|CTO|CFO|COO)\b"
    ),
    "post": re.compile(
        r"^\s*(?:its|the|his|her|their)\s+(?:board|company|post|role|job|position)\b"
        r"|^\s*(?:it|OpenAI|[A-Z]\w+)\b(?!\s+(?:to|for|with|on)\b)"
    ),
    "not-to-use": re.compile(r"\bnot\s+to\s+(?:use|download|install)\b", re.I),
    "signed": re.compile(
        r"\b(?:letter|agreement|deal|petition|pledge|contract|memorandum|statement)\b", re.I
    ),
    "court-ask": re.compile(r"\b(?:injunction|damages|order|ruling|restraining)\b", re.I),
    "board": re.compile(r"\b(?:board|as\s|[A-Z][\w.]+)"),
    "seat": re.compile(r"\b(?:seat|stake|observer)\b", re.I),
    "form": re.compile(
        r"\b(?:public[- ]benefit corporation|PBC|for-profit|nonprofit|non-profit|subsidiary"
        r"|capped-profit|holding company|foundation)\b",
        re.I,
    ),
    "directive": re.compile(
        r"\b(?:guidance|ban|order|warning|memo|directive|notice|guidelines|fine|restrictions?)\b",
        re.I,
    ),
    "agreement": re.compile(r"\b(?:agreement|deal|settlement|accord)\b", re.I),
    "decider-down": re.compile(r"^\s+(?:down\b|(?:\S+\s+){1,3}?down\b)"),
}

# --- Actors -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a span of the sentence names: a company (slug), a person (full name), an agency, or a
    word that stands for one named before (`kind` "pronoun-person", "pronoun-company",
    "the-company")."""

    start: int
    end: int
    kind: str
    value: str  # slug, full name, agency name; "" for a pronoun
    written: str


_COMPANY_LEX: Final = Lexicon(
    ((alias, c.slug) for c in COMPANIES.values() for alias in (c.name, *c.aliases)),
    case_sensitive=[a for c in COMPANIES.values() for a in c.exact_case],
)
_PRONOUN: Final = re.compile(r"\b(?:(?P<person>[Hh]e|[Ss]he|him)|(?P<company>[Ii]ts?))\b")
# "the company", "the Hangzhou-based startup", "the board": the company named before. With "a"
# only the plain nouns ("a company that was founded ..."): "a nonprofit research lab" describes.
# "the agency", "the regulator": the agency named before.
_AGENCY_NOUN: Final = re.compile(
    r"\b[Tt]he\s+(?:[\w-]+\s+)?(?:agency|regulator|watchdog|authority|ministry|department"
    r"|commission)\b"
)
_COMPANY_NOUN: Final = re.compile(
    r"\b(?:[Tt]he\s+(?:[\w-]+\s+)?(?P<noun>company|firm|startup|lab|chipmaker|board)"
    r"|[Aa]\s+(?:company|firm|startup))\b"
)
# Pronouns that are objects or possessives of something else are not subjects ("made it free").
_NOT_SUBJECT_AFTER: Final = re.compile(r"(?:\b(?:made|make|called|keep|kept|let|of)\s*)$", re.I)


# Courts and governments act too (a judge rules, a country bans): agencies for this purpose.
_COURT: Final = re.compile(
    r"\b(?:[Aa]|[Tt]he)\s+(?:federal\s+|U\.S\.\s+|US\s+|district\s+|state\s+|appeals\s+)?"
    r"(?:judge|court)\b"
)
_GOVERNMENT: Final = re.compile(
    r"\b(?:Italy|Taiwan|Texas|Virginia|New York|Australia|South Korea|India|Japan|France|Germany"
    r"|Ireland|Britain|China|the (?:UK|U\.K\.|EU|European Union|White House|Pentagon)"
    r"|the (?:U\.S\.|US) government|the House(?:'s)? Chief Administrative Officer"
    r"|the House of Representatives)\b(?!'s\s+[A-Z])"
)


def company_mentions(text: str) -> list[Hit]:
    """The registry companies `text` names, where (`Hit.value` is the slug)."""
    return _COMPANY_LEX.find(text)


def _occurrences(sentence: str, kind: str, text: str, value: str) -> list[tuple[int, int]]:
    """Where an entity is named: as written, by full name, and a person by surname too (the
    entity step reports each person once, as first written)."""
    names = {text, value}
    if kind == "person":
        names.add(value.split()[-1])
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?!\w)")
    return [m.span() for m in pattern.finditer(sentence)]


def actors(sentence: str) -> list[Actor]:
    """Every actor the sentence names, in reading order (overlaps resolved: the longer first)."""
    # Gathered in this order: of two actors at the same span, the first gathered is kept.
    found = [
        *(Actor(h.start, h.end, "company", h.value, h.text) for h in _COMPANY_LEX.find(sentence)),
        *_entity_actors(sentence),
        *_pronoun_actors(sentence),
        *_noun_actors(sentence),
    ]
    found.sort(key=lambda a: (a.start, -(a.end - a.start)))
    out: list[Actor] = []
    for a in found:
        if out and a.start < out[-1].end:
            if out[-1].kind in ANAPHORS and a.kind not in ANAPHORS:
                out[-1] = a  # "the Department of Defense" is named, not "the department"
            continue
        out.append(a)
    return out


def _entity_actors(sentence: str) -> list[Actor]:
    """The people and agencies the entity step finds, at each place the sentence names them."""
    found: list[Actor] = []
    for ent in extract_entities(sentence):
        kind = ent["kind"]
        if kind not in ("person", "agency"):
            continue
        for start, end in _occurrences(sentence, kind, str(ent["text"]), str(ent["value"])):
            found.append(Actor(start, end, kind, str(ent["value"]), sentence[start:end]))
    return found


def _pronoun_actors(sentence: str) -> list[Actor]:
    """The pronouns that may be subjects ("he", "its"; not "made it free")."""
    found: list[Actor] = []
    for m in _PRONOUN.finditer(sentence):
        if _NOT_SUBJECT_AFTER.search(sentence, max(0, m.start() - 12), m.start()):
            continue
        kind = "pronoun-person" if m["person"] else "pronoun-company"
        found.append(Actor(m.start(), m.end(), kind, "", m.group()))
    return found


def _noun_actors(sentence: str) -> list[Actor]:
    """Courts and governments (as agencies), then "the agency", "the company" and "the board"
    (standing for the one named before)."""
    found: list[Actor] = []
    for pattern in (_COURT, _GOVERNMENT):
        for m in pattern.finditer(sentence):
            found.append(Actor(m.start(), m.end(), "agency", m.group(), m.group()))
    for m in _AGENCY_NOUN.finditer(sentence):
        found.append(Actor(m.start(), m.end(), "the-agency", "", m.group()))
    for m in _COMPANY_NOUN.finditer(sentence):
        kind = "the-board" if m["noun"] == "board" else "the-company"
        found.append(Actor(m.start(), m.end(), kind, "", m.group()))
    return found


ANAPHORS: Final = frozenset(
    {"pronoun-person", "pronoun-company", "the-company", "the-board", "the-agency"}
)


# --- Clauses ------------------------------------------------------------------------------------

MAIN, COORD, REL, ADV, ING, PART, COMP, RESUME, HARD, APPOS = (
    "main",
    "coord",  # "..., and refiled ...": the previous clause's subject
    "rel",  # "OpenAI, which in March released ...": the noun before it
    "adv",  # "when it created ...", "until Musk left ..."
    "ing",  # "before releasing ...": the previous clause's subject
    "part",  # "..., citing the risk": background, no happening of its own
    "comp",  # "... said that ...": what was said
    "resume",  # "Microsoft, which ..., said ...": the main clause again
    "hard",  # after "; " or ": "
    "appos",  # "DeepSeek, a startup founded in 2023, ...": a description of the noun before
)


@dataclass(frozen=True, slots=True)
class Clause:
    start: int
    end: int
    kind: str
    marker_end: int  # where the clause's own words begin (after "which", "and", ...)


_BOUNDARY: Final = re.compile(
    r"(?P<hard>\s*;\s+|\s*:\s+|\s+--\s+)"
    r"|(?P<rel>,?\s+(?:which|who|whose)\b)"
    r"|(?P<that>\s+that\b(?!\s+(?:same\b|day\b|night\b|morning\b|week\b|month\b|year\b"
    r"|January|February|March|April|May|June|July|August|September|October|November"
    r"|December)))"
    r"|(?P<ingadv>,?\s+(?:before|after)\s+(?=[a-z]+ing\b))"
    r"|(?P<adv>,?\s+(?:when|while|until|because|although|though|whereas|if|unless|whether"
    r"|before|after)\b|,\s+as\b(?!\s+(?:interim|acting|CEO|chief|president|chair\w*|head|director"
    r"|well|part|a|an)\b))"
    r"|(?P<part>,\s+(?:[a-z]+ing|along with|including)\b)"
    r"|(?P<appos>(?<=[A-Za-z0-9]),\s+an?\s+(?=[\w-]+(?:\s+[\w-]+){0,3}?\s+\w+ed\b[^,;\"]{0,80},))"
    r"|(?P<coord>,?\s+(?:and|but)\b)"
    r"|(?P<comma>,)"
)
_SPEECH_BEFORE_THAT: Final = re.compile(
    r"\b(?:said|says|admitted|admits|acknowledged|conceded|argued|argues|warned|wrote|announced"
    r"|reported|concluded|noted|claimed|added|adding|saying|arguing|believes?|think|thinks"
    r"|told\s+\w+|insisted|confirmed|denied|showed|found|ruled|agreed)\b[^,;]{0,60}$",
    re.I,
)
# After a comma, a finite verb resumes the clause the inserted one interrupted.
_RESUMES: Final = re.compile(
    r"\s*(?:(?:also|then|later|now|formally|officially|quickly|unanimously|jointly|first"
    r"|finally|eventually|again|last)\s+)?"
    r"(?:was|were|is|are|has|have|had|will|would|said|says|did|does|"
    + "|".join(re.escape(f) for f in sorted(VERBS, key=len, reverse=True) if " " not in f)
    + r")\b",
    re.I,
)


def quoted_spans(sentence: str) -> list[tuple[int, int]]:
    """The spans inside straight double quotes (a speaker's words, not the reporter's)."""
    spans: list[tuple[int, int]] = []
    opened = -1
    for i, ch in enumerate(sentence):
        if ch != '"':
            continue
        if opened < 0:
            opened = i
        else:
            spans.append((opened, i + 1))
            opened = -1
    return spans


def _inside(spans: list[tuple[int, int]], starts: list[int], pos: int) -> bool:
    i = bisect.bisect_right(starts, pos) - 1
    return i >= 0 and spans[i][0] < pos < spans[i][1]


def clauses(
    sentence: str, quotes: list[tuple[int, int]], triggers: list[int], offset: int = 0
) -> list[Clause]:
    """The sentence cut into clauses (quoted words are never cut), from `offset` (after a
    dateline). `triggers` are the positions of the strategy verbs: an "and" opens a clause only
    when a verb follows before the next cut."""
    starts = [s for s, _ in quotes]
    cuts: list[tuple[int, int, str]] = []  # (start, marker end, kind)
    open_kind = MAIN  # the kind of the clause being read (for "resume")
    for m in _BOUNDARY.finditer(sentence, offset):
        if _inside(quotes, starts, m.start()):
            continue
        kind = m.lastgroup or "comma"
        if kind == "comma":
            if open_kind in (REL, ADV, ING, PART, COMP, COORD, APPOS) and _resumes(
                sentence, m.end(), triggers
            ):
                cuts.append((m.start(), m.end(), RESUME))
                open_kind = RESUME
            continue
        cut = _cut_kind(sentence, m, kind, cuts, offset, triggers)
        if cut is None:
            continue
        cuts.append((m.start(), m.end(), cut))
        open_kind = cut
    out: list[Clause] = []
    begin, begin_kind, marker = offset, MAIN, offset
    for start, end, kind in cuts:
        if start > begin:
            out.append(Clause(begin, start, begin_kind, marker))
        begin, begin_kind, marker = start, kind, end
    out.append(Clause(begin, len(sentence), begin_kind, marker))
    return out


def _cut_kind(
    sentence: str,
    m: re.Match[str],
    kind: str,
    cuts: list[tuple[int, int, str]],
    offset: int,
    triggers: list[int],
) -> str | None:
    """The kind of clause a boundary (`_BOUNDARY`'s group `kind`, not a comma) opens, or None
    when it opens none."""
    if kind == "that":
        if _DETERMINER_THAT.search(sentence, max(0, m.start() - 40), m.start()):
            return None  # "withdrew that case", "in that": not a clause
        speech = _SPEECH_BEFORE_THAT.search(sentence, max(0, m.start() - 90), m.start())
        return COMP if speech else REL
    if kind == "ingadv":
        return ING
    if kind == "appos":
        if not _NAME_BEFORE.search(sentence, max(offset, m.start() - 40), m.start()):
            return None  # "In February, a ...": not a name described
        return APPOS
    if kind == "coord" and _BUT_CLAUSE.match(sentence, m.start()):
        return COORD  # ", but it did not ...": always a clause of its own
    if kind == "coord":
        begin = max(cuts[-1][0] if cuts else offset, m.start() - _WINDOW)
        if not _verb_follows(sentence, m.end(), triggers) or not _HAS_VERB.search(
            sentence, begin, m.start()
        ):
            return None  # "Musk and Altman co-founded": two subjects, one clause
        return COORD
    return kind


# A name (not a month or a day) right before an appositive's comma: "DeepSeek, a startup ...".
_NAME_BEFORE: Final = re.compile(
    r"(?:^|\s)(?!(?:January|February|March|April|May|June|July|August|September|October"
    r"|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b)"
    r"[A-Z][\w.-]*$"
)
_BUT_CLAUSE: Final = re.compile(r",\s+but\s+(?:it|he|she|they|the|its|[A-Z])")
# "that" after a verb or a preposition is a determiner ("withdrew that case", "of that").
_DETERMINER_THAT: Final = re.compile(
    r"(?:\b(?:in|on|of|for|at|by|with|from|to|into|about|than|like|all)|"
    + "|".join(re.escape(f) for f in sorted(VERBS, key=len, reverse=True) if " " not in f)
    + r")\s*$",
    re.I,
)
# A verb of some kind: what a clause before "and" must have for the "and" to join two clauses.
_HAS_VERB: Final = re.compile(
    r"\b(?:\w{3,}ed|\w{3,}ing|was|were|is|are|had|has|said|says|left|made|took|gave|began"
    r"|became|sent|won|lost|put|set|told|wrote|rose|fell|held|ran|saw|got|bid|quit|withdrew)\b",
    re.I,
)
# After a comma closing an inserted clause, a finite verb resumes the clause it interrupted
# ("Microsoft, which ..., said"), and a new subject and its verb open the main clause ("Asked
# whether ..., Altman called R1 ...").
_NEW_SUBJECT: Final = re.compile(r"\s*(?:[A-Z][\w'.-]*|he|she|it|they)\b[^,;]{0,40}$")


def _resumes(sentence: str, pos: int, triggers: list[int]) -> bool:
    if _RESUMES.match(sentence, pos):
        return True
    i = bisect.bisect_left(triggers, pos)
    if i == len(triggers) or triggers[i] - pos > _COORD_REACH:
        return False
    return bool(_NEW_SUBJECT.match(sentence[pos : triggers[i]]))


# How far around a word the rules look (characters): bounded, so a sentence is read in linear time.
_WINDOW: Final = 300

# An "and" joins two clauses when a strategy verb comes within a few words (a date or an actor
# may come first: "and in January announced", "and OpenAI's board turned ... down").
_COORD_REACH: Final = 60


def _verb_follows(sentence: str, pos: int, triggers: list[int]) -> bool:
    i = bisect.bisect_left(triggers, pos)
    if i == len(triggers) or triggers[i] - pos > _COORD_REACH:
        return False
    between = sentence[pos : triggers[i]]
    return "," not in between.strip(", ") or bool(_DATE_LEAD.match(between))


_DATE_LEAD: Final = re.compile(r"^\s*(?:last|on|in|that|the same|days?|hours?)\b[^,]*,\s*\S*\s*$")


# --- Finite verbs -------------------------------------------------------------------------------

_ADVERBS: Final = (
    r"(?:(?:\w+ly|also|already|yet|just|since|then|long|never|often|always|recently|previously"
    r"|repeatedly|publicly|not|first|now|again|later)\s+)?"
)
_NOT_FINITE_BEFORE: Final = re.compile(
    r"(?:\b(?:to|will|would|could|can|may|might|must|should|shall|not|never|n't|having|is|are"
    r"|am|be|been|being|the|a|an|its|their|his|her|our|this|these|those|some|any|each|every|of"
    r"|for|with|whose|own|no)"
    rf"|'s)\s+{_ADVERBS}$",
    re.I,
)
# "has opposed", "had reached": a perfect reports a happening only with a date of its own.
_PERFECT_BEFORE: Final = re.compile(rf"\b(?:has|have|had)\s+{_ADVERBS}$", re.I)
_PASSIVE_BEFORE: Final = re.compile(
    r"\b(?P<aux>was|were)\s+(?:(?:\w+ly|also|then|first|later|formally|officially)\s+)?$", re.I
)
# A lower-case noun right before an "-ed" form and a preposition right after: a participle.
_NOUN_BEFORE: Final = re.compile(
    r"\b(?!(?:it|he|she|they|we|who|which|that|and|but|then|also|later|first)\b)"
    r"[a-z][a-z-]+[a-rt-z]\s+$"
)
# "the company released in March ...": the company named before acts; not a participle.
_THE_ACTOR_BEFORE: Final = re.compile(
    r"\b[Tt]he\s+(?:[\w-]+\s+)?(?:company|firm|startup|lab|board|agency|regulator)\s+$"
)
_PREPOSITION_AFTER: Final = re.compile(r"\s+(?:in|by|on|at|last|this|earlier|during)\b")
_WAS_TO: Final = re.compile(r"\b(?:was|were)\s+to\s+$", re.I)
_WAS_TO_VERB: Final = re.compile(r"(?:step\s+down|resign|leave|quit|join|become)\b", re.I)


def finite(sentence: str, start: int, form: str) -> str | None:
    """How the verb at `start` is used: "active", "passive" ("was founded"), "perfect" ("had
    reached"), or None when it reports no happening (infinitive, modal, negation, noun...)."""
    before = sentence[max(0, start - 40) : start]
    if _PASSIVE_BEFORE.search(before) and form.endswith(("ed", "ded")):
        return "passive"
    if _NOT_FINITE_BEFORE.search(before):
        return None
    if (
        form.endswith("ed")
        and _NOUN_BEFORE.search(before)
        and not _THE_ACTOR_BEFORE.search(before)
        and _PREPOSITION_AFTER.match(sentence, start + len(form))
    ):
        return "passive"  # "a startup founded in 2023 by ...": a participle, not a verb
    if _PERFECT_BEFORE.search(before):
        return "perfect"
    return "active"


def present_ok(sentence: str, start: int, subject: Actor | None) -> bool:
    """A present form ("says", "bans") counts right after its subject only: elsewhere it is
    as likely a noun ("some releases", "the bids")."""
    if subject is None:
        return False
    gap = sentence[subject.end : start]
    return len(gap.split()) <= 1 and "," not in gap


def was_to(sentence: str, start: int) -> bool:
    """ "was to step down": a decision announced, the happening itself."""
    return bool(_WAS_TO.search(sentence[max(0, start - 12) : start])) and bool(
        _WAS_TO_VERB.match(sentence, start)
    )


# Needs a passive meets with its subject ("Altman was fired": the person is the subject).
_MET_BY_PASSIVE: Final = frozenset({"person", "role-or-person", "object", "post"})


def needs_met(
    verb: Verb, sentence: str, start: int, end: int, clause: Clause, passive: bool = False
) -> bool:
    """Whether the clause has what the verb needs to report a happening."""
    need = verb.needs
    if passive and need in _MET_BY_PASSIVE:
        return True
    if need in (
        "",
        "speaker",
        "decider",
        "shares",
        "shares-sent",
        "object",
        "speaker-object",
        "person",
    ):
        return True
    after = sentence[end : min(clause.end, end + _WINDOW)]
    if need == "decider-down":
        return bool(NEEDS[need].match(after))
    if need in ("deal", "round", "case", "entity"):
        # The noun may come before ("the round OpenAI completed", "that case") or after.
        lo, hi = max(clause.start, start - _WINDOW), min(clause.end, end + _WINDOW)
        return bool(NEEDS[need].search(sentence, lo, hi))
    if need in ("post",):
        return bool(NEEDS[need].match(after))
    pattern = NEEDS.get(need)
    return pattern is None or bool(pattern.search(after))


def is_present_form(form: str) -> bool:
    return form.casefold() in _PRESENT_FORMS


def trigger_spans(sentence: str) -> list[re.Match[str]]:
    return list(_TRIGGER.finditer(sentence))


def ing_triggers(sentence: str) -> list[re.Match[str]]:
    return list(ING_PATTERN.finditer(sentence))


def ing_past(form: str) -> str:
    return _ING_VERB.get(" ".join(form.casefold().split()), form)


def noun_triggers(sentence: str) -> list[re.Match[str]]:
    return list(_NOUN_TRIGGER.finditer(sentence))
