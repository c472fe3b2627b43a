"""Who owns a conversation: the state machine bot -> pending_human -> human -> resolved, and
the agents' actions on it (take over, reply, note, hand back, resolve, assign)."""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.models import AuditEntry, Conversation, Message, Ticket
from helpdesk.payloads import agent_name
from helpdesk.selectors import ticket_get
from helpdesk.services.agents import agent_is_eligible
from helpdesk.services.audit import audit_record
from helpdesk.services.conversations import (
    ConversationTaken,
    TransitionError,
    conversation_lock,
    conversation_state_broadcast,
    message_add,
    system_message_add,
)
from helpdesk.services.follow_up import agent_reply_email_enqueue, agent_reply_email_wanted
from integrations.services.webhooks import conversation_resolved_publish, ticket_updated_publish

# bot -> pending_human -> human -> resolved, and human -> bot on hand back. An agent may
# also take a conversation straight from the bot, and a customer writing again reopens a
# resolved one to the bot.
_S = Conversation.Status
TRANSITIONS: dict[str, set[str]] = {
    _S.BOT: {_S.PENDING_HUMAN, _S.HUMAN, _S.RESOLVED},
    _S.PENDING_HUMAN: {_S.HUMAN, _S.RESOLVED},
    _S.HUMAN: {_S.BOT, _S.RESOLVED},
    _S.RESOLVED: {_S.BOT},
}


def _transition(conversation: Conversation, target: str) -> None:
    if target not in TRANSITIONS[conversation.status]:
        raise TransitionError(
            f"A conversation cannot go from {conversation.get_status_display().lower()} to "
            f"{Conversation.Status(target).label.lower()}."
        )


@transaction.atomic
def conversation_take_over(*, conversation_id: int, agent: AbstractUser) -> Conversation:
    """The agent owns the conversation from now on; the bot goes silent.

    Two agents racing for it serialise on the row lock: the second gets ``ConversationTaken``
    naming the winner. Taking over one's own conversation again changes nothing.
    """
    conversation = conversation_lock(conversation_id=conversation_id)
    if conversation.status == Conversation.Status.HUMAN:
        if conversation.assigned_agent_id == agent.pk:
            return conversation
        raise ConversationTaken(conversation.assigned_agent)
    _transition(conversation, Conversation.Status.HUMAN)
    conversation.status = Conversation.Status.HUMAN
    conversation.assigned_agent = agent
    conversation.save(update_fields=["status", "assigned_agent", "updated_at"])
    conversation.tickets.filter(kind=Ticket.Kind.ESCALATION, status=Ticket.Status.OPEN).update(
        status=Ticket.Status.PENDING, assignee=agent, updated_at=timezone.now()
    )
    name = agent_name(agent)
    system_message_add(conversation=conversation, text=f"{name} joined the chat", event="agent_joined", author=agent)
    conversation_state_broadcast(conversation=conversation, customer_frame={"type": "agent_joined", "name": name})
    audit_record(
        actor=agent,
        action=AuditEntry.Action.TAKEOVER,
        conversation_id=conversation.pk,
        customer_id=conversation.customer_id,
    )
    return conversation


@transaction.atomic
def conversation_hand_back(*, conversation_id: int, agent: AbstractUser) -> Conversation:
    """The agent hands the conversation back to the bot; its open ticket is resolved."""
    conversation = conversation_lock(conversation_id=conversation_id)
    if conversation.status == Conversation.Status.HUMAN and conversation.assigned_agent_id != agent.pk:
        raise ConversationTaken(conversation.assigned_agent)
    _transition(conversation, Conversation.Status.BOT)
    now = timezone.now()
    conversation.status = Conversation.Status.BOT
    conversation.assigned_agent = None
    conversation.save(update_fields=["status", "assigned_agent", "updated_at"])
    conversation.tickets.filter(status__in=Ticket.OPEN_STATUSES).update(
        status=Ticket.Status.RESOLVED, resolved_at=now, updated_at=now
    )
    name = agent_name(agent)
    system_message_add(
        conversation=conversation, text=f"{name} left the chat; the assistant is back", event="agent_left", author=agent
    )
    conversation_state_broadcast(conversation=conversation, customer_frame={"type": "agent_left", "name": name})
    return conversation


@transaction.atomic
def conversation_resolve(*, conversation: Conversation, by: AbstractUser | None = None) -> Conversation:
    """Resolve a conversation, close its open tickets and ask the customer for a rating."""
    conversation = conversation_lock(conversation_id=conversation.pk)
    _transition(conversation, Conversation.Status.RESOLVED)
    now = timezone.now()
    conversation.status = Conversation.Status.RESOLVED
    conversation.resolved_at = now
    conversation.save(update_fields=["status", "resolved_at", "updated_at"])
    closing = {"status": Ticket.Status.RESOLVED, "resolved_at": now, "updated_at": now}
    if by is not None:
        closing["assignee"] = by
    closed = list(conversation.tickets.filter(status__in=Ticket.OPEN_STATUSES).values_list("pk", "assignee_id"))
    conversation.tickets.filter(pk__in=[pk for pk, _ in closed]).update(**closing)
    for ticket in Ticket.objects.filter(pk__in=[pk for pk, _ in closed]).select_related("customer", "assignee"):
        reassigned = by is not None and dict(closed)[ticket.pk] != by.pk
        ticket_updated_publish(ticket=ticket, changes=["status", "resolved_at", *(["assignee"] if reassigned else [])])
    conversation_resolved_publish(conversation=conversation, by=by)
    audit_record(
        actor=by,
        action=AuditEntry.Action.RESOLVE,
        conversation_id=conversation.pk,
        customer_id=conversation.customer_id,
        detail={"tickets": [pk for pk, _ in closed]},
    )
    system_message_add(
        conversation=conversation, text="This conversation has been resolved", event="resolved", author=by
    )
    conversation_state_broadcast(conversation=conversation, customer_frame={"type": "resolved", "csat": True})
    return conversation


