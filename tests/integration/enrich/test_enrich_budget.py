"""An entry that uses up its CPU budget is dead-lettered with the reason; the rest of its chunk
is stored. Real PostgreSQL and Redis; the budget is the process's CPU-time timer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.enrich.budget import OverBudget, cpu_budget
from shared.db import DeadLetter, Event
from shared.redis_keys import status_key
from shared.settings import Settings
from tests.integration.enrich.conftest import article_entry, event_entry, report

ROOT = Path(__file__).resolve().parents[3]

# An article of 200,000 characters: linear now, but far from free (about 0.4 s of CPU).
HEAVY = article_entry(
    "https://news.example/2025/01/31/long",
    {
        "url": "https://news.example/2025/01/31/long",
        "publisher": "News Example",
        "published_date": "2025-01-31",
        "title": "A very long article",
        "text": "OpenAI released 1    million   " * 6500,
    },
)


def _events(tag: str, n: int) -> list[dict[str, str]]:
    return [
        event_entry(
            f"{tag}-{i}",
            report(f"Acme {tag} opens office {i}", "2024-05-01", f"https://x.org/{tag}/{i}"),
        )
        for i in range(n)
    ]


# The chunk runs in a process of its own, as in a worker: the timer's signal may land anywhere in
# the process, pytest's own hooks included, which a test must not depend on.
_RUN_CHUNK = """
import json, sys
from redis import Redis
from services.enrich import service
from shared.db import make_engine, session_factory
from shared.settings import Settings
args = json.load(sys.stdin)
settings = Settings(env="test", database_url=args["db"], redis_url=args["redis"])
engine = make_engine(settings)
sessions = session_factory(engine)
client = Redis.from_url(args["redis"])
service.process_chunk(sessions, client, args["warm"], lambda ids: None)  # memos filled
result = service.process_resilient(
    sessions, client, args["entries"], lambda ids: None, max_attempts=3,
    requeue=lambda entry: None, cpu_seconds=args["budget"],
)
print(json.dumps({"failed": result.failed}))
"""


class TestCpuBudget:
    def test_the_heavy_entry_is_dead_lettered_and_the_others_are_stored(
        self, sessions: sessionmaker[Session], redis_client: Redis, settings: Settings
    ) -> None:
        warm = _events("warm", 1)
        before, after = _events("before", 3), _events("after", 3)
        args = {
            "db": settings.database_url,
            "redis": settings.redis_url,
            "warm": warm,
            "entries": [*before, HEAVY, *after],
            "budget": 0.1,
        }
        done = subprocess.run(
            [sys.executable, "-c", _RUN_CHUNK],
            input=json.dumps(args),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        failed = json.loads(done.stdout.splitlines()[-1])["failed"]
        with sessions() as s:
            stored = {str(i) for i in s.scalars(select(Event.id))}
            (dead,) = s.scalars(select(DeadLetter)).all()
        assert {e["id"] for e in [*warm, *before, *after]} <= stored
        assert dead.status == "dead" and dead.attempts == 1
        assert "CPU budget of 0.1 s" in dead.error
        assert failed == [dead.entry_id]
        status = redis_client.hgetall(status_key(HEAVY["id"]))
        assert status[b"state"] == b"rejected" and b"CPU budget" in status[b"reason"]

    def test_the_timer_is_off_after_the_block(self) -> None:
        import signal

        with cpu_budget(5.0):
            pass
        assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)

    def test_a_tight_loop_is_stopped(self) -> None:
        with pytest.raises(OverBudget), cpu_budget(0.05):
            n = 0
            while True:
                n += 1
