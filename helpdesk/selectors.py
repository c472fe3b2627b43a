import uuid

from django.db import connection
from django.db.models import Q

from crm.models import Customer, Order
from helpdesk.models import Conversation, Ticket
from knowledge.models import Article


def database_status_get() -> dict:
    """Whether PostgreSQL answers and has pgvector, for /health."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    return {"ok": row is not None, "postgres": server_version, "pgvector": row[0] if row else None}


def site_overview_get() -> dict:
    return {
        "customers": Customer.objects.count(),
        "orders": Order.objects.count(),
        "articles": Article.objects.filter(status=Article.Status.PUBLISHED).count(),
        "open_tickets": Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES).count(),
        "conversations": Conversation.objects.count(),
    }


def conversation_get_for_customer(*, customer: Customer | None, conversation_id: str | int) -> Conversation | None:
    """The customer's own conversation by pk or public id; anyone else's is simply not found.

    ``customer=None`` reaches only anonymous conversations.
    """
    reference = str(conversation_id).strip()
    query = (
        Q(public_id=reference)
        if _is_uuid(reference)
        else Q(pk=int(reference))
        if reference.isascii() and reference.isdigit()
        else None
    )
    if query is None:
        return None
    scope = Q(customer=customer) if customer is not None else Q(customer__isnull=True)
    return Conversation.objects.filter(query & scope).first()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
