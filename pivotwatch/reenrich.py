"""`pivotwatch reenrich [--company X]`: re-run enrichment over stored events (progress bar)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "reenrich", help="re-run enrichment over stored events; new versions where output changed"
    )
    p.add_argument("--company", help="only this company's events (its slug)")
    p.add_argument("--batch", type=int, default=200, help="events per transaction")
    p.set_defaults(func=cmd_reenrich)


def cmd_reenrich(args: argparse.Namespace) -> int:
    from redis import Redis
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from pivotwatch.cli import load_settings, need_urls
    from services.enrich.reenrich import count_events, reenrich
    from shared import feed
    from shared.celery_app import NOTIFY_QUEUE, make_celery
    from shared.db import make_engine, session_factory

    settings = load_settings()
    need_urls(settings)
    engine = make_engine(settings, pool_size=1)
    app = make_celery(settings)
    client = Redis.from_url(settings.redis_url)

    def fanout(ids: list[int]) -> None:
        app.send_task("notify.fanout", args=[ids], queue=NOTIFY_QUEUE)

    try:
        sessions = session_factory(engine)
        with sessions() as session:
            total = count_events(session, args.company)
        columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, disable=not sys.stdout.isatty()) as bar:
            task = bar.add_task("re-enriching", total=total)
            result = reenrich(
                sessions,
                args.company,
                batch=args.batch,
                progress=lambda n: bar.advance(task, n),
                send_fanout=fanout,
                announce=lambda items: feed.append(client, items),
            )
        print(
            f"{result.scanned} events re-enriched: {result.changed} changed (new version), "
            f"{result.scanned - result.changed - result.failed} unchanged, "
            f"{result.failed} unreadable; coreference again: {result.merged} merged into an "
            f"earlier event, {result.split} split off"
        )
        return 0
    finally:
        client.close()
        engine.dispose()
