"""The copilot's CRM tools: scoped to the verified customer, dates in the shop's time zone."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from copilot.tools import (
    ACCOUNT_STATUS,
    ORDER_STATUS,
    RETURN_ELIGIBILITY,
    TOOLS,
    ToolResult,
    account_status,
    order_status,
    return_eligibility,
)
from crm.models import Customer
from tests.factories import AccountFactory, CustomerFactory, OrderFactory, OrderItemFactory, ProductFactory

pytestmark = pytest.mark.django_db

# 11:00 in Prague (CET, UTC+1); DST starts on 29 March, so every date below is in winter time.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
TODAY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def customer():
    return CustomerFactory(name="Petra Novak", locale="cs")


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def shipped_order(customer, *, shipped: datetime, number: str | None = None, **extra):
    kwargs = {"number": number} if number else {}
    return OrderFactory(
        customer=customer,
        status="shipped",
        placed_at=shipped - timedelta(hours=20),
        shipped_at=shipped,
        carrier="PPL",
        tracking_number="BC500010001",
        **kwargs,
        **extra,
    )


def delivered_order(customer, *, delivered: datetime, status: str = "delivered", number: str | None = None):
    kwargs = {"number": number} if number else {}
    return OrderFactory(
        customer=customer,
        status=status,
        placed_at=delivered - timedelta(days=3),
        shipped_at=delivered - timedelta(days=2),
        delivered_at=delivered,
        carrier="PPL",
        **kwargs,
    )


# ---------------------------------------------------------------- account_status


def test_account_status_needs_a_signed_in_customer():
    assert account_status(customer=None) == ToolResult(name=ACCOUNT_STATUS, ok=False, error="no_customer")


def test_account_status_of_a_customer_without_an_account(customer):
    assert account_status(customer=customer) == ToolResult(name=ACCOUNT_STATUS, ok=False, error="no_account")


def test_account_status_reports_the_account_with_local_payment_date(customer):
    AccountFactory(
        customer=customer,
        number="ACC-7001",
        status="active",
        subscription_tier="premium",
        balance=Decimal("-98.5"),
        currency="CZK",
        # 23:30 UTC on the 8th is already the 9th in Prague.
        last_payment_at=datetime(2026, 3, 8, 23, 30, tzinfo=UTC),
        last_payment_amount=Decimal("149"),
    )
    result = account_status(customer=customer)
    assert result == ToolResult(
        name=ACCOUNT_STATUS,
        ok=True,
        data={
            "account_number": "ACC-7001",
            "status": "active",
            "subscription_tier": "premium",
            "balance": "-98.50",
            "currency": "CZK",
            "last_payment_at": "2026-03-09",
            "last_payment_amount": "149.00",
        },
        needs_review=False,
    )


def test_account_status_without_any_payment(customer):
    AccountFactory(customer=customer, last_payment_at=None, last_payment_amount=None)
    data = account_status(customer=customer).data
    assert (data["last_payment_at"], data["last_payment_amount"]) == (None, None)


@pytest.mark.parametrize(
    ("status", "needs_review"), [("active", False), ("suspended", True), ("refund_eligible", True)]
)
def test_suspended_and_refund_eligible_accounts_need_a_person(customer, status, needs_review):
    AccountFactory(customer=customer, status=status)
    result = account_status(customer=customer)
    assert result.ok is True
    assert result.data["status"] == status
    assert result.needs_review is needs_review


# ---------------------------------------------------------------- order_status


def test_order_status_reports_the_named_order(customer):
    order = shipped_order(
        customer,
        number="55501",
        shipped=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        currency="CZK",
        total=Decimal("2195"),
    )
    OrderItemFactory(order=order, quantity=2, product=ProductFactory(name="Insulated bottle 750 ml"))
    OrderItemFactory(order=order, quantity=1, product=ProductFactory(name="Trail backpack 30 l"))
    result = order_status(customer=customer, order_number="55501")
    assert result == ToolResult(
        name=ORDER_STATUS,
        ok=True,
        data={
            "number": "55501",
            "status": "shipped",
            "placed_at": "2026-03-01",
            "shipped_at": "2026-03-02",
            "delivered_at": None,
            "carrier": "PPL",
            "tracking_number": "BC500010001",
            "total": "2195.00",
            "currency": "CZK",
            "items": ["2 × Insulated bottle 750 ml", "1 × Trail backpack 30 l"],
            "days_in_transit": 8,
            "business_days_in_transit": 6,
            "late": False,
        },
    )


@pytest.mark.parametrize("asked", ["#55502", " 55502 ", "#55502\n"])
def test_order_status_accepts_a_hash_and_surrounding_space(customer, asked):
    shipped_order(customer, number="55502", shipped=days_ago(1))
    result = order_status(customer=customer, order_number=asked)
    assert (result.ok, result.data["number"]) == (True, "55502")


def test_another_customers_order_is_not_found_and_reveals_nothing(customer):
    shipped_order(CustomerFactory(), number="55503", shipped=days_ago(2))
    shipped_order(customer, number="55504", shipped=days_ago(2))
    result = order_status(customer=customer, order_number="55503")
    assert result == ToolResult(name=ORDER_STATUS, ok=False, error="not_found", data={"asked": "55503"})


def test_an_unknown_order_number_is_not_found(customer):
    shipped_order(customer, number="55505", shipped=days_ago(2))
    result = order_status(customer=customer, order_number="99999")
    assert result == ToolResult(name=ORDER_STATUS, ok=False, error="not_found", data={"asked": "99999"})


def test_without_a_number_the_latest_order_is_reported(customer):
    shipped_order(customer, number="55506", shipped=days_ago(20))
    OrderFactory(customer=customer, number="55507", placed_at=days_ago(1))
    shipped_order(customer, number="55508", shipped=days_ago(10))
    result = order_status(customer=customer, order_number=None)
    assert (result.data["number"], result.data["status"]) == ("55507", "processing")
    assert "late" not in result.data and "days_in_transit" not in result.data


def test_without_a_number_and_without_orders_there_are_no_orders(customer):
    shipped_order(CustomerFactory(), shipped=days_ago(2))
    result = order_status(customer=customer, order_number=None)
    assert result == ToolResult(name=ORDER_STATUS, ok=False, error="no_orders", data={"asked": None})


def test_order_status_needs_a_signed_in_customer():
    shipped_order(CustomerFactory(), number="55509", shipped=days_ago(2))
    result = order_status(customer=None, order_number="55509")
    assert result == ToolResult(name=ORDER_STATUS, ok=False, error="no_customer", data={"asked": "55509"})


# Shipped on Sunday 1 March 2026; the help centre calls a parcel late after 8 business days.
@pytest.mark.parametrize(
    ("days", "business_days", "late"), [(0, 0, False), (5, 4, False), (10, 7, False), (11, 8, True), (15, 10, True)]
)
def test_a_parcel_is_late_after_eight_business_days(customer, days, business_days, late):
    shipped_order(customer, number="55510", shipped=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    result = order_status(customer=customer, order_number="55510", today=date(2026, 3, 1) + timedelta(days=days))
    data = result.data
    assert (data["days_in_transit"], data["business_days_in_transit"], data["late"]) == (days, business_days, late)


def test_days_in_transit_count_local_days_up_to_the_frozen_today(customer):
    # 23:30 UTC on 4 March is 00:30 on 5 March in Prague: five local days before 10 March, not six.
    shipped_order(customer, number="55511", shipped=datetime(2026, 3, 4, 23, 30, tzinfo=UTC))
    result = order_status(customer=customer, order_number="55511")
    assert result.data["shipped_at"] == "2026-03-05"
    assert (result.data["days_in_transit"], result.data["late"]) == (5, False)


def test_the_late_threshold_comes_from_settings(customer, settings):
    shipped_order(customer, number="55512", shipped=days_ago(8))
    settings.DELIVERY_LATE_AFTER_BUSINESS_DAYS = 7
    assert order_status(customer=customer, order_number="55512").data["late"] is False
    settings.DELIVERY_LATE_AFTER_BUSINESS_DAYS = 6
    assert order_status(customer=customer, order_number="55512").data["late"] is True


def test_a_delivered_order_is_never_late(customer):
    delivered_order(customer, number="55513", delivered=days_ago(1))
    data = order_status(customer=customer, order_number="55513").data
    assert data["delivered_at"] == (TODAY - timedelta(days=1)).isoformat()
    assert "late" not in data and "days_in_transit" not in data


# ---------------------------------------------------------------- return_eligibility


def test_an_undelivered_order_cannot_be_returned_yet(customer):
    shipped_order(customer, number="55520", shipped=days_ago(12))
    result = return_eligibility(customer=customer, order_number="55520")
    assert result.ok is True
    assert result.name == RETURN_ELIGIBILITY
    assert (result.data["returnable"], result.data["warranty_claim"], result.data["reason"]) == (
        False,
        False,
        "not_delivered",
    )
    assert "return_until" not in result.data
    # Still an order answer: the late-delivery facts are there for the reply.
    assert result.data["late"] is True


@pytest.mark.parametrize(("days", "returnable"), [(0, True), (29, True), (30, True), (31, False)])
def test_the_return_window_is_thirty_days_from_delivery(customer, days, returnable):
    delivered_order(customer, number="55521", delivered=datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    result = return_eligibility(customer=customer, order_number="55521", today=date(2026, 1, 5) + timedelta(days=days))
    assert result.data["return_until"] == "2026-02-04"
    assert result.data["return_window_days"] == 30
    assert result.data["returnable"] is returnable
    assert result.data["warranty_claim"] is True
    assert result.data["reason"] == ""


def test_the_return_window_counts_from_the_local_delivery_day(customer):
    # Delivered at 00:30 on 8 February in Prague (23:30 UTC on the 7th): returnable until 10 March.
    delivered_order(customer, number="55522", delivered=datetime(2026, 2, 7, 23, 30, tzinfo=UTC))
    result = return_eligibility(customer=customer, order_number="55522")
    assert (result.data["delivered_at"], result.data["return_until"]) == ("2026-02-08", "2026-03-10")
    assert result.data["returnable"] is True
    with time_machine.travel(datetime(2026, 3, 10, 23, 30, tzinfo=UTC), tick=False):
        # Already 11 March in Prague.
        assert return_eligibility(customer=customer, order_number="55522").data["returnable"] is False


def test_the_return_window_comes_from_settings(customer, settings):
    settings.RETURN_WINDOW_DAYS = 14
    delivered_order(customer, number="55523", delivered=days_ago(20))
    data = return_eligibility(customer=customer, order_number="55523").data
    assert (data["return_window_days"], data["returnable"]) == (14, False)
    assert data["return_until"] == (TODAY - timedelta(days=6)).isoformat()


def test_a_returned_order_cannot_be_returned_again(customer):
    delivered_order(customer, number="55524", delivered=days_ago(5), status="returned")
    data = return_eligibility(customer=customer, order_number="55524").data
    assert (data["returnable"], data["reason"]) == (False, "already_returned")


@pytest.mark.parametrize(
    ("delivered", "warranty_claim"),
    [(datetime(2025, 1, 15, 12, 0, tzinfo=UTC), True), (datetime(2023, 1, 15, 12, 0, tzinfo=UTC), False)],
)
def test_a_warranty_claim_is_possible_for_two_years(customer, delivered, warranty_claim):
    delivered_order(customer, number="55525", delivered=delivered)
    data = return_eligibility(customer=customer, order_number="55525").data
    assert data["returnable"] is False
    assert data["warranty_months"] == 24
    assert data["warranty_claim"] is warranty_claim


def test_the_warranty_ends_24_calendar_months_after_delivery(customer):
    # The written policy (/help/warranty-claim-process-and-deadlines/) says 24 months from delivery.
    delivered_order(customer, number="55526", delivered=datetime(2024, 3, 9, 12, 0, tzinfo=UTC))
    data = return_eligibility(customer=customer, order_number="55526").data
    assert data["claim_until"] == "2026-03-09"
    assert data["warranty_claim"] is False


@pytest.mark.parametrize(
    ("who", "asked", "error"),
    [("customer", "55599", "not_found"), ("other", "55527", "not_found"), ("nobody", "55527", "no_customer")],
)
def test_return_eligibility_scope_errors(customer, who, asked, error):
    delivered_order(CustomerFactory(), number="55527", delivered=days_ago(3))
    delivered_order(customer, number="55528", delivered=days_ago(3))
    target = None if who == "nobody" else customer
    result = return_eligibility(customer=target, order_number=asked)
    assert result == ToolResult(name=RETURN_ELIGIBILITY, ok=False, error=error, data={"asked": asked})


def test_return_eligibility_without_orders(customer):
    result = return_eligibility(customer=customer, order_number=None)
    assert result == ToolResult(name=RETURN_ELIGIBILITY, ok=False, error="no_orders", data={"asked": None})


def test_return_eligibility_defaults_to_the_latest_order(customer):
    delivered_order(customer, number="55529", delivered=days_ago(40))
    delivered_order(customer, number="55530", delivered=days_ago(2))
    data = return_eligibility(customer=customer, order_number=None).data
    assert (data["number"], data["returnable"]) == ("55530", True)


# ---------------------------------------------------------------- the registry


def test_tools_are_registered_under_their_names():
    assert TOOLS == {
        "account_status": account_status,
        "order_status": order_status,
        "return_eligibility": return_eligibility,
    }


def test_tool_result_as_dict():
    result = ToolResult(name=ORDER_STATUS, ok=False, error="not_found", data={"asked": "1"})
    assert result.as_dict() == {
        "name": "order_status",
        "ok": False,
        "data": {"asked": "1"},
        "error": "not_found",
        "needs_review": False,
    }


# ---------------------------------------------------------------- on the demo shop


def test_petrs_late_demo_order(petr):
    # The demo is seeded relative to the real clock, so this test leaves the frozen one.
    with time_machine.travel(time_machine.escape_hatch.datetime.datetime.now(tz=UTC), tick=True):
        result = order_status(customer=petr, order_number="12345")
    assert result.ok is True
    assert (result.data["carrier"], result.data["currency"], result.data["status"]) == ("PPL", "CZK", "shipped")
    assert (result.data["days_in_transit"], result.data["late"]) == (12, True)
    assert result.data["items"] == ["1 × Trail backpack 30 l", "2 × Insulated bottle 750 ml"]


def test_another_demo_customer_cannot_see_order_12345(shop):
    tereza = Customer.objects.get(external_id="cus_1002")
    for tool in (order_status, return_eligibility):
        assert tool(customer=tereza, order_number="12345").as_dict() == {
            "name": tool.__name__,
            "ok": False,
            "data": {"asked": "12345"},
            "error": "not_found",
            "needs_review": False,
        }
