import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from crm.models import Customer, Order
from helpdesk.identity import TokenClaims
from helpdesk.models import TICKET_PRIORITY_RANK, AgentProfile, Conversation, Message, Ticket
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
        # A bigint has at most 19 digits: a longer id names no row (and int() refuses 4,300+ digits).
        else Q(pk=int(reference))
        if reference.isascii() and reference.isdigit() and len(reference) <= 18
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


def conversation_get_by_public_id(*, public_id: uuid.UUID) -> Conversation | None:
    """For a verified conversation token only: the token is the access check."""
    return Conversation.objects.select_related("assigned_agent", "customer").filter(public_id=public_id).first()


class AccessRevoked(Exception):
    """The token is genuine, but the person it was issued to has been erased."""


def conversation_erasure_check(*, conversation_id: int) -> None:
    """Raise ``AccessRevoked`` when the conversation's customer was erased.

    Call it inside the transaction that writes about them: there it locks the customer's row, so it
    waits for an erasure under way (``customer_erase`` holds that row until it commits) and then
    sees it. Without the lock, a message or a copilot reply written during the erasure would be
    stored after it, in clear text.
    """
    # One query on every message and turn: the customer's row through the conversation, locked
    # alone (an anonymous conversation has no customer and matches nothing).
    customer = Customer.objects.filter(conversations__pk=conversation_id)
    if transaction.get_connection().in_atomic_block:
        customer = customer.select_for_update(no_key=True, of=("self",))
    if customer.values_list("erased_at", flat=True).first() is not None:
        raise AccessRevoked


def conversation_for_token(*, claims: TokenClaims) -> Conversation | None:
    """The conversation a genuine token opens; None when it is gone or was issued to someone else.

    Raises ``AccessRevoked`` when its customer was erased: erasure ends every token issued
    to them, over REST and websocket alike.
    """
    conversation = conversation_get_by_public_id(public_id=claims.conversation)
    if conversation is None or conversation.customer_id != claims.customer_id:
        return None
    if conversation.customer is not None and conversation.customer.is_erased:
        raise AccessRevoked
    return conversation


def messages_for_customer(*, conversation: Conversation, after_id: int = 0, limit: int = 500) -> list[Message]:
    """What the customer may see of their conversation (no internal notes): the latest
    ``limit`` after ``after_id``, oldest first."""
    latest = (
        conversation.messages.exclude(role=Message.Role.NOTE)
        .filter(id__gt=after_id)
        .select_related("author")
        .order_by("-id")[:limit]
    )
    return list(reversed(latest))


# The widget pings every 25 s; a customer not heard from for a minute has left the chat.
CUSTOMER_PRESENCE_SECONDS = 60


def customer_presence_key(conversation_id: int) -> str:
    return f"customer-online:{conversation_id}"


def customer_is_online(*, conversation_id: int) -> bool:
    """Whether the customer has the chat open: a widget socket marked it within the last minute."""
    return cache.get(customer_presence_key(conversation_id)) is not None


def conversation_reply_email_get(*, conversation: Conversation) -> str:
    """Where an email follow-up goes: the address the visitor left, else the verified customer's."""
    if conversation.contact_email:
        return conversation.contact_email
    return conversation.customer.email if conversation.customer_id else ""


def email_mask(email: str) -> str:
    """Enough of an address for the customer to recognise it on a shared screen."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else ""


def conversation_follow_up_get(*, conversation: Conversation) -> dict | None:
    """The email follow-up promised on the conversation's open escalation, if any.

    ``email`` is masked, and empty while the visitor still has to leave an address.
    """
    promised = Ticket.objects.filter(
        conversation=conversation,
        kind=Ticket.Kind.ESCALATION,
        status__in=Ticket.OPEN_STATUSES,
        follow_up_by_email=True,
    ).exists()
    if not promised:
        return None
    return {"by_email": True, "email": email_mask(conversation_reply_email_get(conversation=conversation))}


def agents_online_get() -> list[AgentProfile]:
    """Agents with an open console that has been heard from recently."""
    recent = timezone.now() - timedelta(seconds=settings.AGENT_PRESENCE_TIMEOUT)
    return list(
        AgentProfile.objects.filter(console_connections__gt=0, last_seen_at__gte=recent, user__is_active=True)
        .select_related("user")
        .order_by("display_name")
    )


def agents_list() -> list[AgentProfile]:
    return list(AgentProfile.objects.filter(user__is_active=True).select_related("user").order_by("display_name"))


def user_is_agent(*, user) -> bool:
    """Agents and staff may use the console; customers never have a login."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or AgentProfile.objects.filter(user=user).exists()


