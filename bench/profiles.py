"""Where each scenario's CPU goes: py-spy on the process that carries it, under the scenario's load.

    python -m bench.profiles p1 p2 p4 p5 p5-latency   # or a subset; --seconds N (default 12)

For each scenario a stack starts as `bench.run` starts it, the scenario's load runs in its own
process (bench/loadgen.py), and `py-spy record` samples the process that limits the scenario (the
enrich worker for P1, ingest for P2, the timeline for P4 uncached and cached, the notify worker
for P5). Writes bench/results/profile-<scenario>.txt: the process's CPU per unit of work, the
functions with most samples of their own, and the largest subtrees (inclusive), grouped by
package so the shares say what a layer costs. docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.common import event_body, loadgen, mix_bodies
from bench.p4 import fill
from bench.p5 import post_batches, receiver, subscribe
from bench.stack import cpu_seconds, running_stack

RESULTS = Path(__file__).resolve().parent / "results"
LAYERS = (
    ("services/", "pivotwatch services"),
    ("shared/", "pivotwatch shared"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("psycopg/", "psycopg"),
    ("celery/", "Celery"),
    ("kombu/", "kombu"),
    ("redis/", "redis-py"),
    ("fastapi/", "FastAPI"),
    ("starlette/", "Starlette"),
    ("uvicorn/", "uvicorn"),
    ("pydantic", "pydantic"),
    ("asyncio/", "asyncio"),
)


def _layer(frame: str) -> str:
    for marker, name in LAYERS:
        if marker in frame:
            return name
    return "other (stdlib, interpreter)"


def summarize(raw: Path, top: int = 25) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        layers[_layer(frames[-1])] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return "no samples\n"
    out = [f"samples: {total}", "", "by layer (own time):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in layers.most_common()]
    out += ["", "functions, own time:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out += ["", "subtrees, inclusive (project code):"]
    ours = [(f, n) for f, n in inclusive.most_common() if "services/" in f or "shared/" in f]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in ours[:top]]
    return "\n".join(out) + "\n"


def spy(pid: int, seconds: float, raw: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    argv = [exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-f", "raw", "-o", str(raw)]
    # --subprocesses: a Celery worker's work happens in its pool process.
    return subprocess.Popen([*argv, "--subprocesses", "--nonblocking"], stdout=subprocess.DEVNULL)


def _pid(stack: Any, name: str) -> int:
    return int(next(c.proc.pid for c in stack.children if c.name == name and c.proc))


def profile(
    name: str,
    target: str,
    seconds: float,
    load: Callable[[Any, str], int],
    prepare: Callable[[Any], object] | None = None,
) -> str:
    """Start a stack, `prepare(stack)`, then run `load(stack, key)` while py-spy samples the
    process `target`; a report of where its CPU went."""
    settings = {"rate_limit_per_second": 1e9, "rate_limit_burst": 1_000_000_000}
    with (
        tempfile.TemporaryDirectory() as home,
        running_stack(Path(home), max_batch_events=1000, **settings) as (stack, key),
    ):
        if prepare is not None:
            prepare(stack)
        pid = _pid(stack, target)
        raw = Path(home) / f"{name}.raw"
        units: list[int] = []
        worker = threading.Thread(target=lambda: units.append(load(stack, key)))
        cpu0 = cpu_seconds(pid)
        worker.start()
        time.sleep(1.0)  # past the start of the load
        proc = spy(pid, seconds, raw)
        proc.wait(seconds + 60)
        worker.join()
        cpu = cpu_seconds(pid) - cpu0
        body = summarize(raw)
    done = units[0] if units else 0
    per = f"{1000 * cpu / done:.3f} ms CPU per unit ({done} units, {cpu:.1f} s)" if done else ""
    return f"# {name}: {target}\n{per}\n\n{body}"


def _p1(seconds: float) -> Callable[[Any, str], int]:
    def load(stack: Any, key: str) -> int:
        url = stack.urls()["ingest"] + "/v1/events/batch"
        headers = [
            "content-type: application/cloudevents-batch+json",
            f"authorization: Bearer {key}",
        ]
        bodies = [orjson.dumps(b) for b in mix_bodies("prof", 500, 16)]
        res = loadgen(url, 2.0, 2, None, headers, "POST", unique=True, bodies=bodies)
        time.sleep(seconds + 2)  # the worker stores the backlog while it is sampled
        import psycopg

        with psycopg.connect(stack.database_url) as conn:
            row: Any = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if res else 0

    return load


def _p2(seconds: float) -> Callable[[Any, str], int]:
    def load(stack: Any, key: str) -> int:
        url = stack.urls()["ingest"] + "/v1/events"
        headers = ["content-type: application/cloudevents+json", f"authorization: Bearer {key}"]
        res = loadgen(url, seconds + 3, 32, event_body("prof"), headers, "POST", unique=True)
        return int(res["requests"])

    return load


def _p4(seconds: float, cached: bool) -> Callable[[Any, str], int]:
    def load(stack: Any, key: str) -> int:
        base = stack.urls()["timeline"]
        page = f"{base}/v1/companies/bench-co-7/timeline?category=funding&from=2005-01-01&limit=50"
        url = page if cached else page + "&_n={n}"
        res = loadgen(url, seconds + 3, 32, unique=not cached)
        return int(res["requests"])

    return load


def _p5(seconds: float) -> Callable[[Any, str], int]:
    def load(stack: Any, key: str) -> int:
        urls = stack.urls()
        with receiver() as (base, _out, _pid):
            for i in range(100):
                subscribe(urls["notify"], key, f"{base}/hook/{i}")
            post_batches(urls["ingest"], key, 300, "prof")
            time.sleep(seconds + 2)
            from bench.p5 import stats

            return int(stats(base)["count"])

    return load


def _p5_latency(seconds: float) -> Callable[[Any, str], int]:
    """P5's latency phase: 200 events/s, 10 of 100 subscriptions match (deliveries made)."""

    def load(stack: Any, key: str) -> int:
        urls = stack.urls()
        with receiver() as (base, _out, _pid):
            for i in range(100):
                flt = {"categories": ["licensing"] if i < 10 else ["legal"]}
                subscribe(urls["notify"], key, f"{base}/l/{i}", flt)
            headers = [
                "content-type: application/cloudevents+json",
                f"authorization: Bearer {key}",
            ]
            url = urls["ingest"] + "/v1/events"
            loadgen(url, seconds + 3, 8, event_body("prof"), headers, "POST", rate=200, unique=True)
            from bench.p5 import stats

            return int(stats(base)["count"])

    return load


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("scenarios", nargs="+", choices=["p1", "p2", "p4", "p5", "p5-latency"])
    p.add_argument("--seconds", type=float, default=12.0)
    args = p.parse_args()
    RESULTS.mkdir(exist_ok=True)
    s = args.seconds
    for name in args.scenarios:
        if name == "p1":
            reports = [profile("p1", "enrich-worker", s, _p1(s))]
        elif name == "p2":
            reports = [profile("p2", "ingest", s, _p2(s))]
        elif name == "p5":
            reports = [profile("p5", "notify-worker", s, _p5(s))]
        elif name == "p5-latency":
            reports = [
                profile("p5-latency-notify", "notify-worker", s, _p5_latency(s)),
                profile("p5-latency-enrich", "enrich-worker", s, _p5_latency(s)),
            ]
        else:
            reports = [
                profile(
                    "p4-cached" if cached else "p4-uncached",
                    "timeline",
                    s,
                    _p4(s, cached),
                    prepare=lambda stack: fill(stack.database_url, 50_000, 50),
                )
                for cached in (False, True)
            ]
        text = "\n".join(reports)
        (RESULTS / f"profile-{name}.txt").write_text(text)
        print(text)


if __name__ == "__main__":
    main()
