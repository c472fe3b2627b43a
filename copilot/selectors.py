"""Reads for the copilot: the context of a turn, the taxonomy, and traces."""

from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta

import numpy as np
from asgiref.sync import async_to_sync
from django.db.models import Count, Max
from django.utils import timezone

from copilot.models import ConversationMemory, CopilotTurn, Intent, IntentExample
from crm.models import Account, Customer, Product
from crm.remote import CrmUnavailable, RemoteCrm, remote_crm_get
from crm.selectors import customer_open_tickets, customer_recent_orders
from helpdesk.models import Conversation, Message

HISTORY_MESSAGES = 8


@dataclass(frozen=True)
class CustomerCard:
    id: int
    external_id: str
    name: str
    first_name: str
    email: str
    tier: str
    locale: str
    account: dict | None
    recent_orders: list[dict]
    open_tickets: list[dict]
    # Why the remote CRM's account and orders are missing (CRM_BACKEND=http); empty when they are not.
    crm_error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Memory:
    summary: str = ""
    facts: dict = field(default_factory=dict)
    pending_actions: list = field(default_factory=list)
    resolved_issues: list = field(default_factory=list)
    sentiment_trajectory: list = field(default_factory=list)
    failure_streak: int = 0
    turn_count: int = 0


@dataclass(frozen=True)
class Context:
    conversation_id: int
    language: str
    customer: Customer | None
    card: CustomerCard | None
    memory: Memory
    # Earlier messages of this conversation, oldest first: (role, text).
    history: list[tuple[str, str]]
    # The summary of this customer's previous conversation, for "last time you asked about...".
    previous_summary: str
    previous_summary_language: str


def card_account_row(account) -> dict:
    """An account on the customer card: an ``Account`` row or a remote CRM's ``AccountRecord``."""
    return {"number": account.number, "status": account.status, "subscription_tier": account.subscription_tier}


def card_order_row(order) -> dict:
    """An order on the customer card: an ``Order`` row or a remote CRM's ``OrderRecord``."""
    return {
        "number": order.number,
        "status": order.status,
        "placed_at": order.placed_at.date().isoformat(),
        "total": f"{order.total:.2f}",
        "currency": order.currency,
    }


def customer_card_get(*, customer: Customer) -> CustomerCard:
    try:
        account_row = card_account_row(customer.account)
    except Account.DoesNotExist:
        account_row = None
    return CustomerCard(
        id=customer.pk,
        external_id=customer.external_id,
        name=customer.name,
        first_name=customer.first_name,
        email=customer.email,
        tier=customer.tier,
        locale=customer.locale,
        account=account_row,
        recent_orders=[card_order_row(order) for order in customer_recent_orders(customer=customer, limit=5)],
        open_tickets=[
            {"reference": ticket.reference, "subject": ticket.subject, "status": ticket.status}
            for ticket in customer_open_tickets(customer=customer)
        ],
    )


async def customer_card_from_crm(*, card: CustomerCard, crm: RemoteCrm) -> tuple[CustomerCard, CrmUnavailable | None]:
    """The card with the remote CRM's account and latest orders; without either when it does not answer."""
    try:
        account = await crm.account(customer_id=card.external_id)
        orders = await crm.orders(customer_id=card.external_id, limit=5)
    except CrmUnavailable as exc:
        return replace(card, account=None, recent_orders=[], crm_error=str(exc)[:200]), exc
    account_row = card_account_row(account) if account else None
    return replace(card, account=account_row, recent_orders=[card_order_row(order) for order in orders]), None


def customer_card_for_agents(*, customer: Customer) -> CustomerCard:
    """The card the console shows: from the same CRM the copilot reads (``CRM_BACKEND``)."""
    card = customer_card_get(customer=customer)
    crm = remote_crm_get()
    if crm is None:
        return card
    card, _ = async_to_sync(customer_card_from_crm)(card=card, crm=crm)
    return card


