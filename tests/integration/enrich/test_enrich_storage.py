"""Storage and service against real PostgreSQL and Redis: the chunk path the worker runs."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kombu.exceptions import OperationalError as KombuOperationalError
from redis import Redis
from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from services.enrich import service
from services.enrich.decide import ChunkResult, store_chunk
from shared.db import DeadLetter, Event, EventLink, EventVersion, Outbox
from shared.redis_keys import TIMELINE_STREAM, status_key
from tests.integration.enrich.conftest import article_entry, event_entry, report


class Fanout:
    def __init__(self) -> None:
        self.sent: list[list[int]] = []

    def __call__(self, ids: list[int]) -> None:
        self.sent.append(list(ids))


def _run(
    sessions: sessionmaker[Session], redis_client: Redis, entries: list[dict[str, str]]
) -> tuple[ChunkResult, Fanout]:
    fan = Fanout()
    return service.process_chunk(sessions, redis_client, entries, fan), fan


def _count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _event(sessions: sessionmaker[Session], event_id: str) -> Event:
    with sessions() as s:
        ev = s.get(Event, uuid.UUID(event_id))
        assert ev is not None
        return ev


GPT2 = report(
    "OpenAI announces GPT-2 but withholds the full model weights",
    "2019-02-14",
    "https://example.org/gpt2",
    publisher="Example Wire",
)


class TestIdempotentRedelivery:
    def test_same_chunk_twice_changes_nothing(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        entries = [
            event_entry("gpt2", GPT2),
            event_entry(
                "r1",
                report(
                    "DeepSeek releases R1 under MIT",
                    "2025-01-20",
                    "https://example.org/r1",
                    company="deepseek",
                ),
            ),
        ]
        first, fan = _run(sessions, redis_client, entries)
        assert [o.state for o in first.outcomes] == ["created", "created"]
        assert fan.sent == [first.outbox_ids]
        counts = {m: _count(sessions, m) for m in (Event, EventVersion, Outbox, EventLink)}

        again, fan2 = _run(sessions, redis_client, entries)

        assert [o.state for o in again.outcomes] == ["unchanged", "unchanged"]
        assert again.outbox_ids == [] and fan2.sent == []
        assert {m: _count(sessions, m) for m in counts} == counts
        assert _event(sessions, entries[0]["id"]).version == 1

    def test_status_and_change_feed_are_written_after_commit(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        entry = event_entry("gpt2", GPT2)
        _run(sessions, redis_client, [entry])
        status = redis_client.hgetall(status_key(entry["id"]))
        assert status[b"state"] == b"stored"
        feed = redis_client.xrange(TIMELINE_STREAM)
        assert [f[b"kind"] for _, f in feed] == [b"event.created"]


class TestCorrection:
    def test_changed_report_becomes_a_new_version_readable_as_of(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        _run(sessions, redis_client, [event_entry("gpt2", GPT2)])
        between = datetime.now(UTC)
        corrected = {**GPT2, "title": "OpenAI announces GPT-2 in a staged release"}
        result, _ = _run(sessions, redis_client, [event_entry("gpt2", corrected)])

        (outcome,) = result.outcomes
        assert (outcome.state, outcome.version) == ("updated", 2)
        with sessions() as s:
            versions = s.scalars(
                select(EventVersion)
                .where(EventVersion.event_id == uuid.UUID(outcome.event_id))
                .order_by(EventVersion.version)
            ).all()
            assert [v.version for v in versions] == [1, 2]
            assert versions[0].recorded_at < versions[1].recorded_at
            # As of a moment between the two: version 1, with the original title.
            as_of = s.scalars(
                select(EventVersion)
                .where(
                    EventVersion.event_id == uuid.UUID(outcome.event_id),
                    EventVersion.recorded_at <= between,
                )
                .order_by(EventVersion.version.desc())
                .limit(1)
            ).one()
            assert as_of.data["title"] == GPT2["title"]
            kinds = s.scalars(select(Outbox.kind).order_by(Outbox.id)).all()
            assert kinds == ["event.created", "event.updated"]
        ev = _event(sessions, outcome.event_id)
        assert ev.title == corrected["title"] and ev.raw["data"]["title"] == corrected["title"]

    def test_a_correction_later_in_the_same_chunk_is_applied_in_order(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        corrected = {**GPT2, "title": "OpenAI announces GPT-2 in a staged release"}
        result, _ = _run(
            sessions, redis_client, [event_entry("gpt2", GPT2), event_entry("gpt2", corrected)]
        )
        assert [o.state for o in result.outcomes] == ["created", "updated"]
        ev = _event(sessions, result.outcomes[0].event_id)
        assert (ev.version, ev.title) == (2, corrected["title"])
        assert _count(sessions, EventVersion) == 2


class TestNearDuplicate:
    def test_same_happening_twice_is_one_event_with_both_sources(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        first, _ = _run(sessions, redis_client, [event_entry("a", GPT2)])
        retold = report(
            "OpenAI announces GPT-2, withholds full model weights",
            "2019-02-15",
            "https://news.example.com/gpt-2",
            publisher="Other News",
        )
        second, fan = _run(sessions, redis_client, [event_entry("b", retold, source="urn:other")])

        (dup,) = second.outcomes
        canonical_id = first.outcomes[0].event_id
        assert (dup.state, dup.duplicate_of) == ("duplicate", canonical_id)
        canonical = _event(sessions, canonical_id)
        assert {s["url"] for s in canonical.sources} == {
            "https://example.org/gpt2",
            "https://news.example.com/gpt-2",
        }
        assert canonical.version == 2
        (merged,) = canonical.evidence["merged"]
        # What decided it, on both rows: the rule, its score, the shared anchors and words.
        assert merged["event"] == dup.event_id and merged["rule"] and merged["score"] > 0
        assert merged["shared"]["model"] == ["gpt-2"] and "gpt-2" in merged["words"]
        (joined,) = _event(sessions, dup.event_id).evidence["duplicate"]
        assert joined["of"] == canonical_id and joined["rule"] == merged["rule"]
        assert _event(sessions, dup.event_id).duplicate_of == uuid.UUID(canonical_id)
        with sessions() as s:
            rows = s.execute(select(Outbox.event_id, Outbox.kind, Outbox.version)).all()
        # The merge is announced as an update of the canonical; the duplicate row is silent.
        assert (uuid.UUID(canonical_id), "event.updated", 2) in rows
        assert all(r.event_id != uuid.UUID(dup.event_id) for r in rows)
        assert fan.sent == [second.outbox_ids]

    def test_duplicates_within_one_chunk_merge_too(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        retold = report(
            "OpenAI announces GPT-2, withholds full model weights",
            "2019-02-15",
            "https://news.example.com/gpt-2",
        )
        result, _ = _run(
            sessions,
            redis_client,
            [event_entry("a", GPT2), event_entry("b", retold, source="urn:other")],
        )
        assert [o.state for o in result.outcomes] == ["created", "duplicate"]
        canonical = _event(sessions, result.outcomes[0].event_id)
        assert len(canonical.sources) == 2
        assert canonical.version == 1  # stored once, already with both sources

    def test_two_workers_storing_the_same_happening_at_once_still_merge(
        self, sessions: sessionmaker[Session]
    ) -> None:
        # Two enrich worker processes (compose runs two) store chunks side by side. Each reads
        # the stored candidates in its own transaction; without waiting for the other's company,
        # the second would not see the first's uncommitted event and store the story twice.
        retold = report(
            "OpenAI announces GPT-2, withholds full model weights",
            "2019-02-15",
            "https://news.example.com/gpt-2",
        )
        results: list[ChunkResult] = []

        def second_worker() -> None:
            with sessions() as s:
                results.append(store_chunk(s, [event_entry("b", retold, source="urn:other")]))
                s.commit()

        worker = threading.Thread(target=second_worker)
        first = sessions()
        try:
            (created,) = store_chunk(first, [event_entry("a", GPT2)]).outcomes  # not committed
            worker.start()
            worker.join(1.0)
            assert worker.is_alive(), "the second chunk did not wait for the first's company"
            first.commit()
        finally:
            first.close()
            worker.join(30)
        ((dup,),) = [r.outcomes for r in results]
        assert (created.state, dup.state, dup.duplicate_of) == (
            "created",
            "duplicate",
            created.event_id,
        )


class TestArticle:
    def test_article_yields_dated_extracted_events(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        text = (
            "DeepSeek released R1 on Monday as open weights under the MIT licence. "
            "The weather was mild. "
            "On Friday, Meta announced a new Llama model with a custom licence."
        )
        entry = article_entry(
            "https://example.org/news/r1",
            {"published_date": "2025-01-24", "text": text, "publisher": "Example"},
        )
        result, _ = _run(sessions, redis_client, [entry])

        assert [o.state for o in result.outcomes] == ["created", "created"]
        assert result.articles[entry["id"]] == [o.event_id for o in result.outcomes]
        with sessions() as s:
            events = s.scalars(select(Event).order_by(Event.occurred_start)).all()
        assert [(e.company, e.occurred) for e in events] == [
            ("deepseek", "2025-01-20"),
            ("meta", "2025-01-24"),
        ]
        for ev in events:
            assert ev.extracted is True
            (extraction, *_) = ev.evidence["extraction"]
            assert 0 < extraction["confidence"] <= 1
            assert extraction["sentences"] and extraction["sentences"][0] in text
            assert ev.raw["extraction"]["sentences"] == extraction["sentences"]
        status = redis_client.hgetall(status_key(entry["id"]))
        assert status[b"state"] == b"stored"
        # Extracted events had no status from ingest: the ones written here expire too.
        assert all(redis_client.ttl(status_key(o.event_id)) > 0 for o in result.outcomes)


class TestRoundTrips:
    def test_a_chunk_costs_a_fixed_number_of_statements(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        def chunk(n: int, tag: str) -> list[dict[str, str]]:
            day = datetime(2021, 1, 1)
            return [
                event_entry(
                    f"{tag}-{i}",
                    report(
                        f"Company {tag}{i} raises ${i + 1} million in funding round {i}",
                        (day + timedelta(days=3 * i)).date().isoformat(),
                        f"https://example.org/{tag}/{i}",
                        company=f"acme-{tag}-{i}",
                    ),
                )
                for i in range(n)
            ]

        statements: list[str] = []
        engine = sessions.kw["bind"]

        def count(*args: Any) -> None:
            statements.append(str(args[2]).split()[0])

        event.listen(engine, "before_cursor_execute", count)
        try:
            _run(sessions, redis_client, chunk(5, "small"))
            small = len(statements)
            statements.clear()
            _run(sessions, redis_client, chunk(300, "large"))
            large = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert large == small
        # The companies' locks, keys, candidates, then one INSERT per table: events, versions,
        # links, outbox.
        assert large <= 7, statements

    def test_the_chunk_runs_without_jit(self, sessions: sessionmaker[Session]) -> None:
        # PostgreSQL's JIT compiled the candidate query for seconds per chunk (its estimated cost
        # grows with the chunk): the chunk's transaction turns it off, for itself only.
        with sessions() as session, session.begin():
            before = session.execute(text("SHOW jit")).scalar()
            store_chunk(
                session,
                [
                    event_entry(
                        "jit-1",
                        report("OpenAI Charter", "2018-04-09", "https://openai.com/charter/"),
                    )
                ],
            )
            assert session.execute(text("SHOW jit")).scalar() == "off"
        with sessions() as session:
            assert session.execute(text("SHOW jit")).scalar() == before


class TestOutboxSweeper:
    def test_rows_left_unprocessed_are_dispatched_again(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        result, _ = _run(sessions, redis_client, [event_entry("gpt2", GPT2)])
        # The worker "died" after commit: nobody processed the row; make it old enough.
        with sessions() as s, s.begin():
            s.execute(update(Outbox).values(created_at=func.now() - text("interval '1 minute'")))
        fan = Fanout()

        assert service.sweep_outbox(sessions, 30.0, fan) == 1
        assert fan.sent == [result.outbox_ids]
        # Dispatched just now: not sent again until it is stale again.
        assert service.sweep_outbox(sessions, 30.0, fan) == 0
        with sessions() as s, s.begin():
            s.execute(update(Outbox).values(processed_at=func.now()))
        assert service.sweep_outbox(sessions, 0.0, fan) == 0


class TestPoison:
    def test_bad_entry_is_isolated_and_dead_lettered_after_n_attempts(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        good = [
            event_entry(
                f"good-{i}",
                report(
                    f"Acme {i} launches a product",
                    "2024-05-01",
                    f"https://example.org/{i}",
                    company=f"acme{i}",
                ),
            )
            for i in range(5)
        ]
        # PostgreSQL refuses NUL in text and JSON: the chunk's transaction fails on this one.
        poison = event_entry("poison", report("Bad\x00title", "2024-05-01", "https://x.org/p"))
        chunk = [*good[:3], poison, *good[3:]]
        requeued: list[dict[str, str]] = []
        fan = Fanout()

        result = service.process_resilient(
            sessions, redis_client, chunk, fan, max_attempts=2, requeue=requeued.append
        )

        assert sorted(o.event_id for o in result.outcomes) == sorted(e["id"] for e in good)
        assert result.failed == [poison["id"]] and requeued == [poison]
        with sessions() as s:
            row = s.scalars(select(DeadLetter)).one()
            assert (row.entry_id, row.attempts, row.status) == (poison["id"], 1, "retrying")
            assert "NUL" in row.error or "0x00" in row.error or "\\u0000" in row.error

        again = service.process_resilient(
            sessions, redis_client, requeued, fan, max_attempts=2, requeue=requeued.append
        )

        assert again.failed == [poison["id"]] and len(requeued) == 1  # not sent again
        with sessions() as s:
            row = s.scalars(select(DeadLetter)).one()
            assert (row.attempts, row.status) == (2, "dead") and row.dead_at is not None
        assert redis_client.hget(status_key(poison["id"]), "state") == b"rejected"
        assert _count(sessions, Event) == 5

    def test_a_broker_outage_while_announcing_is_transient_not_a_poison_entry(
        self, sessions: sessionmaker[Session], redis_client: Redis
    ) -> None:
        # The chunk is stored, then the notify fan-out cannot be sent (Celery's broker is down:
        # kombu raises its own OperationalError). That says nothing about the entries: the chunk
        # must be retried whole, not split and its entries counted towards dead-lettering.
        chunk = [
            event_entry(f"ok-{i}", report(f"Acme {i} ships", "2024-05-01", f"https://e.org/{i}"))
            for i in range(4)
        ]

        def broker_down(outbox_ids: list[int]) -> None:
            raise KombuOperationalError(
                "Error 111 connecting to 127.0.0.1:6379. Connection refused."
            )

        requeued: list[dict[str, str]] = []
        with pytest.raises(KombuOperationalError):
            service.process_resilient(
                sessions, redis_client, chunk, broker_down, max_attempts=2, requeue=requeued.append
            )
        assert requeued == []
        assert _count(sessions, DeadLetter) == 0
        assert _count(sessions, Event) == 4  # stored; the retried chunk finds them unchanged
