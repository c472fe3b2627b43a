"""The copilot's tools: read-only answers from the CRM, always scoped to the verified customer.

A tool never receives another customer's id; it takes the customer the conversation belongs
to, and an order number it cannot find under that customer is "not found", exactly as if
it did not exist, so a guessed number reveals nothing.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.utils import timezone

from crm.models import Account, Customer, Order
from crm.selectors import order_get_for_customer, order_latest_for_customer

ACCOUNT_STATUS = "account_status"
ORDER_STATUS = "order_status"
RETURN_ELIGIBILITY = "return_eligibility"


@dataclass(frozen=True)
class ToolResult:
    name: str
    ok: bool
    data: dict = field(default_factory=dict)
    # Why there is no answer: "no_customer", "not_found", "no_orders" or "no_account".
    error: str = ""
    needs_review: bool = False

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "ok": self.ok,
            "data": self.data,
            "error": self.error,
            "needs_review": self.needs_review,
        }


def _day(value: datetime | None) -> str | None:
    return timezone.localtime(value).date().isoformat() if value else None


def _money(value) -> str:
    return f"{value:.2f}"


def account_status(*, customer: Customer | None) -> ToolResult:
    if customer is None:
        return ToolResult(name=ACCOUNT_STATUS, ok=False, error="no_customer")
    try:
        account = customer.account
    except Account.DoesNotExist:
        return ToolResult(name=ACCOUNT_STATUS, ok=False, error="no_account")
    data = {
        "account_number": account.number,
        "status": account.status,
        "subscription_tier": account.subscription_tier,
        "balance": _money(account.balance),
        "currency": account.currency,
        "last_payment_at": _day(account.last_payment_at),
        "last_payment_amount": _money(account.last_payment_amount) if account.last_payment_amount else None,
    }
    # A suspended account or an open refund dispute is for a person to look at, not the bot.
    needs_review = account.status in (Account.Status.SUSPENDED, Account.Status.REFUND_ELIGIBLE)
    return ToolResult(name=ACCOUNT_STATUS, ok=True, data=data, needs_review=needs_review)


def _order_facts(order: Order, *, today: date) -> dict:
    facts = {
        "number": order.number,
        "status": order.status,
        "placed_at": _day(order.placed_at),
        "shipped_at": _day(order.shipped_at),
        "delivered_at": _day(order.delivered_at),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "total": _money(order.total),
        "currency": order.currency,
        "items": [f"{item.quantity} × {item.name}" for item in order.items.all()],
    }
    if order.status == Order.Status.SHIPPED and order.shipped_at:
        shipped = timezone.localtime(order.shipped_at).date()
        business_days = int(np.busday_count(shipped, today))
        facts["days_in_transit"] = (today - shipped).days
        facts["business_days_in_transit"] = business_days
        # /help/late-delivery/: late when not delivered within 8 business days of shipping.
        facts["late"] = business_days >= settings.DELIVERY_LATE_AFTER_BUSINESS_DAYS
    return facts


def _order_find(*, tool: str, customer: Customer | None, order_number: str | None) -> Order | ToolResult:
    """The named order, or the latest one when none is named; a failed ``tool`` result when there is none."""
    if customer is None:
        return ToolResult(name=tool, ok=False, error="no_customer", data={"asked": order_number})
    if order_number:
        order = order_get_for_customer(customer=customer, number=order_number)
    else:
        order = order_latest_for_customer(customer=customer)
    if order is None:
        error = "not_found" if order_number else "no_orders"
        return ToolResult(name=tool, ok=False, error=error, data={"asked": order_number})
    return order


def order_status(*, customer: Customer | None, order_number: str | None, today: date | None = None) -> ToolResult:
    """The status of the named order, or of the customer's latest order when none is named."""
    order = _order_find(tool=ORDER_STATUS, customer=customer, order_number=order_number)
    if isinstance(order, ToolResult):
        return order
    return ToolResult(name=ORDER_STATUS, ok=True, data=_order_facts(order, today=today or timezone.localdate()))


def return_eligibility(*, customer: Customer | None, order_number: str | None, today: date | None = None) -> ToolResult:
    """Whether the order can still be returned (30 days from delivery) or claimed under warranty.

    The windows come from the written policy: /help/returns-policy/ and
    /help/warranty-claim-process-and-deadlines/.
    """
    order = _order_find(tool=RETURN_ELIGIBILITY, customer=customer, order_number=order_number)
    if isinstance(order, ToolResult):
        return order
    today = today or timezone.localdate()
    facts = _order_facts(order, today=today)
    if order.delivered_at is None:
        # Nothing to return yet; an undelivered parcel is a delivery problem, not a return.
        facts.update(returnable=False, warranty_claim=False, reason="not_delivered")
        return ToolResult(name=RETURN_ELIGIBILITY, ok=True, data=facts)
    delivered = timezone.localtime(order.delivered_at).date()
    return_until = delivered + timedelta(days=settings.RETURN_WINDOW_DAYS)
    claim_until = delivered + relativedelta(months=settings.WARRANTY_MONTHS)
    facts.update(
        return_window_days=settings.RETURN_WINDOW_DAYS,
        warranty_months=settings.WARRANTY_MONTHS,
        return_until=return_until.isoformat(),
        claim_until=claim_until.isoformat(),
        returnable=order.status == Order.Status.DELIVERED and today <= return_until,
        warranty_claim=today <= claim_until,
        reason="already_returned" if order.status == Order.Status.RETURNED else "",
    )
    return ToolResult(name=RETURN_ELIGIBILITY, ok=True, data=facts)


TOOLS = {ACCOUNT_STATUS: account_status, ORDER_STATUS: order_status, RETURN_ELIGIBILITY: return_eligibility}
