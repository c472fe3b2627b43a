"""Handing a conversation to humans: the escalation ticket, its SLA, and the notice the
customer sees."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.models import Customer
from helpdesk import realtime
from helpdesk.metrics import escalation_observe
from helpdesk.models import TICKET_PRIORITY_RANK, Conversation, Ticket
from helpdesk.selectors import (
    agents_online_get,
    conversation_erasure_check,
    conversation_follow_up_get,
    conversation_reply_email_get,
    email_mask,
)
from helpdesk.services.conversations import conversation_reopen, system_message_add
from helpdesk.services.follow_up import follow_up_acknowledgement_enqueue
from integrations.services.webhooks import escalation_created_publish, ticket_updated_publish


def ticket_sla_due(*, priority: str, opened_at: datetime) -> datetime:
    return opened_at + timedelta(minutes=settings.TICKET_SLA_MINUTES[priority])


@transaction.atomic
def ticket_escalate(
    *, conversation: Conversation, subject: str, reason: str, priority: str = Ticket.Priority.MEDIUM
) -> tuple[Ticket, bool]:
    """Open a human-takeover ticket for a conversation, or return the one already open.

    The conversation moves to ``pending_human`` unless an agent already has it. Nothing is opened
    for a customer who was erased (``AccessRevoked``).
    """
    # The customer's row before the conversation's, in the order ``customer_erase`` locks them.
    conversation_erasure_check(conversation_id=conversation.pk)
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    existing = Ticket.objects.filter(
        conversation=conversation, kind=Ticket.Kind.ESCALATION, status__in=Ticket.OPEN_STATUSES
    ).first()
    now = timezone.now()
    if existing:
        # A later, more serious reason (anger after a low-confidence hand-over) raises the priority.
        if TICKET_PRIORITY_RANK[priority] > TICKET_PRIORITY_RANK[existing.priority]:
            existing.priority = priority
            existing.reason = f"{existing.reason}; {reason}" if existing.reason else reason
            due = ticket_sla_due(priority=priority, opened_at=now)
            # The admin can clear a ticket's SLA: the more serious escalation gives it one again.
            existing.sla_due_at = due if existing.sla_due_at is None else min(existing.sla_due_at, due)
            existing.save(update_fields=["priority", "reason", "sla_due_at", "updated_at"])
            ticket_updated_publish(ticket=existing, changes=["priority", "reason", "sla_due_at"])
        return existing, False
    online = bool(agents_online_get())
    email = conversation_reply_email_get(conversation=conversation)
    ticket = Ticket.objects.create(
        conversation=conversation,
        customer=conversation.customer,
        kind=Ticket.Kind.ESCALATION,
        subject=subject[:200],
        reason=reason,
        priority=priority,
        sla_due_at=ticket_sla_due(priority=priority, opened_at=now),
        follow_up_by_email=not online,
    )
    if conversation.status == Conversation.Status.BOT:
        conversation.status = Conversation.Status.PENDING_HUMAN
        conversation.save(update_fields=["status", "updated_at"])
    realtime.send_on_commit(
        realtime.CONSOLE_GROUP,
        {"type": "escalation", "conversation": conversation.pk, "ticket": ticket_payload(ticket)},
    )
    notice = escalation_notice(language=conversation.language, agents_online=online, email_known=bool(email))
    # Stored, so the customer still sees it after a reload; the frame updates the widget's state.
    system_message_add(
        conversation=conversation,
        text=notice,
        event="escalated",
        metadata={"ticket": ticket.reference, "agents_online": online},
    )
    follow_up = {"by_email": True, "email": email_mask(email)} if not online else None
    realtime.send_on_commit(
        realtime.conversation_group(conversation.pk),
        escalated_frame(ticket=ticket, agents_online=online, text=notice, follow_up=follow_up),
    )
    if follow_up and email:
        follow_up_acknowledgement_enqueue(ticket=ticket)
    escalation_created_publish(ticket=ticket)
    transaction.on_commit(lambda: escalation_observe(priority=ticket.priority))
    return ticket, True


ESCALATION_NOTICES = {
    "en": {
        "online": "I've passed this to our support team. An agent will join this chat shortly.",
        "email": "No agent is online right now. Your request is queued, and we will follow up by email.",
        "ask_email": "No agent is online right now. Your request is queued. Leave your email address "
        "and we will follow up there.",
    },
    "cs": {
        "online": "Předal jsem to našemu týmu podpory. Kolega se k chatu brzy připojí.",
        "email": "Právě není nikdo z podpory online. Váš požadavek čeká ve frontě a ozveme se vám e-mailem.",
        "ask_email": "Právě není nikdo z podpory online. Váš požadavek čeká ve frontě. Nechte nám svůj "
        "e-mail a ozveme se vám.",
    },
}


def escalation_notice(*, language: str, agents_online: bool, email_known: bool = True) -> str:
    notices = ESCALATION_NOTICES.get(language, ESCALATION_NOTICES["en"])
    if agents_online:
        return notices["online"]
    return notices["email"] if email_known else notices["ask_email"]


def escalated_frame(*, ticket: Ticket, agents_online: bool, text: str, follow_up: dict | None) -> dict:
    return {
        "type": "escalated",
        "ticket": ticket.reference,
        "agents_online": agents_online,
        "text": text,
        "follow_up": follow_up,
    }


def escalation_status_frame(*, conversation: Conversation, ticket: Ticket) -> dict:
    """The ``escalated`` frame again, for a customer asking for a human while already queued."""
    online = bool(agents_online_get())
    follow_up = conversation_follow_up_get(conversation=conversation)
    text = escalation_notice(
        language=conversation.language,
        agents_online=online,
        email_known=follow_up is None or bool(follow_up["email"]),
    )
    return escalated_frame(ticket=ticket, agents_online=online, text=text, follow_up=follow_up)


def ticket_payload(ticket: Ticket) -> dict:
    return {
        "id": ticket.pk,
        "reference": ticket.reference,
        "priority": ticket.priority,
        "status": ticket.status,
        "reason": ticket.reason,
    }


def conversation_human_request(*, conversation: Conversation) -> tuple[Ticket | None, bool]:
    """The customer pressed "Talk to a human". Returns the ticket and whether it is new.

    Nothing happens while an agent already has the conversation.
    """
    if conversation.status == Conversation.Status.HUMAN:
        return None, False
    if conversation.status == Conversation.Status.RESOLVED:
        conversation_reopen(conversation=conversation)
    priority = Ticket.Priority.MEDIUM
    if conversation.customer_id and conversation.customer.tier in (Customer.Tier.GOLD, Customer.Tier.VIP):
        priority = Ticket.Priority.HIGH
    return ticket_escalate(
        conversation=conversation,
        subject="The customer asked for a human",
        reason="human_request (the Talk to a human button)",
        priority=priority,
    )
