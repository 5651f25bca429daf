"""companies: resolving reporters' names to registry slugs, and spotting companies in text."""

from __future__ import annotations

import pytest

from services.enrich.steps.companies import (
    COMPANIES,
    mentioned_companies,
    resolve_company,
    rival_of,
    slugify,
)


@pytest.mark.parametrize(
    ("raw", "slug", "name", "rule"),
    [
        ("openai", "openai", "OpenAI", "slug"),
        ("OpenAI", "openai", "OpenAI", "alias"),
        ("OpenAI LP", "openai", "OpenAI", "alias"),
        ("OpenAI Group PBC", "openai", "OpenAI", "alias"),
        ("OpenAI Foundation", "openai", "OpenAI", "alias"),
        ("OpenAI Global, LLC", "openai", "OpenAI", "alias"),
        ("  OpenAI,   Inc. ", "openai", "OpenAI", "alias"),
        ("Hangzhou DeepSeek", "deepseek", "DeepSeek", "alias"),
        ("DeepSeek AI Co., Ltd.", "deepseek", "DeepSeek", "alias-without-legal-suffix"),
        ("Facebook", "meta", "Meta", "alias"),
        ("Meta Platforms, Inc.", "meta", "Meta", "alias-without-legal-suffix"),
        ("Meta Platforms Ireland", "meta", "Meta", "alias-prefix"),
        ("Google DeepMind", "google", "Google", "alias"),
        ("Alphabet", "google", "Google", "alias"),
        ("XAI", "xai", "xAI", "alias"),
        ("Mistral AI", "mistral", "Mistral AI", "alias"),
        ("NVIDIA Corporation", "nvidia", "Nvidia", "alias"),
        ("Acme AI, Inc.", "acme-ai", "Acme AI, Inc.", "unknown-company-slugified"),
        ("Zhipu  AI", "zhipu-ai", "Zhipu AI", "unknown-company-slugified"),
    ],
)
def test_resolve_company(raw: str, slug: str, name: str, rule: str) -> None:
    got_slug, got_name, ev = resolve_company(raw)
    assert (got_slug, got_name, ev["rule"]) == (slug, name, rule)
    assert ev["words"]


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Acme AI, Inc.", "acme-ai"), ("Société Générale SA", "societe-generale"), ("!!!", "unknown")],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


@pytest.mark.parametrize(
    ("text", "slugs"),
    [
        ("Microsoft invests $1B in OpenAI", ["microsoft", "openai"]),
        ("DeepSeek-R1 rattles Nvidia", ["deepseek", "nvidia"]),
        ("OpenAI's board and OpenAI LP", ["openai"]),
        ("a meta-analysis of mistral winds", []),
        ("Meta AI and Google DeepMind", ["meta", "google"]),
        ("nothing here", []),
    ],
)
def test_mentioned_companies(text: str, slugs: list[str]) -> None:
    assert [slug for slug, _ in mentioned_companies(text)] == slugs


def test_mentions_carry_the_words_that_named_them() -> None:
    [(slug, ev)] = mentioned_companies("OpenAI LP, later OpenAI Group PBC")
    assert slug == "openai"
    assert ev == {"rule": "alias-mention", "words": ["OpenAI LP", "OpenAI Group PBC"]}


def test_registry_has_openai_phases_in_order() -> None:
    phases = COMPANIES["openai"].phases
    assert [p.slug for p in phases] == ["nonprofit", "capped-profit", "public-benefit-corporation"]
    assert [p.start.isoformat() for p in phases] == ["2015-12-11", "2019-03-11", "2025-10-28"]


@pytest.mark.parametrize(
    ("slug", "focus"), [("deepseek", "openai"), ("meta", "openai"), ("microsoft", None)]
)
def test_rival_of(slug: str, focus: str | None) -> None:
    assert rival_of(slug) == focus
