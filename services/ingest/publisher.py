"""Durable publication: de-duplicate on source+id and XADD to the ingest log in one atomic step.

A Lua script checks the event's status key, and only when it is absent appends to the stream and
records the status; two racing posts of the same event therefore produce one stream entry. A batch
is one pipeline round trip. The caller answers 202 only for entries this returned as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis

from shared.redis_keys import INGEST_STREAM, status_key

_PUBLISH = """
local state = redis.call('HGET', KEYS[1], 'state')
if state then
  return {0, state, redis.call('HGET', KEYS[1], 'duplicate_of') or ''}
end
local sid = redis.call('XADD', KEYS[2], '*', 'id', ARGV[2], 'kind', ARGV[3], 'ce', ARGV[4],
                       'received_at', ARGV[5], 'cid', ARGV[6])
redis.call('HSET', KEYS[1], 'state', 'accepted', 'stream_id', sid, 'received_at', ARGV[5],
           'kind', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {1, sid, ''}
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: str
    written: bool  # False: already known (a duplicate post)
    state: str


@dataclass(frozen=True, slots=True)
class Entry:
    event_id: str
    kind: str  # "event" or "article"
    payload: bytes
    correlation_id: str


class Publisher:
    def __init__(self, client: aioredis.Redis, status_ttl: int) -> None:
        self._client = client
        self._ttl = status_ttl
        self._script = client.register_script(_PUBLISH)

    async def publish(self, entries: list[Entry]) -> list[Outcome]:
        if not entries:
            return []
        now = datetime.now(UTC).isoformat()
        # Make sure the script is cached so that EVALSHA inside the pipeline does not fail.
        await self._script.registered_client.script_load(self._script.script)
        pipe = self._client.pipeline(transaction=False)
        for e in entries:
            await self._script(
                keys=[status_key(e.event_id), INGEST_STREAM],
                args=[self._ttl, e.event_id, e.kind, e.payload, now, e.correlation_id],
                client=pipe,
            )
        replies = await pipe.execute()
        out = []
        for e, (written, state, _dup) in zip(entries, replies, strict=True):
            text = state.decode() if isinstance(state, bytes) else str(state)
            out.append(Outcome(e.event_id, bool(written), "accepted" if written else text))
        return out
