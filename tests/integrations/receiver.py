"""A real HTTP server that receives webhooks: it records each request and answers as scripted."""

import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: "WebhookReceiver"

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(Received(self.path, dict(self.headers.items()), body))
        status, delay = self.server.next_answer()
        if delay:
            time.sleep(delay)
        payload = b'{"ok": true}' if status < 300 else b'{"error": "receiver says no"}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # The sender gave up waiting: what a timeout test wants.

    def log_message(self, format, *args):  # noqa: A002
        pass


class WebhookReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self._answers: deque[tuple[int, float]] = deque()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def answer(self, *answers: int | tuple[int, float]) -> None:
        """Queue the next answers: a status code, or (status, seconds to wait first). Then 200s."""
        with self._lock:
            for item in answers:
                self._answers.append(item if isinstance(item, tuple) else (item, 0.0))

    def next_answer(self) -> tuple[int, float]:
        with self._lock:
            return self._answers.popleft() if self._answers else (200, 0.0)
