"""How well are an article's strategy happenings extracted, dated, headlined and joined?

The labelled set is `tests/data/articles/` (see its README): news articles, each with the dated
happenings it reports. Its split is fixed: the extractor (`services.enrich.articles`) is tuned on
"dev"; "test" is held back and only its aggregate figures are printed.

Each article goes the way `POST /v1/articles` goes: `decode.article_reports` runs the extractor
and builds one report per happening, and each report is enriched (`pipeline.enrich`) as storage
would. Then, per the README's matching rule:

- **happenings**: an extraction matches an expected happening when its evidence (the clause the
  extractor says reports it) contains the labelled sentence (or an `also`), or is contained in it,
  and its enriched company is the label's. Each label is matched once; another extraction of it
  is a duplicate (neither hit nor false positive). Recall, precision, and the date accuracy of the
  matched (the spans overlap, i.e. agree at the coarser precision);
- **entities**: the labelled entities the matched extraction's enriched event carries;
- **headlines**: of the matched, how many are in the form asked for (a named subject, a present
  tense verb, at most 90 characters, no sentence fragment), and how many agree with the label's
  headline on its subject and its action (`coref` reads both);
- **joins**: each extraction, as a `coref.mention`, against the enriched seed events of its
  company (data/seed): it joins the seed event `coref.decide` merges it with. Join recall: the
  labels with a `joins` whose matched extraction joins exactly that event; join precision: of the
  extractions that join something, those joining exactly their label's event.

Run: `make eval-articles` (`--errors` lists the development half's mistakes, never the held-back's).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pivotwatch.seed import seed_events  # noqa: E402
from services.enrich import coref  # noqa: E402
from services.enrich.articles import Extracted, extract_events  # noqa: E402
from services.enrich.decode import article_reports, to_report  # noqa: E402
from services.enrich.pipeline import Enriched, enrich  # noqa: E402
from services.enrich.steps.entities import extract_entities  # noqa: E402
from services.enrich.steps.normalize import normalize_text  # noqa: E402
from shared.dates import OccurredDate, parse_occurred  # noqa: E402
from shared.events import ARTICLE_TYPE  # noqa: E402

DATA = ROOT / "tests" / "data" / "articles"
SPLITS = ("dev", "test")
MAX_HEADLINE = 90


def load_articles(data: Path = DATA) -> list[dict[str, Any]]:
    return [orjson.loads(p.read_bytes()) for p in sorted(data.glob("*.json"))]


def _key(text: str) -> str:
    return normalize_text(text).casefold()


@dataclass(slots=True)
class Found:
    """One extraction, as storage would keep it."""

    extracted: Extracted
    enriched: Enriched
    occurred: OccurredDate
    mention: coref.Mention
    evidence: str  # the clause, compared by the matching rule
    outcome: str = "fp"  # hit | duplicate | fp
    label: int | None = None  # index of the expected item it matched
    trap: str | None = None
    joins: list[str] = field(default_factory=list)


def _seed_mentions() -> dict[str, list[tuple[str, coref.Mention]]]:
    by_company: dict[str, list[tuple[str, coref.Mention]]] = {}
    for ev in seed_events():
        report = to_report(ev["data"])
        en = enrich(report)
        m = coref.mention(en.company, report.occurred, en.category, en.title, en.summary)
        by_company.setdefault(en.company, []).append((ev["id"], m))
    return by_company


def extract(article: dict[str, Any]) -> list[Found]:
    """The article's happenings as `POST /v1/articles` stores them, enriched."""
    published = datetime.fromisoformat(article["published"].replace("Z", "+00:00"))
    ce = {
        "specversion": "1.0",
        "id": article["url"],
        "source": "urn:pivotwatch:eval-articles",
        "type": ARTICLE_TYPE,
        "data": {
            "url": article["url"],
            "publisher": article["publisher"],
            "published": published.isoformat(),
            "title": article["title"],
            "text": article["text"],
        },
    }
    reports = article_reports(ce, datetime.now(UTC), None)
    found = extract_events(article["text"], published.date(), article["url"], article["publisher"])
    assert len(found) == len(reports)  # one report per extraction, in order
    out = []
    for ex, inc in zip(found, reports, strict=True):
        report = to_report(inc.data)
        en = enrich(report)
        m = coref.mention(en.company, report.occurred, en.category, en.title, en.summary)
        clause = getattr(ex, "clause", "") or ex.sentences[0]
        out.append(Found(ex, en, report.occurred, m, clause))
    return out


def _contains(evidence: str, labelled: str) -> bool:
    a, b = _key(evidence), _key(labelled)
    return b in a or a in b