def conversation_queue(
    *,
    agent=None,
    status: str | None = None,
    priority: str | None = None,
    mine: bool = False,
    search: str | None = None,
    include_idle: bool = False,
) -> QuerySet[Conversation]:
    """The console's queue: conversations with their open ticket and the copilot's latest reading.

    A widget opened with nothing said yet is not work for anyone and stays out, unless
    ``include_idle``.

    Human-takeover work first (waiting, then owned), then by latest activity.
    """
    from copilot.models import CopilotTurn

    open_ticket = Ticket.objects.filter(conversation=OuterRef("pk"), status__in=Ticket.OPEN_STATUSES).order_by(
        "-created_at"
    )
    latest_turn = CopilotTurn.objects.filter(conversation=OuterRef("pk")).order_by("-created_at")
    last_message = Message.objects.filter(conversation=OuterRef("pk")).exclude(role=Message.Role.NOTE).order_by("-id")
    queryset = (
        Conversation.objects.select_related("customer", "assigned_agent")
        .annotate(
            ticket_id=Subquery(open_ticket.values("id")[:1]),
            ticket_priority=Subquery(open_ticket.values("priority")[:1]),
            ticket_status=Subquery(open_ticket.values("status")[:1]),
            ticket_kind=Subquery(open_ticket.values("kind")[:1]),
            intent=Subquery(latest_turn.values("intent")[:1]),
            sentiment=Subquery(latest_turn.values("sentiment")[:1]),
            last_message=Subquery(last_message.values("content")[:1]),
            waiting_rank=Case(
                When(status=Conversation.Status.PENDING_HUMAN, then=Value(0)),
                When(status=Conversation.Status.HUMAN, then=Value(1)),
                When(status=Conversation.Status.BOT, then=Value(2)),
                default=Value(3),
            ),
        )
        .order_by("waiting_rank", F("last_message_at").desc(nulls_last=True), "-id")
    )
    if not include_idle:
        queryset = queryset.exclude(status=Conversation.Status.BOT, last_message_at__isnull=True)
    if status:
        queryset = queryset.filter(status=status)
    if priority:
        queryset = queryset.filter(ticket_priority=priority)
    if mine and agent is not None:
        queryset = queryset.filter(assigned_agent=agent)
    if search:
        queryset = queryset.filter(
            Q(customer__name__icontains=search)
            | Q(customer__email__icontains=search)
            | Q(customer__external_id__iexact=search)
            | Q(subject__icontains=search)
        )
    return queryset


def conversation_get_for_agent(*, conversation_id: int) -> Conversation | None:
    """Any conversation, for an agent (the caller has checked ``user_is_agent``)."""
    return conversation_queue(include_idle=True).filter(pk=conversation_id).first()


def demo_customers_get(*, limit: int = 8) -> list[Customer]:
    """Customers the /demo/ page offers to browse as: the seeded demo ones (``cus_…``) first."""
    return list(
        Customer.objects.annotate(
            seeded=Case(When(external_id__startswith="cus_", then=Value(0)), default=Value(1))
        ).order_by("seeded", "external_id")[:limit]
    )


def customer_get_by_external_id(*, external_id: str, include_erased: bool = False) -> Customer | None:
    """The customer with this CRM id. An erased customer is found only for the privacy requests
    about them (``include_erased``): for everything else they are gone."""
    if not external_id:
        return None
    customers = Customer.objects.all() if include_erased else Customer.objects.filter(erased_at__isnull=True)
    return customers.filter(external_id=external_id).first()


# ---------------------------------------------------------------- the agent console's reads

TRANSCRIPT_LIMIT = 500


def messages_for_agent(*, conversation: Conversation, limit: int = TRANSCRIPT_LIMIT) -> tuple[list[Message], bool]:
    """The latest ``limit`` messages, internal notes included, oldest first; and whether older ones exist."""
    rows = list(conversation.messages.select_related("author").order_by("-id")[: limit + 1])
    truncated = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return rows, truncated


def ticket_queue(
    *, agent: AbstractUser, status: str | None = None, priority: str | None = None, mine: bool = False
) -> QuerySet[Ticket]:
    """Open tickets first, the most urgent and the soonest due at the top."""
    queryset = (
        Ticket.objects.select_related("customer", "assignee")
        .annotate(
            open_rank=Case(When(status__in=Ticket.OPEN_STATUSES, then=Value(0)), default=Value(1)),
            priority_rank=Case(
                *[When(priority=name, then=Value(-rank)) for name, rank in TICKET_PRIORITY_RANK.items()],
                default=Value(0),
                output_field=IntegerField(),
            ),
        )
        .order_by("open_rank", "priority_rank", F("sla_due_at").asc(nulls_last=True), "-created_at", "-id")
    )
    if status:
        queryset = queryset.filter(status=status)
    if priority:
        queryset = queryset.filter(priority=priority)
    if mine:
        queryset = queryset.filter(assignee=agent)
    return queryset


def ticket_get(*, ticket_id: int | None) -> Ticket | None:
    if ticket_id is None:
        return None
    return Ticket.objects.select_related("customer", "assignee").filter(pk=ticket_id).first()


def customer_search(*, search: str = "") -> QuerySet[Customer]:
    queryset = Customer.objects.select_related("account").order_by("name", "id")
    search = search.strip()
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search) | Q(email__icontains=search) | Q(external_id__iexact=search)
        )
    return queryset


def customer_get(*, customer_id: int) -> Customer | None:
    return Customer.objects.select_related("account").filter(pk=customer_id).first()


def customer_conversations(*, customer: Customer, limit: int = 10) -> list[Conversation]:
    return list(customer.conversations.order_by(F("last_message_at").desc(nulls_last=True), "-id")[:limit])


def reply_suggestion_get(*, conversation: Conversation) -> dict:
    """A draft for the agent: the copilot's latest suggested reply, else the bot's last answer, else an opener."""
    from copilot.models import CopilotTurn

    turn = (
        CopilotTurn.objects.filter(conversation=conversation)
        .exclude(suggested_replies=[])
        .order_by("-created_at", "-id")
        .first()
    )
    if turn is not None and isinstance(turn.suggested_replies[0], str) and turn.suggested_replies[0].strip():
        return {"text": turn.suggested_replies[0], "source": "copilot"}
    last_answer = conversation.messages.filter(role=Message.Role.ASSISTANT).order_by("-id").first()
    if last_answer is not None:
        return {"text": last_answer.content, "source": "last_answer"}
    name = conversation.customer.first_name if conversation.customer_id else ""
    if conversation.language == "cs":
        text = f"Dobrý den{', ' + name if name else ''}, jsem tu a vaši věc teď řeším osobně."
    else:
        text = f"Hi{' ' + name if name else ''}, I'm here and looking into this for you personally."
    return {"text": text, "source": "greeting"}
