"""The P1 floor (bench.floor) writes the same rows as storage into a copy of the events table,
on the real servers, and leaves nothing behind."""

from __future__ import annotations

import orjson
from redis import Redis
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bench import floor
from bench.common import mix_bodies
from shared.settings import Settings


def test_the_floor_stores_every_event_and_cleans_up(
    settings: Settings, sessions: sessionmaker[Session], redis_client: Redis
) -> None:
    bodies = [orjson.dumps(b) for b in mix_bodies("floor", 20, 3)]
    entries = floor.entries_of(bodies, 50)
    assert len({e["id"] for e in entries}) == 50
    got = floor.measure(settings.database_url, settings.redis_url, entries)
    assert got["events"] == 50
    assert all(got[f"{k}_seconds"] > 0 for k in ("log", "enrich", "copy"))
    with sessions() as session:
        left = session.execute(text("SELECT to_regclass('pw_floor_events')")).scalar()
    assert left is None
    assert not redis_client.exists("pw:floor")
