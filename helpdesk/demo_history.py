"""A month of demo traffic, so the analytics page opens on something to look at.

Each conversation is real: the customer's message goes through the copilot pipeline (the
offline engine unless another is configured), escalations open real tickets, agents answer
and resolve through the services, and customers rate through theirs. Only the clock is
moved afterwards: every row of a conversation is dated back to its day, keeping the order
and the copilot's own timings. Deterministic for a given seed; runs once.
"""

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from copilot.models import AnalyticsEvent, CopilotTurn
from copilot.pipeline import turn_run_collect
from copilot.services import customer_message_receive
from crm.models import Customer
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.services import agent_message_send, conversation_csat_record, conversation_resolve, conversation_start
from helpdesk.services.conversations import conversation_first_messages_refresh

SUBJECT_PREFIX = "demo-history-"

# What customers of the demo shop ask, by language; "{order}" becomes one of their orders.
QUESTIONS = {
    "en": [
        "Where is my order {order}?",
        "My parcel {order} is late, can you check it?",
        "How do I return an item?",
        "How long do refunds take?",
        "I was charged twice for my last order",
        "Why is my account suspended?",
        "How do I reset my password?",
        "Can I change my delivery address?",
        "Do you ship to Slovakia?",
        "How do I file a warranty claim?",
        "I want to talk to a person, please.",
        "This is ridiculous, my order {order} still has not arrived and nobody answers!",
        "Do you sell gift cards?",
        "Do you have a loyalty programme?",
        "Thanks, that solved it!",
    ],
    "cs": [
        "Kde je moje objednávka {order}?",
        "Jak vrátit zboží?",
        "Jak podat reklamaci?",
        "Strhli jste mi peníze dvakrát",
        "Chci mluvit s člověkem.",
        "Prodáváte dárkové poukazy?",
        "Jak dlouho trvá vrácení peněz?",
    ],
}


@dataclass(frozen=True)
class Day:
    start: datetime
    conversations: int


def _days(*, days: int, now: datetime, rng: random.Random) -> list[Day]:
    today = timezone.localtime(now).date()
    result = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        weekend = day.weekday() >= 5
        count = rng.randint(2, 5) if weekend else rng.randint(5, 10)
        result.append(Day(timezone.make_aware(datetime.combine(day, time(8, 0))), count))
    return result


def _backdate(
    *, conversation: Conversation, started: datetime, agent_after: timedelta, resolve_after: timedelta
) -> None:
    """Move every row of the conversation to ``started``, keeping each row's offset from its first
    message, except the humans: an agent answers ``agent_after`` the customer, and resolves
    ``resolve_after`` that."""
    first = conversation.messages.order_by("created_at").values_list("created_at", flat=True).first()
    shift = started - first
    for message in conversation.messages.all():
        when = message.created_at + shift
        if message.role == Message.Role.AGENT or (
            message.role == Message.Role.SYSTEM and message.metadata.get("event") in ("agent_joined", "resolved")
        ):
            when = started + agent_after
        if message.metadata.get("event") == "resolved":
            when = started + agent_after + resolve_after
        Message.objects.filter(pk=message.pk).update(created_at=when)
    last = conversation.messages.order_by("-created_at").values_list("created_at", flat=True).first()
    resolved = started + agent_after + resolve_after if conversation.resolved_at else None
    conversation_first_messages_refresh(conversation_ids=[conversation.pk])
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=started,
        last_message_at=last,
        resolved_at=resolved,
        csat_at=(resolved + timedelta(minutes=1)) if conversation.csat else None,
    )
    for turn in CopilotTurn.objects.filter(conversation=conversation):
        CopilotTurn.objects.filter(pk=turn.pk).update(created_at=turn.created_at + shift)
    AnalyticsEvent.objects.filter(conversation=conversation).update(created_at=started)
    tickets = Ticket.objects.filter(conversation=conversation)
    tickets.update(created_at=started, updated_at=resolved or started)
    tickets.exclude(resolved_at=None).update(resolved_at=resolved)


def demo_history_seed(*, days: int = 30, now: datetime | None = None, seed: int = 7) -> int:
    """Add ``days`` days of conversations before today, once. Returns how many it made."""
    if Conversation.objects.filter(subject__startswith=SUBJECT_PREFIX).exists():
        return 0
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 (demo data, not secrets)
    customers = list(Customer.objects.filter(external_id__startswith="cus_").prefetch_related("orders"))
    agents = list(get_user_model().objects.filter(agent_profile__isnull=False).order_by("username"))
    if not customers or not agents:
        return 0
    made = 0
    for day in _days(days=days, now=now, rng=rng):
        for _ in range(day.conversations):
            started = day.start + timedelta(minutes=rng.randint(0, 11 * 60))
            customer = rng.choice(customers)
            orders = [order.number for order in customer.orders.all()] or ["12345"]
            language = customer.locale if customer.locale in QUESTIONS else "en"
            text = rng.choice(QUESTIONS[language]).format(order=rng.choice(orders))
            _conversation(number=made, customer=customer, text=text, started=started, agents=agents, rng=rng)
            made += 1
    return made


def _conversation(*, number: int, customer: Customer, text: str, started: datetime, agents: list, rng) -> None:
    with transaction.atomic():
        conversation = conversation_start(customer=customer)
        conversation.subject = f"{SUBJECT_PREFIX}{number}"
        conversation.save(update_fields=["subject"])
        message, _ = customer_message_receive(conversation=conversation, content=text)
    turn_run_collect(message_id=message.pk, text=text)
    conversation.refresh_from_db()
    agent_after = timedelta(minutes=rng.randint(2, 45))
    resolve_after = timedelta(minutes=rng.randint(3, 90))
    escalated = Ticket.objects.filter(conversation=conversation, kind=Ticket.Kind.ESCALATION).exists()
    with transaction.atomic():
        # Every escalation was handled: the live queue shows only today's demo escalation.
        if escalated:
            agent = rng.choice(agents)
            agent_message_send(
                conversation_id=conversation.pk, agent=agent, text="Thanks for waiting, I'm looking into it now."
            )
            conversation_resolve(conversation=conversation, by=agent)
            if rng.random() < 0.5:
                conversation_csat_record(conversation_id=conversation.pk, rating=rng.choice(["up", "up", "down"]))
        elif not escalated and rng.random() < 0.6:
            # The customer closed the chat as solved.
            conversation_resolve(conversation=conversation)
            if rng.random() < 0.45:
                conversation_csat_record(
                    conversation_id=conversation.pk, rating=rng.choice(["up", "up", "up", "up", "down"])
                )
        conversation.refresh_from_db()
        _backdate(conversation=conversation, started=started, agent_after=agent_after, resolve_after=resolve_after)
