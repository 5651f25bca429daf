"""articles: dated strategy events out of a news text, dates kept at the precision written."""

from __future__ import annotations

from datetime import date

import pytest

from services.enrich.articles import extract_events, split_sentences
from shared.dates import Precision

# Thursday 7 August 2025.
PUBLISHED = date(2025, 8, 7)


@pytest.mark.parametrize(
    ("sentence", "occurred", "precision", "rule"),
    [
        (
            "OpenAI created OpenAI LP on March 11, 2019.",
            "2019-03-11",
            Precision.DAY,
            "month-day-year",
        ),
        (
            "OpenAI created OpenAI LP on 11 March 2019.",
            "2019-03-11",
            Precision.DAY,
            "day-month-year",
        ),
        ("OpenAI created OpenAI LP (2019-03-11).", "2019-03-11", Precision.DAY, "iso-day"),
        ("Microsoft invested $1B on Jul. 22, 2019.", "2019-07-22", Precision.DAY, "month-day-year"),
        ("OpenAI created OpenAI LP in March 2019.", "2019-03", Precision.MONTH, "month-year"),
        ("OpenAI restructured in 2019.", "2019", Precision.YEAR, "in-year"),
        ("DeepSeek released R1 on January 20.", "2025-01-20", Precision.DAY, "month-day"),
        ("DeepSeek released V3 on December 26.", "2024-12-26", Precision.DAY, "month-day"),
        ("OpenAI released gpt-oss on Tuesday.", "2025-08-05", Precision.DAY, "weekday"),
        ("OpenAI released gpt-oss on Thursday.", "2025-08-07", Precision.DAY, "weekday"),
        ("OpenAI released gpt-oss last Thursday.", "2025-07-31", Precision.DAY, "last-weekday"),
        ("OpenAI released gpt-oss yesterday.", "2025-08-06", Precision.DAY, "yesterday"),
        ("OpenAI released gpt-oss today.", "2025-08-07", Precision.DAY, "today"),
        ("OpenAI released gpt-oss last week.", "2025-07-28/2025-08-03", Precision.DAY, "last-week"),
        (
            "OpenAI released gpt-oss earlier this week.",
            "2025-08-04/2025-08-07",
            Precision.DAY,
            "this-week",
        ),
        ("NASA banned DeepSeek last month.", "2025-07", Precision.MONTH, "last-month"),
        ("NASA banned DeepSeek in January.", "2025-01", Precision.MONTH, "in-month"),
        ("NASA banned DeepSeek in September.", "2024-09", Precision.MONTH, "in-month"),
        ("Meta released Llama 2 last year.", "2024", Precision.YEAR, "last-year"),
        ("OpenAI recently released a new model.", "2025-08~", Precision.MONTH, "publication-month"),
        ("OpenAI released a new model.", "2025-08~", Precision.MONTH, "publication-month"),
    ],
)
def test_dates(sentence: str, occurred: str, precision: Precision, rule: str) -> None:
    [event] = extract_events(sentence, PUBLISHED)
    assert event.occurred.text == occurred
    assert event.occurred.precision is precision
    assert event.evidence["occurred"][0]["rule"] == f"date:{rule}"


def test_undated_events_are_approximate_and_less_confident() -> None:
    dated, undated = extract_events(
        "OpenAI released gpt-oss on Tuesday. DeepSeek recently released a model.", PUBLISHED
    )
    assert undated.occurred.approximate and not dated.occurred.approximate
    assert undated.confidence < dated.confidence


@pytest.mark.parametrize(
    ("sentence", "company"),
    [
        ("Microsoft invested $1B in OpenAI in July 2019.", "Microsoft"),
        ("The U.S. Navy told its members not to use DeepSeek on Friday.", "DeepSeek"),
        ("Italy's data-protection authority restricted DeepSeek.", "DeepSeek"),
        ("Elon Musk sued OpenAI in February 2024.", "OpenAI"),
        ("OpenAI LP was created as a capped-profit company in March 2019.", "OpenAI LP"),
        ("Meta Platforms released LLaMA.", "Meta Platforms"),
    ],
)
def test_the_company_is_reported_as_written(sentence: str, company: str) -> None:
    [event] = extract_events(sentence, PUBLISHED)
    assert event.company == company


