from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Order
from tests.assertions import assert_violates
from tests.factories import (
    AccountFactory,
    CustomerFactory,
    OrderFactory,
    OrderItemFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db


def test_customer_external_id_is_unique():
    CustomerFactory(external_id="c1")
    assert_violates("external_id", lambda: CustomerFactory(external_id="c1"))


def test_customer_email_is_unique_ignoring_case_but_blank_is_allowed_twice():
    CustomerFactory(email="Ann@Example.com")
    assert_violates("crm_customer_email_ci_unique", lambda: CustomerFactory(email="ann@example.com"))
    CustomerFactory(email="")
    CustomerFactory(email="")


def test_customer_tier_must_be_known():
    assert_violates("crm_customer_tier_valid", lambda: CustomerFactory(tier="platinum"))


def test_customer_has_one_account():
    account = AccountFactory()
    assert_violates("customer_id", lambda: AccountFactory(customer=account.customer))


def test_account_status_and_tier_must_be_known():
    assert_violates("crm_account_status_valid", lambda: AccountFactory(status="frozen"))
    assert_violates("crm_account_tier_valid", lambda: AccountFactory(subscription_tier="gold"))


def test_account_last_payment_needs_a_date_and_a_positive_amount():
    assert_violates("crm_account_last_payment_has_date", lambda: AccountFactory(last_payment_amount=Decimal("5")))
    assert_violates(
        "crm_account_last_payment_positive",
        lambda: AccountFactory(last_payment_amount=Decimal("-5"), last_payment_at=timezone.now()),
    )


def test_order_number_is_unique():
    OrderFactory(number="12345")
    assert_violates("number", lambda: OrderFactory(number="12345"))


def test_order_amounts_cannot_be_negative():
    assert_violates("crm_order_amounts_non_negative", lambda: OrderFactory(total=Decimal("-1")))


def test_order_timeline_must_be_in_order():
    now = timezone.now()
    assert_violates(
        "crm_order_shipped_after_placed",
        lambda: OrderFactory(placed_at=now, shipped_at=now - timedelta(days=1), status=Order.Status.SHIPPED),
    )
    assert_violates(
        "crm_order_delivered_after_shipped",
        lambda: OrderFactory(placed_at=now, delivered_at=now + timedelta(days=1)),
    )


def test_shipped_and_delivered_orders_carry_their_dates():
    assert_violates("crm_order_shipped_has_date", lambda: OrderFactory(status=Order.Status.SHIPPED))
    now = timezone.now()
    assert_violates(
        "crm_order_delivered_has_date",
        lambda: OrderFactory(status=Order.Status.DELIVERED, placed_at=now, shipped_at=now),
    )


def test_order_status_must_be_known():
    assert_violates("crm_order_status_valid", lambda: OrderFactory(status="lost"))


def test_order_item_quantity_and_price():
    assert_violates("crm_orderitem_quantity_positive", lambda: OrderItemFactory(quantity=0))
    assert_violates("crm_orderitem_price_non_negative", lambda: OrderItemFactory(unit_price=Decimal("-1")))


def test_order_item_line_total():
    item = OrderItemFactory(quantity=3, unit_price=Decimal("2.50"))
    assert item.line_total == Decimal("7.50")


def test_product_sku_unique_and_price_non_negative():
    ProductFactory(sku="A")
    assert_violates("sku", lambda: ProductFactory(sku="A"))
    assert_violates("crm_product_price_non_negative", lambda: ProductFactory(price=Decimal("-0.01")))
