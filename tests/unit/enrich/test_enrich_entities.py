"""entities: organisations, people, models, money (in USD), hardware, agencies and licences."""

from __future__ import annotations

from typing import Any

import pytest

from services.enrich.steps.entities import extract_entities


def _of(kind: str, text: str, actors: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    return [(e["text"], e["value"]) for e in extract_entities(text, actors) if e["kind"] == kind]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a final run of $5.6 million", [("$5.6 million", 5_600_000)]),
        ("a bid of $97.4B", [("$97.4B", 97_400_000_000)]),
        ("pledged $1 billion", [("$1 billion", 1_000_000_000)]),
        ("reported $10bn", [("$10bn", 10_000_000_000)]),
        ("losing US$ 590 billion", [("US$ 590 billion", 590_000_000_000)]),
        ("cost about $5.576M to train", [("about $5.576M", 5_576_000)]),
        ("a $1,250,000 grant", [("$1,250,000", 1_250_000)]),
        ("USD 2.5 million in seed", [("USD 2.5 million", 2_500_000)]),
        ("raised $300k and then $2 trillion", [("$300k", 300_000), ("$2 trillion", 2 * 10**12)]),
        ("1.5B parameters and 100x returns", []),
        ("€5 million", []),
    ],
)
def test_money_is_normalised_to_usd(text: str, expected: list[tuple[str, int]]) -> None:
    assert _of("money", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GPT-2, GPT-3 and GPT-4 then GPT-4o", ["GPT-2", "GPT-3", "GPT-4", "GPT-4o"]),
        ("o1-preview ships before o1 and o3", ["o1-preview", "o1", "o3"]),
        ("ChatGPT uses Whisper and DALL-E; Sora too", ["ChatGPT", "Whisper", "DALL-E", "Sora"]),
        ("gpt-oss-120b and gpt-oss-20b", ["gpt-oss-120b", "gpt-oss-20b"]),
        ("DeepSeek-R1 and R1-Zero", ["DeepSeek-R1", "DeepSeek-R1-Zero"]),
        ("R1 beat V3", ["DeepSeek-R1", "DeepSeek-V3"]),
        ("DeepSeek-V3 (671B MoE)", ["DeepSeek-V3"]),
        ("LLaMA, then Llama 2 and Llama 3", ["LLaMA", "Llama 2", "Llama 3"]),
        ("a whisper of r1 and v3 in a sora", []),
    ],
)
def test_models(text: str, expected: list[str]) -> None:
    assert [value for _, value in _of("model", text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Elon Musk sues OpenAI and Sam Altman", ["Elon Musk", "Sam Altman"]),
        ("the board removed Altman; Murati became interim CEO", ["Sam Altman", "Mira Murati"]),
        ("Yann LeCun and Mark Zuckerberg", ["Yann LeCun", "Mark Zuckerberg"]),
        ("DeepSeek founder Liang Wenfeng", ["Liang Wenfeng"]),
        (
            "Satya Nadella, Greg Brockman and Ilya Sutskever",
            ["Satya Nadella", "Greg Brockman", "Ilya Sutskever"],
        ),
        ("the startup's CEO Jane Doe confirmed", ["Jane Doe"]),
        ("Priya Raman said the model was late", ["Priya Raman"]),
        ("the deal, said Hannah Lee, was done", ["Hannah Lee"]),
        ("it said Monday that New York was next", []),
        ("a scent of musk", []),
    ],
)
def test_people(text: str, expected: list[str]) -> None:
    assert [value for _, value in _of("person", text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NASA bars DeepSeek", ["NASA"]),
        ("The U.S. Navy told members", ["US Navy"]),
        ("Italy's data-protection authority restricts it", ["Garante (Italy)"]),
        ("the Garante acted", ["Garante (Italy)"]),
        ("the FTC and the SEC; the EU Commission", ["FTC", "SEC", "European Commission"]),
        ("in San Francisco Superior Court", ["San Francisco Superior Court"]),
        ("a sec later", []),
    ],
)
def test_agencies(text: str, expected: list[str]) -> None:
    assert [value for _, value in _of("agency", text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("code and weights under the MIT licence", ["MIT"]),
        ("released under MIT", ["MIT"]),
        ("an MIT license", ["MIT"]),
        ("researchers at MIT", []),
        ("open weights under Apache 2.0", ["Apache-2.0"]),
        ("Apache-2.0 and the Apache License 2.0", ["Apache-2.0"]),
        ("under a research-only licence", ["research-only"]),
        ("under a custom licence", ["custom"]),
        ("the Llama 2 Community License", ["Llama Community License"]),
        ("under DeepSeek's own model licence", ["DeepSeek Model License"]),
    ],
)
def test_licences(text: str, expected: list[str]) -> None:
    assert [value for _, value in _of("license", text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.788M H800 GPU-hours", [("2.788M H800 GPU-hours", 2_788_000), ("H800", "H800")]),
        ("H100 and A100 clusters", [("H100", "H100"), ("A100", "A100")]),
        ("billed in GPU-hours", [("GPU-hours", "GPU-hours")]),
    ],
)
def test_hardware(text: str, expected: list[tuple[str, Any]]) -> None:
    assert _of("hardware", text) == expected


def test_organisations_come_from_the_registry_with_slugs() -> None:
    assert _of("organization", "Microsoft invests in OpenAI LP; Nvidia falls") == [
        ("Microsoft", "microsoft"),
        ("OpenAI LP", "openai"),
        ("Nvidia", "nvidia"),
    ]


@pytest.mark.parametrize(
    ("actor", "kind", "value", "rule"),
    [
        ("Sam Altman", "person", "Sam Altman", "actor-hint"),
        ("NASA", "agency", "NASA", "actor-hint"),
        ("OpenAI Group PBC", "organization", "openai", "actor-hint:alias"),
        ("Jane Roe", "person", "Jane Roe", "actor-hint:personish"),
        ("Acme Robotics Ltd", "organization", "acme-robotics", "actor-hint:unknown-organization"),
    ],
)
def test_actors_are_hints(actor: str, kind: str, value: str, rule: str) -> None:
    [ent] = extract_entities("", (actor,))
    assert (ent["kind"], ent["value"], ent["evidence"]) == (kind, value, rule)


def test_entities_have_the_contract_shape_and_are_deduplicated() -> None:
    ents = extract_entities(
        "Sam Altman said Altman would stay; $1B and $1 billion", ("Sam Altman",)
    )
    assert all(set(e) == {"kind", "text", "value", "evidence"} for e in ents)
    assert [(e["kind"], e["value"]) for e in ents] == [
        ("person", "Sam Altman"),
        ("money", 1_000_000_000),
    ]


def test_money_tried_where_a_match_can_start_finds_every_match() -> None:
    import random

    from services.enrich.steps.entities import RULES

    rng = random.Random(3)
    parts = ["$", "US$", "U.S.$", "USD", "usd", "UsD", "5", "1,000", "2.5", " billion", "bn", "M"]
    parts += ["about", "more than", "up to", "~", " ", "   ", "\n", "x", "Ab", ".", ",", "\u017fd"]
    texts = ["more than   $5 billion and about $3M", "up to ~ $1bn, approximately    USD 4 million"]
    texts += ["".join(rng.choice(parts) for _ in range(rng.randint(0, 14))) for _ in range(20000)]
    money = RULES.index("money-usd")
    plain = RULES.plain(money)
    for text in texts:
        got = [m.span() for m in RULES.finditer(money, text)]
        assert got == [m.span() for m in plain.finditer(text)], repr(text)
