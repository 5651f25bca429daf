"""Categorise an event: weighted keyword/phrase rules per category, plus the reporter's tag hints.

Each rule that matches adds its weight once, scaled by where it matched (title > summary > body). A
tag equal to a category value (or its label, "licensing/open-weights") is a strong hint. Scores
are read from the point of view of a followed company (see `companies.Company.rivals`): a rival
lab's release or licence move is *competition* for it, while the followed company's own move is
licensing or product -- the reading the seed timeline's reference table uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Final

from services.enrich.steps.companies import rival_of
from services.enrich.steps.core import Evidence, Rule, RuleSet, evidence
from shared.events import CATEGORY_LABELS, Category

# `cased`: acronyms keep their capitals ("api", "mit" and "pbc" in lower case are usually
# something else). `starts`: the words every match begins with (see `core.Rule`).
_RULES: Final[dict[Category, tuple[Rule, ...]]] = {
    Category.GOVERNANCE: (
        Rule("nonprofit", r"\bnon-?profit\b", 3.0, starts="non"),
        Rule("for-profit", r"\bfor-?profit\b", 2.0, starts="for"),
        Rule(
            "capped-profit",
            r"\bcapped[- ]profit\b|\bcapped at \d+x\b|\breturns? (?:are )?capped\b",
            3.0,
            starts="capped return",
        ),
        Rule(
            "public-benefit-corporation",
            r"\b[Pp]ublic[- ][Bb]enefit [Cc]orporation\b|\bPBC\b",
            3.0,
            starts="pbc public",
            cased=True,
        ),
        Rule(
            "restructuring",
            r"\brestructur\w*|\brecapitali[sz]\w*|\breorgani[sz]\w*",
            3.0,
            starts="recapitali reorgani restructur",
        ),
        Rule("charter", r"\bcharter\b", 3.0, starts="charter"),
        Rule("board-seat", r"\b(?:board|observer) seat\b", 3.0, starts="board observer"),
        Rule("non-voting", r"\bnon-?voting\b", 1.5, starts="non"),
        Rule(
            "legal-structure",
            r"\b(?:legal|corporate|governance) structure\b|\bgovernance\b",
            2.0,
            starts="corporate governance legal",
        ),
        Rule(
            "control",
            r"\b(?:keeps?|retains?|takes?|cedes?) control\b|\bcontrols\b",
            1.5,
            starts="cede controls keep retain take",
        ),
        Rule("foundation", r"\bfoundation\b", 1.0, starts="foundation"),
        Rule("entity-created", r"\b(?:LP|LLC|subsidiary)\b", 1.0, starts="llc lp subsidiary"),
        Rule(
            "founded",
            r"\bfound(?:ed|s|ing)\b|\blaunch(?:es|ed)? as a\b",
            1.0,
            starts="found launch",
        ),
    ),
    Category.FUNDING: (
        Rule("invest", r"\binvest(?:s|ed|ing|ment|ments|or|ors)?\b", 3.0, starts="invest"),
        Rule(
            "funding",
            r"\bfunding\b|\bfunding round\b|\bseries [a-h]\b|\braise[sd]?\b",
            3.0,
            starts="funding raise series",
        ),
        Rule("valuation", r"\bvaluation\b|\bvalued at\b", 2.5, starts="valuation valued"),
        Rule(
            "pledged",
            r"\bpledge[sd]?\b|\bbackers?\b|\bdonations?\b",
            1.5,
            starts="backer donation pledge",
        ),
        Rule("multibillion", r"\bmulti-?(?:billion|million)\b|\bmultiyear\b", 1.5, starts="multi"),
        Rule(
            "cloud-partnership",
            r"\b(?:Azure|cloud) partner(?:ship)?\b|\bcompute deal\b",
            1.0,
            starts="azure cloud compute",
        ),
        Rule("acquisition", r"\bacquir(?:es|ed|ing)\b|\bacquisition\b", 2.0, starts="acqui"),
        # "puts $1B into OpenAI": an amount going into a company is an investment.
        Rule(
            "money-into",
            r"\$\s?\d[\d.,]*\s?[A-Za-z]*\s(?:into|in)(?=\s+[A-Z])",
            2.0,
            starts="$",
            cased=True,
        ),
    ),
    Category.LICENSING: (
        Rule("open-weights", r"\bopen[- ]weights?\b", 3.5, starts="open"),
        Rule("open-source", r"\bopen[- ]sourc(?:e|ed|ing)\b", 3.0, starts="open"),
        Rule("weights", r"\bweights\b", 2.0, starts="weights"),
        Rule("licence", r"\blicen[cs](?:e|ed|ing)\b", 2.0, starts="licen"),
        Rule("mit", r"\bMIT\b", 1.5, starts="mit", cased=True),
        Rule("apache", r"\bApache\b", 1.5, starts="apache"),
        Rule(
            "staged-release",
            r"\bstaged release\b|\bin stages\b|\bstaged\b",
            2.0,
            starts="in staged",
        ),
        Rule(
            "weights-withheld",
            r"\b(?:withh[eo]ld|held back)\w*\b.{0,40}\bweights\b"
            r"|\bweights\b.{0,20}\b(?:withh[eo]ld|held back)\b",
            2.0,
            starts="held weights withh",
        ),
        Rule("code-and-weights", r"\bcode and weights\b", 1.5, starts="code"),
        Rule("wrong-side-of-history", r"\bwrong side of history\b", 4.0, starts="wrong"),
        Rule("openness", r"\bopenness\b", 1.5, starts="openness"),
    ),
    Category.PRODUCT: (
        Rule(
            "launch",
            r"\blaunch(?:es|ed|ing)?\b|\bunveil(?:s|ed)?\b|\bdebut(?:s|ed)?\b",
            2.5,
            starts="debut launch unveil",
        ),
        Rule(
            "introduce",
            r"\bintroduc(?:es|ed|ing)\b|\brolls? out\b|\brolled out\b",
            2.5,
            starts="introduc roll",
        ),
        Rule("release", r"\breleas(?:e|es|ed|ing)\b", 1.5, starts="releas"),
        Rule("api", r"\bAPI\b", 2.0, starts="api", cased=True),
        Rule(
            "beta-preview",
            r"\b(?:private |public )?beta\b|\bresearch preview\b|\bpreview\b",
            2.0,
            starts="beta preview private public research",
        ),
        Rule(
            "model",
            r"\b(?:reasoning|language|frontier|flagship) model\b|\bchatbot\b|\bapp\b",
            1.0,
            starts="app chatbot flagship frontier language reasoning",
        ),
        Rule(
            "subscription",
            r"\bsubscription\b|\bpricing\b|\bplugins?\b|\bGPT Store\b",
            1.5,
            starts="gpt plugin pricing subscription",
        ),
    ),
    Category.COMPETITION: (
        Rule(
            "shares-fall",
            r"\b(?:shares?|stocks?)\b.{0,30}\b(?:fall|fell|drop|dropped|plunge|plunged|slide|tumble)"
            r"\w*|\bsell-?off\b",
            3.5,
            starts="sell share stock",
        ),
        Rule("market-value", r"\bmarket (?:value|cap(?:italization)?)\b", 3.0, starts="market"),
        Rule("open-letter", r"\bopen letter\b", 4.0, starts="open"),
        Rule(
            "rival",
            r"\brivals?\b|\bcompetitors?\b|\bcompetition\b|\bchallenger?s?\b",
            2.0,
            starts="challenge competit rival",
        ),
        Rule(
            "price-war",
            r"\bprice war\b|\bcuts? prices\b|\bcheaper\b|\btraining (?:run|cost)\b",
            1.5,
            starts="cheaper cut price training",
        ),
        Rule("market-share", r"\bmarket share\b", 2.0, starts="market"),
    ),
    Category.REGULATION: (
        Rule(
            "ban",
            r"\bban(?:s|ned|ning)?\b|\bbar(?:s|red|ring)?\b|\bprohibit\w*|\bblock(?:s|ed)?\b",
            3.0,
            starts="ban bar block prohibit",
        ),
        Rule("restrict", r"\brestrict(?:s|ed|ing|ion|ions)?\b", 3.0, starts="restrict"),
        Rule(
            "not-to-use",
            r"\bnot to use\b|\bstop using\b|\bmust not use\b",
            3.0,
            starts="must not stop",
        ),
        Rule(
            "regulator",
            r"\bregulat(?:or|ors|ion|ory|es|ed)\b|\bwatchdog\b|\bauthority\b",
            2.0,
            starts="authority regulat watchdog",
        ),
        Rule(
            "data-protection",
            r"\bdata[- ]protection\b|\bprivacy\b|\bGDPR\b",
            2.0,
            starts="data gdpr privacy",
        ),
        Rule(
            "security",
            r"\bsecurity\b|\bnational security\b|\bexport controls?\b",
            1.5,
            starts="export national security",
        ),
        Rule(
            "agency",
            r"\bNASA\b|\bNavy\b|\bPentagon\b|\bFTC\b|\bEU Commission\b|\bEuropean Commission\b"
            r"|\b[Gg]overnment devices\b|\b[Aa]gency\b|\bAI Act\b",
            2.0,
            starts="agency ai eu ftc government nasa navy pentagon",
            cased=True,
        ),
    ),
    Category.LEGAL: (
        Rule(
            "lawsuit",
            r"\bsu(?:e|es|ed|ing)\b|\blawsuits?\b|\bsuits?\b|\bcomplaint\b|\blitigation\b",
            3.5,
            starts="complaint lawsuit litigation sue suing suit",
        ),
        Rule("countersuit", r"\bcountersu\w*|\bcounterclaims?\b", 4.0, starts="counter"),
        Rule(
            "court", r"\bcourt\b|\bjudge\b|\bjury\b|\btrial\b", 2.0, starts="court judge jury trial"
        ),
        Rule(
            "refile-withdraw",
            r"\brefil(?:es|ed|ing)\b|\bwithdr[ae]w\w*|\bwithout prejudice\b"
            r"|\bdismiss\w*",
            2.0,
            starts="dismiss refil withdr without",
        ),
        Rule(
            "claims",
            r"\bfraud\b|\bracketeering\b|\bbreach of contract\b|\bantitrust\b",
            2.0,
            starts="antitrust breach fraud racketeering",
        ),
        Rule(
            "takeover-bid",
            r"\bbids?\b|\bunsolicited\b|\btakeover\b|\boffer to (?:buy|acquire)\b",
            3.5,
            starts="bid offer takeover unsolicited",
        ),
        Rule("rejects", r"\brejects?\b|\brebuff\w*", 1.5, starts="rebuff reject"),
    ),
    Category.LEADERSHIP: (
        Rule(
            "ceo",
            r"\bCEO\b|\bchief executive\b|\bCTO\b|\bpresident\b|\bchair(?:man|woman)?\b",
            1.5,
            starts="ceo chair chief cto president",
            cased=True,
        ),
        Rule(
            "departure",
            r"\bleav(?:es|ing)\b|\bleft\b|\bdepart\w*|\bsteps? down\b|\bresign\w*"
            r"|\bexits?\b|\bquits?\b",
            2.5,
            starts="depart exit leaves leaving left quit resign step",
        ),
        Rule(
            "removal",
            r"\bremov(?:es|ed|al)\b|\bfire[sd]\b|\bousted?\b|\boust(?:s|er)\b",
            3.0,
            starts="fire oust remov",
        ),
        Rule(
            "appointment",
            r"\binterim\b|\bnames?\b.{0,30}\b(?:CEO|chief|president)\b|\bappoint\w*"
            r"|\bhires?\b",
            2.0,
            starts="appoint hire interim name",
        ),
        Rule(
            "return",
            r"\breturn(?:s|ed|ing)?\b|\breinstat\w*|\bcomeback\b",
            2.5,
            starts="comeback reinstat return",
        ),
        Rule(
            "board-member",
            r"\bboard member\b|\bco-?founder\b|\bdonor\b",
            1.0,
            starts="board co donor",
        ),
    ),
}

# Every rule once, flat, named as its evidence says ("governance:nonprofit"), in category order.
RULES: Final = RuleSet(
    replace(rule, name=f"{cat.value}:{rule.name}")
    for cat, rules in _RULES.items()
    for rule in rules
)
_CATEGORIES: Final = tuple(Category)
_INDEX: Final = {c: k for k, c in enumerate(_CATEGORIES)}
# Per rule of `RULES`, its category's index in `Category`.
_RULE_CATEGORY: Final = tuple(_INDEX[cat] for cat, rules in _RULES.items() for _ in rules)

# Where a rule matched changes how much it counts: the headline is the reporter's own summary.
TAG_HINT_WEIGHT: Final = 6.0
# Rival labs' releases and licence moves are competition for the followed company.
_RIVAL_SHIFT: Final = (Category.LICENSING, Category.PRODUCT)
_TAG_VALUES: Final = {c.value: c for c in Category} | {
    label: c for c, label in CATEGORY_LABELS.items()
}
_FALLBACK: Final = Category.PRODUCT
_RIVAL_SHIFT_INDEXES: Final = tuple(_INDEX[c] for c in _RIVAL_SHIFT)
_COMPETITION: Final = _INDEX[Category.COMPETITION]
_FIELD_SCALES: Final = (1.0, 0.6, 0.3)

Scores = list[float]  # by the category's index in `Category`
Found = dict[int, list[Evidence]]  # the evidence of each category's score


def categorize(
    title: str,
    summary: str = "",
    body: str = "",
    tags: Iterable[str] = (),
    company: str | None = None,
) -> tuple[str, float, list[Evidence]]:
    """(category value, confidence 0..1, evidence) for normalized event text."""
    scores, found = _rule_scores((title, summary, body))
    hints = _tag_hints(tags, scores, found)
    # The rival reading is a default: a reporter who tags a rival's move "licensing" or "product"
    # is reading it from the rival's own side, and that tag wins.
    focus = rival_of(company) if company else None
    if focus is not None and not hints.intersection(_RIVAL_SHIFT_INDEXES):
        _shift_to_competition(focus, scores, found)
    # The best category, ties to the first in `Category` order; then the best of the others.
    top = max(scores)
    if top <= 0:
        return _FALLBACK.value, 0.0, [evidence("no-rule-matched")]
    best_k = scores.index(top)
    runner_up = max(scores[:best_k] + scores[best_k + 1 :])
    confidence = top / (top + max(runner_up, 0.0) + 1.0)
    return _CATEGORIES[best_k].value, round(confidence, 3), found.get(best_k, [])


def _rule_scores(fields: tuple[str, str, str]) -> tuple[Scores, Found]:
    """Each rule that fired counts once, at the scale of the best field it fired in."""
    fired: dict[int, tuple[float, list[str]]] = {}
    for text, scale in zip(fields, _FIELD_SCALES, strict=True):
        if text:
            for i, matched in RULES.fired(text):
                best, words = fired.get(i, (0.0, []))
                fired[i] = (max(best, scale), words + matched)
    scores = [0.0] * len(_CATEGORIES)
    found: Found = {}
    for i in sorted(fired):
        best, words = fired[i]
        rule, k = RULES.rules[i], _RULE_CATEGORY[i]
        scores[k] += rule.weight * best
        weight = round(rule.weight * best, 3)
        found.setdefault(k, []).append(evidence(rule.name, words, weight=weight))
    return scores, found


def _tag_hints(tags: Iterable[str], scores: Scores, found: Found) -> set[int]:
    """A tag naming a category adds TAG_HINT_WEIGHT to it, once; the categories hinted."""
    hints: set[int] = set()
    for tag in tags:
        hinted = _TAG_VALUES.get(tag.strip().lower())
        if hinted is not None:
            k = _INDEX[hinted]
            if k not in hints:
                hints.add(k)
                scores[k] += TAG_HINT_WEIGHT
                found.setdefault(k, []).append(evidence("tag-hint", [tag], weight=TAG_HINT_WEIGHT))
    return hints


def _shift_to_competition(focus: str, scores: Scores, found: Found) -> None:
    """A rival's licence or product move scores as competition for the company it rivals."""
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
                    f"rival-move:{_CATEGORIES[k].value}->competition", words, weight=moved, of=focus
                )
            )
