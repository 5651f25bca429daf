"""Durable publication: de-duplicate on source+id and XADD to the ingest log in one atomic step.

A Lua script checks that the event's source is the posting key's (or nobody's yet: then it
becomes the key's), then the event's status key, and only when it is absent (or records an
earlier rejection) appends to the stream and records the status; two racing posts of the same
event therefore produce one stream entry, and two keys racing for a new source cannot both own
it. A batch, rejections included, is one pipeline round trip: the scripts run by EVALSHA, and
only when Redis answers NOSCRIPT (it restarted or flushed its script cache) are they loaded and
the affected entries sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha1
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from services.ingest.ratelimit import BUCKET_LUA
from shared.redis_keys import (
    API_KEYS_GENERATION,
    INGEST_STREAM,
    SOURCE_OWNERS,
    rate_key,
    status_key,
)

# publish(status, stream, owners, ttl, event id, kind, envelope, received_at, correlation id,
# content hash, maxlen, source, key id, admin, traceparent) -> {1, stream id, correction} when
# written, {0, state, 0} when the same content is already known, {-3, entries on the log, 0} when
# the ingest log already holds `maxlen` entries (the workers are that far behind: nothing written),
# {-4, 0, 0} when `source` belongs to another key and this one is no admin (nothing is written).
# The same source+id with other content is a correction: written, so that storage records it as
# a new version. The first key to write under a source owns it (claimed here, with the XADD, so
# two keys racing for a new source cannot both win); the status records the source's owner, which
# is the posting key except when an admin posts under another key's source.
_PUBLISH_LUA = """
local function publish(status, stream, owners, ttl, id, kind, ce, received, cid, hash, maxlen,
                       source, key, admin, tp)
  local owner = redis.call('HGET', owners, source)
  if owner and owner ~= key and admin ~= '1' then
    return {-4, 0, 0}
  end
  local state = redis.call('HGET', status, 'state')
  local correction = 0
  if state and state ~= 'rejected' then
    local known = redis.call('HGET', status, 'hash')
    if (not known) or known == hash then
      return {0, state, 0}
    end
    correction = 1
  end
  local waiting = redis.call('XLEN', stream)
  if waiting >= maxlen then
    return {-3, waiting, 0}
  end
  if not owner then
    owner = key
    redis.call('HSET', owners, source, key)
  end
  if state then
    redis.call('DEL', status)
  end
  local sid
  if tp ~= '' then
    sid = redis.call('XADD', stream, '*', 'id', id, 'kind', kind, 'ce', ce,
                     'received_at', received, 'cid', cid, 'key', key, 'tp', tp)
  else
    sid = redis.call('XADD', stream, '*', 'id', id, 'kind', kind, 'ce', ce,
                     'received_at', received, 'cid', cid, 'key', key)
  end
  redis.call('HSET', status, 'state', 'accepted', 'stream_id', sid, 'received_at', received,
             'kind', kind, 'hash', hash, 'key', owner)
  redis.call('EXPIRE', status, ttl)
  return {1, sid, correction}
end
"""

# KEYS: status, stream, owners. ARGV: ttl, event id, kind, envelope, received_at, correlation id,
# hash, maxlen, source, key id, admin, traceparent ('' when not traced: the entry has no `tp`).
_PUBLISH = (
    _PUBLISH_LUA
    + """
return publish(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6],
               ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10], ARGV[11], ARGV[12])
"""
)

# One event, one round trip: is the cached principal still current (the key mirror's generation
# is what it was when the key was looked up), does the key's bucket allow it, then publish.
# KEYS: key generation, rate bucket, status, stream, owners. ARGV: generation seen, rate, burst,
# now_ms, cost, then publish's ARGV. Returns {-2, 0, 0} when the generation moved (a key was
# revoked or the mirror rebuilt: look the key up again), {-1, wait_ms, 0} when rate limited, else
# publish's (whose {-3, ...} means the ingest log is full and {-4, ...} the source is another
# key's; the rate token is spent then, as for a bad event).
_PUBLISH_ONE = (
    BUCKET_LUA
    + _PUBLISH_LUA
    + """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then
  return {-2, 0, 0}
end
local bucket = take(KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
                    tonumber(ARGV[5]))
if bucket[1] == 0 then
  return {-1, bucket[2], 0}
end
return publish(KEYS[3], KEYS[4], KEYS[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11],
               ARGV[12], tonumber(ARGV[13]), ARGV[14], ARGV[15], ARGV[16], ARGV[17])
"""
)

# KEYS: status, owners. ARGV: ttl, reason, received_at, source, key id, admin. A rejection never
# overwrites a known event (a bad re-post of an accepted event must not make its status lie), nor
# is it recorded under another key's source or over another key's rejection; it claims no source
# (nothing was written).
_REJECT = """
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HGET', KEYS[1], 'state') ~= 'rejected' then
  return 0
end
local owner = redis.call('HGET', KEYS[2], ARGV[4]) or redis.call('HGET', KEYS[1], 'key')
if owner and owner ~= ARGV[5] and ARGV[6] ~= '1' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'rejected', 'reason', ARGV[2], 'received_at', ARGV[3],
           'key', owner or ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class Poster:
    """Who posts: the key, and whether it is an admin's (which may post under any source)."""

    key_id: str
    admin: bool = False

    def args(self) -> list[str]:
        return [self.key_id, "1" if self.admin else "0"]


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: str
    # False: already known (a duplicate post), the log is full (`FULL`), or the source is
    # another key's (`FORBIDDEN`)
    written: bool
    state: str
    correction: bool = False  # written, and replaces different content under the same key


