"""One Redis client per process for the cache (helpdesk/cache.py), against a real redis-server."""

import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis
from django.core.cache import caches

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")


@pytest.fixture
def redis_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],  # noqa: S607
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(timeout=10)


def connections_held_by_threads(settings, url: str, backend: str) -> int:
    """20 request threads, alive at once as under ASGI, each has used the cache once."""
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": url}}
    used, counted, one_at_a_time = threading.Barrier(21), threading.Event(), threading.Lock()

    def request(n: int) -> None:
        # One request at a time uses the cache, so a shared pool needs a single connection.
        with one_at_a_time:
            caches["default"].set(f"k{n}", n)
        used.wait()
        counted.wait()

    threads = [threading.Thread(target=request, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    used.wait()
    # Minus the connection this check opens.
    held = len(redis.Redis.from_url(url).client_list()) - 1
    counted.set()
    for thread in threads:
        thread.join()
    return held


def test_request_threads_share_one_pool(settings, redis_url):
    assert connections_held_by_threads(settings, redis_url, "helpdesk.cache.SharedRedisCache") == 1


def test_the_stock_backend_holds_a_connection_per_thread(settings, redis_url):
    """The reason for the shared client, and proof that the check above can fail."""
    assert connections_held_by_threads(settings, redis_url, "django.core.cache.backends.redis.RedisCache") == 20
