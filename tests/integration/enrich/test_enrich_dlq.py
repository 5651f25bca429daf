"""`pivotwatch dlq list|retry` against real PostgreSQL and the real broker (Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pivotwatch.cli import main
from services.enrich import service
from shared.celery_app import ENRICH_QUEUE
from shared.db import DeadLetter, Event
from shared.settings import Settings, get_settings
from tests.integration.enrich.conftest import event_entry, report

POISON = event_entry("poison", report("Bad\x00title", "2024-05-01", "https://x.org/p"))


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PIVOTWATCH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PIVOTWATCH_REDIS_URL", settings.redis_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _dead_letter(sessions: sessionmaker[Session], redis_client: Redis) -> None:
    for _ in range(2):
        service.process_resilient(
            sessions, redis_client, [POISON], lambda ids: None, max_attempts=2,
            requeue=lambda entry: None,
        )  # fmt: skip


class TestDlqCommand:
    def test_list_shows_dead_letters_with_their_error(
        self,
        cli_env: None,
        sessions: sessionmaker[Session],
        redis_client: Redis,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        assert main(["dlq", "list"]) == 0
        assert "no dead letters" in capsys.readouterr().out
        _dead_letter(sessions, redis_client)

        assert main(["dlq", "list"]) == 0

        out = capsys.readouterr().out
        assert POISON["id"] in out and "dead" in out and "attempts=2" in out

    def test_retry_sends_the_entry_back_to_the_enrich_queue(
        self,
        cli_env: None,
        sessions: sessionmaker[Session],
        redis_client: Redis,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        _dead_letter(sessions, redis_client)

        assert main(["dlq", "retry", "--all"]) == 0

        assert "sent 1 dead letter" in capsys.readouterr().out
        (message,) = redis_client.lrange(ENRICH_QUEUE, 0, -1)
        body = orjson.loads(message)
        assert body["headers"]["task"] == "enrich.store_chunk"
        with sessions() as s:
            row = s.scalars(select(DeadLetter)).one()
            assert (row.status, row.attempts) == ("retried", 0)

    def test_an_entry_stored_after_retry_leaves_the_table(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        from services.enrich import deadletter

        good = event_entry(
            "fixed", report("Acme launches a product", "2024-05-01", "https://a.org")
        )
        deadletter.record_failure(sessions, good, "OperationalError: server closed", 3)
        service.process_chunk(sessions, redis_client, [good], lambda ids: None)

        assert deadletter.resolve(sessions, [good]) == 1
        with sessions() as s:
            assert s.scalars(select(DeadLetter)).all() == []
            assert len(s.scalars(select(Event)).all()) == 1
