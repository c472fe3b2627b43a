"""Reads of CRM data. Everything a customer can reach is scoped to that customer here."""

from asgiref.sync import async_to_sync
from django.db.models import Prefetch, Q, QuerySet

from crm.models import Account, Customer, Order, OrderItem
from crm.records import AccountRecord
from crm.remote import remote_crm_get
from helpdesk.models import Ticket

ORDER_NUMBER_MAX = 32


def customer_find(*, ref: str) -> Customer | None:
    """A customer by email (case-insensitive), external id, or primary key; for staff tools only."""
    ref = ref.strip()
    if not ref:
        return None
    query = Q(external_id=ref) | Q(email__iexact=ref)
    if ref.isascii() and ref.isdigit():
        query |= Q(pk=int(ref))
    return Customer.objects.select_related("account").filter(query).first()


def customer_orders(*, customer: Customer) -> QuerySet[Order]:
    return Order.objects.filter(customer=customer).prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.order_by("id"))
    )


def order_get_for_customer(*, customer: Customer, number: str) -> Order | None:
    """The customer's own order with this number. Another customer's order is simply not found."""
    number = number.strip().lstrip("#")
    if not number or len(number) > ORDER_NUMBER_MAX:
        return None
    return customer_orders(customer=customer).filter(number__iexact=number).first()


def order_latest_for_customer(*, customer: Customer) -> Order | None:
    return customer_orders(customer=customer).order_by("-placed_at", "-id").first()


def customer_recent_orders(*, customer: Customer, limit: int = 5) -> list[Order]:
    """The latest orders without their items: a summary for the customer card."""
    return list(Order.objects.filter(customer=customer).order_by("-placed_at", "-id")[:limit])


def customer_open_tickets(*, customer: Customer, limit: int = 5) -> list[Ticket]:
    return list(
        Ticket.objects.filter(customer=customer, status__in=Ticket.OPEN_STATUSES).order_by("-created_at")[:limit]
    )


def account_record_get(*, account_id: str) -> tuple[str, AccountRecord] | None:
    """(customer's CRM id, account) for an account number (``ACC-…``) or a customer's CRM id,
    read from the CRM the copilot reads (``CRM_BACKEND``). Raises ``CrmUnavailable`` when that
    is another system and it does not answer."""
    account = Account.objects.select_related("customer").filter(number=account_id).first() or (
        Account.objects.select_related("customer").filter(customer__external_id=account_id).first()
    )
    crm = remote_crm_get()
    if crm is None:
        return (account.customer.external_id, AccountRecord.of(account)) if account else None
    # The remote CRM is asked by customer; an account number is known only by our copy of it.
    external_id = account.customer.external_id if account else account_id
    if not Customer.objects.filter(external_id=external_id).exists():
        return None
    record = async_to_sync(crm.account)(customer_id=external_id)
    return (external_id, record) if record else None
