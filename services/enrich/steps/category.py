"""Categorise an event: weighted keyword/phrase rules per category, plus the reporter's tag hints.

Each rule that matches adds its weight once, scaled by where it matched (title > summary > body). A
tag equal to a category value (or its label, "licensing/open-weights") is a strong hint. Scores
are read from the point of view of a followed company (see `companies.Company.rivals`): a rival
lab's release or licence move is *competition* for it, while the followed company's own move is
licensing or product -- the reading the seed timeline's reference table uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from services.enrich.steps.companies import rival_of
from services.enrich.steps.core import Evidence, evidence
from services.enrich.steps.screen import Finder, Screen, fold, indexes
from shared.events import CATEGORY_LABELS, Category

_RULES: Final[dict[Category, tuple[tuple[str, str, float], ...]]] = {
    Category.GOVERNANCE: (
        ("nonprofit", r"\bnon-?profit\b", 3.0),
        ("for-profit", r"\bfor-?profit\b", 2.0),
        (
            "capped-profit",
            r"\bcapped[- ]profit\b|\bcapped at \d+x\b|\breturns? (?:are )?capped\b",
            3.0,
        ),
        ("public-benefit-corporation", r"\b[Pp]ublic[- ][Bb]enefit [Cc]orporation\b|\bPBC\b", 3.0),
        ("restructuring", r"\brestructur\w*|\brecapitali[sz]\w*|\breorgani[sz]\w*", 3.0),
        ("charter", r"\bcharter\b", 3.0),
        ("board-seat", r"\b(?:board|observer) seat\b", 3.0),
        ("non-voting", r"\bnon-?voting\b", 1.5),
        ("legal-structure", r"\b(?:legal|corporate|governance) structure\b|\bgovernance\b", 2.0),
        ("control", r"\b(?:keeps?|retains?|takes?|cedes?) control\b|\bcontrols\b", 1.5),
        ("foundation", r"\bfoundation\b", 1.0),
        ("entity-created", r"\b(?:LP|LLC|subsidiary)\b", 1.0),
        ("founded", r"\bfound(?:ed|s|ing)\b|\blaunch(?:es|ed)? as a\b", 1.0),
    ),
    Category.FUNDING: (
        ("invest", r"\binvest(?:s|ed|ing|ment|ments|or|ors)?\b", 3.0),
        ("funding", r"\bfunding\b|\bfunding round\b|\bseries [a-h]\b|\braise[sd]?\b", 3.0),
        ("valuation", r"\bvaluation\b|\bvalued at\b", 2.5),
        ("pledged", r"\bpledge[sd]?\b|\bbackers?\b|\bdonations?\b", 1.5),
        ("multibillion", r"\bmulti-?(?:billion|million)\b|\bmultiyear\b", 1.5),
        ("cloud-partnership", r"\b(?:Azure|cloud) partner(?:ship)?\b|\bcompute deal\b", 1.0),
        ("acquisition", r"\bacquir(?:es|ed|ing)\b|\bacquisition\b", 2.0),
        # "puts $1B into OpenAI": an amount going into a company is an investment.
        ("money-into", r"\$\s?\d[\d.,]*\s?[A-Za-z]*\s(?:into|in)(?=\s+[A-Z])", 2.0),
    ),
    Category.LICENSING: (
        ("open-weights", r"\bopen[- ]weights?\b", 3.5),
        ("open-source", r"\bopen[- ]sourc(?:e|ed|ing)\b", 3.0),
        ("weights", r"\bweights\b", 2.0),
        ("licence", r"\blicen[cs](?:e|ed|ing)\b", 2.0),
        ("mit", r"\bMIT\b", 1.5),
        ("apache", r"\bApache\b", 1.5),
        ("staged-release", r"\bstaged release\b|\bin stages\b|\bstaged\b", 2.0),
        (
            "weights-withheld",
            r"\b(?:withh[eo]ld|held back)\w*\b.{0,40}\bweights\b"
            r"|\bweights\b.{0,20}\b(?:withh[eo]ld|held back)\b",
            2.0,
        ),
        ("code-and-weights", r"\bcode and weights\b", 1.5),
        ("wrong-side-of-history", r"\bwrong side of history\b", 4.0),
        ("openness", r"\bopenness\b", 1.5),
    ),
    Category.PRODUCT: (
        ("launch", r"\blaunch(?:es|ed|ing)?\b|\bunveil(?:s|ed)?\b|\bdebut(?:s|ed)?\b", 2.5),
        ("introduce", r"\bintroduc(?:es|ed|ing)\b|\brolls? out\b|\brolled out\b", 2.5),
        ("release", r"\breleas(?:e|es|ed|ing)\b", 1.5),
        ("api", r"\bAPI\b", 2.0),
        ("beta-preview", r"\b(?:private |public )?beta\b|\bresearch preview\b|\bpreview\b", 2.0),
        ("model", r"\b(?:reasoning|language|frontier|flagship) model\b|\bchatbot\b|\bapp\b", 1.0),
        ("subscription", r"\bsubscription\b|\bpricing\b|\bplugins?\b|\bGPT Store\b", 1.5),
    ),
    Category.COMPETITION: (
        (
            "shares-fall",
            r"\b(?:shares?|stocks?)\b.{0,30}\b(?:fall|fell|drop|dropped|plunge|plunged|slide|tumble)"
            r"\w*|\bsell-?off\b",
            3.5,
        ),
        ("market-value", r"\bmarket (?:value|cap(?:italization)?)\b", 3.0),
        ("open-letter", r"\bopen letter\b", 4.0),
        ("rival", r"\brivals?\b|\bcompetitors?\b|\bcompetition\b|\bchallenger?s?\b", 2.0),
        ("price-war", r"\bprice war\b|\bcuts? prices\b|\bcheaper\b|\btraining (?:run|cost)\b", 1.5),
        ("market-share", r"\bmarket share\b", 2.0),
    ),
    Category.REGULATION: (
        (
            "ban",
            r"\bban(?:s|ned|ning)?\b|\bbar(?:s|red|ring)?\b|\bprohibit\w*|\bblock(?:s|ed)?\b",
            3.0,
        ),
        ("restrict", r"\brestrict(?:s|ed|ing|ion|ions)?\b", 3.0),
        ("not-to-use", r"\bnot to use\b|\bstop using\b|\bmust not use\b", 3.0),
        ("regulator", r"\bregulat(?:or|ors|ion|ory|es|ed)\b|\bwatchdog\b|\bauthority\b", 2.0),
        ("data-protection", r"\bdata[- ]protection\b|\bprivacy\b|\bGDPR\b", 2.0),
        ("security", r"\bsecurity\b|\bnational security\b|\bexport controls?\b", 1.5),
        (
            "agency",
            r"\bNASA\b|\bNavy\b|\bPentagon\b|\bFTC\b|\bEU Commission\b|\bEuropean Commission\b"
            r"|\b[Gg]overnment devices\b|\b[Aa]gency\b|\bAI Act\b",
            2.0,
        ),
    ),
    Category.LEGAL: (
        (
            "lawsuit",
            r"\bsu(?:e|es|ed|ing)\b|\blawsuits?\b|\bsuits?\b|\bcomplaint\b|\blitigation\b",
            3.5,
        ),
        ("countersuit", r"\bcountersu\w*|\bcounterclaims?\b", 4.0),
        ("court", r"\bcourt\b|\bjudge\b|\bjury\b|\btrial\b", 2.0),
        (
            "refile-withdraw",
            r"\brefil(?:es|ed|ing)\b|\bwithdr[ae]w\w*|\bwithout prejudice\b"
            r"|\bdismiss\w*",
            2.0,
        ),
        ("claims", r"\bfraud\b|\bracketeering\b|\bbreach of contract\b|\bantitrust\b", 2.0),
        (
            "takeover-bid",
            r"\bbids?\b|\bunsolicited\b|\btakeover\b|\boffer to (?:buy|acquire)\b",
            3.5,
        ),
        ("rejects", r"\brejects?\b|\brebuff\w*", 1.5),
    ),
    Category.LEADERSHIP: (
        ("ceo", r"\bCEO\b|\bchief executive\b|\bCTO\b|\bpresident\b|\bchair(?:man|woman)?\b", 1.5),
        (
            "departure",
            r"\bleav(?:es|ing)\b|\bleft\b|\bdepart\w*|\bsteps? down\b|\bresign\w*"
            r"|\bexits?\b|\bquits?\b",
            2.5,
        ),
        ("removal", r"\bremov(?:es|ed|al)\b|\bfire[sd]\b|\bousted?\b|\boust(?:s|er)\b", 3.0),
        (
            "appointment",
            r"\binterim\b|\bnames?\b.{0,30}\b(?:CEO|chief|president)\b|\bappoint\w*"
            r"|\bhires?\b",
            2.0,
        ),
        ("return", r"\breturn(?:s|ed|ing)?\b|\breinstat\w*|\bcomeback\b", 2.5),
        ("board-member", r"\bboard member\b|\bco-?founder\b|\bdonor\b", 1.0),
    ),
}

# Acronyms keep their capitals: "api", "mit" and "pbc" in lower case are usually something else.
_CASED: Final = frozenset(
    {"api", "mit", "ceo", "public-benefit-corporation", "agency", "money-into"}
)
_COMPILED: Final[dict[Category, tuple[tuple[str, re.Pattern[str], float], ...]]] = {
    cat: tuple(
        (name, re.compile(rx, 0 if name in _CASED else re.I), weight) for name, rx, weight in rules
    )
    for cat, rules in _RULES.items()
}
# Every rule once, flat, with the literals a match needs (see `screen`): most rules do not fire,
# and the literal check skips their regexes. Rule order within a category is kept.
_FLAT: Final[tuple[tuple[Category, str, re.Pattern[str], float], ...]] = tuple(
    (cat, name, pattern, weight)
    for cat, rules in _COMPILED.items()
    for name, pattern, weight in rules
)
_SCREEN: Final = Screen([pattern for _, _, pattern, _ in _FLAT])
# What runs: each rule tried where its matches can start, or in the form the engine scans
# quickly (see `screen.Finder`). None has a group, so the matched texts are its `findall`.
_FINDERS: Final = tuple(Finder(pattern) for _, _, pattern, _ in _FLAT)
assert not any(pattern.groups for _, _, pattern, _ in _FLAT)
# Per rule: (its category's index in `Category`, its evidence name, its weight).
_INFO: Final = tuple(
    (list(Category).index(cat), f"{cat.value}:{name}", weight) for cat, name, _, weight in _FLAT
)

# Where a rule matched changes how much it counts: the headline is the reporter's own summary.
TAG_HINT_WEIGHT: Final = 6.0
# Rival labs' releases and licence moves are competition for the followed company.
_RIVAL_SHIFT: Final = (Category.LICENSING, Category.PRODUCT)
_TAG_VALUES: Final = {c.value: c for c in Category} | {
    label: c for c, label in CATEGORY_LABELS.items()
}
_FALLBACK: Final = Category.PRODUCT
_CATEGORIES: Final = tuple(Category)
_INDEX: Final = {c: k for k, c in enumerate(_CATEGORIES)}
_RIVAL_SHIFT_INDEXES: Final = tuple(_INDEX[c] for c in _RIVAL_SHIFT)
_COMPETITION: Final = _INDEX[Category.COMPETITION]
_FIELD_SCALES: Final = (1.0, 0.6, 0.3)
# Per rule, the evidence weight at each scale: `round(weight * scale, 3)`, computed once.
_ROUNDED: Final = tuple(
    {scale: round(weight * scale, 3) for scale in _FIELD_SCALES} for *_, weight in _INFO
)


def categorize(
    title: str,
    summary: str = "",
    body: str = "",
    tags: Iterable[str] = (),
    company: str | None = None,
) -> tuple[str, float, list[Evidence]]:
    """(category value, confidence 0..1, evidence) for normalized event text."""
    # Which rules may fire, field by field (a rule's words must be among the field's words).
    present = []
    anywhere = 0
    for text, scale in zip((title, summary, body), _FIELD_SCALES, strict=True):
        if text:
            folded = fold(text)
            mask = _SCREEN.candidates(folded)
            if mask:
                present.append((text, folded, mask, scale))
                anywhere |= mask
    # Scores and evidence by the category's index in `Category`.
    scores = [0.0] * len(_CATEGORIES)
    found: dict[int, list[Evidence]] = {}
    for i in indexes(anywhere):
        finder = _FINDERS[i]
        best = 0.0
        words: list[str] = []
        for text, folded, mask, scale in present:
            if mask >> i & 1:
                matches = finder.texts(text, folded)
                if matches:
                    words += matches
                    if scale > best:
                        best = scale
        if best:
            k, rule, weight = _INFO[i]
            scores[k] += weight * best
            ev = {
                "rule": rule,
                "words": list(dict.fromkeys(words)),
                "weight": _ROUNDED[i][best],
            }
            found.setdefault(k, []).append(ev)

    hints: set[int] = set()
    for tag in tags:
        hinted = _TAG_VALUES.get(tag.strip().lower())
        if hinted is not None:
            k = _INDEX[hinted]
            if k not in hints:
                hints.add(k)
                scores[k] += TAG_HINT_WEIGHT
                found.setdefault(k, []).append(evidence("tag-hint", [tag], weight=TAG_HINT_WEIGHT))

    # The rival reading is a default: a reporter who tags a rival's move "licensing" or "product"
    # is reading it from the rival's own side, and that tag wins.
    focus = rival_of(company) if company else None
    if focus is not None and not hints.intersection(_RIVAL_SHIFT_INDEXES):
        for k in _RIVAL_SHIFT_INDEXES:
            shifted = [e for e in found.get(k, ()) if e["rule"] != "tag-hint"]
            moved = sum(e["weight"] for e in shifted)
            if moved:
                moved = round(moved, 3)
                scores[k] -= moved
                scores[_COMPETITION] += moved
                words = [w for e in shifted for w in e["words"]]
                found.setdefault(_COMPETITION, []).append(
                    evidence(
                        f"rival-move:{_CATEGORIES[k].value}->competition",
                        words,
                        weight=moved,
                        of=focus,
                    )
                )

    # The best category, ties to the first in `Category` order; then the best of the others.
    top = max(scores)
    if top <= 0:
        return _FALLBACK.value, 0.0, [evidence("no-rule-matched")]
    best_k = scores.index(top)
    runner_up = max(scores[:best_k] + scores[best_k + 1 :])
    confidence = top / (top + max(runner_up, 0.0) + 1.0)
    return _CATEGORIES[best_k].value, round(confidence, 3), found.get(best_k, [])
