"""The timeline queries use indexes: EXPLAIN shows no sequential scan on `events` once the table
holds a realistic number of rows (20k synthetic events, statistics up to date)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text

from services.timeline.repository import TimelineQuery, build, encode_cursor
from shared.db import make_engine
from shared.settings import Settings

ROWS = 20_000
COMPANIES = 20

# One statement, no Python loop: 20 companies, each with a co-company, 8 categories, dates over
# 25 years at mixed precision, a hundred entity values, importance 0-99, a few transitions.
FILL = text(
    """
    INSERT INTO events (id, source, ce_id, type, company, companies, occurred, occurred_start,
                        occurred_end, precision, title, summary, category, phase, transition_to,
                        importance, entity_values, received_at, raw)
    SELECT md5('ev' || i)::uuid, '/bench', 'ev-' || i, 'dev.pivotwatch.strategy.reported',
           'co-' || (i % :companies),
           ARRAY['co-' || (i % :companies), 'co-' || ((i + 1) % :companies)],
           to_char(d, 'YYYY-MM-DD'), d,
           CASE WHEN i % 10 = 0 THEN (date_trunc('month', d) + interval '1 month - 1 day')::date
                ELSE d END,
           CASE WHEN i % 10 = 0 THEN 'month' ELSE 'day' END,
           'Company ' || (i % :companies) || ' event number ' || i || ' about topic ' || (i % 97),
           'Synthetic summary for benchmarking the timeline queries.',
           (ARRAY['governance','funding','licensing','product','competition','regulation',
                  'legal','leadership'])[1 + (i / :companies) % 8],
           'phase-' || (i % 3),
           CASE WHEN i % 500 = 0 THEN 'phase-' || (i % 3) END,
           i % 100, ARRAY['e-' || (i % 100)], now(), '{}'::jsonb
    FROM generate_series(1, :rows) AS i,
         LATERAL (SELECT date '2000-01-01' + (i * 7919 % 9131) AS d) AS day
    """
)


# A small company next to the big ones: its timeline must not walk everybody's rows.
FILL_RARE = text(
    """
    INSERT INTO events (id, source, ce_id, type, company, companies, occurred, occurred_start,
                        occurred_end, precision, title, category, received_at, raw)
    SELECT md5('rare' || i)::uuid, '/bench', 'rare-' || i, 'dev.pivotwatch.strategy.reported',
           'rare-co', ARRAY['rare-co'], '2021-0' || i || '-01', make_date(2021, i, 1),
           make_date(2021, i, 1), 'day', 'Rare company event ' || i, 'legal', now(), '{}'::jsonb
    FROM generate_series(1, 5) AS i
    """
)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings, pool_size=1)
    with eng.begin() as conn:
        conn.execute(FILL, {"rows": ROWS, "companies": COMPANIES})
        conn.execute(FILL_RARE)
        conn.execute(text("ANALYZE events"))
    yield eng
    eng.dispose()


def plan(engine: Engine, query: TimelineQuery) -> str:
    # Bound parameters, as the service sends them (IN lists expanded, as at execution).
    sql = build(query).compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN " + str(sql), sql.params).all()
    return "\n".join(r[0] for r in rows)


MID = {
    "occurred_start": "2012-06-01",
    "occurred_end": "2012-06-01",
    "id": "00000000-0000-0000-0000-000000000000",
}

CASES: dict[str, TimelineQuery] = {
    "company": TimelineQuery(companies=["co-3"]),
    "company+category": TimelineQuery(companies=["co-3"], category=["legal"]),
    "company+from": TimelineQuery(companies=["co-3"], date_from=date(2020, 1, 1)),
    "company+category+from+to": TimelineQuery(
        companies=["co-3"],
        category=["funding", "legal"],
        date_from=date(2010, 1, 1),
        date_to=date(2012, 12, 31),
    ),
    "company+cursor": TimelineQuery(companies=["co-3"], cursor=encode_cursor(MID)),
    "company+phase": TimelineQuery(companies=["co-3"], phase="phase-1"),
    "company+entity": TimelineQuery(companies=["co-3"], entity="e-3"),
    "company+q": TimelineQuery(companies=["co-3"], q="topic"),
    "company+importance": TimelineQuery(companies=["co-3"], min_importance=90),
    "company+transitions": TimelineQuery(companies=["co-3"], transitions_only=True, limit=1000),
    "merged": TimelineQuery(companies=["co-1", "co-2", "co-5"]),
    "merged+category+from": TimelineQuery(
        companies=["co-1", "co-2"], category=["legal"], date_from=date(2015, 1, 1)
    ),
    "everything+from": TimelineQuery(companies=[], date_from=date(2024, 1, 1)),
    "rare company": TimelineQuery(companies=["rare-co"]),
    "rare company+category": TimelineQuery(companies=["rare-co"], category=["legal"]),
    "merged rare companies": TimelineQuery(companies=["rare-co", "nobody"]),
}


def test_timeline_queries_use_indexes(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM events")) == ROWS + 5
    scans = {name: plan(engine, query) for name, query in CASES.items()}
    sequential = {name: p for name, p in scans.items() if "Seq Scan on events" in p}
    assert not sequential, "\n\n".join(f"--- {n}\n{p}" for n, p in sequential.items())
    # The indexes migration 0003 adds are the ones these shapes need.
    assert "ix_events_company_category_chrono" in scans["rare company+category"]
    assert "ix_events_companies" in scans["merged rare companies"]
