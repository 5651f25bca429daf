"""P5: webhooks, and the memory of every process at steady load.

Throughput: 100 subscriptions on one local receiver process (bench/receiver.py), events posted
in batches, successful deliveries/s from the first to the last arrival; against the naive sender
of bench/naive.py (one Celery task per delivery, a new HTTP connection each, 2 prefork
processes) on a receiver of its own. Latency: 10 subscriptions that match and 90 that do not,
events offered at 200/s, stored (events.recorded_at, set in the storing transaction) ->
delivered (arrival at the receiver). Duplicates: webhook-ids that arrived more than once.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import psycopg

from bench.common import Report, cpu_delta, cpu_snapshot, event_body, http, loadgen
from bench.loadgen import percentile
from bench.stack import cpu_seconds, group_memory, running_stack
from pivotwatch.embedded import free_port, wait_for_port

API = ("ingest", "timeline", "notify")


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, every process)."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


@contextlib.contextmanager
def receiver() -> Iterator[tuple[str, Path, int]]:
    """A receiver process; yields its base URL, the file its arrivals land in, its pid."""
    port = free_port()
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("receiver.py")),
            "--port",
            str(port),
            "--out",
            str(out),
        ],
        start_new_session=True,
    )
    try:
        if not wait_for_port(port, 30, proc):
            raise RuntimeError("receiver did not start")
        yield f"http://127.0.0.1:{port}", out, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def stats(base: str) -> dict[str, Any]:
    result: dict[str, Any] = http().get(base + "/stats", timeout=10).json()
    return result


def wait_received(base: str, target: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    s = stats(base)
    last_change, last_count = time.monotonic(), s["count"]
    while s["count"] < target and time.monotonic() < deadline:
        time.sleep(0.25)
        s = stats(base)
        if s["count"] != last_count:
            last_change, last_count = time.monotonic(), s["count"]
        elif time.monotonic() - last_change > 30:
            break  # nothing arrived for 30 s: report what did
    return s


def arrivals(out: Path) -> list[tuple[str, float]]:
    return [(w, float(t)) for w, t in json.loads(out.read_text() or "[]")]


class RssSampler:
    """The largest memory of each service process (with its prefork children) while running:
    the RSS sum (`peak`, as before; counts pages a pool process shares with its parent once per
    process), the PSS sum (`peak_pss`, each page once) and the largest single process's RSS
    (`peak_process`)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.peak: dict[str, float] = {}
        self.peak_pss: dict[str, float] = {}
        self.peak_process: dict[str, float] = {}
        self.samples: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for c in self.stack.children:
                if c.proc is None:
                    continue
                m = group_memory(c.proc.pid)
                self.samples.setdefault(c.name, []).append(m.rss_sum)
                self.peak[c.name] = max(self.peak.get(c.name, 0.0), m.rss_sum)
                self.peak_pss[c.name] = max(self.peak_pss.get(c.name, 0.0), m.pss_sum)
                self.peak_process[c.name] = max(self.peak_process.get(c.name, 0.0), m.max_rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def subscribe(notify: str, key: str, url: str, flt: dict[str, Any] | None = None) -> str:
    r = http().post(
        notify + "/v1/subscriptions",
        json={"url": url, "event_types": ["event.created"], "filter": flt or {}},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    r.raise_for_status()
    return str(r.json()["id"])


def unsubscribe(notify: str, key: str, sub_id: str) -> None:
    http().delete(
        f"{notify}/v1/subscriptions/{sub_id}",
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    ).raise_for_status()


def post_batches(ingest: str, key: str, events: int, prefix: str, size: int = 100) -> int:
    """Post `events` distinct events in batches; returns how many were accepted."""
    one = orjson.loads(event_body(prefix).replace(b"{d}", b"2019-03-11"))
    accepted = 0
    headers = {
        "authorization": f"Bearer {key}",
        "content-type": "application/cloudevents-batch+json",
    }
    with httpx.Client(timeout=60) as client:
        for start in range(0, events, size):
            batch = []
            for n in range(start, min(events, start + size)):
                e = json.loads(json.dumps(one).replace("{n}", str(n)))
                # A day per event (and a company per event): no two are near-duplicates.
                e["data"]["occurred"] = (
                    f"{1990 + n // 300:04d}-{1 + n // 25 % 12:02d}-{1 + n % 25:02d}"
                )
                batch.append(e)
            r = client.post(
                ingest + "/v1/events/batch", content=orjson.dumps(batch), headers=headers
            )
            r.raise_for_status()
            accepted += int(r.json()["accepted"])
    return accepted


def naive_deliveries(redis_url: str, count: int) -> dict[str, Any]:
    """One Celery task per delivery, a new HTTP connection each, 2 prefork processes."""
    broker = redis_url.rsplit("/", 1)[0] + "/2"
    env = {**os.environ, "NAIVE_BROKER_URL": broker}
    with receiver() as (base, _out, _pid):
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "bench.naive", "worker"),
                *("-c", "2", "--loglevel", "WARNING"),
            ],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            producer = (
                "import bench.naive as n, sys; n.publish_deliveries(int(sys.argv[1]), sys.argv[2])"
            )
            subprocess.run(
                [sys.executable, "-c", producer, str(count), base + "/hook"],
                env=env,
                check=True,
                timeout=600,
            )
            s = wait_received(base, count, 600)
            span = (s["last"] or 0) - (s["first"] or 0)
            return {
                "deliveries": s["count"],
                "rate": s["count"] / span if span > 0 else 0.0,
                "worker_cpu_s": cpu_seconds(worker.pid),
            }
        finally:
            worker.terminate()
            worker.wait(30)


