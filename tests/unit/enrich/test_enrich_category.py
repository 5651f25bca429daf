"""category: every row of the reference facts, titled in our own words, lands in its category."""

from __future__ import annotations

import pytest

from services.enrich.steps.category import categorize
from shared.events import CATEGORY_LABELS, Category

# (date, company filed under, neutral title, category) -- one per reference row.
REFERENCE_ROWS = [
    (
        "2015-12-11",
        "openai",
        "OpenAI is founded as a nonprofit AI lab; backers pledge $1B",
        "governance",
    ),
    (
        "2018-02-20",
        "openai",
        "Elon Musk is leaving the OpenAI board but will remain a donor",
        "leadership",
    ),
    ("2018-04-09", "openai", "OpenAI publishes the OpenAI Charter", "governance"),
    (
        "2019-02-14",
        "openai",
        "GPT-2 unveiled in a staged release: the full 1.5B weights are withheld, a small model "
        "is released",
        "licensing",
    ),
    (
        "2019-03-11",
        "openai",
        "OpenAI LP is formed as a capped-profit company, first-round returns capped at 100x",
        "governance",
    ),
    (
        "2019-07-22",
        "microsoft",
        "Microsoft puts $1B into OpenAI in an Azure partnership",
        "funding",
    ),
    ("2019-11-05", "openai", "The 1.5B GPT-2 model ships with its code and weights", "licensing"),
    (
        "2020-06-11",
        "openai",
        "OpenAI opens its API for the GPT-3 family as a private beta",
        "product",
    ),
    (
        "2022-09-21",
        "openai",
        "Whisper is published with code and weights under the MIT license",
        "licensing",
    ),
    ("2022-11-30", "openai", "ChatGPT goes live as a research preview", "product"),
    (
        "2023-01-23",
        "microsoft",
        "Microsoft commits a multiyear, multibillion-dollar investment to OpenAI",
        "funding",
    ),
    (
        "2023-02-24",
        "meta",
        "Meta makes LLaMA (7B-65B) available under a research-only licence",
        "competition",
    ),
    (
        "2023-03-14",
        "openai",
        "GPT-4 launches with its architecture and training details withheld",
        "product",
    ),
    (
        "2023-07-18",
        "meta",
        "Llama 2 becomes free for research and commercial use under a custom licence",
        "competition",
    ),
    (
        "2023-11",
        "meta",
        "Yann LeCun and some 70 signatories back an open letter for AI openness",
        "competition",
    ),
    (
        "2023-11-17",
        "openai",
        "OpenAI board ousts Sam Altman as CEO; Mira Murati is interim CEO",
        "leadership",
    ),
    (
        "2023-11-21",
        "openai",
        "Deal in principle for Altman to return, with a new initial board",
        "leadership",
    ),
    (
        "2023-11-29",
        "openai",
        "Altman is formally reinstated and Microsoft takes a non-voting board seat",
        "governance",
    ),
    (
        "2024-02-29",
        "openai",
        "Musk files suit against OpenAI and Altman in San Francisco Superior Court",
        "legal",
    ),
    (
        "2024-06-11",
        "openai",
        "Musk drops his state lawsuit against OpenAI without prejudice",
        "legal",
    ),
    (
        "2024-08-05",
        "openai",
        "Musk brings the case again in federal court, adding fraud and racketeering claims",
        "legal",
    ),
    ("2024-09-12", "openai", "OpenAI debuts o1-preview, its first reasoning model", "product"),
    (
        "2024-12-26",
        "deepseek",
        "DeepSeek-V3 (671B MoE) weights released; final training run took 2.788M H800 GPU-hours, "
        "about $5.576M",
        "competition",
    ),
    (
        "2024-12-27",
        "openai",
        "OpenAI announces a plan to make its for-profit arm a Delaware public benefit corporation",
        "governance",
    ),
    (
        "2025-01-20",
        "deepseek",
        "DeepSeek-R1 and R1-Zero ship as open weights under the MIT licence with distilled models",
        "competition",
    ),
    (
        "2025-01-24",
        "deepseek",
        "The US Navy instructs its members not to use DeepSeek",
        "regulation",
    ),
    (
        "2025-01-27",
        "deepseek",
        "Nvidia stock drops about 17% after DeepSeek, shedding about $590B of market value",
        "competition",
    ),
    (
        "2025-01-30",
        "deepseek",
        "Italy's data-protection authority restricts DeepSeek",
        "regulation",
    ),
    (
        "2025-01-31",
        "deepseek",
        "NASA bars DeepSeek on agency devices and networks over security and privacy concerns",
        "regulation",
    ),
    (
        "2025-01-31",
        "openai",
        "In a Reddit AMA, Altman says OpenAI has been on the wrong side of history on open source",
        "licensing",
    ),
    (
        "2025-02-10",
        "openai",
        "A Musk-led group offers $97.4B for the OpenAI nonprofit and the board rejects the bid",
        "legal",
    ),
    (
        "2025-03-31",
        "openai",
        "Altman announces OpenAI's first open-weight language model since GPT-2",
        "licensing",
    ),
    ("2025-04-09", "openai", "OpenAI countersues Elon Musk", "legal"),
    (
        "2025-05-05",
        "openai",
        "OpenAI reverses course: the nonprofit keeps control and the for-profit becomes a PBC",
        "governance",
    ),
    (
        "2025-08-05",
        "openai",
        "gpt-oss-120b and gpt-oss-20b are released as open weights under Apache 2.0",
        "licensing",
    ),
    (
        "2025-10-28",
        "openai",
        "Recapitalization done: the OpenAI Foundation now controls OpenAI Group PBC",
        "governance",
    ),
]


