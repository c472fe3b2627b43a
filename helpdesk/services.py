from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Customer
from helpdesk.models import AgentProfile, Conversation, Message, Ticket

MAX_MESSAGE_LENGTH = 8000
PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "urgent": 3}


def agent_upsert(
    *, username: str, email: str, display_name: str, password: str, is_staff: bool = False
) -> AbstractUser:
    """Create or update a support agent: a user with an agent profile."""
    user_model = get_user_model()
    first, _, last = display_name.partition(" ")
    user, _ = user_model.objects.update_or_create(
        username=username,
        defaults={"email": email, "first_name": first, "last_name": last, "is_staff": is_staff, "is_active": True},
    )
    user.set_password(password)
    user.save(update_fields=["password"])
    AgentProfile.objects.update_or_create(user=user, defaults={"display_name": display_name})
    return user


def conversation_start(
    *, customer: Customer | None, channel: str = Conversation.Channel.WIDGET, language: str | None = None
) -> Conversation:
    language = language or (customer.locale if customer else settings.LANGUAGE_CODE)
    return Conversation.objects.create(customer=customer, channel=channel, language=language)


def message_add(
    *,
    conversation: Conversation,
    role: str,
    content: str,
    client_message_id: str = "",
    author: AbstractUser | None = None,
    metadata: dict | None = None,
) -> tuple[Message, bool]:
    """Store a message. A resend with the same client message id returns the stored one.

    Returns the message and whether it was created.
    """
    content = content.strip()
    if not content:
        raise ValidationError({"content": "A message cannot be empty."})
    if len(content) > MAX_MESSAGE_LENGTH:
        raise ValidationError({"content": f"A message can have at most {MAX_MESSAGE_LENGTH} characters."})
    if role not in Message.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})

    if client_message_id:
        existing = Message.objects.filter(conversation=conversation, client_message_id=client_message_id).first()
        if existing:
            return existing, False
    try:
        # Only a client id can collide (a concurrent resend) and needs the savepoint to recover.
        with transaction.atomic(savepoint=bool(client_message_id)):
            message = Message.objects.create(
                conversation=conversation,
                role=role,
                content=content,
                client_message_id=client_message_id,
                author=author,
                metadata=metadata or {},
            )
            if role != Message.Role.NOTE:
                Conversation.objects.filter(pk=conversation.pk).update(last_message_at=message.created_at)
    except IntegrityError:
        # Two concurrent resends: the other one won the unique constraint.
        if not client_message_id:
            raise
        return Message.objects.get(conversation=conversation, client_message_id=client_message_id), False
    return message, True


def ticket_sla_due(*, priority: str, opened_at: datetime) -> datetime:
    return opened_at + timedelta(minutes=settings.TICKET_SLA_MINUTES[priority])


@transaction.atomic
def ticket_escalate(
    *, conversation: Conversation, subject: str, reason: str, priority: str = Ticket.Priority.MEDIUM
) -> tuple[Ticket, bool]:
    """Open a human-takeover ticket for a conversation, or return the one already open.

    The conversation moves to ``pending_human`` unless an agent already has it.
    """
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    existing = Ticket.objects.filter(
        conversation=conversation, kind=Ticket.Kind.ESCALATION, status__in=Ticket.OPEN_STATUSES
    ).first()
    now = timezone.now()
    if existing:
        # A later, more serious reason (anger after a low-confidence hand-over) raises the priority.
        if PRIORITY_RANK[priority] > PRIORITY_RANK[existing.priority]:
            existing.priority = priority
            existing.reason = f"{existing.reason}; {reason}" if existing.reason else reason
            existing.sla_due_at = min(existing.sla_due_at, ticket_sla_due(priority=priority, opened_at=now))
            existing.save(update_fields=["priority", "reason", "sla_due_at", "updated_at"])
        return existing, False
    ticket = Ticket.objects.create(
        conversation=conversation,
        customer=conversation.customer,
        kind=Ticket.Kind.ESCALATION,
        subject=subject[:200],
        reason=reason,
        priority=priority,
        sla_due_at=ticket_sla_due(priority=priority, opened_at=now),
    )
    if conversation.status == Conversation.Status.BOT:
        conversation.status = Conversation.Status.PENDING_HUMAN
        conversation.save(update_fields=["status", "updated_at"])
    return ticket, True


@transaction.atomic
def conversation_resolve(*, conversation: Conversation, by: AbstractUser | None = None) -> Conversation:
    """Resolve a conversation and close its open tickets."""
    now = timezone.now()
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    conversation.status = Conversation.Status.RESOLVED
    conversation.resolved_at = now
    conversation.save(update_fields=["status", "resolved_at", "updated_at"])
    closing = {"status": Ticket.Status.RESOLVED, "resolved_at": now, "updated_at": now}
    if by is not None:
        closing["assignee"] = by
    conversation.tickets.filter(status__in=Ticket.OPEN_STATUSES).update(**closing)
    return conversation
