from django.db import connection

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