@transaction.atomic
def conversation_assign(*, conversation_id: int, agent: AbstractUser, assignee: AbstractUser) -> Conversation:
    """Give the conversation (and its open ticket) to another agent."""
    if not agent_is_eligible(user=assignee):
        raise ValidationError({"agent": "Conversations can only be assigned to active agents."})
    conversation = conversation_lock(conversation_id=conversation_id)
    if conversation.status == Conversation.Status.RESOLVED:
        raise TransitionError("A resolved conversation cannot be assigned.")
    previous = conversation.assigned_agent
    conversation.assigned_agent = assignee
    conversation.save(update_fields=["assigned_agent", "updated_at"])
    audit_record(
        actor=agent,
        action=AuditEntry.Action.ASSIGN,
        conversation_id=conversation.pk,
        customer_id=conversation.customer_id,
        detail={"from": previous.get_username() if previous else None, "to": assignee.get_username()},
    )
    reassigned = list(conversation.tickets.filter(status__in=Ticket.OPEN_STATUSES).exclude(assignee=assignee))
    conversation.tickets.filter(pk__in=[ticket.pk for ticket in reassigned]).update(
        assignee=assignee, updated_at=timezone.now()
    )
    for ticket in Ticket.objects.filter(pk__in=[ticket.pk for ticket in reassigned]).select_related(
        "customer", "assignee"
    ):
        ticket_updated_publish(ticket=ticket, changes=["assignee"])
    if conversation.status == Conversation.Status.HUMAN and previous != assignee:
        name = agent_name(assignee)
        system_message_add(
            conversation=conversation, text=f"{name} joined the chat", event="agent_joined", author=assignee
        )
        conversation_state_broadcast(conversation=conversation, customer_frame={"type": "agent_joined", "name": name})
    else:
        conversation_state_broadcast(conversation=conversation)
    return conversation


@transaction.atomic
def agent_message_send(*, conversation_id: int, agent: AbstractUser, text: str) -> Message:
    """An agent's reply, live to the customer. Replying to an unowned conversation takes it over."""
    conversation = conversation_lock(conversation_id=conversation_id)
    if conversation.status == Conversation.Status.RESOLVED:
        raise TransitionError("This conversation is resolved; the customer can reopen it by writing.")
    if conversation.status != Conversation.Status.HUMAN or conversation.assigned_agent_id != agent.pk:
        conversation = conversation_take_over(conversation_id=conversation_id, agent=agent)
    email_wanted = agent_reply_email_wanted(conversation=conversation)
    message, _ = message_add(
        conversation=conversation,
        role=Message.Role.AGENT,
        content=text,
        author=agent,
        metadata={"email_wanted": True} if email_wanted else None,
    )
    if email_wanted:
        agent_reply_email_enqueue(message=message)
    return message


def note_add(*, conversation_id: int, agent: AbstractUser, text: str) -> Message:
    """An internal note: agents see it, the customer never does."""
    conversation = Conversation.objects.get(pk=conversation_id)
    message, _ = message_add(conversation=conversation, role=Message.Role.NOTE, content=text, author=agent)
    return message


@transaction.atomic
def ticket_update(
    *, ticket_id: int, by: AbstractUser, status: str | None = None, assignee: AbstractUser | None = None
) -> Ticket:
    """An agent changes a ticket's status or assignee from the tickets list.

    Resolving or closing a ticket whose conversation is still live resolves the
    conversation (``conversation_resolve``: it closes the tickets and asks for a rating);
    assigning a live conversation's open ticket assigns the conversation
    (``conversation_assign``). Anything else is a plain update of the ticket. A ticket
    cannot be reopened while its conversation has another open escalation
    (``TransitionError``).
    """
    ticket = Ticket.objects.select_for_update(of=("self",)).select_related("conversation").get(pk=ticket_id)
    conversation = ticket.conversation
    live = conversation is not None and conversation.status != Conversation.Status.RESOLVED
    if status is not None and status != ticket.status:
        closing = status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
        if closing and live and ticket.is_open:
            conversation_resolve(conversation=conversation, by=by)
            ticket.refresh_from_db()
            live = False
        if ticket.status != status:
            ticket.status = status
            ticket.resolved_at = (ticket.resolved_at or timezone.now()) if closing else None
            try:
                with transaction.atomic():
                    ticket.save(update_fields=["status", "resolved_at", "updated_at"])
            except IntegrityError as exc:
                raise TransitionError("This conversation already has an open escalation ticket.") from exc
            ticket_updated_publish(ticket=ticket, changes=["status", "resolved_at"])
    if assignee is not None:
        if not agent_is_eligible(user=assignee):
            raise ValidationError({"assignee": "Tickets can only be assigned to active agents."})
        if live and ticket.is_open:
            conversation_assign(conversation_id=conversation.pk, agent=by, assignee=assignee)
            ticket.refresh_from_db()
        elif ticket.assignee_id != assignee.pk:
            ticket.assignee = assignee
            ticket.save(update_fields=["assignee", "updated_at"])
            ticket_updated_publish(ticket=ticket, changes=["assignee"])
    return ticket_get(ticket_id=ticket.pk)