@pytest.mark.parametrize(
    "sentence",
    [
        "The weather was nice on Tuesday.",  # no company, no strategy verb
        "OpenAI is a research company in San Francisco.",  # a company, but no strategy verb
        "A startup released a model on Tuesday.",  # a strategy verb, but no known company
    ],
)
def test_sentences_without_a_strategy_event_yield_nothing(sentence: str) -> None:
    assert extract_events(sentence, PUBLISHED) == []


ARTICLE = """<p>SAN FRANCISCO — OpenAI on Tuesday released gpt-oss-120b and gpt-oss-20b, its
first open-weight models since GPT-2, under the Apache 2.0 licence. The models run on a single
GPU.</p>
<p>The move follows DeepSeek, which released R1 under the MIT licence on January 20. The U.S.
Navy told its members not to use DeepSeek in January, according to an email seen by reporters.</p>
<p>Analysts expect more labs to follow.</p>
<p>OpenAI on Tuesday released gpt-oss-120b and gpt-oss-20b, its first open-weight models since
GPT-2, under the Apache 2.0 licence.</p>
"""


def test_an_article_yields_its_dated_events_once_each() -> None:
    events = extract_events(
        ARTICLE, PUBLISHED, "https://News.example.com/ai?utm_source=feed#top", "Example News"
    )
    assert [(e.company, e.occurred.text) for e in events] == [
        ("OpenAI", "2025-08-05"),
        ("DeepSeek", "2025-01-20"),
        ("DeepSeek", "2025-01"),
    ]
    first = events[0]
    assert first.title == (
        "OpenAI on Tuesday released gpt-oss-120b and gpt-oss-20b, its first open-weight models "
        "since GPT-2, under the Apache 2.0 licence"
    )
    assert first.sentences[1] == "The models run on a single GPU."
    assert first.source == {
        "url": "https://news.example.com/ai",
        "publisher": "Example News",
        "published_at": "2025-08-07",
    }
    assert all(0.0 < e.confidence <= 1.0 for e in events)
    assert events[2].title.startswith("The U.S. Navy told its members not to use DeepSeek")


def test_a_repeated_paragraph_yields_one_event() -> None:
    paragraph = "Meta released Llama 2 for commercial use on July 18, 2023."
    text = f"{paragraph}\n\n{paragraph}\n\nMETA PARK — {paragraph}"
    assert len(extract_events(text, PUBLISHED)) == 1


@pytest.mark.parametrize(
    ("sentence", "title"),
    [
        (
            "On Friday, NASA barred DeepSeek from agency devices.",
            "NASA barred DeepSeek from agency devices",
        ),
        ("In March 2019, OpenAI created OpenAI LP.", "OpenAI created OpenAI LP"),
        ("Meanwhile, Meta released LLaMA.", "Meta released LLaMA"),
        ("OpenAI released " + "a very long model name " * 20 + ".", None),
    ],
)
def test_titles_are_the_trimmed_sentence(sentence: str, title: str | None) -> None:
    [event] = extract_events(sentence, PUBLISHED)
    if title is None:
        assert len(event.title) <= 203 and event.title.endswith("...")
    else:
        assert event.title == title


def test_hedged_reports_are_less_confident() -> None:
    plain, hedged = extract_events(
        "OpenAI raised $6.6B in October 2024. Anthropic reportedly raised $2B in October 2024.",
        PUBLISHED,
    )
    assert hedged.confidence < plain.confidence
    assert hedged.evidence["confidence"][0]["words"] == ["reportedly"]


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("The U.S. Navy banned DeepSeek. NASA banned DeepSeek too.", 2),
        ("Musk sued OpenAI in the N.D. Cal. court in August. OpenAI countersued Musk.", 2),
        ("Dr. Smith said OpenAI Inc. released GPT-4.", 1),
    ],
)
def test_sentence_splitting_respects_abbreviations(text: str, count: int) -> None:
    assert len(split_sentences(text)) == count
