"""Re-enrichment over stored events: a new version only where the output changed."""

from __future__ import annotations

import uuid

import pytest
from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from pivotwatch.cli import main
from services.enrich import service
from services.enrich.reenrich import reenrich
from shared.db import Event, EventVersion, Outbox
from shared.redis_keys import TIMELINE_STREAM
from shared.settings import Settings, get_settings
from tests.integration.enrich.conftest import event_entry, report


def _store(sessions: sessionmaker[Session], redis_client: Redis) -> list[str]:
    entries = [
        event_entry(
            "gpt2",
            report(
                "OpenAI announces GPT-2 but withholds the full model weights",
                "2019-02-14",
                "https://example.org/gpt2",
            ),
        ),
        event_entry(
            "gpt2-retold",
            report(
                "OpenAI announces GPT-2, withholds full model weights",
                "2019-02-15",
                "https://news.example.com/gpt-2",
            ),
            source="urn:other",
        ),
        event_entry(
            "r1",
            report(
                "DeepSeek releases R1 as open weights under the MIT licence",
                "2025-01-20",
                "https://example.org/r1",
                company="deepseek",
            ),
        ),
    ]
    result = service.process_chunk(sessions, redis_client, entries, lambda ids: None)
    assert [o.state for o in result.outcomes] == ["created", "duplicate", "created"]
    return [o.event_id for o in result.outcomes]


def _versions(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as s:
        return {str(e.id): e.version for e in s.scalars(select(Event))}


class TestReenrich:
    def test_unchanged_rules_write_nothing(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        _store(sessions, redis_client)
        before = _versions(sessions)
        ticks: list[int] = []

        result = reenrich(sessions, progress=ticks.append)

        assert (result.scanned, result.changed, result.failed) == (3, 0, 0)
        assert sum(ticks) == 3
        assert _versions(sessions) == before

    def test_changed_output_becomes_a_new_version_and_keeps_merged_sources(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        gpt2, _dup, r1 = _store(sessions, redis_client)
        # As if the rules had been different when these were stored.
        with sessions() as s, s.begin():
            s.execute(
                update(Event)
                .where(Event.id == uuid.UUID(gpt2))
                .values(category="legal", importance=1)
            )
        sent: list[list[int]] = []
        announced: list[list[dict[str, str]]] = []

        result = reenrich(sessions, send_fanout=sent.append, announce=announced.append)

        assert (result.scanned, result.changed) == (3, 1)
        with sessions() as s:
            ev = s.get(Event, uuid.UUID(gpt2))
            assert ev is not None
            assert ev.category != "legal" and ev.importance > 1
            assert ev.version == 2  # stored once with both sources (same chunk), then re-enriched
            assert len(ev.sources) == 2 and "merged" in ev.evidence
            snapshot = s.get(EventVersion, (uuid.UUID(gpt2), 2))
            assert snapshot is not None and snapshot.data["category"] == ev.category
            outbox = s.scalars(select(Outbox).where(Outbox.version == 2)).one()
            assert outbox.kind == "event.updated" and sent == [[outbox.id]]
        # The change feed hears of it too (the live stream and the timeline's page cache).
        assert announced == [
            [
                {
                    "id": gpt2,
                    "kind": "event.updated",
                    "company": "openai",
                    "version": "2",
                    "category": ev.category,
                    "occurred": "2019-02-14",
                }
            ]
        ]
        assert _versions(sessions)[r1] == 1
        assert reenrich(sessions).changed == 0

    def test_company_filter_only_touches_that_company(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        gpt2, _dup, r1 = _store(sessions, redis_client)
        with sessions() as s, s.begin():
            s.execute(update(Event).values(importance=0))

        result = reenrich(sessions, "deepseek")

        assert (result.scanned, result.changed) == (1, 1)
        versions = _versions(sessions)
        assert versions[r1] == 2 and versions[gpt2] == 1


class TestReenrichCommand:
    def test_cli_reenriches_and_reports(
        self,
        sessions: sessionmaker[Session],
        redis_client: Redis,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        _store(sessions, redis_client)
        monkeypatch.setenv("PIVOTWATCH_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("PIVOTWATCH_REDIS_URL", settings.redis_url)
        get_settings.cache_clear()
        try:
            assert main(["reenrich", "--company", "openai"]) == 0
        finally:
            get_settings.cache_clear()
        out = capsys.readouterr().out
        assert "2 events re-enriched: 0 changed" in out

    def test_cli_announces_changes_on_the_change_feed(
        self,
        sessions: sessionmaker[Session],
        redis_client: Redis,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        _gpt2, _dup, r1 = _store(sessions, redis_client)
        with sessions() as s, s.begin():
            s.execute(update(Event).where(Event.id == uuid.UUID(r1)).values(importance=0))
        last = redis_client.xrevrange(TIMELINE_STREAM, count=1)
        cursor = last[0][0] if last else b"0-0"
        monkeypatch.setenv("PIVOTWATCH_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("PIVOTWATCH_REDIS_URL", settings.redis_url)
        get_settings.cache_clear()
        try:
            assert main(["reenrich", "--company", "deepseek"]) == 0
        finally:
            get_settings.cache_clear()
        entries = redis_client.xrange(TIMELINE_STREAM, min=b"(" + cursor)
        assert [(f[b"id"].decode(), f[b"kind"], f[b"version"]) for _, f in entries] == [
            (r1, b"event.updated", b"2")
        ]
