"""Soak: the whole stack at a steady rate for a long while, with zero loss and flat memory.

    python -m bench.soak                       # 200 events/s for 10 minutes (`make soak`)
    python -m bench.soak --rate 100 --minutes 2

The stack, load, receiver and audit are the fault tests' (tests/faults/harness.py), with no fault:
events go through the ingest API in batches at the given rate, one subscription takes every event
and one takes none. Every 10 s the resident memory of each process (a worker with its pool) and
the backlog (202'd but not yet stored, stored but not yet fanned out, deliveries pending) are
sampled. At the end the audit
runs (the same counts and checks as the fault tests) and each process's memory growth is
reported: mean RSS over the load's last minute against its first minute. Exit status 0 only if
the audit passes and no pivotwatch process (services, relay, workers, beat; the servers are
only reported) grew more than --max-growth percent. Results are also written to
bench/results/soak-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from tests.faults.harness import (
    FaultStack,
    Hook,
    Load,
    Receiver,
    Scenario,
    audit,
    company_names,
    slug,
)

SAMPLE_EVERY = 10.0
SERVERS = ("postgres", "redis")


def backlog(database_url: str, source: str, accepted: int) -> dict[str, int]:
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM events WHERE source = %s", (source,)
            ).fetchone()
            pending = conn.execute(
                "SELECT count(*) FROM deliveries WHERE status = 'pending'"
            ).fetchone()
            outbox = conn.execute(
                "SELECT count(*) FROM outbox WHERE processed_at IS NULL"
            ).fetchone()
    except psycopg.Error:
        return {}
    stored = int(row[0]) if row else 0
    return {
        "accepted": accepted,
        "not_yet_stored": accepted - stored,
        # Stored but not yet fanned out: the notify side's backlog (its Celery queue).
        "outbox_unprocessed": int(outbox[0]) if outbox else 0,
        "deliveries_pending": int(pending[0]) if pending else 0,
    }


def growth(samples: list[dict[str, Any]], load_seconds: float) -> dict[str, dict[str, float]]:
    """Per process: mean RSS (MB) in the load's first and last minute, and the growth in %."""
    during = [s for s in samples if s["t"] <= load_seconds + 1]
    first = [s for s in during if s["t"] <= 60] or during[:1]
    last = [s for s in during if s["t"] >= load_seconds - 60] or during[-1:]
    out = {}
    for name in samples[0]["rss"]:
        a = statistics.fmean(s["rss"][name] for s in first)
        b = statistics.fmean(s["rss"][name] for s in last)
        out[name] = {
            "first_minute_mb": round(a, 1),
            "last_minute_mb": round(b, 1),
            "growth_pct": round((b - a) / a * 100, 1) if a else 0.0,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--rate", type=float, default=200.0, help="events per second (200)")
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (10)")
    ap.add_argument("--batch", type=int, default=20, help="events per request (20)")
    ap.add_argument("--max-growth", type=float, default=10.0, help="allowed RSS growth in %%")
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args(argv)
    seconds = args.minutes * 60
    total = int(args.rate * seconds)
    started = datetime.now(UTC)
    print(f"soak: {args.rate:g} events/s for {args.minutes:g} min ({total} events)", flush=True)

    with tempfile.TemporaryDirectory(prefix="pivotwatch-soak-") as tmp:
        receiver = Receiver()
        stack = FaultStack(Path(tmp) / "pw", {"PIVOTWATCH_LOG_LEVEL": "WARNING"})
        try:
            stack.start()
            companies = company_names("soak")
            hooks = [Hook("all", companies), Hook("nobody", ["Faultline soak Nobody"])]
            for hook in hooks:
                hook.id, hook.secret = stack.subscribe(
                    receiver.url(hook.name), [slug(c) for c in hook.companies]
                )
            sc = Scenario(stack, receiver, "soak", hooks, "/soak", companies)
            samples: list[dict[str, Any]] = []
            stop = threading.Event()
            load = Load(stack, sc.source, companies, total, seconds, args.batch)
            t0 = time.monotonic()
            load.start()

            def sample() -> None:
                while True:
                    t = time.monotonic() - t0
                    point = {
                        "t": round(t, 1),
                        "rss": {k: round(v, 1) for k, v in stack.rss().items()},
                        "backlog": backlog(stack.database_url, sc.source, load.accepted_count()),
                    }
                    samples.append(point)
                    rss = sum(point["rss"].values())
                    print(f"  {t:6.0f}s  rss {rss:7.1f} MB  {point['backlog']}", flush=True)
                    if stop.wait(SAMPLE_EVERY):
                        return

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            result = audit(
                f"soak {args.rate:g}/s for {args.minutes:g} min",
                sc,
                load,
                timeout=max(300, seconds),
            )
            stop.set()
            sampler.join(15)
        finally:
            stack.stop()
            receiver.close()

    mem = growth(samples, seconds)
    # Only pivotwatch's own processes are judged: Redis grows with the data it keeps (a status
    # per event for days), and PostgreSQL's RSS counts shared buffers again in every backend
    # that touches them. Both are reported.
    grown = {k: v for k, v in mem.items() if k not in SERVERS and v["growth_pct"] > args.max_growth}
    print("memory (mean RSS, load's first minute -> last minute):")
    for name, m in mem.items():
        print(
            f"  {name:14} {m['first_minute_mb']:8.1f} -> {m['last_minute_mb']:8.1f} MB"
            f"  ({m['growth_pct']:+.1f}%)"
        )
    report = {
        "started": started.isoformat(),
        "machine": {
            "node": platform.node(),
            "cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "rate": args.rate,
        "minutes": args.minutes,
        "events": total,
        "audit": {k: v for k, v in result.counts.items()},
        "problems": result.problems,
        "memory": mem,
        "samples": samples,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"soak-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"results: {path}")
    if grown:
        print(f"memory grew more than {args.max_growth:g}%: {sorted(grown)}")
    if result.problems:
        print("audit failed:\n  " + "\n  ".join(result.problems))
    return 0 if not grown and not result.problems else 1


if __name__ == "__main__":
    sys.exit(main())
