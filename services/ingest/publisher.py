"""Durable publication: de-duplicate on source+id and XADD to the ingest log in one atomic step.

A Lua script checks the event's status key, and only when it is absent (or records an earlier
rejection) appends to the stream and records the status; two racing posts of the same event
therefore produce one stream entry. A batch, rejections included, is one pipeline round trip:
the scripts run by EVALSHA, and only when Redis answers NOSCRIPT (it restarted or flushed its
script cache) are they loaded and the affected entries sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha1
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from shared.redis_keys import INGEST_STREAM, status_key

# KEYS: status, stream. ARGV: ttl, event id, kind, envelope, received_at, correlation id,
# content hash. Returns {1, stream id, correction} when written, {0, state, 0} when the same
# content is already known. The same source+id with other content is a correction: written, so
# that storage records it as a new version.
_PUBLISH = """
local state = redis.call('HGET', KEYS[1], 'state')
local correction = 0
if state and state ~= 'rejected' then
  local known = redis.call('HGET', KEYS[1], 'hash')
  if (not known) or known == ARGV[7] then
    return {0, state, 0}
  end
  correction = 1
end
if state then
  redis.call('DEL', KEYS[1])
end
local sid = redis.call('XADD', KEYS[2], '*', 'id', ARGV[2], 'kind', ARGV[3], 'ce', ARGV[4],
                       'received_at', ARGV[5], 'cid', ARGV[6])
redis.call('HSET', KEYS[1], 'state', 'accepted', 'stream_id', sid, 'received_at', ARGV[5],
           'kind', ARGV[3], 'hash', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {1, sid, correction}
"""

# KEYS: status. ARGV: ttl, reason, received_at. A rejection never overwrites a known event: a bad
# re-post of an accepted event must not make its status lie.
_REJECT = """
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HGET', KEYS[1], 'state') ~= 'rejected' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'rejected', 'reason', ARGV[2], 'received_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: str
    written: bool  # False: already known (a duplicate post)
    state: str
    correction: bool = False  # written, and replaces different content under the same key


@dataclass(frozen=True, slots=True)
class Entry:
    event_id: str
    kind: str  # "event" or "article"
    payload: bytes
    correlation_id: str
    content_hash: str = ""  # of what the reporter said; equal content is a duplicate post


@dataclass(frozen=True, slots=True)
class Rejection:
    event_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Script:
    source: str
    sha: str


def _script(source: str) -> _Script:
    return _Script(source, sha1(source.encode(), usedforsecurity=False).hexdigest())


PUBLISH = _script(_PUBLISH)
REJECT = _script(_REJECT)


class Publisher:
    def __init__(self, client: aioredis.Redis, status_ttl: int) -> None:
        self._client = client
        self._ttl = status_ttl

    async def publish(
        self, entries: list[Entry], rejections: list[Rejection] | None = None
    ) -> list[Outcome]:
        """Write `entries` (and record `rejections` for the status endpoint) in one round trip.

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
                [status_key(e.event_id), INGEST_STREAM],
                [
                    self._ttl,
                    e.event_id,
                    e.kind,
                    e.payload,
                    now,
                    e.correlation_id,
                    e.content_hash or sha1(e.payload, usedforsecurity=False).hexdigest(),
                ],
            )
            for e in entries
        ]
        calls += [
            (REJECT, [status_key(r.event_id)], [self._ttl, r.reason, now]) for r in rejections
        ]
        replies = await self._run(calls)
        out = []
        for e, reply in zip(entries, replies, strict=False):
            written, state = int(reply[0]), reply[1]
            text = state.decode() if isinstance(state, bytes) else str(state)
            correction = len(reply) > 2 and int(reply[2]) == 1
            out.append(
                Outcome(e.event_id, bool(written), "accepted" if written else text, correction)
            )
        return out

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