FULL = "full"  # an Outcome's state when nothing was written because the ingest log is full
FORBIDDEN = "forbidden"  # ... because the event's source belongs to another key


@dataclass(frozen=True, slots=True)
class Entry:
    event_id: str
    kind: str  # "event" or "article"
    payload: bytes
    correlation_id: str
    source: str  # CloudEvents source: the namespace the posting key must own
    content_hash: str = ""  # of what the reporter said; equal content is a duplicate post
    traceparent: str = ""  # the request's trace context (shared/tracing.py), when traced


@dataclass(frozen=True, slots=True)
class Refused:
    """`publish_one` wrote nothing: the key changed (`stale`), or its rate bucket is empty."""

    stale: bool
    wait_ms: int = 0


def _outcome(e: Entry, reply: Any) -> Outcome:
    written, state = int(reply[0]), reply[1]
    if written == -3:
        return Outcome(e.event_id, False, FULL)
    if written == -4:
        return Outcome(e.event_id, False, FORBIDDEN)
    text = state.decode() if isinstance(state, bytes) else str(state)
    correction = len(reply) > 2 and int(reply[2]) == 1
    return Outcome(e.event_id, bool(written), "accepted" if written else text, correction)


@dataclass(frozen=True, slots=True)
class Rejection:
    event_id: str
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class _Script:
    source: str
    sha: str


def _script(source: str) -> _Script:
    return _Script(source, sha1(source.encode(), usedforsecurity=False).hexdigest())


PUBLISH = _script(_PUBLISH)
PUBLISH_ONE = _script(_PUBLISH_ONE)
REJECT = _script(_REJECT)


class Publisher:
    def __init__(self, client: aioredis.Redis, status_ttl: int, max_waiting: int) -> None:
        self._client = client
        self._ttl = status_ttl
        self.max_waiting = max_waiting  # entries the ingest log may hold before writes are refused

    async def publish(
        self, poster: Poster, entries: list[Entry], rejections: list[Rejection] | None = None
    ) -> list[Outcome]:
        """Write `entries` (and record `rejections` for the status endpoint) in one round trip.

        An entry under another key's source is not written (`FORBIDDEN`) unless `poster` is an
        admin; nor is a rejection under it recorded.

        Raises redis' ConnectionError/TimeoutError when Redis is unreachable: then nothing may
        be reported as written.
        """
        rejections = rejections or []
        if not entries and not rejections:
            return []
        now = datetime.now(UTC).isoformat()
        calls: list[tuple[_Script, list[str], list[Any]]] = [
            (
                PUBLISH,
                [status_key(e.event_id), INGEST_STREAM, SOURCE_OWNERS],
                self._args(e, now, poster),
            )
            for e in entries
        ]
        calls += [
            (
                REJECT,
                [status_key(r.event_id), SOURCE_OWNERS],
                [self._ttl, r.reason, now, r.source, *poster.args()],
            )
            for r in rejections
        ]
        replies = await self._run(calls)
        return [_outcome(e, reply) for e, reply in zip(entries, replies, strict=False)]

    async def publish_one(
        self, entry: Entry, poster: Poster, generation: str, bucket: list[float | int]
    ) -> Outcome | Refused:
        """Check the key's generation and rate bucket and publish `entry`, in one round trip.

        `bucket` is the rate limiter's arguments (rate, burst, now_ms, cost).
        """
        now = datetime.now(UTC).isoformat()
        keys = [
            API_KEYS_GENERATION,
            rate_key(poster.key_id),
            status_key(entry.event_id),
            INGEST_STREAM,
            SOURCE_OWNERS,
        ]
        (reply,) = await self._run(
            [(PUBLISH_ONE, keys, [generation, *bucket, *self._args(entry, now, poster)])]
        )
        code = int(reply[0])
        if code == -2:
            return Refused(stale=True)
        if code == -1:
            return Refused(stale=False, wait_ms=int(reply[1]))
        return _outcome(entry, reply)

    def _args(self, e: Entry, now: str, poster: Poster) -> list[Any]:
        content_hash = e.content_hash or sha1(e.payload, usedforsecurity=False).hexdigest()
        return [
            self._ttl,
            e.event_id,
            e.kind,
            e.payload,
            now,
            e.correlation_id,
            content_hash,
            self.max_waiting,
            e.source,
            *poster.args(),
            e.traceparent,
        ]

    async def _run(self, calls: list[tuple[_Script, list[str], list[Any]]]) -> list[Any]:
        replies: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            pipe = self._client.pipeline(transaction=False)
            if attempt:
                # Redis lost its script cache (a restart): load once, then resend what failed.
                for script in {calls[i][0] for i in todo}:
                    pipe.script_load(script.source)
            for i in todo:
                script, keys, args = calls[i]
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            raw = await pipe.execute(raise_on_error=False)
            raw = raw[len(raw) - len(todo) :]
            missing = []
            for i, reply in zip(todo, raw, strict=True):
                if isinstance(reply, NoScriptError):
                    missing.append(i)
                elif isinstance(reply, Exception):
                    raise reply
                else:
                    replies[i] = reply
            if not missing:
                return replies
            todo = missing
        raise NoScriptError("the ingest scripts could not be loaded into Redis")
