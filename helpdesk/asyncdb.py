"""Database calls from async code (sockets, the copilot) on a thread pool.

Channels' ``database_sync_to_async`` runs every call of a process on one shared thread. Under
load that thread was the queue everyone waited in: at 500 chat sessions a customer's message
took 0.8 s to be acknowledged, at 1,000 it took 8.6 s, while the daphne process used half a
core (bench/ws_load.py). Each call here runs on the event loop's thread pool with a pooled
connection of its own, and Channels still closes old connections around it.

It is off by default (DB_PARALLEL_CALLS): at 500 bench sessions it halved the median time to
the first token but tripled the slow tail and the answers that reached the socket late. The
tests keep it off too, because each test's rows live in a transaction only the test's own
thread and connection can see.
"""

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync
from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")


def database_sync_to_async(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    parallel = DatabaseSyncToAsync(func, thread_sensitive=False)
    shared = DatabaseSyncToAsync(func, thread_sensitive=True)

    @functools.wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return await (parallel if settings.DB_PARALLEL_CALLS else shared)(*args, **kwargs)

    return call
