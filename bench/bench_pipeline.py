"""How fast is the enrichment pipeline? Microseconds per typical event on one core.

The events are the seed timelines (`data/seed/`, real phrasings of real events), repeated. Each
round enriches every event once (`services.enrich.pipeline.enrich`, the report already decoded);
the best of several rounds is reported, with a baseline measured in the same run on the same
events -- a bare JSON round trip plus text normalisation, the least any pipeline must do -- so
the ratio stays comparable across machines. Time is CPU time of this process (other load on
the machine inflates it less than wall time). The steps memoise per-word work (stems, SimHash
digests) and the last few texts folded; the "cold" line enriches each distinct seed event once
with those memos emptied, the worst case of a vocabulary never seen before.
Run: `make bench-pipeline` (or with --profile to see where the time goes).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pivotwatch.seed import seed_events  # noqa: E402
from services.enrich.decode import to_report  # noqa: E402
from services.enrich.pipeline import Report, enrich  # noqa: E402
from services.enrich.steps import companies, core, dedup  # noqa: E402
from services.enrich.steps.normalize import normalize_text  # noqa: E402

TARGET_US = 100.0


def _baseline(data: list[dict[str, Any]]) -> None:
    for d in data:
        back = orjson.loads(orjson.dumps(d))
        normalize_text(back["title"])
        normalize_text(back.get("summary") or "")
        normalize_text(back.get("body") or "")


def _pipeline(reports: list[Report]) -> None:
    for r in reports:
        enrich(r)


def _best_us_per_event(fn: Callable[[], None], n_events: int, rounds: int) -> tuple[float, float]:
    samples = []
    gc.collect()
    for _ in range(rounds):
        start = time.process_time()
        fn()
        samples.append((time.process_time() - start) * 1e6 / n_events)
    return min(samples), statistics.median(samples)


def _cold_us_per_event(reports: list[Report]) -> float:
    total = 0.0
    for r in reports:
        for memo in (dedup.stem, dedup._chunk_terms, dedup._lanes, core.fold, core.words):
            memo.cache_clear()
        companies._resolve_cached.cache_clear()
        start = time.process_time()
        enrich(r)
        total += time.process_time() - start
    return total * 1e6 / len(reports)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=30, help="copies of the seed events per round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="print the cProfile top 25 too")
    ap.add_argument("--pipeline-only", action="store_true", help="print only the best µs/event")
    args = ap.parse_args()

    data = [ev["data"] for ev in seed_events()] * args.repeat
    reports = [to_report(d) for d in data]
    _pipeline(reports[:50])  # warm caches and lazily compiled patterns

    base_best, base_med = _best_us_per_event(lambda: _baseline(data), len(data), args.rounds)
    best, med = _best_us_per_event(lambda: _pipeline(reports), len(reports), args.rounds)
    if args.pipeline_only:
        print(best)
        return 0
    print(f"events per round   {len(reports)} ({len(reports) // args.repeat} seed events)")
    print(f"baseline           {base_best:8.1f} µs/event (median {base_med:.1f})")
    print(f"pipeline           {best:8.1f} µs/event (median {med:.1f})")
    print(f"ratio              {best / base_best:8.1f} x baseline")
    distinct = reports[: len(reports) // args.repeat]
    print(f"cold (memos empty) {_cold_us_per_event(distinct):8.1f} µs/event")
    print(
        f"target             {TARGET_US:8.1f} µs/event: {'met' if best < TARGET_US else 'MISSED'}"
    )
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        _pipeline(reports)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
