"""A local REST CRM for tests: the API ``crm/remote.py`` expects, on loopback, with faults on demand."""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

ORDER_12345 = {
    "number": "12345",
    "status": "shipped",
    "placed_at": "2026-11-02T09:00:00+01:00",
    "shipped_at": "2026-11-03T15:00:00+01:00",
    "delivered_at": None,
    "carrier": "DHL Express",
    "tracking_number": "DHL998877",
    "total": "1299.00",
    "currency": "CZK",
    "items": [{"quantity": 1, "name": "Kettle"}],
}
ACCOUNT = {
    "number": "EXT-ACC-1001",
    "status": "active",
    "subscription_tier": "premium",
    "balance": "0.00",
    "currency": "CZK",
    "last_payment_at": "2026-11-01T10:00:00+01:00",
    "last_payment_amount": "149.00",
}


class _Handler(BaseHTTPRequestHandler):
    server: "CrmServer"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        kind, value = self.server.next_fault()
        if kind == "slow":
            time.sleep(value)
        if kind == "status":
            return self._send(value, b'{"error": "injected"}')
        if kind == "garbage":
            return self._send(200, b"<html>not json</html>")
        path = urlparse(self.path).path
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts[:1] == ["api"]:
            parts = parts[1:]
        customers = self.server.customers
        if len(parts) >= 3 and parts[0] == "customers" and parts[1] in customers:
            data = customers[parts[1]]
            if parts[2:] == ["account"] and data.get("account"):
                return self._json(data["account"])
            if parts[2:] == ["orders"]:
                return self._json({"orders": data.get("orders", [])})
            if len(parts) == 4 and parts[2] == "orders":
                for order in data.get("orders", []):
                    if order.get("number") == parts[3]:
                        return self._json(order)
        return self._send(404, b'{"error": "not found"}')

    def _json(self, payload) -> None:
        self._send(200, json.dumps(payload).encode())

    def _send(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class CrmServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.customers: dict[str, dict] = {"cus_1001": {"account": ACCOUNT, "orders": [ORDER_12345]}}
        self._faults: deque[tuple[str, object]] = deque()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api"

    def fail(self, kind: str, value: object = None, *, times: int = 1) -> None:
        """The next ``times`` requests: ("status", 500), ("slow", seconds) or ("garbage", None)."""
        with self._lock:
            self._faults.extend([(kind, value)] * times)

    def next_fault(self) -> tuple[str | None, object]:
        with self._lock:
            return self._faults.popleft() if self._faults else (None, None)
