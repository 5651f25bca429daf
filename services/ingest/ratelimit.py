"""Per-key token bucket in Redis: a flood from one key is refused with 429 + Retry-After while
other keys keep their own budget."""

from __future__ import annotations

import math
import time

import redis.asyncio as aioredis

from shared.redis_keys import rate_key

_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000.0)
local allowed = 0
local wait_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait_ms = math.ceil((cost - tokens) * 1000.0 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000.0 / rate) + 1000)
return {allowed, wait_ms}
"""


class RateLimiter:
    def __init__(self, client: aioredis.Redis, rate: float, burst: int) -> None:
        self._script = client.register_script(_BUCKET)
        self.rate = rate
        self.burst = burst

    async def take(self, key_id: str, cost: int = 1) -> int | None:
        """None when allowed; otherwise the seconds to wait before `cost` tokens are there."""
        if cost > self.burst:
            cost = self.burst  # a batch larger than the burst is charged the whole bucket
        now_ms = int(time.time() * 1000)
        allowed, wait_ms = await self._script(
            keys=[rate_key(key_id)], args=[self.rate, self.burst, now_ms, cost]
        )
        if int(allowed):
            return None
        return max(1, math.ceil(int(wait_ms) / 1000))
