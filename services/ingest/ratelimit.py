"""Per-key token bucket in Redis: a flood from one key is refused with 429 + Retry-After while
other keys keep their own budget.

The bucket is a Lua function (`BUCKET_LUA`) so that the single-event path can run it in the same
script as the publication (one round trip per request, see `publisher.PUBLISH_ONE`).
"""

from __future__ import annotations

import math
import time

import redis.asyncio as aioredis

from shared.redis_keys import rate_key

# take(key, rate, burst, now_ms, cost) -> {allowed, wait_ms}
BUCKET_LUA = """
local function take(key, rate, burst, now, cost)
  local b = redis.call('HMGET', key, 'tokens', 'ts')
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
  redis.call('HSET', key, 'tokens', tokens, 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(burst * 1000.0 / rate) + 1000)
  return {allowed, wait_ms}
end
"""

_BUCKET = (
    BUCKET_LUA
    + """
return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
"""
)


class RateLimiter:
    def __init__(self, client: aioredis.Redis, rate: float, burst: int) -> None:
        self._script = client.register_script(_BUCKET)
        self.rate = rate
        self.burst = burst

    def cost(self, cost: int) -> int:
        """A batch larger than the burst is charged the whole bucket."""
        return min(cost, self.burst)

    def args(self, cost: int) -> list[float | int]:
        """The bucket's arguments after the key: rate, burst, now (ms), cost."""
        return [self.rate, self.burst, int(time.time() * 1000), self.cost(cost)]

    def wait_seconds(self, wait_ms: int) -> int:
        return max(1, math.ceil(int(wait_ms) / 1000))

    async def take(self, key_id: str, cost: int = 1) -> int | None:
        """None when allowed; otherwise the seconds to wait before `cost` tokens are there."""
        allowed, wait_ms = await self._script(keys=[rate_key(key_id)], args=self.args(cost))
        if int(allowed):
            return None
        return self.wait_seconds(int(wait_ms))
