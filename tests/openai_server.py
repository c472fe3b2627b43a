"""A local OpenAI-compatible HTTP server for tests: the real wire protocol, on loopback.

It serves ``POST /v1/embeddings`` with deterministic unit vectors (hash-seeded per
input text), and can be told to fail: ``server.fail_next(status=500, times=2)`` or
``server.delay = 2.0``. Every request body is kept in ``server.requests``.
"""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def fake_embedding(text: str, dimensions: int) -> list[float]:
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    vector = np.random.default_rng(seed).standard_normal(dimensions)
    return (vector / np.linalg.norm(vector)).tolist()


class OpenAIStub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.delay = 0.0
        self.dimensions_override: int | None = None
        self._failures: list[int] = []
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def fail_next(self, *, status: int, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([status] * times)

    def take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIStub

    def log_message(self, format, *args) -> None:  # noqa: A002 (the stdlib's signature)
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append({"path": self.path, "body": payload})
        if self.server.delay:
            time.sleep(self.server.delay)
        if (status := self.server.take_failure()) is not None:
            self._json(status, {"error": {"message": f"injected {status}", "type": "server_error"}})
            return
        if self.path == "/v1/embeddings":
            inputs = payload["input"] if isinstance(payload["input"], list) else [payload["input"]]
            dims = self.server.dimensions_override or payload.get("dimensions", 1536)
            data = [
                {"object": "embedding", "index": i, "embedding": fake_embedding(text, dims)}
                for i, text in enumerate(inputs)
            ]
            self._json(200, {"object": "list", "data": data, "model": payload["model"], "usage": {}})
            return
        self._json(404, {"error": {"message": f"no route {self.path}"}})
