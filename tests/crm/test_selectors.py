"""CRM reads: staff find any customer; a customer reaches only their own orders."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.selectors import (
    ORDER_NUMBER_MAX,
    customer_find,
    customer_open_tickets,
    customer_recent_orders,
    order_get_for_customer,
    order_latest_for_customer,
)
from tests.factories import (
    AccountFactory,
    CustomerFactory,
    OrderFactory,
    OrderItemFactory,
    ProductFactory,
    TicketFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def emma():
    return CustomerFactory(external_id="cus_2007", name="Emma Clarke", email="Emma.Clarke@Example.co.uk")


# ---------------------------------------------------------------- customer_find


@pytest.mark.parametrize(
    "ref", ["emma.clarke@example.co.uk", "EMMA.CLARKE@EXAMPLE.CO.UK", "Emma.Clarke@Example.co.uk", "  cus_2007 "]
)
def test_customer_find_by_email_in_any_case_or_external_id(emma, ref):
    CustomerFactory(email="someone.else@example.co.uk")
    assert customer_find(ref=ref) == emma


def test_customer_find_by_primary_key(emma):
    other = CustomerFactory()
    assert customer_find(ref=str(emma.pk)) == emma
    assert customer_find(ref=f" {other.pk}\n") == other


@pytest.mark.parametrize("ref", ["", "   ", "nobody@example.com", "cus_9999", "emma.clarke", "99999999"])
def test_customer_find_returns_none_for_unknown_or_empty_refs(emma, ref):
    assert customer_find(ref=ref) is None


def test_customer_find_does_not_match_part_of_an_email(emma):
    assert customer_find(ref="clarke@example.co.uk") is None


def test_customer_find_loads_the_account_with_the_customer(emma, django_assert_num_queries):
    AccountFactory(customer=emma, number="ACC-2007")
    with django_assert_num_queries(1):
        found = customer_find(ref="cus_2007")
        assert found.account.number == "ACC-2007"


def test_customer_find_treats_a_non_ascii_digit_as_unknown(emma):
    # "²".isdigit() is True but int("²") raises ValueError; a CLI --customer ² crashes instead of "No customer".
    assert customer_find(ref="²") is None


# ---------------------------------------------------------------- order_get_for_customer


@pytest.mark.parametrize("number", ["60001", "#60001", "  #60001 ", "60001\n"])
def test_order_get_for_customer_accepts_a_hash_and_surrounding_space(emma, number):
    order = OrderFactory(customer=emma, number="60001")
    assert order_get_for_customer(customer=emma, number=number) == order


def test_order_numbers_match_case_insensitively(emma):
    order = OrderFactory(customer=emma, number="BC-60002")
    assert order_get_for_customer(customer=emma, number="bc-60002") == order


def test_another_customers_order_is_never_returned(emma):
    theirs = OrderFactory(number="60003")
    OrderFactory(customer=emma, number="60004")
    assert order_get_for_customer(customer=emma, number="60003") is None
    assert order_get_for_customer(customer=emma, number="#60003") is None
    assert order_get_for_customer(customer=theirs.customer, number="60003") == theirs
    assert order_get_for_customer(customer=theirs.customer, number="60004") is None


@pytest.mark.parametrize("number", ["", "   ", "#", "##"])
def test_an_empty_order_number_finds_nothing(emma, number):
    OrderFactory(customer=emma, number="60005")
    assert order_get_for_customer(customer=emma, number=number) is None


def test_an_overlong_order_number_is_rejected_without_a_query(emma, django_assert_num_queries):
    OrderFactory(customer=emma, number="6" * ORDER_NUMBER_MAX)
    with django_assert_num_queries(0):
        assert order_get_for_customer(customer=emma, number="6" * (ORDER_NUMBER_MAX + 1)) is None
    assert order_get_for_customer(customer=emma, number="#" + "6" * ORDER_NUMBER_MAX) is not None


def test_an_order_comes_with_its_items_in_entry_order(emma, django_assert_num_queries):
    order = OrderFactory(customer=emma, number="60006")
    names = ["Rain jacket Drift", "Merino crew sweater", "Organic cotton T-shirt"]
    for name in names:
        OrderItemFactory(order=order, product=ProductFactory(name=name))
    with django_assert_num_queries(2):
        found = order_get_for_customer(customer=emma, number="60006")
        assert [item.name for item in found.items.all()] == names


# ---------------------------------------------------------------- latest and recent orders, open tickets


def test_latest_and_recent_orders_are_the_customers_own_newest_first(emma):
    now = timezone.now()
    old = OrderFactory(customer=emma, number="60010", placed_at=now - timedelta(days=30))
    new = OrderFactory(customer=emma, number="60011", placed_at=now - timedelta(days=1))
    middle = OrderFactory(customer=emma, number="60012", placed_at=now - timedelta(days=7))
    OrderFactory(number="60013", placed_at=now)
    assert order_latest_for_customer(customer=emma) == new
    assert customer_recent_orders(customer=emma) == [new, middle, old]
    assert customer_recent_orders(customer=emma, limit=2) == [new, middle]


def test_latest_order_of_a_customer_without_orders_is_none(emma):
    OrderFactory()
    assert order_latest_for_customer(customer=emma) is None


def test_open_tickets_exclude_closed_ones_and_other_customers(emma):
    open_ticket = TicketFactory(conversation__customer=emma, status="open")
    pending = TicketFactory(conversation__customer=emma, status="pending")
    TicketFactory(conversation__customer=emma, status="resolved", resolved_at=timezone.now())
    TicketFactory(status="open")
    assert set(customer_open_tickets(customer=emma)) == {open_ticket, pending}
