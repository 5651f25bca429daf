"""`pivotwatch dlq list|retry`: look at the enrich entries that kept failing, and send them back."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="dead-lettered enrich entries: list them, send them back")
    ds = dlq.add_subparsers(dest="dlq_cmd", required=True)
    ls = ds.add_parser("list", help="show dead letters (newest first)")
    ls.add_argument("--status", default="dead", choices=["dead", "retrying", "retried", "all"])
    ls.add_argument("--limit", type=int, default=100)
    retry = ds.add_parser("retry", help="send dead letters back to the enrich queue")
    retry.add_argument("ids", nargs="*", type=int, help="dead letter ids (default: with --all)")
    retry.add_argument("--all", action="store_true", help="every dead letter")
    dlq.set_defaults(func=cmd_dlq)


def cmd_dlq(args: argparse.Namespace) -> int:
    from pivotwatch.cli import load_settings, need_urls
    from services.enrich import deadletter
    from shared.celery_app import ENRICH_QUEUE, make_celery
    from shared.db import make_engine, session_factory

    settings = load_settings()
    need_urls(settings)
    engine = make_engine(settings, pool_size=1)
    try:
        sessions = session_factory(engine)
        if args.dlq_cmd == "list":
            with sessions() as session:
                status = None if args.status == "all" else args.status
                rows = deadletter.list_dead(session, status, args.limit)
            if not rows:
                print("no dead letters")
            for row in rows:
                error = " ".join(row.error.split())
                print(
                    f"{row.id:>6}  {row.status:8} attempts={row.attempts}  {row.entry_id}  "
                    f"last failed {row.last_failed_at:%Y-%m-%d %H:%M:%S}Z\n        {error[:160]}"
                )
            return 0
        if not args.ids and not args.all:
            print("pivotwatch: give dead letter ids, or --all", file=sys.stderr)
            return 2
        app = make_celery(settings)
        with sessions() as session, session.begin():
            entries = deadletter.take_for_retry(session, args.ids or None)
            # Sent inside the transaction: if publishing fails, the rows stay dead (and a
            # re-sent entry is harmless: storage is idempotent).
            for entry in entries:
                app.send_task(
                    "enrich.store_chunk",
                    args=[[entry]],
                    kwargs={"requeued": True},
                    queue=ENRICH_QUEUE,
                )
        print(f"sent {len(entries)} dead letter(s) back to the enrich queue")
        return 0 if entries or args.all else 1
    finally:
        engine.dispose()
