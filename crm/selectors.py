"""Reads of CRM data. Everything a customer can reach is scoped to that customer here."""

from django.db.models import Prefetch, Q, QuerySet

from crm.models import Customer, Order, OrderItem
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
