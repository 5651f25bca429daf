"""links: responses to a rival's release, follow-ups of a story, one story under two companies."""

from __future__ import annotations

import pytest

from services.enrich.steps.links import LinkCandidate, relate
from shared.dates import parse_occurred


def _ev(company: str, occurred: str, category: str, title: str, *entities: str) -> LinkCandidate:
    return LinkCandidate(company, parse_occurred(occurred), category, title, entities)


R1 = _ev(
    "deepseek",
    "2025-01-20",
    "competition",
    "DeepSeek releases DeepSeek-R1 and R1-Zero as open weights under the MIT licence",
    "deepseek",
    "DeepSeek-R1",
    "DeepSeek-R1-Zero",
    "MIT",
)
V3 = _ev(
    "deepseek",
    "2024-12-26",
    "competition",
    "DeepSeek releases DeepSeek-V3 as open weights",
    "deepseek",
    "DeepSeek-V3",
)
LLAMA = _ev(
    "meta",
    "2023-02-24",
    "competition",
    "Meta releases LLaMA under a research-only licence",
    "meta",
    "LLaMA",
)
SUED = _ev(
    "openai",
    "2024-02-29",
    "legal",
    "Elon Musk sues OpenAI and Sam Altman in state court",
    "Elon Musk",
    "openai",
    "Sam Altman",
)
WITHDRAWN = _ev(
    "openai", "2024-06-11", "legal", "Musk withdraws his state lawsuit", "Elon Musk", "openai"
)
REFILED = _ev(
    "openai",
    "2024-08-05",
    "legal",
    "Musk refiles in federal court with fraud claims",
    "Elon Musk",
    "openai",
)

CASES = [
    # a rival's open-weights release answered within two weeks
    (
        R1,
        _ev(
            "openai",
            "2025-01-31",
            "licensing",
            "Altman says OpenAI is on the wrong side of history on open source",
            "Sam Altman",
            "openai",
        ),
        "response",
        "open-weights-track",
    ),
    (
        R1,
        _ev(
            "nvidia",
            "2025-01-27",
            "competition",
            "Nvidia shares fall 17% after DeepSeek",
            "nvidia",
            "deepseek",
        ),
        "response",
        "names-the-release",
    ),
    (
        R1,
        _ev(
            "openai",
            "2025-01-31",
            "product",
            "OpenAI launches o3-mini, citing DeepSeek-R1",
            "openai",
            "o3-mini",
            "DeepSeek-R1",
        ),
        "response",
        "names-the-release",
    ),
    (
        V3,
        _ev("meta", "2025-01-05", "competition", "Meta speeds up Llama work", "meta", "Llama"),
        "response",
        "same-category",
    ),
    # the same company, the same topic, later
    (SUED, WITHDRAWN, "follow-up", "shared-entity"),
    (WITHDRAWN, REFILED, "follow-up", "shared-entity"),
    (SUED, REFILED, "follow-up", "shared-entity"),
    # the same story under two companies
    (
        _ev(
            "deepseek",
            "2025-01-27",
            "competition",
            "Nvidia loses $590B in market value after DeepSeek",
            "nvidia",
            "deepseek",
        ),
        _ev(
            "nvidia",
            "2025-01-27",
            "competition",
            "Nvidia loses $590B of market value on DeepSeek fears",
            "nvidia",
            "deepseek",
        ),
        "same-story",
        "close-dates-shared-terms",
    ),
]


@pytest.mark.parametrize(("a", "b", "kind", "rule"), CASES)
def test_relate(a: LinkCandidate, b: LinkCandidate, kind: str, rule: str) -> None:
    link = relate(a, b)
    assert link is not None
    assert (link["kind"], link["rule"]) == (kind, rule)
    assert link["words"]
    assert relate(b, a) == link  # symmetric


UNRELATED = [
    # a response must come within ~14 days
    (
        R1,
        _ev("openai", "2025-03-31", "licensing", "OpenAI announces an open-weight model", "openai"),
    ),
    # ...of a release: a regulator's ban is not one
    (
        _ev("deepseek", "2025-01-30", "regulation", "Italy restricts DeepSeek", "deepseek"),
        _ev("openai", "2025-02-02", "regulation", "A regulator questions OpenAI", "openai"),
    ),
    # a different topic of the same company is not a follow-up
    (
        SUED,
        _ev(
            "openai",
            "2024-09-12",
            "product",
            "OpenAI introduces o1-preview",
            "openai",
            "o1-preview",
        ),
    ),
    (
        _ev(
            "deepseek",
            "2025-01-30",
            "regulation",
            "Italy's data-protection authority restricts DeepSeek",
            "deepseek",
            "Garante (Italy)",
        ),
        _ev(
            "deepseek",
            "2025-01-31",
            "regulation",
            "NASA bars DeepSeek from agency devices",
            "deepseek",
            "NASA",
        ),
    ),
    # the same story more than a year later is not a follow-up
    (
        _ev("openai", "2018-02-20", "leadership", "Elon Musk leaves the OpenAI board", "Elon Musk"),
        _ev("openai", "2023-11-17", "leadership", "The board removes Sam Altman", "Sam Altman"),
    ),
    (LLAMA, R1),
]


@pytest.mark.parametrize(("a", "b"), UNRELATED)
def test_unrelated(a: LinkCandidate, b: LinkCandidate) -> None:
    assert relate(a, b) is None


def test_response_evidence_names_who_is_answered_and_the_lag() -> None:
    link = relate(R1, _ev("nvidia", "2025-01-27", "competition", "Nvidia shares fall", "deepseek"))
    assert link is not None
    assert link["to"] == "deepseek" and link["days"] == 7
    assert "deepseek" in link["words"]
