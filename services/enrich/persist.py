"""The enrich worker's SQL: the reads a chunk needs and its writes, one statement per table.

A chunk costs a fixed number of round trips, not one per event: the advisory locks of its
companies, one SELECT of its keys, one SELECT of the stored events near its dates
(near-duplicate and link candidates, in blocks of bounded size), one of the canonical rows to
merge into (only when there are duplicates), then one statement per table. The decisions are
`decide`'s; nothing here chooses.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from typing import cast as type_cast

import orjson
from sqlalchemy import (
    Table,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TableValuedAlias

from services.enrich.candidates import DUPLICATE_REACH, LINK_WINDOW, Known
from services.enrich.decode import Prepared, occurred_of
from services.enrich.steps.links import (
    OPEN_WEIGHTS_TRACK,
    RELEASE_CATEGORIES,
    RELEASE_WORDS_SQL,
    is_release,
)
from shared.db import Event, EventLink, EventRecord, EventVersion, Outbox


class ConcurrentWrite(Exception):
    """Another worker stored one of this chunk's keys meanwhile; the chunk must be run again."""


# The stored events a chunk's new reports can be near-duplicates of or linked to, in blocks of
# bounded size (see `candidates`): per report, the nearest (by start date, from both sides, on
# the chronological indexes) canonical events of
# - its company within DUPLICATE_REACH days (near-duplicates, same story): NEAR_BLOCK;
# - its company and category within LINK_WINDOW (follow-ups): LINK_BLOCK;
# - every company within SAME_STORY_DAYS (the same story under another company): LINK_BLOCK;
# - releases of any company up to LINK_WINDOW earlier (the earlier event of a response; its
#   category and, for ASCII titles, its words: `links.is_release` decides): LINK_BLOCK;
# - when the report is itself a release, the events up to LINK_WINDOW later of its category (or
#   the open-weights track) or naming its company or one of its entity values (a non-ASCII value
#   is kept: case folding): LINK_BLOCK;
# and every wider span in the link window (few: ix_events_wide_spans, its predicate repeated).
# A block's size does not grow with the table: a dense week gives each report its nearest
# events, not all of them. `near` marks the rows of the first block (and wide ones of the
# company), the only ones coreference compares with. Only the columns the comparisons read.
#
# A narrow event (spanning at most NARROW_SPAN_DAYS) overlapping [lo, hi] starts in
# [lo - NARROW_SPAN_DAYS, hi]: each side's scan is bounded by index from both ends.
NARROW_SPAN_DAYS = 31
NEAR_BLOCK = 8
LINK_BLOCK = 4
_COLUMNS = "id, company, occurred, fingerprint, title, category, entity_values, anchors, summary"


def _nearest(where: str, lo: str, hi: str, limit: int, sides: str = "both") -> str:
    """The `limit` narrow canonical events matching `where` that start nearest before the
    report's start (within lo), and the `limit` nearest after it (within hi)."""
    # Composed at import from this module's constants only: no value reaches the text.
    narrow = f"duplicate_of IS NULL AND occurred_end - occurred_start <= {NARROW_SPAN_DAYS}"
    before = f"""(SELECT {_COLUMNS} FROM events
          WHERE {where} AND {narrow} AND occurred_start BETWEEN w.{lo}_narrow AND w.start
            AND occurred_end >= w.{lo}
          ORDER BY occurred_start DESC LIMIT {limit})"""  # noqa: S608
    after = f"""(SELECT {_COLUMNS} FROM events
          WHERE {where} AND {narrow} AND occurred_start > w.start AND occurred_start <= w.{hi}
          ORDER BY occurred_start LIMIT {limit})"""  # noqa: S608
    return {"before": before, "after": after, "both": f"{before} UNION ALL {after}"}[sides]


