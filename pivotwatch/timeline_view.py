"""`pivotwatch timeline SLUG`: a company's chronology in the terminal, one table per phase.

It reads the timeline API like any client (`--url`, default the local service), so it shows what
the service serves: the same filters, the same order, each date at its real precision.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from services.timeline.phases import phase_at
from shared.settings import get_settings

Doc = dict[str, Any]
PAGE = 500


class ViewError(Exception):
    """The timeline could not be read; the message says why, for a person."""


def _get(client: httpx.Client, path: str, params: dict[str, Any]) -> Doc:
    try:
        r = client.get(path, params=params)
    except httpx.TransportError as exc:
        raise ViewError(
            f"cannot reach the timeline at {client.base_url} ({type(exc).__name__}); "
            "is `pivotwatch up` running, or is --url right?"
        ) from exc
    if r.status_code != 200:
        try:
            body = r.json()
            reason = f"{body.get('detail')}" + (f" ({body['field']})" if body.get("field") else "")
        except ValueError:
            reason = r.text[:200]
        raise ViewError(f"the timeline answered {r.status_code}: {reason}")
    data: Doc = r.json()
    return data


def fetch(
    url: str, slug: str, filters: dict[str, Any], key: str | None = None
) -> tuple[list[Doc], list[Doc]]:
    """Every event matching `filters` (following cursors) and the company's phases."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    params = {k: v for k, v in filters.items() if v not in (None, [], "")}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        as_of = {"as_of": params["as_of"]} if "as_of" in params else {}
        phases: list[Doc] = _get(client, f"/v1/companies/{slug}/phases", as_of)["phases"]
        events: list[Doc] = []
        cursor = None
        while True:
            page = _get(
                client,
                f"/v1/companies/{slug}/timeline",
                {**params, "limit": PAGE, **({"cursor": cursor} if cursor else {})},
            )
            events.extend(page["events"])
            cursor = page["next_cursor"]
            if cursor is None:
                return events, phases


def group(events: list[Doc], phases: list[Doc]) -> list[tuple[Doc | None, list[Doc]]]:
    """Events under the phase in force when each began, in order; empty phases are left out."""
    groups: list[tuple[Doc | None, list[Doc]]] = []
    for ev in events:
        phase = phase_at(phases, ev["occurred_start"])
        if groups and groups[-1][0] is phase:
            groups[-1][1].append(ev)
        else:
            groups.append((phase, [ev]))
    return groups


def _heading(phase: Doc | None, has_phases: bool) -> str:
    if phase is None:
        return "before the first recorded phase" if has_phases else "all events"
    end = phase["end"] or "now"
    return f"{phase['name']}  ·  {phase['start']} → {end}"


def render(console: Console, slug: str, events: list[Doc], phases: list[Doc]) -> None:
    if not events:
        console.print(f"[yellow]no events for {slug} match these filters[/]")
        return
    openers = {p["opened_by"]["id"] for p in phases}
    console.print(Text(f"{slug}: {len(events)} events", style="bold"))
    for phase, items in group(events, phases):
        table = Table(
            title=_heading(phase, bool(phases)),
            title_style="bold cyan",
            title_justify="left",
            expand=True,
        )
        table.add_column("when", no_wrap=True)
        table.add_column("category", no_wrap=True)
        table.add_column("imp.", justify="right", no_wrap=True)
        table.add_column("what happened", ratio=1)
        table.add_column("sources", overflow="fold")
        for ev in items:
            # Text objects, never markup: titles are reporters' words, "[...]" included.
            title = Text(ev["title"], style="bold" if ev["id"] in openers else "")
            if ev["id"] in openers:
                title.append("  (opens this phase)", style="italic cyan")
            publishers = [str(s.get("publisher") or s.get("url")) for s in ev["sources"]]
            table.add_row(
                Text(ev["occurred"]),
                Text(ev.get("category_label") or ev["category"]),
                Text(str(ev["importance"])),
                title,
                Text(", ".join(publishers)),
            )
        console.print(table)


def cmd_timeline(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = (args.url or f"http://{settings.host}:{settings.timeline_port}").rstrip("/")
    key = args.key or os.environ.get("PIVOTWATCH_API_KEY")
    filters = {
        "from": args.from_,
        "to": args.to,
        "category": args.category,
        "min_importance": args.min_importance,
        "q": args.q,
        "as_of": args.as_of,
    }
    console = Console()
    try:
        events, phases = fetch(url, args.slug.lower(), filters, key)
    except ViewError as exc:
        Console(stderr=True).print(Text(f"pivotwatch: {exc}", style="red"))
        return 1
    render(console, args.slug.lower(), events, phases)
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("timeline", help="print a company's chronology, grouped by phase")
    p.add_argument("slug", help="company slug, e.g. openai")
    p.add_argument("--from", dest="from_", metavar="DATE", help="events that end on or after")
    p.add_argument("--to", metavar="DATE", help="events that start on or before")
    p.add_argument("--category", action="append", help="repeat for several")
    p.add_argument("--min-importance", type=int, metavar="N")
    p.add_argument("--q", metavar="TEXT", help="full-text search")
    p.add_argument("--as-of", metavar="TIME", help="as recorded at this moment (RFC 3339)")
    p.add_argument("--url", help="timeline base URL (default: the local service)")
    p.add_argument("--key", help="API key, when the service requires one for reads")
    p.set_defaults(func=cmd_timeline)
