"""Splitting a wrong merge (`POST /v1/events/{id}/split`) against real PostgreSQL and Redis, with
the merge made by the real storage: nothing lost, new versions, subscribers told, kept apart."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.enrich import split as split_module
from services.enrich.reenrich import reenrich
from services.timeline.app import create_app
from shared.auth import Scope
from shared.db import Event, Outbox
from shared.redis_keys import TIMELINE_STREAM
from shared.settings import Settings
from tests.integration.timeline.conftest import Store, event_id, report

FIRST = report(
    "s1",
    "Acme AI launches Falcon-9 under the Apache 2.0 licence",
    "2024-05-01",
    summary="Falcon-9 is Acme AI's largest open model.",
)
AGAIN = report(
    "s2",
    "Acme AI unveils Falcon-9, released under Apache 2.0",
    "2024-05-02",
    source="/tests/other-reporter",
    summary="The Falcon-9 weights are out under Apache 2.0.",
)
AGAIN["data"]["sources"] = [{"url": "https://other.example/falcon-9", "publisher": "Other"}]


class TestSplit:
    async def test_a_wrong_merge_is_undone_as_new_versions_and_announced(
        self,
        settings: Settings,
        serve: Any,
        store: Store,
        make_key: Callable[..., str],
        sessions: sessionmaker[Session],
        redis_client: Redis,
    ) -> None:
        store(FIRST)
        (outcome,) = store(AGAIN).outcomes
        canonical, merged = event_id(FIRST), event_id(AGAIN)
        assert (outcome.state, outcome.duplicate_of) == ("duplicate", canonical)
        admin, reader = make_key(Scope.ADMIN), make_key(Scope.EVENTS_WRITE)
        feed_before = redis_client.xlen(TIMELINE_STREAM)
        async with serve(create_app(settings)) as client:
            doc = (await client.get(f"/v1/events/{canonical}")).json()
            (dup,) = doc["duplicates"]
            assert dup["merge"]["rule"] and dup["merge"]["shared"]["model"] == ["falcon-9"]
            assert len(doc["sources"]) == 2 and doc["version"] == 2

            anonymous = await client.post(f"/v1/events/{merged}/split")
            assert anonymous.status_code == 401
            refused = await client.post(
                f"/v1/events/{merged}/split", headers={"authorization": f"Bearer {reader}"}
            )
            assert refused.status_code == 403
            assert refused.json()["field"] == "authorization"

            r = await client.post(
                f"/v1/events/{merged}/split", headers={"authorization": f"Bearer {admin}"}
            )
            assert r.status_code == 200, r.text
            assert r.json() == {"event_id": merged, "split_off": [merged]}

            after = (await client.get(f"/v1/events/{canonical}")).json()
            alone = (await client.get(f"/v1/events/{merged}")).json()
            assert after["duplicates"] == [] and after["version"] == 3
            assert [s["url"] for s in after["sources"]] == ["https://news.example/s1"]
            assert alone["duplicate_of"] is None and alone["version"] == 2
            assert [s["url"] for s in alone["sources"]] == ["https://other.example/falcon-9"]
            # Nothing lost: the merged state is still readable in the canonical's history.
            history = (await client.get(f"/v1/events/{canonical}/history")).json()["versions"]
            assert [len(v["event"]["sources"]) for v in history] == [1, 2, 1]
            timeline = (await client.get("/v1/companies/acme-ai/timeline")).json()["events"]
            assert {e["id"] for e in timeline} == {canonical, merged}

            again = await client.post(
                f"/v1/events/{merged}/split", headers={"authorization": f"Bearer {admin}"}
            )
            assert again.status_code == 409 and again.json()["field"] == "event_id"
            missing = await client.post(
                "/v1/events/00000000-0000-0000-0000-000000000000/split",
                headers={"authorization": f"Bearer {admin}"},
            )
            assert missing.status_code == 404
        # Subscribers are told (outbox rows), the change feed too.
        with sessions() as session:
            kinds = {
                (str(o.event_id), o.kind, o.version)
                for o in session.scalars(select(Outbox).where(Outbox.version > 1))
            }
            assert {(merged, "event.created", 2), (canonical, "event.updated", 3)} <= kinds
            rows = {str(e.id): e for e in session.scalars(select(Event))}
        assert redis_client.xlen(TIMELINE_STREAM) == feed_before + 2
        assert rows[merged].evidence["split"][0]["from"] == canonical
        assert rows[canonical].evidence["split"][0]["event"] == merged

        # Re-running coreference does not merge them again.
        reenrich(sessions)
        with sessions() as session:
            assert session.get(Event, rows[merged].id).duplicate_of is None  # type: ignore[union-attr]

    async def test_a_split_that_fails_half_way_leaves_the_merge_whole(
        self,
        settings: Settings,
        serve: Any,
        store: Store,
        make_key: Callable[..., str],
        sessions: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # The timeline reads in autocommit; the split must still be one transaction (its company
        # lock held to the commit, and nothing of it kept when it fails).
        store(FIRST)
        store(AGAIN)
        canonical, merged = event_id(FIRST), event_id(AGAIN)
        admin = make_key(Scope.ADMIN)
        calls: list[int] = []
        real = split_module.record_version

        def fail_second(session: Session, ev: Event, now: Any) -> None:
            calls.append(1)
            if len(calls) == 2:  # after the report's new version and outbox row were written
                raise RuntimeError("the split fails half way")
            real(session, ev, now)

        monkeypatch.setattr(split_module, "record_version", fail_second)
        async with serve(create_app(settings)) as client:
            with contextlib.suppress(RuntimeError):
                r = await client.post(
                    f"/v1/events/{merged}/split", headers={"authorization": f"Bearer {admin}"}
                )
                assert r.status_code == 500
        assert len(calls) == 2
        with sessions() as session:
            rows = {str(e.id): e for e in session.scalars(select(Event))}
            assert str(rows[merged].duplicate_of) == canonical
            assert (rows[merged].version, rows[canonical].version) == (1, 2)
            assert not session.scalars(select(Outbox).where(Outbox.version > 2)).all()

    async def test_splitting_the_canonical_splits_every_merged_report(
        self,
        settings: Settings,
        serve: Any,
        store: Store,
        make_key: Callable[..., str],
    ) -> None:
        store(FIRST)
        store(AGAIN)
        admin = make_key(Scope.ADMIN)
        async with serve(create_app(settings)) as client:
            r = await client.post(
                f"/v1/events/{event_id(FIRST)}/split",
                headers={"authorization": f"Bearer {admin}"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["split_off"] == [event_id(AGAIN)]


class TestReenrichRedecides:
    def test_reenrich_merges_what_older_rules_kept_apart_and_splits_what_they_joined(
        self, store: Store, sessions: sessionmaker[Session]
    ) -> None:
        other = report(
            "s3", "Acme AI opens a London office", "2024-05-01", summary="Its first in Europe."
        )
        store(FIRST)
        store(AGAIN)
        store(other)
        ids = {name: event_id(ce) for name, ce in (("a", FIRST), ("b", AGAIN), ("c", other))}
        # As older rules might have left them: the retelling apart, the office opening merged.
        with sessions() as session, session.begin():
            rows = {str(e.id): e for e in session.scalars(select(Event))}
            rows[ids["b"]].duplicate_of = None
            rows[ids["c"]].duplicate_of = rows[ids["a"]].id
            rows[ids["c"]].evidence = {**rows[ids["c"]].evidence, "duplicate": [{"rule": "old"}]}
        result = reenrich(sessions)
        assert (result.merged, result.split) == (1, 1)
        with sessions() as session:
            rows = {str(e.id): e for e in session.scalars(select(Event))}
            assert str(rows[ids["b"]].duplicate_of) == ids["a"]
            assert rows[ids["b"]].evidence["duplicate"][0]["rule"] == "anchors-and-words"
            assert rows[ids["c"]].duplicate_of is None
        again = reenrich(sessions)  # nothing left to change
        assert (again.merged, again.split) == (0, 0)
