"""`pivotwatch status`: where the work is now (shared/opstatus.py), for a person or a script."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from shared.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="backlog, held messages, workers, outbox and deliveries")
    p.add_argument("--json", action="store_true", help="the report as JSON (as GET /v1/status)")
    p.set_defaults(func=cmd_status)


async def _collect(settings: Settings) -> dict[str, Any]:
    import redis.asyncio as aioredis

    from shared.db import make_async_engine
    from shared.opstatus import collect

    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3)
    engine = make_async_engine(settings, pool_size=1, read_only=True)
    try:
        return await collect(client, engine)
    finally:
        await client.aclose()
        await engine.dispose()


def cmd_status(args: argparse.Namespace) -> int:
    from pivotwatch.cli import load_settings, need_urls

    settings = load_settings()
    need_urls(settings)
    report = asyncio.run(_collect(settings))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
    return 0 if report.get("redis") == "ok" and report.get("postgres") == "ok" else 1


def render(r: dict[str, Any]) -> str:
    """The report as a few aligned lines."""
    lines = [f"pivotwatch status at {r['at']}"]
    if r.get("redis") != "ok":
        lines.append(f"  Redis       {r.get('redis')}")
    else:
        log, q, u = r["ingest_log"], r["queues"], r["unacknowledged"]
        lines += [
            f"  ingest log  {log['waiting']} waiting for the relay, "
            f"{log['read_not_acknowledged']} read and not yet handed on ({log['entries']} kept)",
            f"  queues      enrich {q['enrich']} chunk(s), notify {q['notify']} task(s) waiting",
            f"  held        {u['messages']} message(s) in workers, "
            f"oldest {u['oldest_age_seconds']:g} s"
            + (
                f"; {u['held_by_stopped_workers']} held by stopped workers (being taken back)"
                if u["held_by_stopped_workers"]
                else ""
            ),
        ]
        for m in u["oldest"][:5]:
            who = m["worker"] or "no worker recorded yet"
            state = "" if m["worker_alive"] is not False else " (stopped)"
            lines.append(
                f"                {m['task'] or '?'} for {m['age_seconds']:g} s in {who}{state}"
            )
        lines.append("  workers")
        if not r["workers"]:
            lines.append("                none has beaten")
        for w in r["workers"]:
            state = "alive" if w["alive"] else "stopped"
            lines.append(
                f"                {w['name']:<28} {state:<8} last heartbeat "
                f"{w['heartbeat_age_seconds']:g} s ago (pid {w['pid']} on {w['host']})"
            )
    if r.get("postgres") != "ok":
        lines.append(f"  PostgreSQL  {r.get('postgres')}")
    else:
        o, d, dl = r["outbox_waiting"], r["deliveries"], r["dead_letters"]
        lines += [
            f"  outbox      {o['rows']} stored event(s) not yet fanned out",
            f"  deliveries  {d['processing']} being sent, {d['waiting']} waiting, "
            f"{d['retrying']} retrying, {d['failed']} failed",
            f"  dead letters {dl['dead']} dead, {dl['retrying']} retrying",
        ]
    return "\n".join(lines)