def match(article: dict[str, Any], found: list[Found]) -> list[int | None]:
    """Label each extraction (hit, duplicate, fp); returns, per expected item, the hit's index."""
    expected = article["expected"]
    hit_of: list[int | None] = [None] * len(expected)
    for n, f in enumerate(found):
        candidates = [
            i
            for i, item in enumerate(expected)
            if f.enriched.company == item["company"]
            and any(_contains(f.evidence, s) for s in (item["sentence"], *item.get("also", [])))
        ]
        free = [i for i in candidates if hit_of[i] is None]
        if free:
            f.outcome, f.label = "hit", free[0]
            hit_of[free[0]] = n
        elif candidates:
            f.outcome, f.label = "duplicate", candidates[0]
        else:
            f.trap = next((t for t in article["not_happenings"] if _contains(f.evidence, t)), None)
    return hit_of


def _overlap(a: OccurredDate, b: OccurredDate) -> bool:
    return a.start <= b.end and b.start <= a.end


def _carried(en: Enriched, wanted: dict[str, Any]) -> bool:
    return any(
        e["kind"] == wanted["kind"] and str(e["value"]) == str(wanted["value"]) for e in en.entities
    )


_SUBJECT_KINDS = ("organization", "person", "agency")


def headline_form(title: str) -> bool:
    """A headline, not a sentence fragment: short, capitalised, no final stop, and a named
    subject followed by a verb in the present tense within its first words."""
    if not title or len(title) > MAX_HEADLINE or title.endswith((".", "...", ",")):
        return False
    if not title[0].isupper() or title.count('"') % 2:
        return False
    words = title.split()
    for i, word in enumerate(words[1:7], start=1):
        w = word.strip(",:;").casefold()
        if w.isalpha() and w.endswith("s") and not w.endswith("ss"):
            subject = " ".join(words[:i])
            if any(e["kind"] in _SUBJECT_KINDS for e in extract_entities(subject)):
                return True
            if words[i - 1].casefold() in ("board", "group", "consortium", "shares"):
                return True
    return False


def _first_actor(title: str) -> str | None:
    for e in extract_entities(title):
        if e["kind"] in _SUBJECT_KINDS:
            return str(e["value"])
    return None


def _lead(title: str, company: str) -> frozenset[str]:
    return coref.anchors_of(title, "", company).title.get(coref.LEAD, frozenset())


def headline_agrees(title: str, label: str, company: str) -> bool:
    """The same subject and the same lead action as the label's headline."""
    return _first_actor(title) == _first_actor(label) and _lead(title, company) == _lead(
        label, company
    )


def joins(f: Found, seeds: dict[str, list[tuple[str, coref.Mention]]]) -> list[str]:
    return [
        sid for sid, m in seeds.get(f.mention.company, []) if coref.decide(f.mention, m) is not None
    ]


@dataclass(slots=True)
class Tally:
    expected: int = 0
    hits: int = 0
    duplicates: int = 0
    false_positives: int = 0
    traps: int = 0
    dated: int = 0
    entities: int = 0
    entities_found: int = 0
    headline_form: int = 0
    headline_agrees: int = 0
    with_joins: int = 0
    joined_right: int = 0
    joining: int = 0
    joining_right: int = 0

    def figures(self) -> dict[str, float | int]:
        def ratio(a: int, b: int) -> float:
            return round(a / b, 3) if b else 1.0

        return {
            "expected": self.expected,
            "extracted": self.hits + self.duplicates + self.false_positives,
            "hits": self.hits,
            "duplicates": self.duplicates,
            "false_positives": self.false_positives,
            "traps": self.traps,
            "recall": ratio(self.hits, self.expected),
            "precision": ratio(self.hits, self.hits + self.false_positives),
            "date_accuracy": ratio(self.dated, self.hits),
            "entity_recall": ratio(self.entities_found, self.entities),
            "headline_form": ratio(self.headline_form, self.hits),
            "headline_agrees": ratio(self.headline_agrees, self.hits),
            "join_recall": ratio(self.joined_right, self.with_joins),
            "join_precision": ratio(self.joining_right, self.joining),
        }


def score(
    article: dict[str, Any],
    found: list[Found],
    seeds: dict[str, list[tuple[str, coref.Mention]]],
    tally: Tally,
) -> None:
    expected = article["expected"]
    hit_of = match(article, found)
    tally.expected += len(expected)
    for f in found:
        f.joins = joins(f, seeds)
        if f.outcome == "hit":
            tally.hits += 1
        elif f.outcome == "duplicate":
            tally.duplicates += 1
        else:
            tally.false_positives += 1
            tally.traps += f.trap is not None
        if f.joins:
            tally.joining += 1
            label = expected[f.label] if f.label is not None else None
            tally.joining_right += label is not None and f.joins == [label["joins"]]
    for item, n in zip(expected, hit_of, strict=True):
        tally.entities += len(item["entities"])
        tally.with_joins += item["joins"] is not None
        if n is None:
            continue
        f = found[n]
        tally.dated += _overlap(f.occurred, parse_occurred(item["occurred"]))
        tally.entities_found += sum(_carried(f.enriched, e) for e in item["entities"])
        tally.headline_form += headline_form(f.enriched.title)
        tally.headline_agrees += headline_agrees(
            f.enriched.title, item["headline"], f.mention.company
        )
        tally.joined_right += item["joins"] is not None and f.joins == [item["joins"]]


