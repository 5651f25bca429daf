"""P4: reads at scale. A filtered timeline page of 50 and an `as_of` page, with N events stored.

The events are inserted directly (one INSERT ... SELECT generate_series, then ANALYZE): the
scenario measures the read side, and going through ingest would take hours for a million events.
Their columns look like what storage writes: 1,000 events per company, days spread over 25
years, eight categories, importance 0-99, one version each (10% corrected: two), recorded over
the last hour.
"""

from __future__ import annotations

import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.common import Report, cpu_delta, cpu_snapshot, http, loadgen
from bench.stack import bare_server, cpu_seconds, rss_mb, running_stack

COMPANIES = 1000
CATEGORIES = (
    "governance",
    "funding",
    "licensing",
    "product",
    "competition",
    "regulation",
    "legal",
    "leadership",
)
ROUTE = "/v1/companies/{slug}/timeline"

_EVENTS = """
INSERT INTO events (
    id, source, ce_id, type, company, companies, occurred, occurred_start, occurred_end,
    precision, title, summary, body, category, category_confidence, phase, transition_to,
    stance, importance, entities, entity_values, evidence, sources, tags, actors, fingerprint,
    duplicate_of, extracted, published, reported_at, received_at, recorded_at, updated_at,
    version, correlation_id, raw)
SELECT
    md5('p4-' || g)::uuid, '/bench/p4', 'p4-' || g, 'dev.pivotwatch.strategy.reported',
    'bench-co-' || (g %% %(companies)s), ARRAY['bench-co-' || (g %% %(companies)s)],
    to_char(d, 'YYYY-MM-DD'), d, d, 'day',
    'Bench company ' || (g %% %(companies)s) || ' ' ||
        (ARRAY['restructures its board', 'raises a funding round', 'releases open weights',
               'launches a product', 'answers a rival', 'meets a regulator', 'is sued',
               'appoints a chief executive'])[1 + (g / %(companies)s) %% 8] || ' (' || g || ')',
    'A generated event for the read benchmark; its summary is about as long as a real one, '
        || 'a sentence or two of what happened and why it matters to the company.',
    '', (ARRAY['governance', 'funding', 'licensing', 'product', 'competition', 'regulation',
               'legal', 'leadership'])[1 + (g / %(companies)s) %% 8],
    0.8, NULL, NULL, 0.0, (g * 37) %% 100,
    jsonb_build_array(jsonb_build_object('kind', 'org',
                                         'value', 'bench-co-' || (g %% %(companies)s))),
    ARRAY['bench-co-' || (g %% %(companies)s)], '{}'::jsonb,
    jsonb_build_array(jsonb_build_object('url', 'https://example.org/p4/' || g,
                                         'publisher', 'Bench', 'published_at', NULL)),
    '{}', '{}', g, NULL, false, true,
    t, t, t, t, 1, NULL, '{}'::jsonb
FROM generate_series(1::bigint, %(n)s::bigint) AS g,
     LATERAL (SELECT date '2000-01-01' + ((g * 7919) %% 9131)::int AS d,
                     now() - interval '1 hour' + (g * interval '3600 seconds') / %(n)s AS t) x
"""

_DOC = """jsonb_build_object(
    'id', e.id::text, 'source', e.source, 'ce_id', e.ce_id, 'company', e.company,
    'companies', to_jsonb(e.companies), 'occurred', e.occurred,
    'occurred_start', e.occurred_start::text, 'occurred_end', e.occurred_end::text,
    'precision', e.precision, 'title', e.title {title_suffix}, 'summary', e.summary,
    'category', e.category, 'category_label', e.category,
    'category_confidence', e.category_confidence, 'phase', e.phase,
    'transition_to', e.transition_to, 'stance', e.stance, 'importance', e.importance,
    'entities', e.entities, 'sources', e.sources, 'tags', to_jsonb(e.tags),
    'actors', to_jsonb(e.actors), 'duplicate_of', NULL, 'extracted', false,
    'reported_at', e.reported_at, 'received_at', e.received_at,
    'recorded_at', e.recorded_at, 'updated_at', {updated}, 'version', {version})"""

