"""Link related events: a response to a rival's release, a follow-up of the same story, or the
same story reported under two companies.

- same-story: within a few days, and the titles share most terms or at least two named entities;
- response: another company moves within RESPONSE_DAYS of a release (open weights or a product)
  and names the releaser or its model, or is in the same category (licensing and competition
  count as one open-weights track);
- follow-up: the same company, the same category, later (within a year), and a shared named entity
  or title terms (the Musk lawsuit filed, withdrawn, refiled).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from services.enrich.steps.dedup import days_apart, jaccard, title_terms
from shared.dates import OccurredDate

RESPONSE_DAYS: Final = 14
FOLLOW_UP_DAYS: Final = 366
SAME_STORY_DAYS: Final = 3
SAME_STORY_JACCARD: Final = 0.4
FOLLOW_UP_JACCARD: Final = 0.25
RELEASE_CATEGORIES: Final = frozenset({"licensing", "product", "competition"})
OPEN_WEIGHTS_TRACK: Final = frozenset({"licensing", "competition"})
RELEASE: Final = re.compile(
    r"\b(?:releas\w*|launch\w*|unveil\w*|introduc\w*|open[- ]weights?|open[- ]sourc\w*|debut\w*)",
    re.I,
)
# For PostgreSQL (`title ~* RELEASE_WORDS_SQL`): matches every ASCII title `RELEASE` matches (no
# word boundary: a superset); a non-ASCII title must be kept whatever it says (Unicode case folds).
RELEASE_WORDS_SQL: Final = "(releas|launch|unveil|introduc|open[- ]weight|open[- ]sourc|debut)"


def is_release(category: str, title: str) -> bool:
    """Whether an event can be the release a response answers (the earlier event of one)."""
    return category in RELEASE_CATEGORIES and RELEASE.search(title) is not None


@dataclass(frozen=True, slots=True)
class LinkCandidate:
    company: str
    occurred: OccurredDate
    category: str
    title: str
    entities: tuple[str, ...] = ()  # normalized entity values (slugs, model names, people)


def _values(c: LinkCandidate) -> frozenset[str]:
    return frozenset(v.casefold() for v in c.entities)


def _link(kind: str, rule: str, words: list[str], **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "rule": rule, "words": sorted(set(words)), **extra}


def relate(a: LinkCandidate, b: LinkCandidate) -> dict[str, Any] | None:
    """How `a` and `b` are related, with evidence, or None. Symmetric in its arguments."""
    first, then = sorted((a, b), key=lambda c: (c.occurred.sort_key, c.company, c.title))
    gap = days_apart(first.occurred, then.occurred)
    lag = then.occurred.start.toordinal() - first.occurred.start.toordinal()
    ta, tb = title_terms(first.title, first.company), title_terms(then.title, then.company)
    overlap = round(jaccard(ta, tb), 3)
    ea, eb = _values(first), _values(then)
    shared = sorted((ea & eb) - {first.company, then.company})

    if gap <= SAME_STORY_DAYS and (overlap >= SAME_STORY_JACCARD or len(shared) >= 2):
        words = sorted(ta & tb) + shared
        return _link("same-story", "close-dates-shared-terms", words, jaccard=overlap, days=gap)

    if (
        first.company != then.company
        and 0 <= lag <= RESPONSE_DAYS
        and first.category in RELEASE_CATEGORIES
        and (release := RELEASE.search(first.title))
    ):
        named = sorted(({first.company} | (ea - {then.company})) & eb)
        if named:
            rule, words = "names-the-release", [release.group(), *named]
        elif first.category == then.category:
            rule, words = "same-category", [release.group(), then.category]
        elif {first.category, then.category} <= OPEN_WEIGHTS_TRACK:
            rule, words = "open-weights-track", [release.group(), first.category, then.category]
        else:
            rule = ""
        if rule:
            return _link("response", rule, words, days=lag, to=first.company)

    if (
        first.company == then.company
        and first.category == then.category
        and 0 < lag <= FOLLOW_UP_DAYS
        and (shared or overlap >= FOLLOW_UP_JACCARD)
    ):
        words = shared or sorted(ta & tb)
        rule = "shared-entity" if shared else "shared-title-terms"
        return _link("follow-up", rule, words, days=lag, jaccard=overlap)
    return None