def evaluate(
    articles: list[dict[str, Any]] | None = None, splits: tuple[str, ...] = SPLITS
) -> tuple[dict[str, dict[str, float | int]], dict[str, list[tuple[dict[str, Any], list[Found]]]]]:
    """Per split, the figures; and per split, each article with its scored extractions."""
    seeds = _seed_mentions()
    tallies = {split: Tally() for split in splits}
    scored: dict[str, list[tuple[dict[str, Any], list[Found]]]] = {s: [] for s in splits}
    for article in articles if articles is not None else load_articles():
        if article["split"] not in splits:
            continue
        found = extract(article)
        score(article, found, seeds, tallies[article["split"]])
        scored[article["split"]].append((article, found))
    return {s: t.figures() for s, t in tallies.items()}, scored


def errors(scored: list[tuple[dict[str, Any], list[Found]]]) -> list[str]:
    """The development half's mistakes (the caller never passes the held-back half)."""
    out: list[str] = []
    for article, found in scored:
        assert article["split"] == "dev"
        expected = article["expected"]
        hit_of: dict[int, Found] = {
            f.label: f for f in found if f.outcome == "hit" and f.label is not None
        }
        out.append(f"== {article['id']} (published {article['published'][:10]})")
        for i, item in enumerate(expected):
            if i not in hit_of:
                out.append(f"  missed [{item['company']} {item['occurred']}] {item['sentence']!r}")
                continue
            problems = _hit_problems(hit_of[i], item)
            if problems:
                out.append(f"  hit {item['sentence'][:70]!r}: " + "; ".join(problems))
        out += _extra_errors(found, expected)
    return out


def _hit_problems(f: Found, item: dict[str, Any]) -> list[str]:
    """What a matched extraction gets wrong against its label: date, headline, joins, entities."""
    problems = []
    if not _overlap(f.occurred, parse_occurred(item["occurred"])):
        problems.append(f"date {f.occurred.text} != {item['occurred']}")
    title = f.enriched.title
    if not headline_form(title) or not headline_agrees(title, item["headline"], f.mention.company):
        problems.append(f"headline {title!r} vs {item['headline']!r}")
    if item["joins"] is not None and f.joins != [item["joins"]]:
        problems.append(f"joins {f.joins} != {item['joins']}")
    if item["joins"] is None and f.joins:
        problems.append(f"joins {f.joins}, label none")
    lost = [e for e in item["entities"] if not _carried(f.enriched, e)]
    if lost:
        problems.append(f"entities missing {[(e['kind'], e['value']) for e in lost]}")
    return problems


def _extra_errors(found: list[Found], expected: list[dict[str, Any]]) -> list[str]:
    """The lines for extractions no label asks for: false positives, and duplicates that join
    somewhere other than their label's event."""
    out: list[str] = []
    for f in found:
        if f.outcome == "fp":
            trap = " (trap)" if f.trap else ""
            out.append(
                f"  false positive{trap} [{f.enriched.company} {f.occurred.text}] "
                f"{f.enriched.title!r} <- {f.evidence!r}"
            )
        elif (
            f.outcome == "duplicate"
            and f.joins
            and f.label is not None
            and f.joins != [expected[f.label]["joins"]]
        ):
            out.append(f"  duplicate joins {f.joins}: {f.enriched.title!r}")
    return out


_ROWS = (
    ("expected happenings", "expected", "d"),
    ("extracted", "extracted", "d"),
    ("  matched (hits)", "hits", "d"),
    ("  duplicates", "duplicates", "d"),
    ("  false positives", "false_positives", "d"),
    ("    of them traps", "traps", "d"),
    ("happening recall", "recall", ".3f"),
    ("happening precision", "precision", ".3f"),
    ("date accuracy (matched)", "date_accuracy", ".3f"),
    ("entity recall (matched)", "entity_recall", ".3f"),
    ("headline form", "headline_form", ".3f"),
    ("headline agrees with label", "headline_agrees", ".3f"),
    ("join recall", "join_recall", ".3f"),
    ("join precision", "join_precision", ".3f"),
)
_NAMES = {"dev": "dev (tuned on)", "test": "test (held back)"}


def report(results: dict[str, dict[str, float | int]]) -> str:
    splits = list(results)
    lines = [f"{'articles':<28}" + "".join(f"{_NAMES[s]:>18}" for s in splits)]
    for label, key, fmt in _ROWS:
        lines.append(f"{label:<28}" + "".join(f"{results[s][key]:>18{fmt}}" for s in splits))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list the dev half's mistakes")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--dev-only", action="store_true", help="the development half alone (while tuning)"
    )
    args = parser.parse_args(argv)
    results, scored = evaluate(splits=("dev",) if args.dev_only else SPLITS)
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    else:
        print(report(results))
    if args.errors:
        print("\n".join(errors(scored["dev"])))


if __name__ == "__main__":
    main()
