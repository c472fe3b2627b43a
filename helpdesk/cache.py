"""Django's Redis cache with one client, so one connection pool, per process.

Django keeps a cache object per thread, and each builds its own Redis connection pool. Under
ASGI every HTTP request runs on a thread of its own, so every request left idle Redis
connections behind (bench/ws_load.py: 116 left over from 100 widget session starts).
redis-py's pool is thread-safe and resets itself in a forked child, so one per process is
enough.

Its async methods run on any thread of the event loop's pool. Django's run on the process's
one shared database thread, where a copilot turn's claim queued behind every socket's
database calls.
"""

import threading
from typing import ClassVar

from asgiref.sync import sync_to_async
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property


class SharedRedisCache(RedisCache):
    _clients: ClassVar[dict[tuple, RedisCacheClient]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @cached_property
    def _cache(self) -> RedisCacheClient:
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._class(self._servers, **self._options)
            return self._clients[key]

    async def aget(self, *args, **kwargs):
        return await sync_to_async(self.get, thread_sensitive=False)(*args, **kwargs)

    async def aset(self, *args, **kwargs):
        return await sync_to_async(self.set, thread_sensitive=False)(*args, **kwargs)

    async def aadd(self, *args, **kwargs):
        return await sync_to_async(self.add, thread_sensitive=False)(*args, **kwargs)

    async def adelete(self, *args, **kwargs):
        return await sync_to_async(self.delete, thread_sensitive=False)(*args, **kwargs)

    async def aincr(self, *args, **kwargs):
        return await sync_to_async(self.incr, thread_sensitive=False)(*args, **kwargs)
