"""The remote CRM client against a real local REST server: reading, retries, timeouts, bad
answers, the circuit breaker and the per-turn cache."""

import time

import pytest
from asgiref.sync import async_to_sync

from crm import remote
from crm.records import AccountRecord, OrderRecord
from crm.remote import CircuitBreaker, CrmUnavailable, RemoteCrm
from tests.crm_server import ORDER_12345, CrmServer
from tests.servers import serving


@pytest.fixture
def crm(settings):
    with serving(CrmServer()) as server:
        settings.CRM_API_URL = server.url
        settings.CRM_API_KEY = "crm-key"
        settings.CRM_TIMEOUT = 0.5
        settings.CRM_RETRIES = 2
        yield server


def client(**options) -> RemoteCrm:
    return RemoteCrm(
        breaker=CircuitBreaker(threshold=options.get("threshold", 100), cooldown=options.get("cooldown", 60))
    )


def run(coroutine_function, *args, **kwargs):
    return async_to_sync(coroutine_function)(*args, **kwargs)


def test_reads_the_account_and_orders_with_the_key(crm):
    remote_crm = client()
    account = run(remote_crm.account, customer_id="cus_1001")
    assert isinstance(account, AccountRecord)
    assert (account.number, account.status, str(account.last_payment_amount)) == ("EXT-ACC-1001", "active", "149.00")
    order = run(remote_crm.order, customer_id="cus_1001", number="12345")
    assert isinstance(order, OrderRecord)
    assert (order.carrier, order.items, order.delivered_at) == ("DHL Express", ((1, "Kettle"),), None)
    (latest,) = run(remote_crm.orders, customer_id="cus_1001", limit=1)
    assert latest.number == "12345"
    assert {request["authorization"] for request in crm.requests} == {"Bearer crm-key"}


def test_a_missing_customer_account_or_order_is_none(crm):
    remote_crm = client()
    assert run(remote_crm.account, customer_id="cus_9999") is None
    # A customer the CRM does not know (yet) has no orders; that is not an outage.
    assert run(remote_crm.orders, customer_id="cus_9999") == []
    assert run(remote_crm.order, customer_id="cus_1001", number="99999") is None
    # An id is one path segment: it cannot walk to another customer's data.
    assert run(remote_crm.order, customer_id="cus_1002/../cus_1001", number="12345") is None
    assert crm.requests[-1]["path"] == "/api/customers/cus_1002%2F..%2Fcus_1001/orders/12345"


def test_5xx_answers_are_retried(crm):
    crm.fail("status", 503, times=2)
    remote_crm = client()
    assert run(remote_crm.account, customer_id="cus_1001").number == "EXT-ACC-1001"
    assert remote_crm.calls == 3


def test_a_crm_that_keeps_failing_is_unavailable_after_the_retries(crm):
    crm.fail("status", 500, times=10)
    remote_crm = client()
    with pytest.raises(CrmUnavailable, match="HTTP 500"):
        run(remote_crm.account, customer_id="cus_1001")
    assert remote_crm.calls == 3


def test_a_slow_crm_times_out(crm, settings):
    settings.CRM_RETRIES = 0
    crm.fail("slow", 2.0)
    remote_crm = client()
    started = time.monotonic()
    with pytest.raises(CrmUnavailable, match="no answer within 0.5 s"):
        run(remote_crm.order, customer_id="cus_1001", number="12345")
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("fault", "customers", "message"),
    [
        (("garbage", None), None, "not JSON"),
        (None, {"cus_1001": {"account": {"number": "X"}}}, "unexpected shape"),
        (None, {"cus_1001": {"orders": [{"number": "12345", "placed_at": "yesterday"}]}}, "unexpected shape"),
        # Well formed, but no such day.
        (None, {"cus_1001": {"orders": [{**ORDER_12345, "placed_at": "2024-02-30T10:00:00+00:00"}]}}, "unexpected"),
        # JSON's 1e400 is an infinite float: no quantity.
        (None, {"cus_1001": {"orders": [{**ORDER_12345, "items": [{"quantity": 1e400, "name": "x"}]}]}}, "unexpected"),
    ],
)
def test_a_bad_answer_is_unavailable_not_guessed(crm, fault, customers, message):
    if fault:
        crm.fail(*fault)
    if customers:
        crm.customers = customers
    remote_crm = client()
    with pytest.raises(CrmUnavailable, match=message):
        run(
            remote_crm.account if customers is None or "account" in customers["cus_1001"] else remote_crm.orders,
            customer_id="cus_1001",
        )
    # A well-formed HTTP answer with bad content is not retried.
    assert remote_crm.calls == 1


def test_the_circuit_breaker_stops_calls_then_tries_again(crm, settings):
    settings.CRM_RETRIES = 0
    breaker = CircuitBreaker(threshold=2, cooldown=0.3)
    crm.fail("status", 500, times=2)
    for _ in range(2):
        with pytest.raises(CrmUnavailable):
            run(RemoteCrm(breaker=breaker).account, customer_id="cus_1001")
    asked = len(crm.requests)
    with pytest.raises(CrmUnavailable, match="circuit breaker is open"):
        run(RemoteCrm(breaker=breaker).account, customer_id="cus_1001")
    assert len(crm.requests) == asked
    time.sleep(0.35)
    # Half-open: one call goes through, succeeds, and closes the circuit.
    assert run(RemoteCrm(breaker=breaker).account, customer_id="cus_1001") is not None
    assert breaker.opened_at is None and breaker.failures == 0


def test_one_turn_asks_once(crm):
    remote_crm = client()
    run(remote_crm.account, customer_id="cus_1001")
    run(remote_crm.account, customer_id="cus_1001")
    assert remote_crm.calls == 1
    # A new turn asks again.
    run(client().account, customer_id="cus_1001")
    assert len(crm.requests) == 2


def test_the_process_shares_one_breaker():
    assert RemoteCrm().breaker is remote.BREAKER
