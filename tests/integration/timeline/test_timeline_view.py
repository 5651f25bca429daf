"""`pivotwatch timeline`: the terminal view, against a real timeline server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from pivotwatch.embedded import free_port
from pivotwatch.timeline_view import fetch, render
from services.timeline.app import create_app
from shared.settings import Settings
from tests.fixtures.server import serving


@pytest.fixture
def live(settings: Settings, seeded: Any) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "220", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pivotwatch.cli", "timeline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestTimelineView:
    def test_groups_the_chronology_under_its_phases(self, live: str) -> None:
        events, phases = fetch(live, "openai", {})
        console = Console(record=True, width=220, color_system=None)
        render(console, "openai", events, phases)
        out = console.export_text()
        headings = [
            "nonprofit  ·  2015-12-11 → 2019-03-11",
            "capped profit  ·  2019-03-11 → 2025-10-28",
            "public benefit corporation  ·  2025-10-28 → now",
        ]
        positions = [out.index(h) for h in headings]
        assert positions == sorted(positions)
        charter = out.index("OpenAI publishes its Charter")
        whisper = out.index("OpenAI releases Whisper")
        assert positions[0] < charter < positions[1] < whisper < positions[2]
        assert "(opens this phase)" in out
        assert f"openai: {len(events)} events" in out

    def test_command_applies_filters(self, live: str) -> None:
        done = cli("openai", "--url", live, "--category", "legal", "--from", "2024-07-01")
        assert done.returncode == 0, done.stderr
        assert "Elon Musk refiles against OpenAI" in done.stdout
        assert "sues OpenAI and Sam Altman" not in done.stdout  # before --from
        assert "OpenAI publishes its Charter" not in done.stdout  # not legal
        assert "capped profit" in done.stdout

    def test_command_explains_what_went_wrong(self, live: str) -> None:
        unknown = cli("nobody", "--url", live)
        bad = cli("openai", "--url", live, "--category", "gossip")
        assert unknown.returncode == 1 and "no events for company 'nobody'" in unknown.stderr
        assert bad.returncode == 1 and "unknown category 'gossip'" in bad.stderr
        down = cli("openai", "--url", f"http://127.0.0.1:{free_port()}")
        assert down.returncode == 1 and "cannot reach the timeline" in down.stderr
