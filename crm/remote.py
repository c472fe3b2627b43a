"""Another system's CRM over REST (``CRM_BACKEND=http``, docs/integrations.md, "External CRM").

The copilot asks it only about the verified customer of the conversation, by the CRM's own
id. Each call has a timeout and is retried on a timeout, a dropped connection, a 429 or a
5xx; a CRM that keeps failing opens a circuit breaker, so turns stop waiting on it until it
has had time to recover. One ``RemoteCrm`` serves one turn and caches what it read, so the
customer card and a tool never ask twice.

The API it expects (``CRM_API_URL``, ``Authorization: Bearer CRM_API_KEY``):

- ``GET /customers/{id}/account``: ``{number, status, subscription_tier, balance, currency,
  last_payment_at, last_payment_amount}``, 404 when there is none;
- ``GET /customers/{id}/orders?limit=N``: ``{"orders": [...]}``, newest first;
- ``GET /customers/{id}/orders/{number}``: one order, 404 when the customer has no such order;

where an order is ``{number, status, placed_at, shipped_at, delivered_at, carrier,
tracking_number, total, currency, items: [{quantity, name}]}`` with ISO 8601 times.
"""

import asyncio
import logging
import time
from urllib.parse import quote

import httpx
from django.conf import settings

from crm.records import AccountRecord, CrmDataError, OrderRecord

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}


class CrmUnavailable(Exception):
    """The CRM did not answer usefully: the copilot must say so, not guess."""


class CircuitBreaker:
    """Open after ``threshold`` failures in a row; after ``cooldown`` seconds one call may try again."""

    def __init__(self, *, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if time.monotonic() - self.opened_at >= self.cooldown:
            # Half-open: let this call through; its outcome closes or reopens the circuit.
            self.opened_at = None
            self.failures = self.threshold - 1
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            if self.opened_at is None:
                logger.warning(
                    "The CRM failed %s times in a row; not calling it for %s s", self.failures, self.cooldown
                )
            self.opened_at = time.monotonic()


# One per process: every turn in it shares what it learnt about the CRM's health.
BREAKER = CircuitBreaker(threshold=settings.CRM_BREAKER_FAILURES, cooldown=settings.CRM_BREAKER_SECONDS)


class RemoteCrm:
    def __init__(self, *, breaker: CircuitBreaker | None = None) -> None:
        self.breaker = breaker or BREAKER
        self.calls = 0
        self._cache: dict[str, object] = {}

    async def _get(self, path: str):
        """The decoded JSON at ``path``, or None for a 404. Raises ``CrmUnavailable``."""
        if path in self._cache:
            return self._cache[path]
        if not self.breaker.allow():
            raise CrmUnavailable("the CRM is failing; the circuit breaker is open")
        error = ""
        headers = {"Accept": "application/json"}
        if settings.CRM_API_KEY:
            headers["Authorization"] = f"Bearer {settings.CRM_API_KEY}"
        async with httpx.AsyncClient(
            base_url=settings.CRM_API_URL.rstrip("/"), timeout=settings.CRM_TIMEOUT, headers=headers
        ) as client:
            for attempt in range(settings.CRM_RETRIES + 1):
                if attempt:
                    await asyncio.sleep(0.1 * 2**attempt)
                self.calls += 1
                try:
                    response = await client.get(path)
                except httpx.TimeoutException:
                    error = f"no answer within {settings.CRM_TIMEOUT} s"
                    continue
                except httpx.TransportError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    continue
                if response.status_code in RETRY_STATUSES:
                    error = f"HTTP {response.status_code}"
                    continue
                if response.status_code == 404:
                    self.breaker.success()
                    self._cache[path] = None
                    return None
                if response.status_code >= 400:
                    self.breaker.failure()
                    raise CrmUnavailable(f"HTTP {response.status_code}")
                try:
                    data = response.json()
                except ValueError as exc:
                    self.breaker.failure()
                    raise CrmUnavailable("the CRM's answer is not JSON") from exc
                self.breaker.success()
                self._cache[path] = data
                return data
        self.breaker.failure()
        raise CrmUnavailable(error)

    @staticmethod
    def _customer(customer_id: str) -> str:
        return f"/customers/{quote(customer_id, safe='')}"

    async def account(self, *, customer_id: str) -> AccountRecord | None:
        data = await self._get(f"{self._customer(customer_id)}/account")
        return _read(AccountRecord.from_json, data) if data is not None else None

    async def order(self, *, customer_id: str, number: str) -> OrderRecord | None:
        data = await self._get(f"{self._customer(customer_id)}/orders/{quote(number, safe='')}")
        return _read(OrderRecord.from_json, data) if data is not None else None

    async def orders(self, *, customer_id: str, limit: int = 5) -> list[OrderRecord]:
        data = await self._get(f"{self._customer(customer_id)}/orders?limit={int(limit)}")
        if data is None:
            # The CRM does not know this customer (not synced yet, or erased): no orders, not an outage.
            return []
        rows = data.get("orders") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise CrmUnavailable('the CRM\'s order list is not {"orders": [...]}')
        return [_read(OrderRecord.from_json, row) for row in rows[:limit]]


def _read(parse, data):
    try:
        return parse(data)
    except CrmDataError as exc:
        raise CrmUnavailable(f"the CRM's answer has an unexpected shape: {exc}") from exc


def remote_crm_get() -> RemoteCrm | None:
    """A fresh client for one turn when the CRM is another system; None for our own tables."""
    return RemoteCrm() if settings.CRM_BACKEND == "http" else None
