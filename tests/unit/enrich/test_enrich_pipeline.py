"""pipeline: enrich() composes the steps; every label comes with its evidence."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from services.enrich.pipeline import Enriched, Report, enrich
from shared.dates import parse_occurred

RECAP = Report(
    company="OpenAI Group PBC",
    occurred=parse_occurred("2025-10-28"),
    title="OpenAI <b>completes</b> its recapitalization",
    summary="The OpenAI Foundation now controls OpenAI Group PBC; Microsoft holds about 27%.",
    sources=(
        {
            "url": "https://www.nasdaq.com/a?utm_source=x",
            "publisher": "Nasdaq",
            "published_at": None,
        },
        {"url": "https://WWW.nasdaq.com/a#top", "publisher": None, "published_at": None},
        {"url": "https://www.cnbc.com/b", "publisher": "CNBC", "published_at": None},
    ),
    tags=("governance",),
    actors=("Sam Altman",),
)


def test_enrich_resolves_labels_and_explains_them() -> None:
    out = enrich(RECAP)
    assert (out.company, out.company_name) == ("openai", "OpenAI")
    assert out.companies == ("microsoft",)
    assert out.title == "OpenAI completes its recapitalization"
    assert [s["url"] for s in out.sources] == ["https://www.nasdaq.com/a", "https://www.cnbc.com/b"]
    assert out.category == "governance" and 0.5 < out.category_confidence <= 1.0
    assert out.phase == out.transition_to == "public-benefit-corporation"
    assert out.stance == 0.0
    assert 0 <= out.importance <= 100
    assert {
        "kind": "person",
        "text": "Sam Altman",
        "value": "Sam Altman",
        "evidence": "actor-hint",
    } in out.entities
    for label in ("company", "category", "phase", "transition", "importance", "entities"):
        assert out.evidence[label], label
        assert all("rule" in e and isinstance(e["words"], list) for e in out.evidence[label])
    assert out.evidence["sources"][0]["rule"] == "duplicate-source-url"
    points = {e["rule"]: e["points"] for e in out.evidence["importance"]}
    assert points["phase-transition"] == 20 and points["independent-sources"] == 4


def test_enrich_is_deterministic_and_json_serialisable() -> None:
    first, second = enrich(RECAP), enrich(RECAP)
    assert first == second
    data = first.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {f.name for f in dataclasses.fields(Enriched)}
    assert -(2**63) <= data["fingerprint"] < 2**63


@pytest.mark.parametrize(
    ("company", "occurred", "title", "expected"),
    [
        (
            "OpenAI LP",
            "2019-03-11",
            "OpenAI creates OpenAI LP as a capped-profit company",
            ("openai", "governance", "capped-profit", "capped-profit"),
        ),
        (
            "openai",
            "2024-12-27",
            "OpenAI announces a plan to turn its for-profit arm into a public benefit corporation",
            ("openai", "governance", "capped-profit", None),
        ),
        (
            "Hangzhou DeepSeek",
            "2025-01-20",
            "DeepSeek releases DeepSeek-R1 as open weights under the MIT licence",
            ("deepseek", "competition", None, None),
        ),
        (
            "Acme AI, Inc.",
            "2025-03",
            "Acme AI raises $20 million in a seed round",
            ("acme-ai", "funding", None, None),
        ),
    ],
)
def test_enrich_table(
    company: str, occurred: str, title: str, expected: tuple[str, str, str | None, str | None]
) -> None:
    out = enrich(Report(company=company, occurred=parse_occurred(occurred), title=title))
    assert (out.company, out.category, out.phase, out.transition_to) == expected


def test_open_weights_release_scores_open_and_mentions_its_entities() -> None:
    out = enrich(
        Report(
            company="openai",
            occurred=parse_occurred("2025-08-05"),
            title="OpenAI releases gpt-oss-120b and gpt-oss-20b as open weights under Apache 2.0",
        )
    )
    assert out.category == "licensing"
    assert out.stance > 0.5
    values = {(e["kind"], e["value"]) for e in out.entities}
    assert {
        ("model", "gpt-oss-120b"),
        ("model", "gpt-oss-20b"),
        ("license", "Apache-2.0"),
    } <= values


def test_enrich_is_fast() -> None:
    report = Report(
        company="deepseek",
        occurred=parse_occurred("2024-12-26"),
        title="DeepSeek releases DeepSeek-V3 (671B MoE) as open weights",
        summary="The final training run took 2.788M H800 GPU-hours, about $5.576M in rental cost. "
        * 3,
        sources=(
            {
                "url": "https://www.interconnects.ai/p/x",
                "publisher": "Interconnects",
                "published_at": None,
            },
        ),
    )
    enrich(report)
    started = time.perf_counter()
    for _ in range(100):
        enrich(report)
    per_event = (time.perf_counter() - started) / 100
    assert per_event < 0.01  # about a millisecond on a 2-core machine; generous for CI noise


def test_evidence_built_in_place_is_what_evidence_builds() -> None:
    """Steps build some evidence items as dict literals (faster); each must be exactly the item
    `evidence(rule, words, **extra)` makes: same keys in the same order, words deduplicated."""
    from pivotwatch.seed import seed_events
    from services.enrich.decode import to_report
    from services.enrich.steps import evidence

    checked = 0
    for ev in seed_events():
        out = enrich(to_report(ev["data"]))
        for items in out.evidence.values():
            for item in items:
                if item["rule"] == "simhash64" or "hamming" in item:
                    continue
                extra = {k: v for k, v in item.items() if k not in ("rule", "words")}
                rebuilt = evidence(item["rule"], item["words"], **extra)
                assert list(rebuilt.items()) == list(item.items()), item
                checked += 1
    assert checked > 100
