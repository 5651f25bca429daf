"""Shape of the coreference evaluation set in tests/data/coreference (issue 14, item 1).

The set is data, not code: these checks keep it honest when someone edits it by hand. They need no
servers and read only files in the repository (and the reference facts next to it, when present).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shared.dates import OccurredDate, parse_occurred

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "coreference"
SEED_DIR = ROOT / "data" / "seed"
# The reference table's rows (../shared/reference), as tests/unit/test_seed_data.py keeps them.
REFERENCE_ROWS = ROOT / "tests" / "data" / "seed_reference.json"

SPLITS = ("dev", "test")
CATEGORIES = {
    "governance",
    "leadership",
    "licensing",
    "product",
    "funding",
    "legal",
    "competition",
    "regulation",
    "partnership",
    "other",
}
OUTLETS = {
    "wire",
    "newspaper",
    "trade-blog",
    "tech-site",
    "financial",
    "press-release",
    "broadcaster",
}
HAPPENING_KEYS = {"id", "company", "occurred", "category", "fact", "source", "group", "split"}
MENTION_KEYS = {"id", "happening", "outlet", "company", "occurred", "title", "summary"}
PAIR_KEYS = {"a", "b", "same", "kind"}
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MENTION_ID = re.compile(r"^m[0-9]{4}$")
PLACEHOLDER = re.compile(r"lorem|placeholder|test event|TODO|XXX|probe", re.IGNORECASE)
MAX_PAIR_GAP = timedelta(days=14)
MAX_REPORTING_LAG = timedelta(days=2)


def _read_jsonl(name: str) -> list[dict[str, Any]]:
    raw = (DATA / name).read_bytes()
    text = raw.decode("utf-8")  # strict: the files are UTF-8
    assert text.endswith("\n"), f"{name} does not end with a newline"
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        assert line.strip(), f"{name}:{number} is blank"
        row = json.loads(line)
        assert isinstance(row, dict), f"{name}:{number} is not a JSON object"
        rows.append(row)
    assert rows, f"{name} is empty"
    return rows


@cache
def happenings() -> dict[str, dict[str, Any]]:
    rows = _read_jsonl("happenings.jsonl")
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), f"duplicate happening ids: {_dupes(ids)}"
    return {row["id"]: row for row in rows}


@cache
def mentions() -> dict[str, dict[str, Any]]:
    rows = _read_jsonl("mentions.jsonl")
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), f"duplicate mention ids: {_dupes(ids)}"
    return {row["id"]: row for row in rows}


@cache
def pairs() -> tuple[dict[str, Any], ...]:
    return tuple(_read_jsonl("pairs.jsonl"))


@cache
def _date(text: str) -> OccurredDate:
    return parse_occurred(text)


def _dupes(values: list[str]) -> list[str]:
    return sorted(value for value, n in Counter(values).items() if n > 1)


def _gap(a: str, b: str) -> timedelta:
    """Days between two `occurred` values (0 when their spans touch or overlap)."""
    da, db = _date(a), _date(b)
    return max(timedelta(0), db.start - da.end, da.start - db.end)


def _split_of_mention(mention_id: str) -> str:
    return str(happenings()[mentions()[mention_id]["happening"]]["split"])


def _companies() -> set[str]:
    return {path.stem for path in SEED_DIR.glob("*.json")}


# --- files and schema ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["happenings.jsonl", "mentions.jsonl", "pairs.jsonl"])
def test_every_line_parses_as_a_json_object(name: str) -> None:
    assert _read_jsonl(name)


def test_happenings_follow_the_schema() -> None:
    companies = _companies()
    assert companies, "no seed companies found in data/seed"
    for hid, row in happenings().items():
        assert set(row) == HAPPENING_KEYS, f"{hid}: keys {sorted(row)}"
        assert all(isinstance(row[key], str) and row[key].strip() for key in HAPPENING_KEYS), hid
        assert row["company"] in companies, f"{hid}: unknown company {row['company']!r}"
        when = _date(row["occurred"])
        assert not (when.approximate or when.uncertain or when.interval), hid
        assert when.text == row["occurred"], f"{hid}: occurred is not normalised"
        assert re.fullmatch(rf"{row['company']}-{re.escape(row['occurred'])}-[a-z0-9-]+", hid), (
            f"{hid}: id must be <company>-<occurred>-<slug>"
        )
        assert SLUG.fullmatch(hid), hid
        assert row["category"] in CATEGORIES, f"{hid}: category {row['category']!r}"
        assert SLUG.fullmatch(row["group"]), f"{hid}: group {row['group']!r}"
        assert row["split"] in SPLITS, f"{hid}: split {row['split']!r}"


def test_every_happening_has_an_https_source() -> None:
    for hid, row in happenings().items():
        source = row["source"]
        assert re.fullmatch(r"https://[a-z0-9.-]+\.[a-z]{2,}(?:/\S*)?", source), f"{hid}: {source}"


def test_mentions_follow_the_schema() -> None:
    for mid, row in mentions().items():
        assert set(row) == MENTION_KEYS, f"{mid}: keys {sorted(row)}"
        assert MENTION_ID.fullmatch(mid), mid
        assert all(isinstance(row[key], str) and row[key].strip() for key in MENTION_KEYS), mid
        assert row["outlet"] in OUTLETS, f"{mid}: outlet {row['outlet']!r}"
        assert row["title"] != row["summary"], mid
        assert not row["title"].endswith("."), f"{mid}: a headline does not end with a full stop"


def test_every_mention_points_at_a_happening_of_its_company() -> None:
    for mid, row in mentions().items():
        happening = happenings().get(row["happening"])
        assert happening is not None, f"{mid}: unknown happening {row['happening']!r}"
        assert row["company"] == happening["company"], mid


def test_mentions_are_dated_on_or_up_to_two_days_after_the_happening() -> None:
    for mid, row in mentions().items():
        happening = _date(happenings()[row["happening"]]["occurred"])
        posted = _date(row["occurred"])
        assert posted.text == row["occurred"], f"{mid}: occurred is not normalised"
        assert not (posted.approximate or posted.uncertain or posted.interval), mid
        assert happening.start <= posted.start, f"{mid}: posted before the happening"
        assert posted.end <= happening.end + MAX_REPORTING_LAG, f"{mid}: posted too late"


def test_each_happening_has_three_to_six_mentions() -> None:
    counts = Counter(row["happening"] for row in mentions().values())
    for hid in happenings():
        assert 3 <= counts[hid] <= 6, f"{hid}: {counts[hid]} mentions"


def test_each_happening_has_mentions_from_more_than_one_outlet_kind() -> None:
    outlets: dict[str, set[str]] = defaultdict(set)
    for row in mentions().values():
        outlets[row["happening"]].add(row["outlet"])
    for hid in happenings():
        assert len(outlets[hid]) >= 2, f"{hid}: every mention is from a {outlets[hid]}"


def test_titles_are_not_repeated() -> None:
    titles = [row["title"].casefold() for row in mentions().values()]
    assert not _dupes(titles)


# --- pairs --------------------------------------------------------------------------------------


def test_pairs_follow_the_schema() -> None:
    seen: set[frozenset[str]] = set()
    for number, pair in enumerate(pairs(), start=1):
        assert set(pair) == PAIR_KEYS, f"pair {number}: keys {sorted(pair)}"
        assert isinstance(pair["same"], bool), f"pair {number}"
        assert isinstance(pair["kind"], str) and SLUG.fullmatch(pair["kind"]), f"pair {number}"
        assert pair["a"] != pair["b"], f"pair {number} pairs a mention with itself"
        key = frozenset((pair["a"], pair["b"]))
        assert key not in seen, f"pair {number} repeats {sorted(key)}"
        seen.add(key)


def test_pairs_point_at_existing_mentions() -> None:
    for number, pair in enumerate(pairs(), start=1):
        assert pair["a"] in mentions(), f"pair {number}: unknown mention {pair['a']}"
        assert pair["b"] in mentions(), f"pair {number}: unknown mention {pair['b']}"


def test_pairs_stay_within_a_split_a_company_and_fourteen_days() -> None:
    for number, pair in enumerate(pairs(), start=1):
        a, b = mentions()[pair["a"]], mentions()[pair["b"]]
        assert _split_of_mention(a["id"]) == _split_of_mention(b["id"]), f"pair {number}"
        assert a["company"] == b["company"], f"pair {number}"
        assert _gap(a["occurred"], b["occurred"]) <= MAX_PAIR_GAP, f"pair {number}"


def test_same_means_the_same_happening() -> None:
    for number, pair in enumerate(pairs(), start=1):
        a, b = mentions()[pair["a"]], mentions()[pair["b"]]
        assert pair["same"] == (a["happening"] == b["happening"]), f"pair {number}"
        assert (pair["kind"] == "retelling") == pair["same"], f"pair {number}: kind {pair['kind']}"


def test_pair_counts_and_balance_per_split() -> None:
    assert len(pairs()) >= 200
    for split in SPLITS:
        in_split = [p for p in pairs() if _split_of_mention(p["a"]) == split]
        assert len(in_split) >= 100, f"{split}: {len(in_split)} pairs"
        same = sum(p["same"] for p in in_split) / len(in_split)
        assert 0.4 <= same <= 0.6, f"{split}: {same:.0%} same"


def test_different_happening_pairs_are_mostly_close_in_time() -> None:
    different = [p for p in pairs() if not p["same"]]
    close = [
        p
        for p in different
        if _gap(mentions()[p["a"]]["occurred"], mentions()[p["b"]]["occurred"]) <= timedelta(3)
    ]
    assert len(close) > len(different) / 2


def test_every_happening_appears_in_a_pair() -> None:
    used = {mentions()[p[side]]["happening"] for p in pairs() for side in ("a", "b")}
    assert sorted(set(happenings()) - used) == []


def test_every_group_with_two_happenings_has_a_different_happening_pair() -> None:
    members: dict[str, set[str]] = defaultdict(set)
    for hid, row in happenings().items():
        members[row["group"]].add(hid)
    contrasted = {
        happenings()[mentions()[p["a"]]["happening"]]["group"] for p in pairs() if not p["same"]
    }
    for group, hids in members.items():
        if len(hids) > 1:
            assert group in contrasted, f"{group} has no different-happening pair"


# --- the split ----------------------------------------------------------------------------------


def _groups_in_date_order() -> list[str]:
    first: dict[str, tuple[date, str]] = {}
    for row in happenings().values():
        key = (_date(row["occurred"]).start, row["group"])
        first[row["group"]] = min(first.get(row["group"], key), key)
    return sorted(first, key=lambda group: first[group])


def test_split_is_uniform_within_each_group() -> None:
    splits: dict[str, set[str]] = defaultdict(set)
    for row in happenings().values():
        splits[row["group"]].add(row["split"])
    for group, values in splits.items():
        assert len(values) == 1, f"{group} is split across {sorted(values)}"


def test_split_alternates_groups_in_date_order() -> None:
    # The rule stated in the README: groups ordered by their earliest happening (ties by name),
    # then dev, test, dev, test, ...
    groups = _groups_in_date_order()
    split_of = {row["group"]: row["split"] for row in happenings().values()}
    for index, group in enumerate(groups):
        assert split_of[group] == SPLITS[index % 2], f"{group} (group {index}) is {split_of[group]}"


def test_groups_are_story_clusters_close_in_time() -> None:
    members: dict[str, list[str]] = defaultdict(list)
    for row in happenings().values():
        members[row["group"]].append(row["occurred"])
    for group, dates in members.items():
        for a, b in itertools.combinations(dates, 2):
            assert _gap(a, b) <= MAX_PAIR_GAP, f"{group}: {a} and {b} are too far apart"
        companies = {row["company"] for row in happenings().values() if row["group"] == group}
        assert len(companies) == 1, f"{group} mixes companies {sorted(companies)}"


# --- provenance ---------------------------------------------------------------------------------


@cache
def _reference_sources() -> dict[str, set[str]]:
    """Source URL -> the dates the seed timelines and the reference table give it."""
    dates: dict[str, set[str]] = defaultdict(set)
    for path in SEED_DIR.glob("*.json"):
        for event in json.loads(path.read_text(encoding="utf-8")):
            for source in event["data"].get("sources", []):
                dates[source["url"]].add(event["data"]["occurred"])
    for row in json.loads(REFERENCE_ROWS.read_text(encoding="utf-8")):
        dates[row["source"]].add(row["date"])
    return dates


def test_reference_happenings_keep_their_reference_date() -> None:
    reference = _reference_sources()
    assert reference, "no seed sources found"
    used = 0
    for hid, row in happenings().items():
        if row["source"] in reference:
            used += 1
            expected = sorted(reference[row["source"]])
            assert row["occurred"] in expected, f"{hid}: {row['occurred']}, reference {expected}"
    assert used >= 30, f"only {used} happenings come from the reference facts"


def test_happenings_cover_the_seed_timelines() -> None:
    # A seed event is a happening of the same id (and date), or shares its source with one (the
    # joint gpt-oss release is two happenings here, one per model).
    sources = {row["source"] for row in happenings().values()}
    for path in SEED_DIR.glob("*.json"):
        for event in json.loads(path.read_text(encoding="utf-8")):
            happening = happenings().get(event["id"])
            if happening is not None:
                assert happening["occurred"] == event["data"]["occurred"], event["id"]
                assert happening["company"] == event["data"]["company"], event["id"]
                continue
            urls = {source["url"] for source in event["data"].get("sources", [])}
            assert urls & sources, f"seed event {event['id']} has no happening"


def test_no_placeholder_looking_text() -> None:
    texts: list[tuple[str, str]] = []
    for hid, row in happenings().items():
        texts += [(hid, row["id"]), (hid, row["fact"]), (hid, row["group"])]
    for mid, row in mentions().items():
        texts += [(mid, row["title"]), (mid, row["summary"])]
    texts += [(f"pair {n}", p["kind"]) for n, p in enumerate(pairs(), start=1)]
    for where, text in texts:
        assert not PLACEHOLDER.search(text), f"{where}: {text!r}"
        assert "{" not in text and "}" not in text, f"{where}: {text!r}"


def test_cautions_from_the_reference_facts_hold() -> None:
    by_happening: dict[str, list[str]] = defaultdict(list)
    for row in mentions().values():
        by_happening[row["happening"]].append(f"{row['title']} {row['summary']}")
    for hid, row in happenings().items():
        by_happening[hid].append(row["fact"])
    for hid, texts in by_happening.items():
        for text in texts:
            # The ~$5.6M figure is DeepSeek-V3's final training run only.
            if re.search(r"5\.6\s*(?:M|million)|5\.576", text):
                assert hid == "deepseek-2024-12-26-deepseek-v3-open-weights", f"{hid}: {text!r}"
                assert "final training run" in text or "last training run" in text, text
    # Microsoft's 2023 amount was reported, not disclosed.
    for text in by_happening["openai-2023-01-23-microsoft-multiyear-investment"]:
        if re.search(r"\$?10\s*(?:B|billion)", text):
            assert re.search(r"report|not (?:officially )?disclose", text), text
    # Why Musk left the board in 2018 is disputed: no reason is given.
    for text in by_happening["openai-2018-02-20-musk-leaves-board"]:
        assert not re.search(r"\bbecause\b|\bdue to\b|conflict|\bover\b|\bafter\b", text), text


# --- README -------------------------------------------------------------------------------------


def test_readme_counts_match_the_files() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for split in SPLITS:
        hids = {hid for hid, row in happenings().items() if row["split"] == split}
        mids = {mid for mid, row in mentions().items() if row["happening"] in hids}
        in_split = [p for p in pairs() if p["a"] in mids]
        groups = {happenings()[hid]["group"] for hid in hids}
        same = sum(p["same"] for p in in_split)
        row = (
            f"| {split} | {len(groups)} | {len(hids)} | {len(mids)} | {same} "
            f"| {len(in_split) - same} | {len(in_split)} |"
        )
        assert row in readme, f"README.md lacks the row {row}"
