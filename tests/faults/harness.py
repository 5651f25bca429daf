"""The fault-test harness: a whole stack, a webhook receiver, a paced load, and the audit.

`FaultStack` runs what `pivotwatch up` runs (embedded PostgreSQL and Redis, ingest, timeline,
notify, the relay, the enrich and notify workers, beat) with the supervisor restarting dead
children, but in this process, so a test can SIGKILL a child, restart Redis on its port and data
dir, or stop PostgreSQL and start it again. The settings in `TUNING` shrink every recovery delay
(visibility timeout, XAUTOCLAIM idle time, delivery lease, retry schedule, outbox sweep) to seconds.

`Load` posts events in batches through the real ingest API at a steady pace, as a client would:
a 503 or 429 is retried after its Retry-After. It records what was answered 202.

`audit()` waits until the pipeline is quiet, then counts, from PostgreSQL, the receiver and the
load's own records, everything the promise covers: every 202'd event stored exactly once,
every outbox row processed, every matching subscription's deliveries settled (succeeded or
visibly failed, none pending or leased), every event seen by the receiver (duplicates only with
the same webhook-id), every service ready again. It prints the counts; `Audit.check()` asserts.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import random
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import psycopg
from redis import Redis
from standardwebhooks import Webhook

from pivotwatch.cli import dev_key
from pivotwatch.embedded import free_port
from pivotwatch.supervisor import Child, Stack
from shared.events import event_uuid
from shared.migrate import upgrade
from shared.redis_keys import INGEST_STREAM, RELAY_GROUP
from shared.settings import Settings
from tests.fixtures.receiver import Got, Receiver
from tests.fixtures.waiting import poll

# Recovery in seconds, not the production minutes and hours.
TUNING = {
    "PIVOTWATCH_LOG_LEVEL": "INFO",
    # A dead worker's unacknowledged chunk comes back after this; tasks are bounded under it.
    "PIVOTWATCH_VISIBILITY_TIMEOUT": "20",
    "PIVOTWATCH_UNACKED_RESTORE_INTERVAL": "2",
    # Entries a killed relay read but did not acknowledge are claimed after this.
    "PIVOTWATCH_RELAY_CLAIM_IDLE_MS": "2000",
    # Outbox rows a dead worker left unannounced are sent again after this (longer than a busy
    # notify queue takes to drain, or the sweep would only add duplicate fan-out tasks).
    "PIVOTWATCH_OUTBOX_SWEEP_AFTER_SECONDS": "15",
    "PIVOTWATCH_ENRICH_RETRY_DELAY_SECONDS": "0.5",
    # Outlasts the receiver's bad spell in the webhook test (about 31 s of retries).
    "PIVOTWATCH_RETRY_SCHEDULE_SECONDS": "[0, 0.5, 1, 2, 3, 5, 5, 5, 5, 5]",
    "PIVOTWATCH_RETRY_JITTER": "0",
    "PIVOTWATCH_DISPATCH_INTERVAL_SECONDS": "0.5",
    "PIVOTWATCH_WEBHOOK_TIMEOUT_SECONDS": "2",
    "PIVOTWATCH_WEBHOOK_LEASE_GRACE_SECONDS": "2",
    "PIVOTWATCH_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]',
}
# What `pivotwatch up` itself sets, and nothing else: the fault tests at default settings
# (tests/faults/test_defaults.py) show what a user gets, the tuned ones the mechanism quickly.
DEFAULTS = {
    "PIVOTWATCH_LOG_LEVEL": "INFO",
    "PIVOTWATCH_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]',
}
WEBHOOK_TIMEOUT = float(TUNING["PIVOTWATCH_WEBHOOK_TIMEOUT_SECONDS"])
VISIBILITY_TIMEOUT = float(TUNING["PIVOTWATCH_VISIBILITY_TIMEOUT"])
SERVICES = ("ingest", "timeline", "notify")


def env_number(name: str, default: float) -> float:
    """A fault test's knob (PIVOTWATCH_FAULT_*), read by the test harness, never by the services."""
    value = os.environ.get(name)
    return float(value) if value else default