def p5_webhooks(report: Report, seconds: float) -> None:
    events = 20 if report.quick else 1200
    subs = 100
    with (
        tempfile.TemporaryDirectory() as home,
        running_stack(Path(home), rate_limit_per_second=1e9, rate_limit_burst=1_000_000_000) as (
            stack,
            key,
        ),
    ):
        urls = stack.urls()
        # -- throughput ------------------------------------------------------------------------
        with receiver() as (base, out, receiver_pid):
            ids = [subscribe(urls["notify"], key, f"{base}/hook/{i}") for i in range(subs)]
            cpu0 = cpu_snapshot(stack)
            rcv_cpu0 = cpu_seconds(receiver_pid)
            with RssSampler(stack) as rss:
                accepted = post_batches(urls["ingest"], key, events, "p5")
                got = wait_received(base, accepted * subs, 600)
            cpu = cpu_delta(cpu0, cpu_snapshot(stack))
            receiver_cpu = cpu_seconds(receiver_pid) - rcv_cpu0
        got_arrivals = arrivals(out)
        span = (got["last"] or 0) - (got["first"] or 0)
        rate = got["count"] / span if span > 0 else 0.0
        dupes = sum(n - 1 for n in Counter(w for w, _ in got_arrivals).values() if n > 1)
        for sub_id in ids:
            unsubscribe(urls["notify"], key, sub_id)
        # -- latency at 200 events/s, 10 matching subscriptions of 100 ------------------------
        with receiver() as (base, out, rcv_pid):
            latency_ids = []
            for i in range(subs):
                flt = {"categories": ["licensing"] if i < 10 else ["legal"]}
                latency_ids.append(subscribe(urls["notify"], key, f"{base}/l/{i}", flt))
            headers = [
                "content-type: application/cloudevents+json",
                f"authorization: Bearer {key}",
            ]
            # What the phase asks of the machine: every process's CPU while it runs, and the
            # whole machine's busy cores (PostgreSQL, Redis and anything else running included).
            lat_cpu0, lat_rcv0, machine0 = cpu_snapshot(stack), cpu_seconds(rcv_pid), busy_seconds()
            lat_t0 = time.monotonic()
            res = loadgen(
                urls["ingest"] + "/v1/events",
                seconds / 2 if report.quick else seconds,
                8,
                event_body("p5l"),
                headers,
                "POST",
                rate=200,
                unique=True,
            )
            offered = res["statuses"].get("202", 0)
            lat_stats = wait_received(base, offered * 10, 20 if report.quick else 300)
            lat_wall = time.monotonic() - lat_t0
            lat_cpu = cpu_delta(lat_cpu0, cpu_snapshot(stack))
            lat_cpu["receiver"] = round(cpu_seconds(rcv_pid) - lat_rcv0, 2)
            lat_cpu["loadgen"] = round(res["cpu_seconds"], 2)
            machine_cores = (busy_seconds() - machine0) / lat_wall
        late = arrivals(out)
        with psycopg.connect(stack.database_url) as conn:
            rows = conn.execute(
                "SELECT d.webhook_id, extract(epoch FROM e.recorded_at) FROM deliveries d "
                "JOIN events e ON e.id = d.event_id"
            ).fetchall()
        stored = {w: float(t) for w, t in rows}
        lags = sorted((t - stored[w]) * 1000 for w, t in late if w in stored)
        late_dupes = sum(n - 1 for n in Counter(w for w, _ in late).values() if n > 1)
        # What was not delivered within the bound goes with its subscriptions (a shared stack's
        # next scenario should not carry this backlog).
        for sub_id in latency_ids:
            unsubscribe(urls["notify"], key, sub_id)
        naive = naive_deliveries(stack.redis_url, 50 if report.quick else 3000)
    report.add(
        "P5 webhooks",
        subscriptions=subs,
        events=accepted,
        deliveries=got["count"],
        expected=accepted * subs,
        deliveries_per_s=rate,
        target_deliveries_per_s=">= 3000",
        naive_deliveries_per_s=naive["rate"],
        ratio=rate / naive["rate"] if naive["rate"] else 0.0,
        target_ratio=">= 10",
        duplicates=dupes + late_dupes,
        target_duplicates="0",
        latency_events_offered=offered,
        latency_deliveries=lat_stats["count"],
        stored_to_delivered_p50_ms=percentile(lags, 0.5),
        stored_to_delivered_p99_ms=percentile(lags, 0.99),
        target_p99_ms="<= 500",
        latency_phase_seconds=lat_wall,
        latency_phase_cpu_s=lat_cpu,
        latency_phase_machine_busy_cores=machine_cores,
        service_cpu_s=cpu,
        receiver_cpu_s=receiver_cpu,
        naive_worker_cpu_s=naive["worker_cpu_s"],
    )
    report.add(
        "Memory (RSS at steady load, P5 throughput)",
        peak_rss_mb={k: round(v, 1) for k, v in rss.peak.items()},
        api_max_mb=max((v for k, v in rss.peak.items() if k in API), default=0.0),
        target_api_mb="<= 150",
        worker_max_mb=max((v for k, v in rss.peak.items() if k not in API), default=0.0),
        target_worker_mb="<= 300",
        # Also (not instead): the RSS sum above counts the pages a prefork pool process shares
        # with its parent once per process. PSS counts each page once; and the largest single
        # process is what `worker_max_memory_per_child` and an OOM killer look at.
        peak_pss_sum_mb={k: round(v, 1) for k, v in rss.peak_pss.items()},
        worker_max_pss_sum_mb=max(
            (v for k, v in rss.peak_pss.items() if k not in API), default=0.0
        ),
        peak_largest_process_rss_mb={k: round(v, 1) for k, v in rss.peak_process.items()},
        worker_max_largest_process_rss_mb=max(
            (v for k, v in rss.peak_process.items() if k not in API), default=0.0
        ),
        growth_pct={
            k: round(100 * (v[-1] - v[0]) / v[0], 1) for k, v in rss.samples.items() if v and v[0]
        },
    )
