"""Dead letters: an entry that keeps failing leaves the queue and waits here with its error.

Attempts are counted in the `dead_letters` row itself (one row per entry, upserted), so they
survive worker restarts: while attempts remain the row says "retrying" and the entry is sent
again on its own; after the last attempt it says "dead" and nothing retries it until an operator
does (`pivotwatch dlq retry`, which resets the count).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from shared.db import DeadLetter

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Failure:
    entry_id: str
    attempts: int
    dead: bool


def entry_key(entry: dict[str, str]) -> str:
    """The entry's identity: its event (or article) id, else its stream id."""
    return entry.get("id") or entry.get("stream_id") or "?"


def record_failure(
    sessions: sessionmaker[Session], entry: dict[str, str], error: str, max_attempts: int
) -> Failure:
    """Count one more failed attempt of `entry` (its own transaction); dead after the last one."""
    now = datetime.now(UTC)
    key = entry_key(entry)
    stmt = pg_insert(DeadLetter).values(
        entry_id=key,
        stream_id=entry.get("stream_id"),
        entry=entry,
        error=error[:MAX_ERROR_CHARS],
        attempts=1,
        status="retrying",
        first_failed_at=now,
        last_failed_at=now,
    )
    upsert = stmt.on_conflict_do_update(
        constraint="uq_dead_letters_entry_id",
        set_={
            "attempts": DeadLetter.attempts + 1,
            "error": stmt.excluded.error,
            "entry": stmt.excluded.entry,
            "last_failed_at": now,
            "status": "retrying",
        },
    ).returning(DeadLetter.id, DeadLetter.attempts)
    with sessions() as session, session.begin():
        row_id, attempts = session.execute(upsert).one()
        dead = attempts >= max_attempts
        if dead:
            session.execute(
                update(DeadLetter).where(DeadLetter.id == row_id).values(status="dead", dead_at=now)
            )
    return Failure(key, attempts, dead)


def resolve(sessions: sessionmaker[Session], entries: list[dict[str, str]]) -> int:
    """Forget the failures of entries that have now been stored (whatever their status)."""
    keys = [entry_key(e) for e in entries]
    with sessions() as session, session.begin():
        result = session.execute(delete(DeadLetter).where(DeadLetter.entry_id.in_(keys)))
    return int(getattr(result, "rowcount", 0) or 0)


def list_dead(session: Session, status: str | None = "dead", limit: int = 100) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.last_failed_at.desc()).limit(limit)
    if status:
        query = query.where(DeadLetter.status == status)
    return list(session.scalars(query))


def take_for_retry(session: Session, ids: list[int] | None) -> list[dict[str, Any]]:
    """Mark dead letters (the given ids, or every dead one) as retried; return their entries."""
    query = select(DeadLetter).where(DeadLetter.status == "dead").with_for_update()
    if ids:
        query = query.where(DeadLetter.id.in_(ids))
    rows = list(session.scalars(query))
    now = datetime.now(UTC)
    for row in rows:
        row.status = "retried"
        row.attempts = 0
        row.retried_at = now
    return [dict(row.entry) for row in rows]