_VERSIONS = f"""
INSERT INTO event_versions (event_id, version, recorded_at, data)
SELECT e.id, 1, e.recorded_at, {_DOC.format(title_suffix="", updated="e.updated_at", version=1)}
FROM events e WHERE e.source = '/bench/p4'
"""

_LATER = "e.recorded_at + interval '10 minutes'"
# A tenth of the events were corrected ten minutes after they were first recorded.
_CORRECTIONS = f"""
INSERT INTO event_versions (event_id, version, recorded_at, data)
SELECT e.id, 2, e.recorded_at + interval '10 minutes',
       {_DOC.format(title_suffix="|| ' (corrected)'", updated=_LATER, version=2)}
FROM events e WHERE e.source = '/bench/p4' AND e.fingerprint % 10 = 0;
UPDATE events SET version = 2, title = title || ' (corrected)',
       updated_at = recorded_at + interval '10 minutes'
WHERE source = '/bench/p4' AND fingerprint % 10 = 0
"""


def fill(database_url: str, n: int, companies: int = COMPANIES) -> float:
    start = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(_EVENTS, {"n": n, "companies": companies})
        conn.execute(_VERSIONS)
        for stmt in _CORRECTIONS.split(";"):
            conn.execute(stmt)
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE event_versions")
    return time.monotonic() - start


def histogram(base: str, route: str) -> dict[float, float]:
    """Cumulative bucket counts of the service's own latency histogram for one route."""
    text = http().get(base + "/metrics", timeout=10).text
    out: dict[float, float] = {}
    for line in text.splitlines():
        if not line.startswith("pivotwatch_http_request_seconds_bucket"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if labels.get("route") != route:
            continue
        le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
        out[le] = float(line.rsplit(" ", 1)[1])
    return out


def service_percentile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """The histogram bucket the q-quantile of the requests between two scrapes falls in."""
    counts = {le: after[le] - before.get(le, 0.0) for le in sorted(after)}
    total = counts.get(float("inf"), 0.0)
    if not total:
        return "n/a"
    lower = 0.0
    for le, cum in counts.items():
        if cum >= q * total:
            return f"{lower * 1000:g}-{le * 1000:g} ms"
        lower = le
    return "n/a"


def share_under(before: dict[float, float], after: dict[float, float], le: float) -> float:
    total = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    return (after.get(le, 0.0) - before.get(le, 0.0)) / total if total else 0.0


def explain(database_url: str, stmt: Any) -> list[str]:
    from sqlalchemy.dialects import postgresql

    compiled = stmt.compile(
        dialect=postgresql.psycopg.dialect(),  # type: ignore[attr-defined]
        compile_kwargs={"render_postcompile": True},
    )
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + str(compiled),
            compiled.params,
        ).fetchall()
    return [r[0] for r in rows]