_RELEASE_SQL = (
    "category = ANY(CAST(:release_categories AS text[]))"
    " AND (title ~* :release_words OR title ~ :non_ascii)"
)
_RELEASE_LATER = (
    "(category = w.category OR (w.category = ANY(CAST(:track AS text[]))"
    " AND category = ANY(CAST(:track AS text[])))"
    " OR entity_values && CAST(:names AS text[])"
    " OR array_to_string(entity_values, ' ') ~ :non_ascii)"
)
_NEAR_ROWS = _nearest("company = w.company", "near_lo", "near_hi", NEAR_BLOCK)
_LINK_ROWS = " UNION ALL ".join(
    (
        _nearest("company = w.company AND category = w.category", "far_lo", "far_hi", LINK_BLOCK),
        _nearest("true", "near_lo", "near_hi", LINK_BLOCK),
        _nearest(_RELEASE_SQL, "far_lo", "far_hi", LINK_BLOCK, "before"),
    )
)
_RELEASE_ROWS = _nearest(_RELEASE_LATER, "far_lo", "far_hi", LINK_BLOCK, "after")
_CANDIDATES = text(
    f"""
    SELECT DISTINCT ON (e.id) e.id, e.company, e.occurred, e.fingerprint, e.title, e.category,
           e.entity_values, e.anchors, e.summary, e.near
    FROM unnest(CAST(:start AS date[]), CAST(:near_lo AS date[]), CAST(:near_lo_narrow AS date[]),
                CAST(:near_hi AS date[]), CAST(:far_lo AS date[]), CAST(:far_lo_narrow AS date[]),
                CAST(:far_hi AS date[]), CAST(:company AS text[]), CAST(:category AS text[]),
                CAST(:release AS boolean[]))
         AS w(start, near_lo, near_lo_narrow, near_hi, far_lo, far_lo_narrow, far_hi, company,
              category, release)
    JOIN LATERAL (
        SELECT b.*, true AS near FROM ({_NEAR_ROWS}) b
        UNION ALL
        SELECT b.*, false FROM ({_LINK_ROWS}) b
        UNION ALL
        SELECT b.*, false FROM ({_RELEASE_ROWS}) b WHERE w.release
        UNION ALL
        SELECT {_COLUMNS}, company = w.company FROM events x
        WHERE x.occurred_end >= w.far_lo AND x.occurred_start <= w.far_hi
          AND x.duplicate_of IS NULL AND x.occurred_end - x.occurred_start > {NARROW_SPAN_DAYS}
    ) e ON true
    ORDER BY e.id, e.near DESC
    """  # noqa: S608
)
_NON_ASCII = r"[^\u0001-\u007f]"
_ORDINAL_MIN, _ORDINAL_MAX = date.min.toordinal(), date.max.toordinal()


def _shift(d: date, days: int) -> date:
    return date.fromordinal(min(_ORDINAL_MAX, max(_ORDINAL_MIN, d.toordinal() + days)))


def lock_companies(session: Session, items: list[Prepared]) -> None:
    """Wait for any other chunk that is storing events of these companies to commit.

    Near-duplicates are found among the stored events of the same company, read in this
    transaction: a chunk written beside it by another worker process is invisible until it
    commits, and the same story would be stored twice. Transaction-level advisory locks, one
    per company, taken in one statement in a fixed order (no two chunks wait on each other).
    """
    companies = sorted({p.en.company for p in items})
    if companies:
        session.execute(_LOCK_COMPANIES, {"companies": companies})


def load_existing(session: Session, items: list[Prepared]) -> dict[tuple[str, str], EventRecord]:
    keys = sorted({(p.inc.source, p.inc.ce_id) for p in items})
    if not keys:
        return {}
    rows = session.execute(
        _SELECT_BY_KEYS,
        {"sources": [k[0] for k in keys], "ce_ids": [k[1] for k in keys]},
    ).mappings()
    records = [EventRecord(dict(r)) for r in rows]
    return {(r.source, r.ce_id): r for r in records}


