"""Django's Redis cache, with one redis client per connection pool instead of one per call,
and rate-limit counters counted in one round trip (`count_hits`).

Django's RedisCacheClient builds a new `redis.Redis` for every cache operation, and redis-py's
constructor fills a table of ~170 response callbacks each time: ~0.15 ms of CPU per get or
set, several times per slots request. A client is thread-safe and holds no connection of its
own (the pool does), so one per pool is what redis-py intends.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[Any, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own choice of pool (writes to the first server, reads from any).
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient
        self._scripts: dict[int, Any] = {}

    def count_hits(self, limits: list[tuple[str, int, int]]) -> tuple[int, int]:
        """Count one hit on each (key, limit, timeout) counter in turn, in one round trip,
        stopping at the first one over its limit: (its 1-based position, its count), or
        (0, 0) when none is. Counters start at 1 with the timeout; they are plain integers,
        as Django's incr() keeps them."""
        keys = [self.make_and_validate_key(key) for key, _, _ in limits]
        args = [limit for _, limit, _ in limits] + [timeout for _, _, timeout in limits]
        client = self._cache.get_client(write=True)
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(_COUNT_HITS)
        position, count = script(keys=keys, args=args)
        return int(position), int(count)


# INCR each counter in turn (EXPIRE on its first hit); stop at the first over its limit, so
# the later counters don't count a refused request. Atomic, and one round trip for all.
_COUNT_HITS = """
local n = #KEYS
for i = 1, n do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[n + i]) end
  if count > tonumber(ARGV[i]) then return {i, count} end
end
return {0, 0}
"""