def p4_reads(report: Report, seconds: float) -> None:
    from services.timeline.repository import TimelineQuery, build

    n = 50_000 if report.quick else 1_000_000
    warm = 1.0 if report.quick else 2.0
    with (
        tempfile.TemporaryDirectory() as home,
        running_stack(Path(home)) as (stack, _key),
    ):
        # A thousand events per company, so the filtered page is a full page of 50.
        fill_s = fill(stack.database_url, n, n // 1000)
        base = stack.urls()["timeline"]
        timeline_pid = next(c.proc.pid for c in stack.children if c.name == "timeline" and c.proc)
        slug = "bench-co-7"
        page = f"{base}/v1/companies/{slug}/timeline?category=funding&from=2005-01-01&limit=50"
        # The as_of moment: half-way through the hour the events were recorded in.
        with psycopg.connect(stack.database_url) as conn:
            row: Any = conn.execute(
                "SELECT min(recorded_at) + (max(recorded_at) - min(recorded_at)) / 2 FROM events"
            ).fetchone()
        as_of: datetime = row[0].astimezone(UTC)
        as_of_text = as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        as_of_page = f"{page}&as_of={as_of_text}"
        # The timeline keeps rendered pages while the change feed shows no change
        # (services/timeline/cache.py). A parameter the service ignores, different on every
        # request ({n}), makes each one miss that cache: the query and the documents every time.
        uncached, as_of_uncached = f"{page}&_n={{n}}", f"{as_of_page}&_n={{n}}"
        loadgen(uncached, warm, 4, unique=True)
        loadgen(as_of_uncached, warm, 4, unique=True)
        # In the service: its own histogram around a low-concurrency run (2 connections, so
        # queueing does not inflate it), and the client-side p99 of the same run; uncached.
        h0 = histogram(base, ROUTE)
        low = loadgen(uncached, seconds / 2, 2, unique=True)
        h1 = histogram(base, ROUTE)
        low_asof = loadgen(as_of_uncached, seconds / 2, 2, unique=True)
        h2 = histogram(base, ROUTE)
        cpu0 = cpu_snapshot(stack)
        high_uncached = loadgen(uncached, seconds, 32, unique=True)
        cpu_uncached = cpu_delta(cpu0, cpu_snapshot(stack))
        # The same page asked again and again: served from the cache after the first request.
        hot_low = loadgen(page, seconds / 2, 2)
        cpu0 = cpu_snapshot(stack)
        high = loadgen(page, seconds, 32)
        cpu = cpu_delta(cpu0, cpu_snapshot(stack))
        rss = rss_mb(timeline_pid)
        plan = explain(
            stack.database_url,
            build(
                TimelineQuery(
                    companies=[slug],
                    category=["funding"],
                    date_from=datetime(2005, 1, 1).date(),
                    limit=50,
                )
            ),
        )
        plan_asof = explain(
            stack.database_url,
            build(
                TimelineQuery(
                    companies=[slug],
                    category=["funding"],
                    date_from=datetime(2005, 1, 1).date(),
                    as_of=as_of,
                    limit=50,
                )
            ),
        )
        statuses: dict[str, int] = {}
        for run in (low, low_asof, high_uncached, hot_low, high):
            for code, count in run["statuses"].items():
                statuses[code] = statuses.get(code, 0) + count
    with bare_server() as (bare_base, bare_pid):
        loadgen(bare_base + "/page", warm, 4)
        bare_cpu0 = cpu_seconds(bare_pid)
        bare = loadgen(bare_base + "/page", seconds, 32)
        bare_cpu = cpu_seconds(bare_pid) - bare_cpu0
    report.add(
        "P4 reads at scale",
        events_stored=n,
        fill_seconds=fill_s,
        page_p99_ms_client_2conn=low["p99_ms"],
        page_p50_ms_client_2conn=low["p50_ms"],
        page_p99_bucket_in_service=service_percentile(h0, h1, 0.99),
        page_share_under_10ms_in_service=share_under(h0, h1, 0.01),
        target_page_p99_ms="<= 15",
        as_of_p99_ms_client_2conn=low_asof["p99_ms"],
        as_of_p99_bucket_in_service=service_percentile(h1, h2, 0.99),
        target_as_of_p99_ms="<= 30",
        page_rps_32conn=high["rps"],
        page_p99_ms_32conn=high["p99_ms"],
        bare_rps=bare["rps"],
        ratio=high["rps"] / bare["rps"],
        target_ratio=">= 0.50",
        hot_page_p99_ms_client_2conn=hot_low["p99_ms"],
        uncached_page_rps_32conn=high_uncached["rps"],
        uncached_page_p99_ms_32conn=high_uncached["p99_ms"],
        uncached_ratio=high_uncached["rps"] / bare["rps"],
        uncached_timeline_cpu_ms_per_request=1000
        * cpu_uncached["timeline"]
        / max(1, high_uncached["requests"]),
        statuses=statuses,
        plan_uses_index=not any("Seq Scan" in line for line in plan),
        plan=[line.strip() for line in plan if "Scan" in line or "Execution" in line],
        as_of_plan_uses_index=not any("Seq Scan" in line for line in plan_asof),
        as_of_plan=[line.strip() for line in plan_asof if "Scan" in line or "Execution" in line],
        service_cpu_s=cpu,
        timeline_cpu_ms_per_request=1000 * cpu["timeline"] / max(1, high["requests"]),
        loadgen_cpu_s=high["cpu_seconds"],
        bare_cpu_s=bare_cpu,
        bare_loadgen_cpu_s=bare["cpu_seconds"],
        timeline_rss_mb=rss,
    )