def _ids() -> list[str]:
    return [f"{row[0]}-{row[1]}" for row in REFERENCE_ROWS]


@pytest.mark.parametrize(("day", "company", "title", "expected"), REFERENCE_ROWS, ids=_ids())
def test_reference_rows_without_tag(day: str, company: str, title: str, expected: str) -> None:
    category, confidence, ev = categorize(title, company=company)
    assert category == expected, ev
    assert 0.0 < confidence <= 1.0
    assert ev and all(e["rule"] and e["words"] for e in ev)


@pytest.mark.parametrize(("day", "company", "title", "expected"), REFERENCE_ROWS, ids=_ids())
def test_reference_rows_with_tag(day: str, company: str, title: str, expected: str) -> None:
    untagged = categorize(title, company=company)[1]
    category, confidence, ev = categorize(title, tags=("seed", expected), company=company)
    assert category == expected
    assert confidence > untagged
    assert {"rule": "tag-hint", "words": [expected], "weight": 6.0} in ev


def test_reference_table_covers_every_category() -> None:
    assert {row[3] for row in REFERENCE_ROWS} == {c.value for c in Category}


@pytest.mark.parametrize(
    ("tag", "expected"),
    [(label, cat.value) for cat, label in CATEGORY_LABELS.items()] + [("Legal ", "legal")],
)
def test_tag_hint_accepts_values_and_labels(tag: str, expected: str) -> None:
    assert categorize("Something happened", tags=(tag,))[0] == expected


def test_a_tag_that_is_not_a_category_is_ignored() -> None:
    assert categorize("OpenAI countersues Elon Musk", tags=("drama",))[0] == "legal"


@pytest.mark.parametrize(
    ("company", "expected"),
    [
        ("openai", "licensing"),
        ("deepseek", "competition"),
        ("meta", "competition"),
        ("acme-ai", "licensing"),
        (None, "licensing"),
    ],
)
def test_a_rivals_licence_move_is_competition(company: str | None, expected: str) -> None:
    category, _, ev = categorize(
        "Model released as open weights under the MIT licence", company=company
    )
    assert category == expected
    if expected == "competition":
        assert any(e["rule"] == "rival-move:licensing->competition" for e in ev)


def test_summary_and_body_count_less_than_the_title() -> None:
    title_only = categorize("OpenAI countersues Musk")
    in_body = categorize("An update", body="OpenAI countersues Musk")
    assert title_only[0] == in_body[0] == "legal"
    assert in_body[2][0]["weight"] < title_only[2][0]["weight"]


def test_no_evidence_falls_back_with_zero_confidence() -> None:
    assert categorize("Quarterly note") == (
        "product",
        0.0,
        [{"rule": "no-rule-matched", "words": []}],
    )


@pytest.mark.parametrize(
    ("title", "tag", "expected"),
    [
        ("DeepSeek-R1 released as open weights under the MIT licence", "licensing", "licensing"),
        (
            "DeepSeek-R1 released as open weights under the MIT licence",
            "licensing/open-weights",
            "licensing",
        ),
        ("DeepSeek launches a chatbot app", "product", "product"),
    ],
)
def test_a_reporters_tag_overrides_the_rival_reading(title: str, tag: str, expected: str) -> None:
    assert categorize(title, company="deepseek")[0] == "competition"
    category, _, ev = categorize(title, tags=(tag,), company="deepseek")
    assert category == expected
    assert not any(e["rule"].startswith("rival-move") for e in ev)


def test_a_repeated_tag_counts_once() -> None:
    once = categorize("OpenAI countersues Musk", tags=("legal",))
    twice = categorize("OpenAI countersues Musk", tags=("legal", "legal"))
    assert once == twice