def load_candidates(session: Session, items: list[Prepared]) -> list[Known]:
    """Stored canonical events the new reports could match or link to (one query)."""
    if not items:
        return []
    near, far = DUPLICATE_REACH, LINK_WINDOW.days
    keys = (
        "start",
        "near_lo",
        "near_lo_narrow",
        "near_hi",
        "far_lo",
        "far_lo_narrow",
        "far_hi",
        "company",
        "category",
        "release",
    )
    cols: dict[str, list[Any]] = {k: [] for k in keys}
    names: set[str] = set()
    for p in items:
        release = is_release(p.en.category, p.en.title)
        start, end = p.occ.start, p.occ.end
        cols["start"].append(start)
        cols["near_lo"].append(_shift(start, -near))
        cols["near_lo_narrow"].append(_shift(start, -near - NARROW_SPAN_DAYS))
        cols["near_hi"].append(_shift(end, near))
        cols["far_lo"].append(_shift(start, -far))
        cols["far_lo_narrow"].append(_shift(start, -far - NARROW_SPAN_DAYS))
        cols["far_hi"].append(_shift(end, far))
        cols["company"].append(p.en.company)
        cols["category"].append(p.en.category)
        cols["release"].append(release)
        if release:
            names.add(p.en.company)
            names.update(v.casefold() for v in p.cols["entity_values"])
    rows = session.execute(
        _CANDIDATES,
        {
            **cols,
            "release_categories": sorted(RELEASE_CATEGORIES),
            "track": sorted(OPEN_WEIGHTS_TRACK),
            "names": sorted(names),
            "release_words": RELEASE_WORDS_SQL,
            "non_ascii": _NON_ASCII,
        },
    ).all()
    return [
        Known(
            r.id,
            r.company,
            occurred_of(r.occurred),
            r.fingerprint,
            r.title,
            r.category,
            tuple(r.entity_values or ()),
            tuple(r.anchors or ()),
            r.summary or "",
            coref=r.near,
        )
        for r in rows
    ]


def load_rows(session: Session, known: list[Known]) -> None:
    """Full rows (locked) for the stored canonicals this chunk merges into."""
    wanted = {k.id: k for k in known if k.row is None}
    if not wanted:
        return
    rows = session.execute(_SELECT_BY_IDS, {"ids": sorted(wanted)}).mappings()
    for r in rows:
        wanted[r["id"]].row = EventRecord(dict(r))


# -- writes: one statement per table -----------------------------------------------------------
@dataclass(slots=True)
class Pending:
    """What a chunk's decisions write, gathered in chunk order."""

    inserts: dict[uuid.UUID, EventRecord] = field(default_factory=dict)  # new rows
    updates: dict[uuid.UUID, EventRecord] = field(default_factory=dict)  # stored rows changed
    versions: list[dict[str, Any]] = field(default_factory=list)
    links: dict[tuple[uuid.UUID, uuid.UUID, str], dict[str, Any]] = field(default_factory=dict)
    outbox: list[tuple[EventRecord, str, int]] = field(default_factory=list)  # event, kind, version


def write(session: Session, pending: Pending) -> list[int]:
    """Write everything `pending` holds; the new outbox rows' ids, in order."""
    # Each table's rows go as one JSON array parameter (orjson, in C) that PostgreSQL expands
    # with jsonb_populate_recordset: one short statement and one round trip per table,
    # nothing for the driver to render or parse per row (multi-row VALUES pages were
    # thousands of placeholders, parsed by psycopg on every chunk).
    conn = session.connection()
    rows = list(pending.inserts.values())
    # Canonicals before the duplicates that point at them (foreign key on duplicate_of).
    rows.sort(key=lambda ev: ev.duplicate_of is not None)
    if rows:
        inserted = conn.execute(_INSERT_EVENTS, {"rows": _json([vars(ev) for ev in rows])})
        if len(inserted.all()) != len(rows):
            raise ConcurrentWrite("another worker stored some of these events meanwhile")
    if pending.updates:
        updated = [vars(ev) for ev in pending.updates.values()]
        conn.execute(_UPDATE_EVENTS, {"rows": _json(updated)})
    if pending.versions:
        conn.execute(_INSERT_VERSIONS, {"rows": _json(pending.versions)})
    if pending.links:
        link_rows = [
            {"a": a, "b": b, "kind": kind, "evidence": link}
            for (a, b, kind), link in pending.links.items()
        ]
        conn.execute(_INSERT_LINKS, {"rows": _json(link_rows)})
    outbox_rows = [
        {"event_id": ev.id, "version": version, "kind": kind, "correlation_id": ev.correlation_id}
        for ev, kind, version in pending.outbox
    ]
    if not outbox_rows:
        return []
    return list(conn.execute(_INSERT_OUTBOX, {"rows": _json(outbox_rows)}).scalars().all())


