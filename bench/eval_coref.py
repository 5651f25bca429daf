"""How well does coreference tell retellings of one happening from different happenings?

The labelled set is `tests/data/coreference/` (see its README): happenings from the sourced facts,
each retold as outlets headline it (mentions), and labelled pairs of mentions, same or different.
Its split is fixed by story group: the thresholds in `services.enrich.coref` are tuned on "dev";
"test" is held back and only reported.

Each mention is enriched as a report would be (`pipeline.enrich`, for its category), then:
- pairwise: the labelled pairs, decided by `coref.decide`: precision, recall and F1 of "same";
- clusters: every two mentions of a split under one company decided the same way, joined
  transitively (as stored events join a canonical event), scored against the happenings with
  B-cubed precision, recall and F1.

Run: `make eval-coref` (`--errors` lists the development half's mistakes, never the held-back's).
`--dense N` also decides every pair within 3 days of one company among the first N events of the
dense benchmark mix (`bench.dense`, fictional companies) and counts merges right and wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.enrich.coref import Mention, decide, explain, mention  # noqa: E402
from services.enrich.pipeline import Report, enrich  # noqa: E402
from shared.dates import parse_occurred  # noqa: E402

DATA = ROOT / "tests" / "data" / "coreference"
SPLITS = ("dev", "test")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class Labelled:
    id: str
    happening: str
    split: str
    mention: Mention


def load(data: Path = DATA) -> tuple[dict[str, Labelled], list[dict[str, Any]]]:
    """The mentions, enriched, by id; and the labelled pairs (each with its split)."""
    happenings = {h["id"]: h for h in read_jsonl(data / "happenings.jsonl")}
    mentions: dict[str, Labelled] = {}
    for m in read_jsonl(data / "mentions.jsonl"):
        occurred = parse_occurred(m["occurred"])
        en = enrich(Report(m["company"], occurred, m["title"], m.get("summary", "")))
        mentions[m["id"]] = Labelled(
            m["id"],
            m["happening"],
            happenings[m["happening"]]["split"],
            mention(en.company, occurred, en.category, en.title, en.summary),
        )
    pairs = [dict(p, split=mentions[p["a"]].split) for p in read_jsonl(data / "pairs.jsonl")]
    return mentions, pairs


def pairwise(decided: Iterable[tuple[bool, bool]]) -> dict[str, float]:
    """Precision, recall and F1 of the positive class over (predicted, actual) pairs."""
    tp = fp = fn = n = 0
    for predicted, actual in decided:
        n += 1
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairs": n, "tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall,
            "f1": f1}  # fmt: skip


def clusters(ids: list[str], same: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Connected components of `same` over `ids`: id -> cluster number."""
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in same:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = sorted({root(i) for i in ids})
    number = {r: n for n, r in enumerate(roots)}
    return {i: number[root(i)] for i in ids}


def bcubed(predicted: dict[str, int], gold: dict[str, str]) -> dict[str, float]:
    """B-cubed precision, recall and F1 of a clustering against the gold one (same items)."""
    by_pred: dict[int, set[str]] = {}
    by_gold: dict[str, set[str]] = {}
    for item, c in predicted.items():
        by_pred.setdefault(c, set()).add(item)
        by_gold.setdefault(gold[item], set()).add(item)
    precision = recall = 0.0
    for item in predicted:
        mine, truth = by_pred[predicted[item]], by_gold[gold[item]]
        both = len(mine & truth)
        precision += both / len(mine)
        recall += both / len(truth)
    n = len(predicted) or 1
    precision, recall = precision / n, recall / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"mentions": len(predicted), "precision": precision, "recall": recall, "f1": f1}


def evaluate(
    mentions: dict[str, Labelled], pairs: list[dict[str, Any]], split: str
) -> dict[str, Any]:
    chosen = [p for p in pairs if p["split"] == split]
    scored = pairwise(
        (decide(mentions[p["a"]].mention, mentions[p["b"]].mention) is not None, p["same"])
        for p in chosen
    )
    ids = sorted(i for i, m in mentions.items() if m.split == split)
    merged = [
        (a, b)
        for n, a in enumerate(ids)
        for b in ids[n + 1 :]
        if decide(mentions[a].mention, mentions[b].mention) is not None
    ]
    cl = bcubed(clusters(ids, merged), {i: mentions[i].happening for i in ids})
    return {"pairwise": scored, "bcubed": cl}


def errors(mentions: dict[str, Labelled], pairs: list[dict[str, Any]]) -> list[str]:
    """The development half's wrong decisions, with the evidence (never the held-back half's)."""
    out = []
    for p in pairs:
        if p["split"] != "dev":
            continue
        a, b = mentions[p["a"]].mention, mentions[p["b"]].mention
        found = explain(a, b)
        if found["merge"] != p["same"]:
            label = "missed" if p["same"] else "wrongly merged"
            out.append(
                f"{label} ({p.get('kind')}): {a.title!r} [{a.category}] / {b.title!r} "
                f"[{b.category}]\n    {a.anchors.encode()} / {b.anchors.encode()}\n    {found}"
            )
    return out


def dense_pairs(count: int, days: int = 3) -> dict[str, int]:
    """Pairs of the dense mix's first `count` events, one company and at most `days` apart:
    merged and the same happening (right), merged and not (wrong), not merged and the same
    (missed)."""
    from bench.dense import dense_events

    by_company: dict[str, list[tuple[Any, str, Mention]]] = {}
    for e in dense_events(count):
        d = e.ce["data"]
        occurred = parse_occurred(d["occurred"])
        en = enrich(Report(d["company"], occurred, d["title"], d["summary"]))
        m = mention(en.company, occurred, en.category, en.title, en.summary)
        by_company.setdefault(en.company, []).append((occurred.start, e.happening, m))
    tally = {"right": 0, "wrong": 0, "missed": 0}
    for ms in by_company.values():
        ms.sort(key=lambda x: x[0])
        for i, (day_a, ha, ma) in enumerate(ms):
            for day_b, hb, mb in ms[i + 1 :]:
                if (day_b - day_a).days > days:
                    break
                merged = decide(ma, mb) is not None
                if merged or ha == hb:
                    tally["right" if merged and ha == hb else "wrong" if merged else "missed"] += 1
    return tally


def report(results: dict[str, dict[str, Any]]) -> str:
    lines = ["coreference       pairs   P      R      F1     | B3 P   B3 R   B3 F1  mentions"]
    for split, r in results.items():
        pw, b3 = r["pairwise"], r["bcubed"]
        name = {"dev": "dev (tuned on)", "test": "test (held back)"}[split]
        lines.append(
            f"{name:<17} {pw['pairs']:>5}  {pw['precision']:.3f}  {pw['recall']:.3f}  "
            f"{pw['f1']:.3f}  | {b3['precision']:.3f}  {b3['recall']:.3f}  {b3['f1']:.3f}  "
            f"{b3['mentions']:>5}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list the dev half's mistakes")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--dense", type=int, default=0, metavar="N", help="also the dense mix")
    args = parser.parse_args(argv)
    mentions, pairs = load()
    results = {split: evaluate(mentions, pairs, split) for split in SPLITS}
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    else:
        print(report(results))
    if args.errors:
        print("\n".join(errors(mentions, pairs)))
    if args.dense:
        found = dense_pairs(args.dense)
        print(f"dense mix, first {args.dense} events, pairs within 3 days of one company: {found}")


if __name__ == "__main__":
    main()
