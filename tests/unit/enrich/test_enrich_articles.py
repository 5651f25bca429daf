"""articles: dated strategy events out of a news text, dates kept at the precision written.

Every sentence here was written for these tests (none is copied from tests/data/articles).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from bench import eval_articles
from services.enrich.articles import extract_events, split_sentences
from services.enrich.decode import article_reports, to_report
from services.enrich.headlines import MAX_HEADLINE
from services.enrich.pipeline import enrich
from services.enrich.steps.companies import resolve_company
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
        ("Musk sued OpenAI again last August.", "2024-08", Precision.MONTH, "last-month-name"),
        ("Musk sued OpenAI again last July.", "2025-07", Precision.MONTH, "last-month-name"),
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
        # An investment is on the investee's timeline (as data/seed places them).
        ("Microsoft invested $1B in OpenAI in July 2019.", "OpenAI"),
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
        # A company's unnamed staff, and a standing claim with no date, are no statements.
        "Meta's researchers said the 13 billion parameter version outperforms GPT-3.",
        "OpenAI says the for-profit arm was necessary to pay for computing.",
        # The debut of a product of a company no timeline follows.
        "OpenAI's rivals compared it with the debut of Apple's iPhone in 2007.",
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
    # A headline (subject, verb, object), not the sentence: no date, no inserted description.
    assert (
        first.title == "OpenAI releases gpt-oss-120b and gpt-oss-20b under the Apache 2.0 licence"
    )
    assert first.sentences[1] == "The models run on a single GPU."
    assert first.source == {
        "url": "https://news.example.com/ai",
        "publisher": "Example News",
        "published_at": "2025-08-07",
    }
    assert all(0.0 < e.confidence <= 1.0 for e in events)
    assert events[2].title == "US Navy tells its members not to use DeepSeek"


def test_a_repeated_paragraph_yields_one_event() -> None:
    paragraph = "Meta released Llama 2 for commercial use on July 18, 2023."
    text = f"{paragraph}\n\n{paragraph}\n\nMETA PARK — {paragraph}"
    assert len(extract_events(text, PUBLISHED)) == 1


@pytest.mark.parametrize(
    ("sentence", "title"),
    [
        (
            "On Friday, NASA barred DeepSeek from agency devices.",
            "NASA bars DeepSeek from agency devices",
        ),
        ("In March 2019, OpenAI created OpenAI LP.", "OpenAI creates OpenAI LP"),
        ("Meanwhile, Meta released LLaMA.", "Meta releases LLaMA"),
        (
            "Google on Wednesday unveiled Gemini 2.0, its most capable model yet, to developers.",
            "Google unveils Gemini 2.0 to developers",
        ),
        (
            "OpenAI chief executive Sam Altman admitted on Friday that the company had been on "
            "the wrong side of history on open source.",
            "Sam Altman says OpenAI had been on the wrong side of history on open source",
        ),
        (
            "Mistral AI raised $640 million in a round led by General Catalyst in June 2024.",
            "Mistral AI raises $640M in a round led by General Catalyst",
        ),
        (
            "The board named Jane Doe, the company's finance chief, as interim CEO at OpenAI.",
            "OpenAI's board names Jane Doe as interim CEO at OpenAI",
        ),
        (
            "Musk and Altman co-founded OpenAI as a research lab in 2015.",
            "Elon Musk and Sam Altman co-found OpenAI as a research lab",
        ),
        (
            '"We will not sell," OpenAI\'s board said in a statement on Friday.',
            "OpenAI's board says we will not sell",
        ),
        ("Nvidia shares fell 9% on Monday.", "Nvidia shares fall 9%"),
        ("DeepSeek was founded in 2023 in Hangzhou.", "DeepSeek is founded in Hangzhou"),
    ],
)
def test_titles_are_headlines_built_from_the_clause(sentence: str, title: str) -> None:
    [event] = extract_events(sentence, PUBLISHED)
    assert event.title == title
    assert event.evidence["title"][0]["rule"] == "headline:subject-verb-object"


def test_a_long_headline_is_cut_on_a_word_and_never_ends_on_a_function_word() -> None:
    [event] = extract_events(
        "OpenAI released " + "a very long model name of " * 20 + ".", PUBLISHED
    )
    assert len(event.title) <= MAX_HEADLINE
    assert event.title.split()[-1] not in ("of", "a", "the")


def test_a_headline_is_never_a_sentence_fragment() -> None:
    # The happening is the clause's; the sentence's opening words are not its subject.
    [event] = extract_events(
        "The reason for the sell-off appears to be the success of DeepSeek, which released R1 "
        "on January 20 under the MIT licence.",
        date(2025, 2, 1),
    )
    assert event.title == "DeepSeek releases R1 under the MIT licence"
    assert event.clause == "DeepSeek, which released R1 on January 20 under the MIT licence"


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


# --- Statements and accusations --------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "company", "verb"),
    [
        (
            "Sundar Pichai said on Tuesday that Google would open its Gemma weights.",
            "google",
            "says",
        ),
        (
            "Satya Nadella admitted on Monday that Microsoft had moved too slowly.",
            "microsoft",
            "says",
        ),
        (
            "Yann LeCun acknowledged on Monday that Meta's models trailed its rivals'.",
            "meta",
            "says",
        ),
        (
            "Dario Amodei conceded on Monday that Anthropic would need more capital.",
            "anthropic",
            "says",
        ),
        (
            "Google argued in a court filing on Monday that its search deals were legal.",
            "google",
            "argues",
        ),
        ("Meta accused OpenAI of hoarding research on Monday.", "meta", "accuses"),
        ("Mistral AI criticised the EU's rules on Monday.", "mistral", "criticises"),
        ("Mistral AI criticized the EU's rules on Monday.", "mistral", "criticises"),
        ("Meta called for open standards in AI on Monday.", "meta", "calls for"),
        ("Nvidia warned on Monday that export limits would hurt its sales.", "nvidia", "warns"),
    ],
)
def test_statements_by_a_named_person_or_company_are_events(
    sentence: str, company: str, verb: str
) -> None:
    [event] = extract_events(sentence, PUBLISHED)
    assert event.kind == "statement"
    assert resolve_company(event.company)[0] == company
    assert f" {verb} " in f" {event.title} "
    assert event.occurred.text == "2025-08-04" or event.occurred.precision is Precision.DAY


@pytest.mark.parametrize(
    "sentence",
    [
        "Analysts argued that OpenAI would need more compute.",  # nobody named
        "Critics have accused OpenAI of abandoning its mission.",  # a standing position
        "Musk has long argued that OpenAI betrayed its founding mission.",
        "OpenAI could release an open model this summer, people familiar with the plans said.",
        "The California attorney general's office said the matter remained under review.",
        "If Meta releases the weights, rivals will follow.",  # a condition
        "Meta is expected to release Llama 5 later this year.",  # a prediction
        "OpenAI is being sued by a group of authors.",  # ongoing, not a happening
        "DeepSeek did not release the training data.",  # a negation
        "Such releases have become common across the industry.",
        "The ouster raises questions about how the board works.",  # a noun, no date or agent
    ],
)
def test_what_reports_no_happening_yields_nothing(sentence: str) -> None:
    assert extract_events(sentence, PUBLISHED) == []


def test_a_statement_told_on_with_and_is_one_event() -> None:
    events = extract_events(
        "Sam Altman admitted on Friday that OpenAI had erred and said it needed a new strategy.",
        PUBLISHED,
    )
    assert [e.kind for e in events] == ["statement"]


# --- Actions told as nouns -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "title", "occurred"),
    [
        (
            "DeepSeek's rise led to restrictions from several U.S. agencies, including NASA.",
            "NASA restricts DeepSeek",
            "2025-08~",
        ),
        (
            "DeepSeek's app vanished from stores after a ban by Italy's privacy regulator.",
            "Italy's privacy regulator bans DeepSeek",
            "2025-08~",
        ),
        (
            "OpenAI's $6.6 billion round in October was led by Thrive Capital.",
            "OpenAI raises a $6.6B round",
            "2024-10",
        ),
        (
            "OpenAI's countersuit, filed in April, accuses Musk of harassment.",
            "OpenAI files a countersuit",
            "2025-04",
        ),
        (
            "Altman became famous after the release of ChatGPT a year ago.",
            "OpenAI releases ChatGPT",
            "2024-08~",
        ),
    ],
)
def test_actions_told_as_nouns_are_recognised(sentence: str, title: str, occurred: str) -> None:
    [event] = extract_events(sentence, PUBLISHED)
    assert event.title == title
    assert event.occurred.text == occurred
    assert event.evidence["event"][0]["rule"].startswith("noun:")


# --- Clauses -----------------------------------------------------------------------------------


def test_each_clause_reports_its_own_happening_with_its_own_date() -> None:
    events = extract_events(
        "Musk dropped the suit in June 2024 and refiled in federal court that August, adding "
        "fraud claims, and last month OpenAI countersued him.",
        PUBLISHED,
    )
    assert [(e.title, e.occurred.text) for e in events] == [
        ("Elon Musk drops the suit", "2024-06"),
        ("Elon Musk refiles in federal court", "2024-08"),
        ("OpenAI countersues Elon Musk", "2025-07"),
    ]
    assert all(resolve_company(e.company)[0] == "openai" for e in events)
    # Each is reported in its own words, so each is its own report (storage keys on them).
    assert len({e.sentences for e in events}) == 3


def test_a_relative_clause_reports_the_happening_of_the_noun_it_hangs_on() -> None:
    [event] = extract_events(
        "The move sets Meta apart from Google, which in March released Gemma without its "
        "training data.",
        PUBLISHED,
    )
    assert event.title == "Google releases Gemma without its training data"
    assert event.occurred.text == "2025-03"
    assert event.clause.startswith("Google, which in March released Gemma")


def test_a_when_clause_of_the_same_happening_is_folded_into_it() -> None:
    [event] = extract_events(
        "OpenAI last released full weights in November 2019, when it published GPT-2.", PUBLISHED
    )
    assert event.occurred.text == "2019-11"
    assert any(e["rule"] == "folded:when" for e in event.evidence["event"])


# --- Dates tied to the text before -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "occurred"),
    [
        ("OpenAI restructured in March 2019. That month, Microsoft invested $1B.", "2019-03"),
        ("OpenAI restructured in 2019. Microsoft invested $1B that July.", "2019-07"),
        ("NASA barred DeepSeek on Friday. The same day, the US Navy banned it.", "2025-08-01"),
        ("Meta released Llama 2 on July 18, 2023. A day later, Microsoft backed it.", None),
        (
            "Google unveiled Gemini on Monday. Days later, Google launched Bard.",
            "2025-08-05/2025-08-18",
        ),
        # Never more precise than the text: "the same day" after a month stays a month.
        ("DeepSeek released V3 in December. The same day, Nvidia shares fell 5%.", "2024-12"),
    ],
)
def test_a_sentence_takes_the_date_its_neighbour_gives_when_the_text_ties_them(
    text: str, occurred: str | None
) -> None:
    events = extract_events(text, PUBLISHED)
    if occurred is None:
        assert len(events) == 1  # "backed" is no strategy verb: nothing to date
        return
    assert events[-1].occurred.text == occurred
    assert events[-1].evidence["occurred"][0]["rule"].startswith("date:tie-")


def test_the_news_of_the_day_dates_the_undated_sentences_that_follow_it() -> None:
    first, second, third = extract_events(
        "OpenAI's board removed its chief executive on Tuesday. The board named its finance "
        "chief, Jane Doe, as interim CEO. DeepSeek recently released a model.",
        PUBLISHED,
    )
    assert first.occurred.text == second.occurred.text == "2025-08-05"
    assert second.evidence["occurred"][0]["rule"] == "date:narrative"
    # Another company's, "recently": the publication month, approximate.
    assert third.occurred.text == "2025-08~"


# --- Money and hardware, placement -------------------------------------------------------------


def _enriched(text: str) -> list[Any]:
    ce = {
        "id": "https://news.example/a",
        "source": "urn:test",
        "data": {"url": "https://news.example/a", "published_date": "2025-01-29", "text": text},
    }
    return [enrich(to_report(inc.data)) for inc in article_reports(ce, datetime.now(UTC), None)]


def test_money_and_hardware_are_carried_as_entities_of_the_event() -> None:
    [event] = _enriched(
        "DeepSeek said on Monday that it trained V3 on 2,048 H800 GPUs for about $5.6 million."
    )
    values = {(e["kind"], e["value"]) for e in event.entities}
    assert ("money", 5_600_000) in values
    assert ("hardware", "H800") in values
    [round_] = _enriched("OpenAI raised $6.6 billion at a $157 billion valuation in October.")
    assert {("money", 6_600_000_000), ("money", 157_000_000_000)} <= {
        (e["kind"], e["value"]) for e in round_.entities
    }


@pytest.mark.parametrize(
    ("text", "company", "rule"),
    [
        ("Microsoft invested $1 billion in OpenAI in July 2019.", "openai", "placement:investee"),
        ("NASA barred DeepSeek from its devices on Friday.", "deepseek", "placement:about"),
        ("Satya Nadella said on Friday that the deal was done.", "microsoft", "placement:person"),
        # A share move told in an article about another company's actions is a reaction to them.
        (
            "DeepSeek released R1 on January 20. Nvidia shares fell 17% on Monday. DeepSeek "
            "limited sign-ups on Monday.",
            "deepseek",
            "placement:reaction",
        ),
    ],
)
def test_each_event_goes_on_the_timeline_it_belongs_to(text: str, company: str, rule: str) -> None:
    events = extract_events(text, date(2025, 1, 28))
    event = events[1] if len(events) == 3 else events[0]
    assert resolve_company(event.company)[0] == company
    assert rule in [e["rule"] for e in event.evidence["event"]]


def test_every_event_has_the_evidence_of_the_rules_that_fired() -> None:
    events = extract_events(ARTICLE, PUBLISHED)
    for event in events:
        rules = [e["rule"] for e in event.evidence["event"]]
        assert rules[0].startswith(("verb:", "noun:", "ing:"))
        assert any(r.startswith("subject:") for r in rules)
        assert any(r.startswith("placement:") for r in rules)
        assert event.evidence["occurred"][0]["rule"].startswith("date:")
        assert event.clause and event.clause in event.sentences[0] + " ".join(event.sentences)


def test_extraction_is_deterministic() -> None:
    assert extract_events(ARTICLE, PUBLISHED) == extract_events(ARTICLE, PUBLISHED)


# --- The article set's development half ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "occurred"),
    [
        (
            "OpenAI created OpenAI LP in March 2019. Four months later Microsoft invested"
            " $1 billion.",
            "2019-07",
        ),
        (
            "Microsoft invested in OpenAI in July 2019. OpenAI had created OpenAI LP, a"
            " capped-profit company, in March of that year.",
            "2019-03",
        ),
    ],
)
def test_dates_tied_to_the_one_before(text: str, occurred: str) -> None:
    assert extract_events(text, PUBLISHED)[-1].occurred.text == occurred


def test_an_action_noun_with_its_agent_in_a_relative_clause() -> None:
    [event] = extract_events(
        "The order echoes the temporary restrictions that the Garante placed on OpenAI's ChatGPT"
        " in March 2023.",
        PUBLISHED,
    )
    assert (event.company, event.kind, event.occurred.text) == ("OpenAI", "restriction", "2023-03")


def test_an_outsiders_quoted_words_go_on_the_company_they_name() -> None:
    [event] = extract_events(
        '"It\'s time for OpenAI to return to the open-source force it once was," Elon Musk said'
        " on Monday.",
        PUBLISHED,
    )
    assert (event.company, event.kind) == ("OpenAI", "statement")


def test_the_development_half_of_the_article_set_keeps_its_figures() -> None:
    # What the extractor reached on tests/data/articles (dev only; the held-back half is never
    # looked at here). Joins also depend on `coref.decide`, which is tuned elsewhere: their floor
    # is a little under what was reached, so coreference work does not trip this guard.
    results, _ = eval_articles.evaluate(splits=("dev",))
    dev = results["dev"]
    # 13 articles: the first six (tuned on from the start) and seven added later, measured on
    # before any tuning to them (README).
    assert dev["recall"] >= 0.91
    assert dev["precision"] >= 0.99
    assert dev["date_accuracy"] >= 0.96
    assert dev["entity_recall"] >= 0.92
    assert dev["headline_form"] >= 0.95
    assert dev["headline_agrees"] >= 0.8
    assert dev["join_recall"] >= 0.7
    assert dev["join_precision"] >= 0.9


# --- News English: perfects, anaphors, attributions, passives --------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A perfect with a date of its own is a happening; without one, a position or a total.
        (
            "OpenAI had reached an agreement with Microsoft on Nov. 21.",
            [("OpenAI reaches an agreement with Microsoft", "2024-11-21")],
        ),
        ("Musk has opposed the plan. OpenAI has raised more than $20 billion.", []),
        ("Meta has released several Llama models since 2023.", []),
        # An article's first sentence tells its news in the perfect.
        (
            "NASA has barred its staff from using DeepSeek.",
            [("NASA bars its staff from using DeepSeek", "2025-08~")],
        ),
        # "the agency" is the agency named before.
        (
            "NASA issued a memo on Friday. The agency told staff not to use DeepSeek.",
            [
                ("NASA issues a memo", "2025-08-01"),
                ("NASA tells staff not to use DeepSeek", "2025-08-01"),  # the news of the day
            ],
        ),
        # What a speaker says they did is told as the action.
        (
            "Meta said on Monday that it had completed its acquisition of a chip startup.",
            [("Meta completes its acquisition of a chip startup", "2025-08-04")],
        ),
        # "..., the company said" after a detail is the detail's source, not a statement.
        (
            "Meta released Llama 4 on Monday. The model runs on one GPU, the company said.",
            [("Meta releases Llama 4", "2025-08-04")],
        ),
        # A clause resumed after an inserted one has the main clause's date, not the insert's.
        (
            "Microsoft, which has backed OpenAI since 2019, said on Monday that it had signed a "
            "new agreement.",
            [("Microsoft signs a new agreement", "2025-08-04")],
        ),
        # The object of a preposition is not the subject ("a lawyer for Musk said").
        ("A lawyer for Musk said on Monday that the suit was strong.", []),
        # "including X" stands for a subject that names nobody.
        (
            "Dozens of researchers, including Yann LeCun, signed an open letter on Monday.",
            [("Yann LeCun signs an open letter", "2025-08-04")],
        ),
        # An undated relative clause describes; it reports no news.
        ("Meta, which released Llama with open weights, is hiring.", []),
        # A passive carries over to the verb joined to it.
        (
            "Sam Altman was removed as CEO on Nov. 17 and reinstated days later.",
            [
                ("Sam Altman is removed as CEO", "2024-11-17"),
                ("Sam Altman is reinstated", "2024-11-18/2024-12-01"),
            ],
        ),
        # A participle after a described name is a passive of its own.
        (
            "DeepSeek, a startup founded in 2023 by Liang Wenfeng, released R1 on Jan. 20.",
            [
                ("DeepSeek is founded by Liang Wenfeng", "2023"),
                ("DeepSeek releases R1", "2025-01-20"),
            ],
        ),
    ],
)
def test_news_english(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(e.title, e.occurred.text) for e in extract_events(text, PUBLISHED)] == expected