def _table(model: type[Any]) -> Table:
    return type_cast(Table, model.__table__)


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


_EVENTS = _table(Event)
_EVENT_COLUMNS = tuple(c.key for c in _EVENTS.columns if c.key != "search")
_UPDATE_COLUMNS = tuple(c for c in _EVENT_COLUMNS if c not in ("id", "source", "ce_id"))


def _recordset(table: Table, columns: Sequence[str]) -> TableValuedAlias:
    """The rows of the JSON array parameter `rows`, typed as `table`'s rows."""
    rows = cast(bindparam("rows", type_=Text), JSONB)
    record = literal_column(f"NULL::{table.name}", type_=Text)
    return func.jsonb_populate_recordset(record, rows).table_valued(*columns).alias("v")


def _insert_from_json(table: Table, columns: Sequence[str]) -> Insert:
    v = _recordset(table, columns)
    return pg_insert(table).from_select(list(columns), select(*(v.c[c] for c in columns)))


# One advisory lock per company (a 64-bit hash of its slug; a collision only makes two companies
# wait for each other), taken in ascending key order: the sorted subquery feeds the aggregate in
# order, so two chunks sharing companies take their common locks in the same order.
#
# The same statement turns JIT off for the rest of the transaction: the candidate query's estimated
# cost is far above jit_above_cost (100,000) once a chunk has hundreds of reports, and PostgreSQL
# spent ~4 s compiling it per chunk (EXPLAIN at 10,000 dense events) for a query that runs in
# milliseconds.
_LOCK_COMPANIES = text(
    """
    SELECT count(pg_advisory_xact_lock(k)), min(set_config('jit', 'off', true))
    FROM (SELECT DISTINCT hashtextextended('pivotwatch.enrich.company:' || c, 0) AS k
          FROM unnest(CAST(:companies AS text[])) AS c
          ORDER BY k) AS keys
    """
)
# The rows of a chunk's keys / of the canonicals to merge into, locked (a concurrent chunk waits).
_KEYS = (
    func.unnest(cast(bindparam("sources"), ARRAY(Text)), cast(bindparam("ce_ids"), ARRAY(Text)))
    .table_valued("source", "ce_id")
    .render_derived(name="k")
)
_SELECT_BY_KEYS = (
    select(*(_EVENTS.c[c] for c in _EVENT_COLUMNS))
    .join_from(
        _EVENTS, _KEYS, and_(_EVENTS.c.source == _KEYS.c.source, _EVENTS.c.ce_id == _KEYS.c.ce_id)
    )
    .order_by(_EVENTS.c.id)
    .with_for_update(of=_EVENTS)
)
_SELECT_BY_IDS = (
    select(*(_EVENTS.c[c] for c in _EVENT_COLUMNS))
    .where(_EVENTS.c.id == any_(cast(bindparam("ids"), ARRAY(UUID(as_uuid=True)))))
    .order_by(_EVENTS.c.id)
    .with_for_update()
)
_INSERT_EVENTS = (
    _insert_from_json(_EVENTS, _EVENT_COLUMNS)
    .on_conflict_do_nothing(constraint="uq_events_source_ce_id")
    .returning(_EVENTS.c.id)
)
_UPDATED = _recordset(_EVENTS, ("id", *_UPDATE_COLUMNS))
_UPDATE_EVENTS = (
    update(_EVENTS)
    .values({c: _UPDATED.c[c] for c in _UPDATE_COLUMNS})
    .where(_EVENTS.c.id == _UPDATED.c.id)
)
_INSERT_VERSIONS = _insert_from_json(
    _table(EventVersion), ("event_id", "version", "recorded_at", "data")
)
_INSERT_LINKS = _insert_from_json(
    _table(EventLink), ("a", "b", "kind", "evidence")
).on_conflict_do_nothing()
_INSERT_OUTBOX = _insert_from_json(
    _table(Outbox), ("event_id", "version", "kind", "correlation_id")
).returning(_table(Outbox).c.id)
