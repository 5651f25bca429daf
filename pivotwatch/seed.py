"""Load the seed timelines in `data/seed/` through the ingest API, as any reporter would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

SEED_DIR = Path(__file__).resolve().parent.parent / "data" / "seed"


def seed_events(directory: Path = SEED_DIR) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.json")):
        events.extend(orjson.loads(path.read_bytes()))
    return events


def load(
    ingest_url: str, api_key: str, directory: Path = SEED_DIR, progress: bool = True
) -> dict[str, int]:
    events = seed_events(directory)
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    headers = {
        "authorization": f"Bearer {api_key}",
        "content-type": "application/cloudevents-batch+json",
    }
    batches = [events[i : i + 100] for i in range(0, len(events), 100)]
    with httpx.Client(timeout=30) as client:
        if progress:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("seeding", total=len(events))
                for batch in batches:
                    _post(client, ingest_url, headers, batch, counts)
                    bar.advance(task, len(batch))
        else:
            for batch in batches:
                _post(client, ingest_url, headers, batch, counts)
    return counts


def _post(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    batch: list[dict[str, Any]],
    counts: dict[str, int],
) -> None:
    resp = client.post(f"{url}/v1/events/batch", content=orjson.dumps(batch), headers=headers)
    if resp.status_code not in (202, 422):
        raise RuntimeError(f"ingest answered {resp.status_code}: {resp.text[:300]}")
    body = resp.json()
    for name in counts:
        counts[name] += int(body.get(name, 0))