# -- the stack -----------------------------------------------------------------------------------
class _Supervised(Stack):
    """`pivotwatch up`'s stack, with the fault settings in its children's environment."""

    extra_env: dict[str, str]

    def child_env(self) -> dict[str, str]:
        return {**super().child_env(), **self.extra_env}


class FaultStack:
    def __init__(self, home: Path, env: dict[str, str] | None = None, tuned: bool = True) -> None:
        self.home = home
        ports = {n: free_port() for n in ("ingest", "timeline", "notify", "pg", "redis")}
        self.env = {
            **(TUNING if tuned else DEFAULTS),
            "PIVOTWATCH_INGEST_PORT": str(ports["ingest"]),
            "PIVOTWATCH_TIMELINE_PORT": str(ports["timeline"]),
            "PIVOTWATCH_NOTIFY_PORT": str(ports["notify"]),
            **(env or {}),
        }
        settings = Settings(
            home=home,
            ingest_port=ports["ingest"],
            timeline_port=ports["timeline"],
            notify_port=ports["notify"],
            embedded_postgres_port=ports["pg"],
            embedded_redis_port=ports["redis"],
            database_url="",
            redis_url="",
        )
        self.stack = _Supervised(settings, home, seed=False, quiet=True)
        self.stack.extra_env = self.env
        self.key = ""
        self.urls = self.stack.urls()
        self.supervisor: threading.Thread | None = None
        self.events: list[str] = []  # what the test did, when (for the audit's story)
        self.t0 = time.monotonic()

    def note(self, what: str) -> None:
        line = f"{time.monotonic() - self.t0:6.1f}s  {what}"
        self.events.append(line)
        print(line, flush=True)

    def start(self) -> None:
        s = self.stack
        s.start_servers()
        upgrade(Settings(database_url=s.database_url).sync_database_url)
        self.key = dev_key(self.home, s.database_url, s.redis_url)
        s.start_services()
        s.wait_ready()
        self.supervisor = threading.Thread(target=s.supervise, daemon=True)
        self.supervisor.start()
        self.note("stack ready")

    def stop(self) -> None:
        self.stack.stop()
        if self.supervisor is not None:
            self.supervisor.join(10)

    @property
    def database_url(self) -> str:
        return self.stack.database_url

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"}

    # -- faults ----------------------------------------------------------------------------------
    def child(self, name: str) -> Child:
        return next(c for c in self.stack.children if c.name == name)

    def kill(self, name: str) -> int:
        """SIGKILL a child's whole process group (a prefork worker's pool too); the supervisor
        starts it again by itself. Returns the killed pid."""
        proc = self.child(name).proc
        assert proc is not None and proc.poll() is None, f"{name} is not running"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.note(f"{name} (pid {proc.pid}) killed with SIGKILL")
        return proc.pid

    def wait_restarted(self, name: str, timeout: float = 30) -> None:
        ok = poll(
            lambda: (p := self.child(name).proc) is not None and p.poll() is None, timeout, 0.2
        )
        assert ok, f"{name} was not restarted"
        self.note(f"{name} restarted by the supervisor (pid {self.child(name).proc.pid})")  # type: ignore[union-attr]

    def stop_redis(self) -> None:
        assert self.stack.redis is not None
        self.stack.redis.stop()
        self.note("Redis stopped")

    def start_redis(self) -> None:
        assert self.stack.redis is not None
        self.stack.redis.start()
        self.note("Redis started again (same port, same data dir)")

    def stop_postgres(self) -> None:
        assert self.stack.pg is not None
        self.stack.pg.stop()
        self.note("PostgreSQL stopped")

    def start_postgres(self) -> None:
        assert self.stack.pg is not None
        self.stack.pg.start()
        self.note("PostgreSQL started again")

    # -- observation -----------------------------------------------------------------------------
    def ready(self) -> dict[str, int]:
        out = {}
        for name, url in self.urls.items():
            try:
                out[name] = httpx.get(f"{url}/readyz", timeout=2).status_code
            except httpx.HTTPError:
                out[name] = 0
        return out

    def log(self, name: str) -> str:
        path = self.home / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self, chars: int = 2500) -> str:
        logs = self.home / "logs"
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
            for p in sorted(logs.glob("*.log"))
        )

    def rss(self) -> dict[str, float]:
        """Resident memory (MB) of each child with its own children (a worker's pool)."""
        out: dict[str, float] = {}
        for c in self.stack.children:
            if c.proc is None or c.proc.poll() is not None:
                out[c.name] = 0.0
                continue
            try:
                p = psutil.Process(c.proc.pid)
                procs = [p, *p.children(recursive=True)]
                out[c.name] = sum(q.memory_info().rss for q in procs) / 1e6
            except psutil.NoSuchProcess:
                out[c.name] = 0.0
        for name, server in (("postgres", self.stack.pg), ("redis", self.stack.redis)):
            if server is not None and server.proc is not None:
                try:
                    p = psutil.Process(server.proc.pid)
                    procs = [p, *p.children(recursive=True)]
                    out[name] = sum(q.memory_info().rss for q in procs) / 1e6
                except psutil.NoSuchProcess:
                    out[name] = 0.0
        return out

    def subscribe(self, url: str, companies: list[str]) -> tuple[str, str]:
        r = httpx.post(
            f"{self.urls['notify']}/v1/subscriptions",
            headers=self.auth,
            json={"url": url, "filter": {"companies": companies}},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        return str(body["id"]), str(body["secret"])


@contextlib.contextmanager
def running(home: Path, env: dict[str, str] | None = None) -> Iterator[FaultStack]:
    stack = FaultStack(home, env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


# -- the webhook receiver ------------------------------------------------------------------------
# Standard Webhooks' tolerance between `webhook-timestamp` and the receiver's clock.
SIGNATURE_TOLERANCE = 300.0


def signature_ok(wh: Webhook, got: Got) -> bool:
    """Verified as the receiver would have verified it when it arrived: `Webhook.verify` checks
    the timestamp against the clock now, and an audit after a long run is minutes later."""
    try:
        msg_id, stamp = got.headers["webhook-id"], got.headers["webhook-timestamp"]
        moment = datetime.fromtimestamp(int(stamp), UTC)
        expected = wh.sign(msg_id=msg_id, timestamp=moment, data=got.body.decode())
    except (KeyError, ValueError, UnicodeDecodeError):
        return False
    if abs(got.at - moment.timestamp()) > SIGNATURE_TOLERANCE:
        return False
    offered = got.headers.get("webhook-signature", "").split(" ")
    return any(hmac.compare_digest(expected, sig) for sig in offered)


# -- the load ------------------------------------------------------------------------------------
_WORDS = tuple(
    re.findall(
        r"\w+",
        "lattice harbour quorum meridian cobalt tundra saffron beacon orchard vertex gravel prism "
        "lantern estuary falcon granite kestrel mosaic nimbus obsidian pylon quartz rampart "
        "sextant thimble umber vellum willow zephyr anchor bramble cinder dune ember fjord "
        "glacier heron iris juniper kelp lichen marrow nectar opal pebble quill reef sorrel",
    )
)
EPOCH = date(1980, 1, 1)


def company_names(tag: str) -> list[str]:
    """Two companies no registry entry knows, so each has its own slug and its own events."""
    return [f"Faultline {tag} Alpha", f"Faultline {tag} Beta"]


def slug(name: str) -> str:
    return "-".join(name.lower().split())


def make_event(source: str, n: int, companies: list[str]) -> dict[str, Any]:
    """Event n. Companies alternate and days advance by two, so one company's events are four days
    apart: never near-duplicates of each other (compared within three days), all distinct."""
    rng = random.Random(n)
    words = " ".join(rng.sample(_WORDS, 5))
    return {
        "specversion": "1.0",
        "id": f"fault-{n}",
        "source": source,
        "type": "dev.pivotwatch.strategy.reported",
        "data": {
            "company": companies[n % len(companies)],
            "occurred": (EPOCH + timedelta(days=2 * n)).isoformat(),
            "title": f"Report {n}: {words}",
            "sources": [{"url": f"https://example.org/faults/{n}"}],
        },
    }


class Load(threading.Thread):
    """`total` events in batches of `batch`, spread over `seconds`, through POST /v1/events/batch.

    A 503 or 429 is answered by waiting its Retry-After and sending the same batch again (nothing
    of it was written); every other non-202 answer is recorded as an error.
    """

    def __init__(
        self,
        stack: FaultStack,
        source: str,
        companies: list[str],
        total: int,
        seconds: float,
        batch: int = 50,
    ) -> None:
        super().__init__(daemon=True)
        self.url = f"{stack.urls['ingest']}/v1/events/batch"
        self.auth = stack.auth
        self.source = source
        self.companies = companies
        self.total = total
        self.seconds = seconds
        self.batch = batch
        self.accepted: dict[str, dict[str, Any]] = {}  # event id -> the event (202, accepted)
        self.duplicates = 0  # 202 with status duplicate: an earlier send was already written
        self.rejected = 0  # items refused inside a 202 (none expected)
        self.statuses: Counter[int] = Counter()
        self.unavailable = 0  # 503 answers, all with Retry-After
        self.limited = 0  # 429 answers
        self.missing_retry_after = 0
        self.errors: list[str] = []
        self.posted = 0
        self.lock = threading.Lock()

    def accepted_count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def run(self) -> None:
        start = time.monotonic()
        rate = self.total / max(self.seconds, 0.1)
        with httpx.Client(timeout=30, headers=self.auth) as client:
            for first in range(0, self.total, self.batch):
                pause = start + first / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                events = [
                    make_event(self.source, n, self.companies)
                    for n in range(first, min(first + self.batch, self.total))
                ]
                self._send(client, events)

    def _send(self, client: httpx.Client, events: list[dict[str, Any]]) -> None:
        body = orjson.dumps(events)
        for _ in range(200):
            try:
                r = client.post(
                    self.url,
                    content=body,
                    headers={"content-type": "application/cloudevents-batch+json"},
                )
            except httpx.HTTPError as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.5)
                continue
            self.statuses[r.status_code] += 1
            if r.status_code in (429, 503):
                if r.status_code == 503:
                    self.unavailable += 1
                else:
                    self.limited += 1
                retry_after = r.headers.get("retry-after")
                if retry_after is None:
                    self.missing_retry_after += 1
                time.sleep(min(float(retry_after or 1), 5))
                continue
            if r.status_code != 202:
                self.errors.append(f"{r.status_code}: {r.text[:300]}")
                return
            by_index = {int(x["index"]): x for x in r.json()["results"]}
            with self.lock:
                self.posted += len(events)
                for i, ev in enumerate(events):
                    item = by_index[i]
                    if item["status"] == "accepted":
                        self.accepted[str(item["id"])] = ev
                    elif item["status"] == "duplicate":
                        self.duplicates += 1
                        self.accepted[str(item["id"])] = ev
                    else:
                        self.rejected += 1
                        self.errors.append(f"rejected: {item}")
            return
        self.errors.append("a batch was refused 200 times in a row")


# -- the audit -----------------------------------------------------------------------------------
@dataclass
class Hook:
    """One subscription of the scenario: its receiver path and the companies it follows."""

    name: str
    companies: list[str]
    id: str = ""
    secret: str = ""


@dataclass
class Scenario:
    """What a fault test sets up: a stack, a receiver, subscriptions, and the load's source."""

    stack: FaultStack
    receiver: Receiver
    tag: str
    hooks: list[Hook]
    source: str
    companies: list[str]

    def load(self, total: int, seconds: float, batch: int = 50) -> Load:
        load = Load(self.stack, self.source, self.companies, total, seconds, batch)
        load.start()
        return load

    def expected(self, load: Load) -> dict[str, set[str]]:
        """Per hook, the event ids it must be told about (from what was answered 202)."""
        out: dict[str, set[str]] = {}
        with load.lock:
            accepted = dict(load.accepted)
        for hook in self.hooks:
            follows = {slug(c) for c in hook.companies}
            out[hook.name] = {
                i for i, ev in accepted.items() if slug(ev["data"]["company"]) in follows
            }
        return out


def scenario(stack: FaultStack, receiver: Receiver, tag: str) -> Scenario:
    """Two subscriptions that match (both companies; the first only) and one that matches
    nothing, each on its own receiver path: every event fans out to one or two endpoints."""
    companies = company_names(tag)
    hooks = [
        Hook("both", companies),
        Hook("alpha", companies[:1]),
        Hook("nobody", [f"Faultline {tag} Nobody"]),
    ]
    for hook in hooks:
        hook.id, hook.secret = stack.subscribe(
            receiver.hook_url(hook.name), [slug(c) for c in hook.companies]
        )
    return Scenario(stack, receiver, tag, hooks, f"/faults/{tag}", companies)


@dataclass
class Audit:
    name: str
    counts: dict[str, Any]
    problems: list[str]
    story: list[str]
    tails: str = ""

    def report(self) -> str:
        lines = [f"AUDIT {self.name}"]
        lines += [f"  {k}: {v}" for k, v in self.counts.items()]
        lines.append("  problems: " + ("none" if not self.problems else ""))
        lines += [f"    - {p}" for p in self.problems]
        return "\n".join(lines)

    def check(self) -> None:
        if self.problems:
            raise AssertionError(self.report() + "\n" + "\n".join(self.story) + "\n" + self.tails)


def _db_counts(database_url: str, source: str, hooks: list[Hook]) -> dict[str, Any]:
    hook_ids = [h.id for h in hooks]
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        stored = {
            str(r[0]): (r[1], r[2], r[3])
            for r in conn.execute(
                "SELECT id, ce_id, version, duplicate_of FROM events WHERE source = %s", (source,)
            )
        }
        dup_keys = conn.execute(
            "SELECT count(*) FROM (SELECT ce_id FROM events WHERE source = %s "
            "GROUP BY ce_id HAVING count(*) > 1) d",
            (source,),
        ).fetchone()
        versions = conn.execute(
            "SELECT count(*) FILTER (WHERE n <> 1) FROM (SELECT e.id, count(v.event_id) AS n "
            "FROM events e LEFT JOIN event_versions v ON v.event_id = e.id "
            "WHERE e.source = %s GROUP BY e.id) x",
            (source,),
        ).fetchone()
        outbox = conn.execute(
            "SELECT count(*), count(o.processed_at) FROM outbox o JOIN events e "
            "ON e.id = o.event_id WHERE e.source = %s",
            (source,),
        ).fetchone()
        deliveries = conn.execute(
            "SELECT subscription_id::text, event_id::text, webhook_id, status, "
            "next_attempt_at IS NOT NULL AND next_attempt_at > now() AS leased, attempts "
            "FROM deliveries WHERE subscription_id::text = ANY(%s)",
            (hook_ids,),
        ).fetchall()
        attempts = conn.execute(
            "SELECT coalesce(a.status_code::text, split_part(a.error, ':', 1)), count(*) "
            "FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
            "WHERE d.subscription_id::text = ANY(%s) GROUP BY 1 ORDER BY 1",
            (hook_ids,),
        ).fetchall()
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
        enabled = conn.execute(
            "SELECT count(*) FROM subscriptions WHERE id::text = ANY(%s) AND NOT enabled",
            (hook_ids,),
        ).fetchone()
    return {
        "stored": stored,
        "dup_keys": int(dup_keys[0]) if dup_keys else 0,
        "bad_versions": int(versions[0]) if versions else 0,
        "outbox": (int(outbox[0]), int(outbox[1])) if outbox else (0, 0),
        "deliveries": deliveries,
        "attempts": {str(kind): int(n) for kind, n in attempts},
        "dead_letters": int(dead[0]) if dead else 0,
        "disabled": int(enabled[0]) if enabled else 0,
    }


def attempts_by_answer(sc: Scenario) -> dict[str, int]:
    """Delivery attempts so far, by status code or, with no answer, by error (ConnectError...)."""
    try:
        return dict(_db_counts(sc.stack.database_url, sc.source, sc.hooks)["attempts"])
    except psycopg.Error:
        return {}


def _ingest_log(redis_url: str) -> dict[str, int]:
    """The relay group's pending (read, unacknowledged) and lag (unread) entries."""
    client = Redis.from_url(redis_url, socket_timeout=5)
    try:
        for group in client.xinfo_groups(INGEST_STREAM):
            if group["name"] in (RELAY_GROUP, RELAY_GROUP.encode()):
                return {
                    "pending": int(group.get("pending") or 0),
                    "lag": int(group.get("lag") or 0),
                    "length": int(client.xlen(INGEST_STREAM)),
                }
        return {}
    finally:
        client.close()


def ingest_pending_by_consumer(redis_url: str) -> dict[str, int]:
    """Entries each relay consumer read and has not acknowledged."""
    client = Redis.from_url(redis_url, socket_timeout=5)
    try:
        info = client.xpending(INGEST_STREAM, RELAY_GROUP)
        return {
            (c["name"].decode() if isinstance(c["name"], bytes) else str(c["name"])): int(
                c["pending"]
            )
            for c in (info.get("consumers") or [])
        }
    finally:
        client.close()


def _settled(sc: Scenario, load: Load) -> bool:
    """Quiet: everything 202'd stored, outbox processed, nothing pending, every event seen."""
    try:
        db = _db_counts(sc.stack.database_url, sc.source, sc.hooks)
    except psycopg.Error:
        return False
    accepted = set(load.accepted)
    if not accepted <= set(db["stored"]):
        return False
    total, processed = db["outbox"]
    if total != processed or any(d[3] == "pending" for d in db["deliveries"]):
        return False
    seen: dict[str, set[str]] = defaultdict(set)
    for g in sc.receiver.answered():
        if g.acknowledged and g.event_id:
            seen[g.hook].add(g.event_id)
    expected = sc.expected(load)
    failed = {(d[0], d[1]) for d in db["deliveries"] if d[3] == "failed"}
    by_id = {h.name: h.id for h in sc.hooks}
    for hook, ids in expected.items():
        unseen = ids - seen[hook]
        if any((by_id[hook], i) not in failed for i in unseen):
            return False
    return all(code == 200 for code in sc.stack.ready().values())


def audit(name: str, sc: Scenario, load: Load, timeout: float = 150) -> Audit:
    """Wait (up to `timeout`) for the pipeline to settle by itself, then count and judge."""
    load.join(load.seconds + timeout)
    t = time.monotonic()
    settled = poll(lambda: _settled(sc, load), timeout, 1.0)
    sc.stack.note(
        f"pipeline {'settled' if settled else 'NOT settled'} "
        f"{time.monotonic() - t:.1f}s after the load ended"
    )
    db = _db_counts(sc.stack.database_url, sc.source, sc.hooks)
    accepted = set(load.accepted)
    stored = db["stored"]
    missing = accepted - set(stored)
    unexpected = set(stored) - accepted
    bad_version = sum(1 for v in stored.values() if v[1] != 1)
    merged = sum(1 for v in stored.values() if v[2] is not None)
    expected_ids = {str(event_uuid(sc.source, f"fault-{n}")) for n in range(load.total)}
    counts: dict[str, Any] = {
        "events posted (202, incl. re-sends)": load.posted,
        "events answered 202": len(accepted),
        "of them duplicate (re-sent)": load.duplicates,
        "ingest answers": dict(sorted(load.statuses.items())),
        "503 answers (all with Retry-After)": load.unavailable,
        "429 answers": load.limited,
        "events stored (rows)": len(stored),
        "duplicate rows by source+id": db["dup_keys"],
        "events with version != 1": bad_version,
        "events with other than one version row": db["bad_versions"],
        "202'd but not stored": len(missing),
        "stored but never 202'd": len(unexpected),
        "merged as near-duplicates": merged,
        "outbox rows (processed/total)": f"{db['outbox'][1]}/{db['outbox'][0]}",
        "dead letters": db["dead_letters"],
        "delivery attempts by answer": db["attempts"],
        "ingest log (relay group)": _ingest_log(sc.stack.stack.redis_url),
    }
    problems = _load_problems(load, accepted, expected_ids)
    problems += _storage_problems(
        db, missing, unexpected, bad_version, merged, counts["ingest log (relay group)"]
    )

    got = sc.receiver.answered()
    expected = sc.expected(load)
    by_hook: dict[str, list[Any]] = defaultdict(list)
    for d in db["deliveries"]:
        by_hook[d[0]].append(d)
    for hook in sc.hooks:
        counts[f"hook {hook.name}"], found = _hook_audit(
            hook, by_hook[hook.id], got, expected[hook.name]
        )
        problems += found
    ready = sc.stack.ready()
    counts["readyz"] = ready
    if any(code != 200 for code in ready.values()):
        problems.append(f"not ready again: {ready}")
    restarts = {c.name: c.restarts for c in sc.stack.stack.children if c.restarts}
    counts["restarts by the supervisor"] = restarts
    dead = [c.name for c in sc.stack.stack.children if c.proc is None or c.proc.poll() is not None]
    if dead:
        problems.append(f"not running at the end: {dead}")
    result = Audit(
        name,
        counts,
        problems,
        sc.stack.events,
        sc.stack.tails() if problems else "",
    )
    print(result.report(), flush=True)
    return result


def _failed(checks: list[tuple[Any, str]]) -> list[str]:
    """The messages of the checks (a truthy first item is a problem), in order."""
    return [message for problem, message in checks if problem]


def _load_problems(load: Load, accepted: set[str], expected_ids: set[str]) -> list[str]:
    """What went wrong on the load's side: errors, answers without Retry-After, events never
    answered 202."""
    return _failed(
        [
            (load.errors, f"load errors: {load.errors[:5]}"),
            (
                load.missing_retry_after,
                f"{load.missing_retry_after} 503/429 answers without Retry-After",
            ),
            (
                accepted != expected_ids,
                f"{len(expected_ids - accepted)} events of the load never answered 202",
            ),
        ]
    )


def _storage_problems(
    db: dict[str, Any],
    missing: set[str],
    unexpected: set[str],
    bad_version: int,
    merged: int,
    log_state: dict[str, int],
) -> list[str]:
    """What went wrong between 202 and the outbox: events lost, stored twice or merged, outbox
    rows left, the ingest log not drained, dead letters, disabled subscriptions."""
    total, processed = db["outbox"]
    return _failed(
        [
            (missing, f"{len(missing)} events answered 202 were not stored: {sorted(missing)[:5]}"),
            (unexpected, f"{len(unexpected)} stored events were never answered 202"),
            (
                db["dup_keys"] or bad_version or db["bad_versions"],
                "an event was stored more than once or got more than one version",
            ),
            (
                merged,
                f"{merged} events were merged as near-duplicates (the load must avoid it)",
            ),
            (total != processed, f"{total - processed} outbox rows never processed"),
            (total < len(db["stored"]), "an event has no outbox row"),
            (
                log_state.get("pending") or log_state.get("lag"),
                f"the ingest log still holds unrelayed entries: {log_state}",
            ),
            (db["dead_letters"], f"{db['dead_letters']} dead letters"),
            (db["disabled"], f"{db['disabled']} subscriptions were disabled"),
        ]
    )


def _hook_audit(
    hook: Hook, rows: list[Any], got: list[Got], want: set[str]
) -> tuple[str, list[str]]:
    """One subscription's count line and problems: its deliveries (`rows`) against the events
    it must be told about (`want`) and what the receiver saw (`got`)."""
    status = Counter(d[3] for d in rows)
    pending_due = sum(1 for d in rows if d[3] == "pending" and not d[4])
    leased = sum(1 for d in rows if d[3] == "pending" and d[4])
    delivered_ids = {d[1] for d in rows}
    webhook_of = {d[1]: d[2] for d in rows}
    mine = [g for g in got if g.hook == hook.name]
    acked = {g.event_id for g in mine if g.acknowledged}
    ids_per_event: dict[str | None, set[str]] = defaultdict(set)
    for g in mine:
        ids_per_event[g.event_id].add(g.webhook_id)
    extra_ids = sum(1 for s in ids_per_event.values() if len(s) > 1)
    foreign = sum(1 for g in mine if webhook_of.get(str(g.event_id)) != g.webhook_id)
    failed = {d[1] for d in rows if d[3] == "failed"}
    unseen = want - acked - failed
    dupes = len(mine) - len({g.webhook_id for g in mine})
    wh = Webhook(hook.secret)
    bad_sig = sum(1 for g in mine if not signature_ok(wh, g))
    line = (
        f"expected {len(want)}, deliveries {len(rows)} "
        f"(succeeded {status['succeeded']}, failed {status['failed']}, "
        f"pending past due {pending_due}, leased {leased}), "
        f"receiver saw {len({g.event_id for g in mine})} events in {len(mine)} requests "
        f"({dupes} repeats, all with the same webhook-id: {extra_ids == 0}), "
        f"bad signatures {bad_sig}"
    )
    problems = _failed(
        [
            (
                delivered_ids != want,
                f"hook {hook.name}: deliveries for {len(delivered_ids)} events, "
                f"expected {len(want)}",
            ),
            (
                pending_due or leased,
                f"hook {hook.name}: {pending_due} pending past due, {leased} leased",
            ),
            (unseen, f"hook {hook.name}: {len(unseen)} events neither received nor failed"),
            (extra_ids or foreign, f"hook {hook.name}: an event arrived under another webhook-id"),
            (bad_sig, f"hook {hook.name}: {bad_sig} requests with a bad signature"),
        ]
    )
    return line, problems


def received_then_not_succeeded(log: str) -> set[str]:
    """Chunk tasks (enrich.store_chunk) the worker log shows received but never finished."""
    received = set(re.findall(r"Task enrich\.store_chunk\[([0-9a-f-]{36})\] received", log))
    done = set(
        re.findall(r"Task enrich\.store_chunk\[([0-9a-f-]{36})\] (?:succeeded|failed|retry)", log)
    )
    return received - done


def kill_enrich_mid_chunk(sc: Scenario, load: Load) -> tuple[set[str], int, float]:
    """SIGKILL the enrich worker while a chunk is in it (received, not finished); a kill that
    lands between chunks does not count, and the next one is tried (up to five). Returns the
    chunks in flight at the last kill, the kills, and when the last one was (monotonic)."""
    in_flight: set[str] = set()
    kills = 0
    killed_at = time.monotonic()
    while not in_flight and kills < 5 and load.is_alive():
        poll(lambda: received_then_not_succeeded(sc.stack.log("enrich-worker")), 10, 0.01)
        sc.stack.kill("enrich-worker")
        killed_at = time.monotonic()
        kills += 1
        in_flight = received_then_not_succeeded(sc.stack.log("enrich-worker"))
        sc.stack.note(f"chunks in the worker when it died: {len(in_flight)}")
        sc.stack.wait_restarted("enrich-worker")
    return in_flight, kills, killed_at
