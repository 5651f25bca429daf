"""The seed timelines in data/seed match the sourced reference facts and the event contract."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.dates import Precision, parse_occurred
from shared.events import CATEGORY_LABELS, EVENT_TYPE, CloudEvent

ROOT = Path(__file__).resolve().parents[2]
SEED_DIR = ROOT / "data" / "seed"
# The reference table's rows, copied into the repository: what the seed must hold. The table
# itself lives outside it (../shared/reference); where it is present, the copy must equal it.
EXPECTED_ROWS = ROOT / "tests" / "data" / "seed_reference.json"
REFERENCE_REL = "../shared/reference/openai-timeline-facts.md"
REFERENCE = ROOT / REFERENCE_REL
COMPANIES = ("openai", "deepseek", "meta")
LABEL_TO_TAG = {label: category.value for category, label in CATEGORY_LABELS.items()}
ID_RE = re.compile(r"^[a-z0-9]+-(?P<date>\d{4}(?:-\d{2}){0,2})-[a-z0-9]+(?:-[a-z0-9]+)*$")


def _load(company: str) -> list[dict[str, Any]]:
    return json.loads((SEED_DIR / f"{company}.json").read_text(encoding="utf-8"))


def _all_events() -> list[tuple[str, dict[str, Any]]]:
    return [(company, event) for company in COMPANIES for event in _load(company)]


def _expected_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads(EXPECTED_ROWS.read_text(encoding="utf-8"))
    assert rows, f"no rows in {EXPECTED_ROWS}"
    return rows


def _table_rows(text: str) -> list[dict[str, str]]:
    """The first markdown table's rows, as header -> cell."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if rows:
                break  # only the first table holds the facts
            header = None
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
            continue
        if all(set(cell) <= set("-: ") for cell in cells):
            continue
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def test_the_expected_rows_are_the_reference_table() -> None:
    if not REFERENCE.is_file():
        pytest.skip(f"reference facts not found at {REFERENCE_REL}")
    assert _table_rows(REFERENCE.read_text(encoding="utf-8")) == _expected_rows()


def test_table_rows_are_read_by_header() -> None:
    text = "intro\n\n| Date | Source |\n|---|:-:|\n| 2019-03 | https://a.example/ |\n\nafter\n| x |"
    assert _table_rows(text) == [{"date": "2019-03", "source": "https://a.example/"}]


@pytest.mark.parametrize("company", COMPANIES)
def test_file_is_a_json_array_of_cloudevents(company: str) -> None:
    events = _load(company)
    assert isinstance(events, list)
    assert events, f"{company}.json is empty"
    for event in events:
        assert isinstance(event, dict)
        ce = CloudEvent.model_validate(event)
        assert ce.specversion == "1.0"
        assert ce.type == EVENT_TYPE
        assert ce.source == f"/seed/{company}"
        assert ce.datacontenttype == "application/json"
        assert ce.subject == ce.data.company
        assert ce.data.company in COMPANIES
        assert not ce.extensions, f"{ce.id}: unexpected attributes {sorted(ce.extensions)}"


@pytest.mark.parametrize("company", COMPANIES)
def test_file_is_sorted_and_formatted(company: str) -> None:
    path = SEED_DIR / f"{company}.json"
    events = _load(company)
    keys = [parse_occurred(e["data"]["occurred"]).sort_key for e in events]
    assert keys == sorted(keys), f"{company}.json is not sorted by occurred"
    expected = json.dumps(events, indent=2, ensure_ascii=False) + "\n"
    assert path.read_text(encoding="utf-8") == expected, f"{company}.json is not 2-space indented"


def test_ids_are_unique_and_well_formed() -> None:
    ids = [event["id"] for _, event in _all_events()]
    assert len(ids) == len(set(ids)), "duplicate ids across seed files"
    for _, event in _all_events():
        match = ID_RE.match(event["id"])
        assert match, f"bad id {event['id']!r}"
        company, occurred = event["data"]["company"], event["data"]["occurred"]
        assert event["id"].startswith(f"{company}-{occurred}-"), event["id"]
        assert match["date"] == occurred


def test_events_have_dates_sources_tags_and_text() -> None:
    for _, event in _all_events():
        data = event["data"]
        parsed = parse_occurred(data["occurred"])
        assert parsed.text == data["occurred"]
        assert not (parsed.approximate or parsed.uncertain or parsed.interval)
        assert data["sources"], f"{event['id']}: no source"
        for source in data["sources"]:
            assert re.match(r"^https?://", source["url"]), source["url"]
            assert source.get("publisher"), f"{event['id']}: source without publisher"
        assert len(data["tags"]) == 1 and data["tags"][0] in LABEL_TO_TAG.values()
        assert 0 < len(data["title"]) <= 120, event["id"]
        assert data["summary"].strip(), event["id"]
        assert data["actors"], event["id"]


def test_every_reference_row_has_exactly_one_seed_event() -> None:
    rows = _expected_rows()
    events = _all_events()
    matched: set[str] = set()
    for row in rows:
        date, url = row["date"], row["source"]
        hits = [
            event
            for _, event in events
            if event["data"]["occurred"] == date
            and url in [s["url"] for s in event["data"]["sources"]]
        ]
        assert len(hits) == 1, f"reference row {date} {url}: {len(hits)} seed events"
        event = hits[0]
        ref = parse_occurred(date)
        got = parse_occurred(event["data"]["occurred"])
        assert got.text == ref.text and got.precision is ref.precision, event["id"]
        assert row["category"] in LABEL_TO_TAG, f"unknown category {row['category']!r}"
        assert event["data"]["tags"] == [LABEL_TO_TAG[row["category"]]], event["id"]
        matched.add(event["id"])
    extra = sorted({event["id"] for _, event in events} - matched)
    assert not extra, f"seed events with no reference row: {extra}"
    assert len(events) == len(rows)


def test_month_precision_is_not_padded() -> None:
    by_id = {event["id"]: event for _, event in _all_events()}
    letter = by_id["meta-2023-11-lecun-openness-letter"]
    assert parse_occurred(letter["data"]["occurred"]).precision is Precision.MONTH


def test_cautions_are_kept() -> None:
    by_id = {event["id"]: event["data"] for _, event in _all_events()}
    v3 = by_id["deepseek-2024-12-26-deepseek-v3-open-weights"]
    assert "$5.576M" in v3["summary"] and "final training run" in v3["summary"]
    assert "DeepSeek's own model licence" in v3["summary"] + v3["title"]
    r1 = by_id["deepseek-2025-01-20-deepseek-r1-mit"]
    assert "$5.5" not in r1["summary"] + r1["title"]
    ms = by_id["openai-2023-01-23-microsoft-multiyear-investment"]
    assert "multiyear, multibillion-dollar" in ms["title"]
    if "$10B" in ms["summary"] + ms["title"]:
        assert "reported" in ms["summary"]
    musk = by_id["openai-2018-02-20-musk-leaves-board"]
    assert "because" not in (musk["title"] + musk["summary"]).lower()