def memory_get(*, conversation: Conversation) -> Memory:
    try:
        # Loaded with the conversation when the caller used select_related("memory").
        row = conversation.memory
    except ConversationMemory.DoesNotExist:
        row = None
    if row is None:
        return Memory()
    return Memory(
        summary=row.summary,
        facts=row.facts,
        pending_actions=row.pending_actions,
        resolved_issues=row.resolved_issues,
        sentiment_trajectory=row.sentiment_trajectory,
        failure_streak=row.failure_streak,
        turn_count=row.turn_count,
    )


def previous_summary_get(*, conversation: Conversation) -> tuple[str, str]:
    """The summary of the customer's latest other conversation, and the language it is written in."""
    if conversation.customer_id is None:
        return "", ""
    previous = (
        ConversationMemory.objects.filter(conversation__customer_id=conversation.customer_id)
        .exclude(conversation=conversation)
        .exclude(summary="")
        .order_by("-updated_at")
        .first()
    )
    if previous is None:
        return "", ""
    return previous.summary, previous.facts.get("summary_language", "en")


def copilot_context_get(*, conversation: Conversation, before_message: Message) -> Context:
    """Everything the copilot knows when it answers ``before_message``.

    Load the conversation with ``select_related("customer__account", "memory")`` to save
    two queries on every turn.
    """
    customer = conversation.customer
    if customer is not None and customer.is_erased:
        # Erased mid-conversation: the copilot never again answers with their account or orders.
        customer = None
    history = list(
        conversation.messages.filter(id__lt=before_message.id, role__in=["customer", "assistant", "agent"])
        .order_by("-id")
        .values_list("role", "content")[:HISTORY_MESSAGES]
    )
    history.reverse()
    previous = ("", "") if history else previous_summary_get(conversation=conversation)
    return Context(
        conversation_id=conversation.pk,
        language=conversation.language,
        customer=customer,
        card=customer_card_get(customer=customer) if customer else None,
        memory=memory_get(conversation=conversation),
        history=history,
        # Only a conversation's opening turn looks back at the previous conversation.
        previous_summary=previous[0],
        previous_summary_language=previous[1],
    )


def intent_catalogue_get() -> dict[str, Intent]:
    return {intent.name: intent for intent in Intent.objects.filter(is_active=True)}


def intent_examples_fingerprint() -> tuple:
    """Changes whenever an active example or intent is added, edited or removed."""
    examples = IntentExample.objects.filter(intent__is_active=True).aggregate(
        count=Count("id"), last_id=Max("id"), last_edit=Max("updated_at"), intent_edit=Max("intent__updated_at")
    )
    return tuple(examples.values())


def intent_training_set_get() -> tuple[list[str], list[str], np.ndarray]:
    """Texts, intent names and stored vectors of all active examples that have a vector."""
    rows = list(
        IntentExample.objects.filter(intent__is_active=True, embedding__isnull=False)
        .order_by("id")
        .values_list("text", "intent__name", "embedding")
    )
    if not rows:
        return [], [], np.empty((0, 0), dtype=np.float32)
    texts, labels, vectors = zip(*rows, strict=True)
    return list(texts), list(labels), np.asarray(vectors, dtype=np.float32)


def turns_for_conversation(*, conversation: Conversation) -> list[CopilotTurn]:
    return list(conversation.copilot_turns.order_by("id"))


# A customer message left unanswered (the process answering it died) is answered when the
# customer resends or reconnects, but only while an answer is still timely.
UNANSWERED_WINDOW = timedelta(minutes=10)


def message_unanswered_get(*, conversation_id: int) -> Message | None:
    """The bot conversation's last customer message, if nothing answered it yet."""
    last = (
        Message.objects.filter(
            conversation_id=conversation_id,
            conversation__status=Conversation.Status.BOT,
            role__in=[Message.Role.CUSTOMER, Message.Role.ASSISTANT, Message.Role.AGENT],
        )
        .order_by("-id")
        .first()
    )
    if last is None or last.role != Message.Role.CUSTOMER or last.created_at < timezone.now() - UNANSWERED_WINDOW:
        return None
    if CopilotTurn.objects.filter(customer_message_id=last.pk).exists():
        return None
    return last


def product_names_get(*, limit: int = 500) -> list[str]:
    """Catalogue names the entity extractor looks for in messages."""
    return list(Product.objects.filter(is_active=True).order_by("name").values_list("name", flat=True)[:limit])
