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
from crm.records import AccountRecord, OrderRecord
from crm.remote import CrmUnavailable, RemoteCrm
from crm.selectors import order_get_for_customer, order_latest_for_customer
from helpdesk.asyncdb import database_sync_to_async

ACCOUNT_STATUS = "account_status"
ORDER_STATUS = "order_status"
RETURN_ELIGIBILITY = "return_eligibility"


@dataclass(frozen=True)
class ToolResult:
    name: str
    ok: bool
    data: dict = field(default_factory=dict)
    # Why there is no answer: "no_customer", "not_found", "no_orders", "no_account" or
    # "crm_unavailable" (the remote CRM did not answer).
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


def account_status_of(*, customer_known: bool, account: AccountRecord | None) -> ToolResult:
    if not customer_known:
        return ToolResult(name=ACCOUNT_STATUS, ok=False, error="no_customer")
    if account is None:
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


def account_status(*, customer: Customer | None) -> ToolResult:
    """From our own tables."""
    if customer is None:
        return account_status_of(customer_known=False, account=None)
    try:
        account = AccountRecord.of(customer.account)
    except Account.DoesNotExist:
        account = None
    return account_status_of(customer_known=True, account=account)


def _order_facts(order: OrderRecord, *, today: date) -> dict:
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
        "items": [f"{quantity} × {name}" for quantity, name in order.items],
    }
    if order.status == Order.Status.SHIPPED and order.shipped_at:
        shipped = timezone.localtime(order.shipped_at).date()
        business_days = int(np.busday_count(shipped, today))
        facts["days_in_transit"] = (today - shipped).days
        facts["business_days_in_transit"] = business_days
        # /help/late-delivery/: late when not delivered within 8 business days of shipping.
        facts["late"] = business_days >= settings.DELIVERY_LATE_AFTER_BUSINESS_DAYS
    return facts


def _order_missing(*, tool: str, customer_known: bool, order_number: str | None) -> ToolResult:
    if not customer_known:
        return ToolResult(name=tool, ok=False, error="no_customer", data={"asked": order_number})
    error = "not_found" if order_number else "no_orders"
    return ToolResult(name=tool, ok=False, error=error, data={"asked": order_number})


def _order_find(*, tool: str, customer: Customer | None, order_number: str | None) -> OrderRecord | ToolResult:
    """The named order, or the latest one when none is named; a failed ``tool`` result when there is none."""
    if customer is None:
        return _order_missing(tool=tool, customer_known=False, order_number=order_number)
    if order_number:
        order = order_get_for_customer(customer=customer, number=order_number)
    else:
        order = order_latest_for_customer(customer=customer)
    if order is None:
        return _order_missing(tool=tool, customer_known=True, order_number=order_number)
    return OrderRecord.of(order)


def order_status_of(order: OrderRecord, *, today: date) -> ToolResult:
    return ToolResult(name=ORDER_STATUS, ok=True, data=_order_facts(order, today=today))


def return_eligibility_of(order: OrderRecord, *, today: date) -> ToolResult:
    """Whether the order can still be returned (30 days from delivery) or claimed under warranty.

    The windows come from the written policy: /help/returns-policy/ and
    /help/warranty-claim-process-and-deadlines/.
    """
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


ORDER_TOOLS = {ORDER_STATUS: order_status_of, RETURN_ELIGIBILITY: return_eligibility_of}


def order_status(*, customer: Customer | None, order_number: str | None, today: date | None = None) -> ToolResult:
    """The status of the named order, or of the customer's latest order when none is named (our own tables)."""
    order = _order_find(tool=ORDER_STATUS, customer=customer, order_number=order_number)
    if isinstance(order, ToolResult):
        return order
    return order_status_of(order, today=today or timezone.localdate())


def return_eligibility(*, customer: Customer | None, order_number: str | None, today: date | None = None) -> ToolResult:
    order = _order_find(tool=RETURN_ELIGIBILITY, customer=customer, order_number=order_number)
    if isinstance(order, ToolResult):
        return order
    return return_eligibility_of(order, today=today or timezone.localdate())


TOOLS = {ACCOUNT_STATUS: account_status, ORDER_STATUS: order_status, RETURN_ELIGIBILITY: return_eligibility}


async def tool_run(
    *, tool: str, customer: Customer | None, order_number: str | None, crm: RemoteCrm | None
) -> ToolResult:
    """Run ``tool`` for the conversation's verified customer, on our tables or the remote CRM.

    A remote CRM that does not answer gives ``crm_unavailable``, flagged for a person: the
    copilot says it cannot check, and never fills the gap with a guess.
    """
    if crm is None:
        if tool == ACCOUNT_STATUS:
            return await database_sync_to_async(account_status)(customer=customer)
        return await database_sync_to_async(TOOLS[tool])(customer=customer, order_number=order_number)
    if customer is None:
        if tool == ACCOUNT_STATUS:
            return account_status_of(customer_known=False, account=None)
        return _order_missing(tool=tool, customer_known=False, order_number=order_number)
    try:
        if tool == ACCOUNT_STATUS:
            return account_status_of(customer_known=True, account=await crm.account(customer_id=customer.external_id))
        if order_number:
            order = await crm.order(customer_id=customer.external_id, number=order_number)
        else:
            latest = await crm.orders(customer_id=customer.external_id, limit=1)
            order = latest[0] if latest else None
    except CrmUnavailable as exc:
        return ToolResult(
            name=tool,
            ok=False,
            error="crm_unavailable",
            data={"asked": order_number, "why": str(exc)[:200]},
            needs_review=True,
        )
    if order is None:
        return _order_missing(tool=tool, customer_known=True, order_number=order_number)
    return ORDER_TOOLS[tool](order, today=timezone.localdate())
