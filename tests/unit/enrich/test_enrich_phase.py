"""phase: the phase in force at an event, and which events open a phase (plans do not)."""

from __future__ import annotations

import pytest

from services.enrich.steps.phase import phase_of, transition
from shared.dates import parse_occurred


@pytest.mark.parametrize(
    ("company", "occurred", "expected"),
    [
        ("openai", "2015-12-10", None),
        ("openai", "2015-12-11", "nonprofit"),
        ("openai", "2018-04-09", "nonprofit"),
        ("openai", "2019-03-10", "nonprofit"),
        ("openai", "2019-03-11", "capped-profit"),
        ("openai", "2024-12-27", "capped-profit"),
        ("openai", "2025-05-05", "capped-profit"),
        ("openai", "2025-10-27", "capped-profit"),
        ("openai", "2025-10-28", "public-benefit-corporation"),
        ("openai", "2026-01", "public-benefit-corporation"),
        ("openai", "2019", "nonprofit"),  # in force at the start of the span
        ("openai", "2023-11~", "capped-profit"),
        ("openai", "../2016", None),
        ("deepseek", "2025-01-20", None),
        ("acme-ai", "2025-01-20", None),
    ],
)
def test_phase_of(company: str, occurred: str, expected: str | None) -> None:
    assert phase_of(company, parse_occurred(occurred))[0] == expected


def test_phase_of_gives_its_evidence() -> None:
    assert phase_of("openai", parse_occurred("2020-06-11"))[1] == [
        {"rule": "phase-in-force", "words": ["capped-profit"], "since": "2019-03-11"}
    ]
    assert phase_of("deepseek", parse_occurred("2025"))[1][0]["rule"] == "no-phases-for-company"


@pytest.mark.parametrize(
    ("occurred", "crossed"),
    [
        ("2019", ["capped-profit"]),
        ("2019-03", ["capped-profit"]),
        ("2025-10", ["public-benefit-corporation"]),
        ("2015/2026", ["nonprofit", "capped-profit", "public-benefit-corporation"]),
        ("2019-03-11", None),
        ("2020", None),
    ],
)
def test_coarse_span_across_a_boundary_is_flagged(occurred: str, crossed: list[str] | None) -> None:
    _, ev = phase_of("openai", parse_occurred(occurred))
    flagged = [e for e in ev if e["rule"] == "span-crosses-phase-boundary"]
    if crossed is None:
        assert not flagged
    else:
        assert flagged[0]["words"] == crossed
        assert flagged[0]["precision"] in ("year", "month", "day")


# (occurred, title, summary, phase opened or None)
TRANSITIONS = [
    (
        "2015-12-11",
        "OpenAI is founded as a nonprofit AI research lab",
        "Backers pledged $1B.",
        "nonprofit",
    ),
    ("2015-12", "OpenAI launches as a non-profit research company", "", "nonprofit"),
    (
        "2019-03-11",
        "OpenAI creates OpenAI LP, a capped-profit company",
        "Returns for first-round investors are capped at 100x.",
        "capped-profit",
    ),
    ("2019", "OpenAI LP formed as a capped-profit company", "", "capped-profit"),
    (
        "2025-10-28",
        "OpenAI completes its recapitalization",
        "The OpenAI Foundation now controls OpenAI Group PBC. Microsoft will hold about 27%.",
        "public-benefit-corporation",
    ),
    (
        "2025-10-28",
        "OpenAI Group PBC: the restructuring is completed",
        "",
        "public-benefit-corporation",
    ),
    # plans, proposals and reversals are not transitions
    (
        "2024-12-27",
        "OpenAI announces a plan to turn its for-profit arm into a Delaware public "
        "benefit corporation",
        "",
        None,
    ),
    (
        "2024-12-27",
        "OpenAI plans to become a public benefit corporation",
        "The PBC conversion would be completed in 2025.",
        None,
    ),
    (
        "2025-05-05",
        "OpenAI reverses course: the nonprofit keeps control; the for-profit becomes a PBC",
        "",
        None,
    ),
    ("2025-10-28", "OpenAI will become a PBC once the recapitalization is completed", "", None),
    ("2025-10-28", "Proposal: OpenAI Group PBC conversion completed by year end", "", None),
    (
        "2025-10-28",
        "Recapitalization news",
        "OpenAI said it would complete the move to a public benefit corporation.",
        None,
    ),
    # other events of the period open nothing
    ("2019-03-11", "OpenAI publishes a blog post about GPT-2", "", None),
    ("2018-04-09", "OpenAI publishes its Charter", "", None),
    # the right words far from the phase's date recall it, they do not open it
    (
        "2023-05-01",
        "OpenAI, founded as a nonprofit in 2015, became a capped-profit in 2019",
        "",
        None,
    ),
]


@pytest.mark.parametrize(("occurred", "title", "summary", "expected"), TRANSITIONS)
def test_transition(occurred: str, title: str, summary: str, expected: str | None) -> None:
    opened, ev = transition("openai", parse_occurred(occurred), f"{title}\n{summary}")
    assert opened == expected, ev
    if expected:
        assert ev[-1]["rule"] == "phase-opening"
        assert ev[-1]["phase"] == expected and ev[-1]["words"]


@pytest.mark.parametrize(
    ("occurred", "title", "rule"),
    [
        (
            "2024-12-27",
            "OpenAI plans to convert into a public benefit corporation, completed soon",
            "plan-not-transition",
        ),
        ("2025-05-05", "OpenAI reverses course; for-profit becomes a PBC", "plan-not-transition"),
        (
            "2023-05-01",
            "OpenAI became a capped-profit company",
            "opening-words-far-from-phase-date",
        ),
    ],
)
def test_rejected_transitions_say_why(occurred: str, title: str, rule: str) -> None:
    opened, ev = transition("openai", parse_occurred(occurred), title)
    assert opened is None
    assert ev[0]["rule"] == rule


def test_companies_without_phases_have_no_transitions() -> None:
    assert transition("deepseek", parse_occurred("2025-01-20"), "founded as a nonprofit") == (
        None,
        [],
    )
