"""What every benchmark scenario shares: the report, the load generator process, event bodies."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.stack import cpu_seconds


@functools.cache
def http() -> httpx.Client:
    """One HTTP client for the benchmarks' own calls (subscriptions, stats, metrics): building an
    httpx client loads a TLS context, ~50 ms of CPU on these machines, and one per call took the
    CPU the measured services were using (400 subscription calls: 25 s -> 3.5 s)."""
    return httpx.Client(timeout=30)


def event_body(prefix: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{prefix}-{{n}}",
            "source": "/bench",
            "type": "dev.pivotwatch.strategy.reported",
            "time": "2025-08-05T12:00:00Z",
            "data": {
                # Distinct companies and days: a realistic stream has few near-duplicates, and
                # the same story told thousands of times would measure the merge path instead.
                "company": f"Bench {prefix} {{n}}",
                "occurred": "{d}",
                "title": "{n} released open weights for its model under Apache 2.0",
                "summary": "The lab released an open-weight model under the Apache 2.0 licence.",
                "sources": [{"url": "https://example.org/bench/{n}", "publisher": "Bench"}],
            },
        }
    )


def loadgen(
    url: str,
    seconds: float,
    connections: int,
    body: bytes | None = None,
    headers: list[str] | None = None,
    method: str = "GET",
    rate: float = 0.0,
    unique: bool = False,
    start: int = 0,
    bodies: list[bytes] | None = None,
) -> dict[str, Any]:
    paths = []
    for one in bodies or [body or b""]:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            f.write(one)
            paths.append(f.name)
    argv = [
        sys.executable,
        str(Path(__file__).with_name("loadgen.py")),
        "--url",
        url,
        "--method",
        method,
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
        *(a for path in paths for a in ("--body-file", path)),
        "--start",
        str(start),
    ]
    for h in headers or []:
        argv += ["--header", h]
    if rate:
        argv += ["--rate", str(rate)]
    if unique:
        argv.append("--unique")
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60)
    for path in paths:
        Path(path).unlink()
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Report:
    quick: bool
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, name: str, **figures: Any) -> None:
        self.scenarios[name] = figures
        print(f"{name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items()), flush=True)


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def cpu_snapshot(stack: Any) -> dict[str, float]:
    """CPU seconds used so far by every service process (with its prefork children)."""
    return {c.name: cpu_seconds(c.proc.pid) for c in stack.children if c.proc}


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}


# -- a realistic event mix (P1, bench_storage) -----------------------------------------------------
# Companies as reporters name them: the registry's labs and others it does not know.
MIX_COMPANIES = (
    ("openai", "OpenAI"),
    ("meta", "Meta"),
    ("deepseek", "DeepSeek"),
    ("anthropic", "Anthropic"),
    ("google", "Google DeepMind"),
    ("mistral", "Mistral AI"),
    ("xai", "xAI"),
    ("microsoft", "Microsoft"),
    ("nvidia", "Nvidia"),
    *(
        (name.lower().replace(" ", "-"), name)
        for name in (
            "Cohere",
            "Aleph Alpha",
            "Stability AI",
            "AI21 Labs",
            "Reka",
            "Zhipu AI",
            "Moonshot AI",
            "Baidu",
            "Alibaba Cloud",
            "Tencent",
            "Amazon",
            "Apple",
            "IBM",
            "Databricks",
            "Hugging Face",
            "Perplexity",
            "Inflection AI",
            "Character AI",
            "Runway",
            "Samsung",
            "Adept",
        )
    ),
)
_PEOPLE = (
    "Sam Altman",
    "Dario Amodei",
    "Demis Hassabis",
    "Arthur Mensch",
    "Yann LeCun",
    "Elon Musk",
    "Mira Murati",
    "Aidan Gomez",
    "Liang Wenfeng",
    "Satya Nadella",
    "Jensen Huang",
    "Clem Delangue",
    "Lisa Su",
    "Emad Mostaque",
    "Noam Shazeer",
    "Aravind Srinivas",
    "Ilya Sutskever",
    "Jan Leike",
)
_INVESTORS = (
    "Microsoft",
    "Nvidia",
    "SoftBank",
    "Andreessen Horowitz",
    "Sequoia",
    "Amazon",
    "Salesforce",
    "Thrive Capital",
    "General Catalyst",
    "Lightspeed",
    "Tiger Global",
    "a sovereign fund",
)
_REGULATORS = (
    "Italy's data-protection authority",
    "the European Commission",
    "the US FTC",
    "NASA",
    "the UK CMA",
    "South Korea's privacy regulator",
    "the US Navy",
    "France's CNIL",
    "the Irish DPC",
    "Japan's competition authority",
)
_LICENCES = ("Apache 2.0", "MIT licence", "a research-only licence", "a custom community licence")
_MODEL_STEMS = (
    "Nova",
    "Atlas",
    "Orion",
    "Lyra",
    "Vega",
    "Kestrel",
    "Falcon",
    "Quill",
    "Ember",
    "Helix",
    "Pioneer",
    "Sierra",
    "Tundra",
    "Zephyr",
    "Cobalt",
    "Granite",
    "Aurora",
    "Mosaic",
)
_PRODUCTS = (
    "an enterprise assistant",
    "a coding agent",
    "a voice mode",
    "a search product",
    "a developer platform",
    "an image generator",
    "a video model",
    "a browser agent",
    "a translation service",
    "a mobile app",
)
_ISSUES = ("copyright", "breach of contract", "privacy", "trade secrets", "antitrust", "defamation")
# (category, title templates, summary template); {co} company, {model}, {person}, {amount}, ...
_TEMPLATES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "licensing",
        (
            "{co} releases {model} as open weights under {licence}",
            "{co} publishes code and weights for {model} under {licence}",
            "{co} withholds the weights of {model}, citing misuse risks",
            "{co} moves {model} to {licence} after developer complaints",
        ),
        "{co} said {model} is available under {licence}; {person} announced the change.",
    ),
    (
        "product",
        (
            "{co} launches {product} built on {model}",
            "{co} unveils {model}, its first {size} reasoning model",
            "{co} introduces {product} for paying customers in {countries} countries",
            "{co} shuts down {product} after slow adoption",
        ),
        "{co} made {product} available; it runs on {model} according to {person}.",
    ),
    (
        "competition",
        (
            "{co} cuts prices of the {model} API by {pct}%",
            "{co} claims {model} beats rivals on coding benchmarks",
            "{co} signs a cloud exclusivity deal with {investor}",
        ),
        "{co} is competing for developers with {model}, {person} told reporters.",
    ),
    (
        "funding",
        (
            "{co} raises ${amount}M in a round led by {investor}",
            "{investor} invests ${amount}M in {co} at a higher valuation",
            "{co} secures a ${amount}M credit line for data centres",
        ),
        "{investor} led a ${amount}M investment in {co}.",
    ),
    (
        "leadership",
        (
            "{co} names {person} as chief executive",
            "{person} leaves {co} to start a new research lab",
            "{co} hires {person} as head of research",
        ),
        "{person} takes a new role; {co} confirmed the change.",
    ),
    (
        "governance",
        (
            "{co} restructures into a public benefit corporation",
            "{co} adds {person} to its board of directors",
            "{co} publishes a charter for safe model deployment",
        ),
        "{co} changed how it is governed, with {person} on the board.",
    ),
    (
        "legal",
        (
            "{person} sues {co} over {issue}",
            "{co} settles the {issue} lawsuit brought by {person}",
            "Court dismisses the {issue} claims against {co}",
        ),
        "A {issue} case involving {co} and {person} moved forward in court.",
    ),
    (
        "regulation",
        (
            "{regulator} restricts {co} over data protection",
            "{regulator} opens an inquiry into {co}'s {product}",
            "{regulator} fines {co} ${amount}M for {issue} violations",
        ),
        "{regulator} acted against {co} over {product}.",
    ),
)
_RETELL = (" , sources say", " , report says", " today", " , according to filings")


def mix_item(rng: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """One event's data: a company, category and title like the seed timelines' (varied words).

    With `previous` (the same story told a day earlier) it retells it: a near-duplicate.
    """
    if previous is not None:
        data = dict(previous)
        data["title"] = previous["title"] + rng.choice(_RETELL)
        return data
    slug, name = rng.choice(MIX_COMPANIES)
    category, titles, summary = rng.choice(_TEMPLATES)
    words = {
        "co": name,
        "model": rng.choice(_MODEL_STEMS)
        + f"-{rng.randint(2, 9)}"
        + rng.choice(("", "B", " mini", " Pro")),
        "person": rng.choice(_PEOPLE),
        "investor": rng.choice(_INVESTORS),
        "regulator": rng.choice(_REGULATORS),
        "licence": rng.choice(_LICENCES),
        "product": rng.choice(_PRODUCTS),
        "issue": rng.choice(_ISSUES),
        "amount": rng.randrange(50, 5000, 50),
        "pct": rng.randrange(10, 90, 5),
        "size": rng.choice(("small", "open", "multimodal", "frontier")),
        "countries": rng.randint(3, 60),
    }
    title = rng.choice(titles).format(**words)
    title = title[0].upper() + title[1:]
    return {
        "company": slug,
        "title": title,
        "summary": summary.format(**words),
        "tags": [category],
        "actors": [name, words["person"]],
    }


def mix_bodies(prefix: str, size: int, count: int, seed: int = 7) -> list[list[dict[str, Any]]]:
    """`count` batches of `size` CloudEvents: batch b item i happens in year 1000 + i on the
    request's day ({md}), so consecutive requests (cycling through the batches) put one event a
    day in each year; about 5% retell the previous batch's story (a near-duplicate a day later).
    Placeholders {n} and {md} are filled per request by the load generator (--unique).
    """
    import random

    rng = random.Random(seed)
    bodies: list[list[dict[str, Any]]] = []
    last: list[dict[str, Any] | None] = [None] * size
    for b in range(count):
        events = []
        for i in range(size):
            prev = last[i] if b and rng.random() < 0.05 else None
            data = mix_item(rng, prev)
            last[i] = data
            events.append(
                {
                    "specversion": "1.0",
                    "id": f"{prefix}-{{n}}-{i}",
                    "source": "/bench",
                    "type": "dev.pivotwatch.strategy.reported",
                    "time": "2025-08-05T12:00:00Z",
                    "data": {
                        **data,
                        "occurred": f"{1000 + i:04d}-{{md}}",
                        "sources": [
                            {
                                "url": f"https://example.org/bench/{{n}}/{i}",
                                "publisher": rng.choice(("Reuters", "Bloomberg", "The Verge")),
                            }
                        ],
                    },
                }
            )
        bodies.append(events)
    return bodies
