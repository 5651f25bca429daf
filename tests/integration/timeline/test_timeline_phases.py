"""Phases derived from the seed timelines, loaded the way a reporter loads them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from pivotwatch.seed import seed_events
from services.enrich.relay import entries_from_stream
from services.enrich.service import process_chunk
from services.ingest.app import create_app as create_ingest
from services.timeline.app import create_app
from shared.auth import Scope
from shared.redis_keys import INGEST_STREAM
from shared.settings import Settings
from tests.fixtures.server import serving
from tests.integration.timeline.conftest import Store

OPENAI_PHASES = [
    ("nonprofit", "2015-12-11", "2019-03-11"),
    ("capped-profit", "2019-03-11", "2025-10-28"),
    ("public-benefit-corporation", "2025-10-28", None),
]


def _shape(phases: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(p["phase"], p["start"], p["end"]) for p in phases]


class TestPhases:
    async def test_openai_phases_from_the_seed(
        self, settings: Settings, serve: Any, seeded: Any
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.get("/v1/companies/openai/phases")
        assert r.status_code == 200
        phases = r.json()["phases"]
        assert _shape(phases) == OPENAI_PHASES
        for phase in phases:
            opener = phase["opened_by"]
            assert opener["occurred"] == phase["start"]
            assert opener["sources"] and opener["title"]
        assert "capped-profit" in phases[1]["opened_by"]["title"]

    async def test_a_company_without_transitions_has_no_phases(
        self, settings: Settings, serve: Any, seeded: Any
    ) -> None:
        async with serve(create_app(settings)) as client:
            r = await client.get("/v1/companies/deepseek/phases")
        assert r.status_code == 200
        assert r.json() == {"company": "deepseek", "phases": []}

    async def test_phases_as_recorded_before_the_last_transition_arrived(
        self, settings: Settings, serve: Any, store: Store
    ) -> None:
        openai = [ce for ce in seed_events() if ce["source"] == "/seed/openai"]
        last = next(ce for ce in openai if ce["data"]["occurred"] == "2025-10-28")
        store(*[ce for ce in openai if ce is not last])
        then = datetime.now(UTC).isoformat()
        store(last)
        async with serve(create_app(settings)) as client:
            past = (await client.get("/v1/companies/openai/phases", params={"as_of": then})).json()
            now = (await client.get("/v1/companies/openai/phases")).json()
        assert _shape(past["phases"]) == [
            ("nonprofit", "2015-12-11", "2019-03-11"),
            ("capped-profit", "2019-03-11", None),
        ]
        assert _shape(now["phases"]) == OPENAI_PHASES


class TestSeedCommand:
    def test_pivotwatch_seed_loads_through_a_real_ingest(
        self,
        settings: Settings,
        make_key: Callable[..., str],
        redis_client: Redis,
        sessions: sessionmaker[Session],
        tmp_path: Path,
    ) -> None:
        key = make_key(Scope.EVENTS_WRITE)
        env = {**os.environ, "PIVOTWATCH_HOME": str(tmp_path)}
        with serving(create_ingest(settings)) as ingest:
            done = subprocess.run(
                [sys.executable, "-m", "pivotwatch.cli", "seed", "--url", ingest, "--key", key],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        expected = len(seed_events())
        assert done.returncode == 0, done.stderr
        assert f"{expected} accepted, 0 duplicate, 0 rejected" in done.stdout
        # What the relay would hand the worker: the ingest log, as written.
        entries = entries_from_stream(redis_client.xrange(INGEST_STREAM))
        assert len(entries) == expected
        result = process_chunk(sessions, redis_client, entries, lambda _: None)
        assert not result.rejected
        with serving(create_app(settings)) as timeline:
            companies = httpx.get(f"{timeline}/v1/companies").json()["companies"]
            phases = httpx.get(f"{timeline}/v1/companies/openai/phases").json()["phases"]
        assert {c["slug"] for c in companies} == {"openai", "deepseek", "meta"}
        assert _shape(phases) == OPENAI_PHASES
