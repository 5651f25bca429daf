"""Worker heartbeats, and the prompt redelivery of Celery messages a dead worker held.

With late acks on the Redis broker, a message a worker has taken sits in kombu's `unacked` hash
until the worker acknowledges it; if the whole worker dies (SIGKILL, OOM, a lost container) kombu
puts it back only once its visibility timeout has passed, an hour by default (kombu's Redis
transport docs: `visibility_timeout`; celery issues 2599, 5935). Celery's own worker-lost handling
(`task_reject_on_worker_lost`) covers a pool process that dies under a living parent, not the
parent itself.

So every worker (its main process) says who holds what:

- on receipt of a message it records `delivery tag -> worker id` (`pw:celery:held`), and repeats
  that for every message it still holds on each heartbeat;
- every `worker_heartbeat_seconds` it refreshes `pw:worker:<id>`, which expires after
  `worker_dead_after_seconds`, and its entry in `pw:workers` (what `pivotwatch status` shows);
- on the same beat, and once at start, it looks at what the others hold: a message whose holder
  is gone goes back to its queue with kombu's own `QoS.restore_by_tag` (a WATCHed transaction:
  a message its holder acknowledges meanwhile is not restored).

A holder is gone when its heartbeat key has expired, or, on the same host and PID namespace, when
its process no longer exists (a worker restarted by `pivotwatch up` finds its predecessor's work
at once). A message with no recorded holder is taken back once it has been delivered longer than
`worker_dead_after_seconds` ago. Decisions that rest on an expired heartbeat are made only by a
worker that itself has beaten without a break for that long: after a Redis outage nobody's key is
there, and a worker must not take work from others that simply have not reconnected yet. The
visibility timeout stays as the last resort, matched to the task time limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from celery import Celery
from redis import Redis
from redis.exceptions import RedisError

from shared.redis_keys import HELD_MESSAGES, UNACKED, UNACKED_INDEX, WORKERS, worker_key
from shared.settings import Settings

log = logging.getLogger("pivotwatch.workers")

# Entries of `pw:workers` for workers not seen for this long are dropped.
FORGET_AFTER_SECONDS = 24 * 3600

# KEYS: held, unacked. ARGV: worker id, then tags. Re-records each tag this worker still holds,
# unless the message is no longer unacknowledged or another worker recorded it since (kombu
# restores a message under the same tag: then it is the new holder's). Returns the tags dropped.
_REASSERT = """
local dropped = {}
for i = 2, #ARGV do
  local tag = ARGV[i]
  local owner = redis.call('HGET', KEYS[1], tag)
  if redis.call('HEXISTS', KEYS[2], tag) == 0 or (owner and owner ~= ARGV[1]) then
    dropped[#dropped + 1] = tag
  else
    redis.call('HSET', KEYS[1], tag, ARGV[1])
  end
end
return dropped
"""
# KEYS: held. ARGV: tag, owner, tag, owner... Deletes each record only if it still names that
# owner: a record written meanwhile by the message's next holder stays.
_FORGET = """
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0
"""


def host_id() -> str:
    """This host and PID namespace: process ids are only comparable between equal host ids.

    A restarted container keeps its host name but gets a new PID namespace, so its predecessor's
    PID (often the same number) is never mistaken for a live process there.
    """
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return f"{socket.gethostname()}/{ns}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Holder:
    """What a worker's heartbeat says about it."""

    wid: str
    name: str
    host: str
    pid: int
    queues: tuple[str, ...]
    started_at: float
    beat_at: float
    # Since when every beat went through (0: the last one failed).
    healthy_since: float = 0.0

    def as_json(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.wid,
                "name": self.name,
                "host": self.host,
                "pid": self.pid,
                "queues": list(self.queues),
                "started_at": self.started_at,
                "beat_at": self.beat_at,
                "healthy_since": self.healthy_since,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Holder:
        d = orjson.loads(raw)
        return cls(
            str(d["id"]),
            str(d.get("name", "")),
            str(d.get("host", "")),
            int(d.get("pid", 0)),
            tuple(d.get("queues", ())),
            float(d.get("started_at", 0.0)),
            float(d.get("beat_at", 0.0)),
            float(d.get("healthy_since", 0.0)),
        )


def wid_parts(wid: str) -> tuple[str, int]:
    """(host id, pid) of a worker id made by `Presence`: `<name>|<host id>|<pid>|<nonce>`."""
    parts = wid.split("|")
    if len(parts) != 4:
        return "", 0
    try:
        return parts[1], int(parts[2])
    except ValueError:
        return "", 0


def orphaned(
    held: Mapping[str, str | None],
    delivered_at: Mapping[str, float],
    alive: Iterable[str],
    *,
    me: str,
    now: float,
    dead_after: float,
    trust_expiry: bool,
    local_pid_alive: Callable[[int], bool] = pid_alive,
) -> list[str]:
    """The delivery tags to put back on their queues (pure, but for `local_pid_alive`).

    `held`: each unacknowledged tag -> the worker recorded as holding it (None: nobody yet);
    `delivered_at`: when kombu delivered each tag; `alive`: workers whose heartbeat key exists.
    """
    live = set(alive)
    my_host, my_pid = wid_parts(me)
    out = []
    for tag, owner in held.items():
        if owner == me:
            continue
        if owner is None:
            if trust_expiry and now - delivered_at.get(tag, now) > dead_after:
                out.append(tag)
            continue
        host, pid = wid_parts(owner)
        if host and host == my_host and (pid == my_pid or not local_pid_alive(pid)):
            out.append(tag)  # a predecessor on this host, certainly gone
        elif owner not in live and trust_expiry:
            out.append(tag)
    return out


class Presence:
    """One worker's heartbeat, its record of what it holds, and the reaper of others' work."""

    def __init__(
        self, app: Celery, settings: Settings, name: str, queues: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.settings = settings
        self.name = name
        self.queues = tuple(queues)
        self.wid = f"{name}|{host_id()}|{os.getpid()}|{uuid.uuid4().hex[:8]}"
        self.started_at = time.time()
        self.client = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        self._tags: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Since when every beat went through (None: the last one failed); and on the wall clock,
        # for other processes (the notify dispatcher, in a pool process, reads it in Redis).
        self._healthy_since: float | None = None
        self._healthy_wall = 0.0

    # -- what this worker holds --------------------------------------------------------------
    def received(self, tag: str) -> None:
        """A message was delivered to this worker (called in its main process).

        It is recorded in Redis only while this worker's heartbeat is there (its first beat
        went through and the last did not fail): a record naming a worker with no heartbeat key
        reads as dead. Until then the next successful beat records it."""
        with self._lock:
            self._tags.add(tag)
        if self._healthy_since is None:
            return
        with contextlib.suppress(RedisError):
            self.client.hset(HELD_MESSAGES, tag, self.wid)

    def holds(self, tag: str) -> bool:
        """Whether this worker counts the message `tag` as its own."""
        with self._lock:
            return tag in self._tags

    def holder(self, now: float | None = None) -> Holder:
        return Holder(
            self.wid,
            self.name,
            socket.gethostname(),
            os.getpid(),
            self.queues,
            self.started_at,
            now or time.time(),
            self._healthy_wall,
        )

    def beat(self) -> None:
        """Refresh the heartbeat and the record of every message still held."""
        now = time.time()
        if self._healthy_since is None:
            self._healthy_wall = now
        with self._lock:
            tags = list(self._tags)
        ttl = max(1, round(self.settings.worker_dead_after_seconds))
        pipe = self.client.pipeline(transaction=False)
        pipe.set(worker_key(self.wid), b"1", ex=ttl)
        pipe.hset(WORKERS, self.wid, self.holder(now).as_json())
        pipe.execute()
        if tags:
            dropped = self.client.eval(_REASSERT, 2, HELD_MESSAGES, UNACKED, self.wid, *tags)
            with self._lock:
                self._tags.difference_update(_s(t) for t in dropped)
        if self._healthy_since is None:
            self._healthy_since = time.monotonic()

    # -- others' work ------------------------------------------------------------------------
    def reap(self) -> list[str]:
        """Put back what dead workers held; returns the tags restored."""
        now = time.time()
        trust = (
            self._healthy_since is not None
            and time.monotonic() - self._healthy_since >= self.settings.worker_dead_after_seconds
        )
        index: list[tuple[bytes, float]] = self.client.zrange(  # type: ignore[assignment]
            UNACKED_INDEX, 0, -1, withscores=True
        )
        delivered = {_s(t): float(score) for t, score in index}
        if not delivered:
            self._forget_done()
            return []
        tags = list(delivered)
        owners = [None if o is None else _s(o) for o in self.client.hmget(HELD_MESSAGES, tags)]
        held = dict(zip(tags, owners, strict=True))
        candidates = {o for o in owners if o is not None and o != self.wid}
        pipe = self.client.pipeline(transaction=False)
        for o in candidates:
            pipe.exists(worker_key(o))
        alive = [o for o, n in zip(candidates, pipe.execute(), strict=True) if n]
        gone = orphaned(
            held,
            delivered,
            alive,
            me=self.wid,
            now=now,
            dead_after=self.settings.worker_dead_after_seconds,
            trust_expiry=trust,
        )
        if gone:
            # The records go first: the message's next holder records it after the restore.
            known: list[str] = []
            for t in gone:
                owner = held[t]
                if owner is not None:
                    known += [t, owner]
            if known:
                self.client.eval(_FORGET, 1, HELD_MESSAGES, *known)
            with self.app.connection_for_write() as conn:
                qos: Any = conn.default_channel.qos  # type: ignore[attr-defined]
                for tag in gone:
                    qos.restore_by_tag(tag)
            by = sorted({held[t] or "nobody" for t in gone})
            log.warning(
                "restored %d message(s) held by worker(s) no longer running: %s",
                len(gone),
                ", ".join(by),
            )
        self._forget_done()
        return gone

    def _forget_done(self) -> None:
        """Drop records of acknowledged messages and of long-gone workers."""
        recorded = {_s(t): _s(o) for t, o in self.client.hgetall(HELD_MESSAGES).items()}
        if recorded:
            pipe = self.client.pipeline(transaction=False)
            for t in recorded:
                pipe.hexists(UNACKED, t)
            stale = [t for t, n in zip(recorded, pipe.execute(), strict=True) if not n]
            if stale:
                pairs = [x for t in stale for x in (t, recorded[t])]
                self.client.eval(_FORGET, 1, HELD_MESSAGES, *pairs)
        cutoff = time.time() - FORGET_AFTER_SECONDS
        old = [h.wid for h in read_workers(self.client) if h.beat_at < cutoff]
        if old:
            self.client.hdel(WORKERS, *old)

    # -- the thread --------------------------------------------------------------------------
    def step(self) -> None:
        try:
            self.beat()
            self.reap()
        except RedisError as exc:
            self._healthy_since = None
            self._healthy_wall = 0.0
            log.warning("worker heartbeat failed: %s", exc)
        except Exception:  # the thread must outlive any one bad beat
            self._healthy_since = None
            self._healthy_wall = 0.0
            log.exception("worker heartbeat failed")

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="pivotwatch-presence", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.step()
        while not self._stop.wait(self.settings.worker_heartbeat_seconds):
            self.step()

    def stop(self) -> None:
        """A clean stop: kombu restores this worker's own unacked messages itself."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(RedisError):
            self.client.delete(worker_key(self.wid))
            self.client.hset(WORKERS, self.wid, self.holder().as_json())
        self.client.close()


def dead_among(
    client: Redis, wids: Iterable[str], settings: Settings, now: float | None = None
) -> list[str]:
    """Which of these workers are gone, by the reaper's rules, asked from any process of a worker
    (a pool process): an expired heartbeat counts only once this worker has beaten without a
    break for `worker_dead_after_seconds`."""
    wids = list(wids)
    if not wids:
        return []
    now = now or time.time()
    # Outside a worker (a test, a command) this process still knows its host's processes.
    me = current_worker_id() or f"-|{host_id()}|{os.getpid()}|-"
    pipe = client.pipeline(transaction=False)
    for w in wids:
        pipe.exists(worker_key(w))
    pipe.exists(worker_key(me))
    pipe.hget(WORKERS, me)
    *alive_flags, me_alive, me_raw = pipe.execute()
    trust = False
    if me_alive and me_raw:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            mine = Holder.from_json(me_raw)
            # Only a fresh record counts: a beat that failed (Redis was away) leaves the last
            # good one behind, and this process cannot tell that from here otherwise.
            fresh = now - mine.beat_at <= 1.5 * settings.worker_heartbeat_seconds
            since = mine.healthy_since
            trust = fresh and since > 0 and now - since >= settings.worker_dead_after_seconds
    alive = [w for w, n in zip(wids, alive_flags, strict=True) if n]
    return orphaned(
        {w: w for w in wids},
        {},
        alive,
        me=me,
        now=now,
        dead_after=settings.worker_dead_after_seconds,
        trust_expiry=trust,
    )


def read_workers(client: Redis) -> list[Holder]:
    """Every worker seen in the last day, with its last heartbeat."""
    out = []
    for raw in client.hvals(WORKERS):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            out.append(Holder.from_json(raw))
    return sorted(out, key=lambda h: (h.name, h.started_at))


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- the worker process's one presence (set in its main process before the pool forks) --------
_presence: Presence | None = None


def current() -> Presence | None:
    return _presence


def current_worker_id() -> str | None:
    """This worker's id, in its main process and in the pool processes forked from it."""
    return _presence.wid if _presence is not None else None


def install(presence: Presence | None) -> None:
    global _presence
    _presence = presence
