"""What every benchmark scenario shares: the report, the load generator process, event bodies."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.stack import cpu_seconds


def event_body(prefix: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{prefix}-{{n}}",
            "source": "/bench",
            "type": "dev.pivotwatch.strategy.reported",
            "time": "2025-08-05T12:00:00Z",
            "data": {
                # Distinct companies and days: a realistic stream has few near-duplicates, and
                # the same story told thousands of times would measure the merge path instead.
                "company": f"Bench {prefix} {{n}}",
                "occurred": "{d}",
                "title": "{n} released open weights for its model under Apache 2.0",
                "summary": "The lab released an open-weight model under the Apache 2.0 licence.",
                "sources": [{"url": "https://example.org/bench/{n}", "publisher": "Bench"}],
            },
        }
    )


def loadgen(
    url: str,
    seconds: float,
    connections: int,
    body: bytes | None = None,
    headers: list[str] | None = None,
    method: str = "GET",
    rate: float = 0.0,
    unique: bool = False,
    start: int = 0,
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(body or b"")
        body_path = f.name
    argv = [
        sys.executable,
        str(Path(__file__).with_name("loadgen.py")),
        "--url",
        url,
        "--method",
        method,
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
        "--body-file",
        body_path,
        "--start",
        str(start),
    ]
    for h in headers or []:
        argv += ["--header", h]
    if rate:
        argv += ["--rate", str(rate)]
    if unique:
        argv.append("--unique")
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60)
    Path(body_path).unlink()
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Report:
    quick: bool
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, name: str, **figures: Any) -> None:
        self.scenarios[name] = figures
        print(f"{name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items()), flush=True)


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def cpu_snapshot(stack: Any) -> dict[str, float]:
    """CPU seconds used so far by every service process (with its prefork children)."""
    return {c.name: cpu_seconds(c.proc.pid) for c in stack.children if c.proc}


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}
