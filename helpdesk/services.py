from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from crm.models import Customer
from helpdesk import realtime
from helpdesk.identity import IdentityError, conversation_token_issue, conversation_token_read, customer_verify
from helpdesk.models import TICKET_PRIORITY_RANK, AgentProfile, Conversation, Message, Ticket
from helpdesk.payloads import agent_name, message_payload
from helpdesk.selectors import agents_online_get, ticket_get

MAX_MESSAGE_LENGTH = 8000
PRIORITY_RANK = TICKET_PRIORITY_RANK


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


@dataclass(frozen=True)
class WidgetSession:
    conversation: Conversation
    token: str
    customer: Customer | None
    resumed: bool


def widget_session_start(
    *, customer_external_id: str = "", identity_hash: str = "", language: str = "", token: str = ""
) -> WidgetSession:
    """Open the widget's conversation: resume the one a still-valid token names, or start one.

    A customer id counts only with its identity hash (``IdentityError`` otherwise); without
    one the visitor is anonymous and gets no account or order tools. A token resumes its
    conversation only for the same identity it was issued to, and is renewed each time.
    """
    customer = None
    if customer_external_id:
        customer = customer_verify(external_id=customer_external_id, identity_hash=identity_hash)
    elif identity_hash:
        raise IdentityError("An identity hash needs the customer id it was computed for.")
    customer_id = customer.pk if customer else None
    claims = conversation_token_read(token=token) if token else None
    if claims is not None and claims.customer_id == customer_id:
        conversation = (
            Conversation.objects.select_related("assigned_agent")
            .filter(public_id=claims.conversation, customer_id=customer_id)
            .first()
        )
        if conversation is not None:
            renewed = conversation_token_issue(conversation_public_id=conversation.public_id, customer_id=customer_id)
            return WidgetSession(conversation=conversation, token=renewed, customer=customer, resumed=True)
    languages = {code for code, _ in settings.LANGUAGES}
    conversation = conversation_start(
        customer=customer, channel=Conversation.Channel.WIDGET, language=language if language in languages else None
    )
    issued = conversation_token_issue(conversation_public_id=conversation.public_id, customer_id=customer_id)
    return WidgetSession(conversation=conversation, token=issued, customer=customer, resumed=False)


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
    message_broadcast(message=message)
    return message, True


def message_broadcast(*, message: Message) -> None:
    """Tell the conversation's sockets and the agent consoles about a stored message, after commit.

    Internal notes go to the consoles only.
    """
    frame = {"type": "message", "message": message_payload(message)}
    if message.role != Message.Role.NOTE:
        realtime.send_on_commit(realtime.conversation_group(message.conversation_id), frame)
    realtime.send_on_commit(realtime.CONSOLE_GROUP, {**frame, "conversation": message.conversation_id})


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
    realtime.send_on_commit(
        realtime.CONSOLE_GROUP,
        {"type": "escalation", "conversation": conversation.pk, "ticket": ticket_payload(ticket)},
    )
    transaction.on_commit(lambda: escalation_notice_send(conversation=conversation, ticket=ticket))
    return ticket, True


ESCALATION_NOTICES = {
    "en": {
        True: "I've passed this to our support team. An agent will join this chat shortly.",
        False: "No agent is online right now. Your request is queued, and we will follow up by email.",
    },
    "cs": {
        True: "Předal jsem to našemu týmu podpory. Kolega se k chatu brzy připojí.",
        False: "Právě není nikdo z podpory online. Váš požadavek čeká ve frontě a ozveme se vám e-mailem.",
    },
}


def escalation_notice(*, language: str, agents_online: bool) -> str:
    return ESCALATION_NOTICES.get(language, ESCALATION_NOTICES["en"])[agents_online]


def escalation_notice_send(*, conversation: Conversation, ticket: Ticket) -> None:
    """Tell the customer's sockets the conversation went to humans, and whether anyone is there."""
    online = bool(agents_online_get())
    realtime.group_send(
        realtime.conversation_group(conversation.pk),
        {
            "type": "escalated",
            "ticket": ticket.reference,
            "agents_online": online,
            "text": escalation_notice(language=conversation.language, agents_online=online),
        },
    )


def ticket_payload(ticket: Ticket) -> dict:
    return {
        "id": ticket.pk,
        "reference": ticket.reference,
        "priority": ticket.priority,
        "status": ticket.status,
        "reason": ticket.reason,
    }


# ---------------------------------------------------------------- who owns a conversation

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


class TransitionError(ValidationError):
    """The conversation cannot move to that state from where it is."""


class ConversationTaken(TransitionError):
    """Another agent already owns the conversation."""

    def __init__(self, owner: AbstractUser):
        self.owner = owner
        super().__init__(f"{agent_name(owner)} has already taken over this conversation.")


def _transition(conversation: Conversation, target: str) -> None:
    if target not in TRANSITIONS[conversation.status]:
        raise TransitionError(
            f"A conversation cannot go from {conversation.get_status_display().lower()} to "
            f"{Conversation.Status(target).label.lower()}."
        )


def _locked(conversation_id: int) -> Conversation:
    # No joins: after waiting for the lock, PostgreSQL re-reads the locked row but may pair
    # it with a stale or missing joined agent row. Related rows are read after the lock.
    return Conversation.objects.select_for_update().get(pk=conversation_id)


def _system_message(conversation: Conversation, text: str, *, event: str, author: AbstractUser | None = None) -> None:
    message_add(
        conversation=conversation, role=Message.Role.SYSTEM, content=text, author=author, metadata={"event": event}
    )


def _state_broadcast(conversation: Conversation, customer_frame: dict | None = None) -> None:
    if customer_frame is not None:
        realtime.send_on_commit(realtime.conversation_group(conversation.pk), customer_frame)
    realtime.send_on_commit(
        realtime.CONSOLE_GROUP,
        {
            "type": "queue",
            "conversation": conversation.pk,
            "status": conversation.status,
            "assigned_agent": conversation_agent_payload(conversation),
        },
    )


def conversation_agent_payload(conversation: Conversation) -> dict | None:
    agent = conversation.assigned_agent
    if agent is None:
        return None
    return {"username": agent.get_username(), "name": agent_name(agent)}


@transaction.atomic
def conversation_take_over(*, conversation_id: int, agent: AbstractUser) -> Conversation:
    """The agent owns the conversation from now on; the bot goes silent.

    Two agents racing for it serialise on the row lock: the second gets ``ConversationTaken``
    naming the winner. Taking over one's own conversation again changes nothing.
    """
    conversation = _locked(conversation_id)
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
    _system_message(conversation, f"{name} joined the chat", event="agent_joined", author=agent)
    _state_broadcast(conversation, {"type": "agent_joined", "name": name})
    return conversation


@transaction.atomic
def conversation_hand_back(*, conversation_id: int, agent: AbstractUser) -> Conversation:
    """The agent hands the conversation back to the bot; its open ticket is resolved."""
    conversation = _locked(conversation_id)
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
    _system_message(conversation, f"{name} left the chat; the assistant is back", event="agent_left", author=agent)
    _state_broadcast(conversation, {"type": "agent_left", "name": name})
    return conversation


@transaction.atomic
def conversation_resolve(*, conversation: Conversation, by: AbstractUser | None = None) -> Conversation:
    """Resolve a conversation, close its open tickets and ask the customer for a rating."""
    conversation = _locked(conversation.pk)
    _transition(conversation, Conversation.Status.RESOLVED)
    now = timezone.now()
    conversation.status = Conversation.Status.RESOLVED
    conversation.resolved_at = now
    conversation.save(update_fields=["status", "resolved_at", "updated_at"])
    closing = {"status": Ticket.Status.RESOLVED, "resolved_at": now, "updated_at": now}
    if by is not None:
        closing["assignee"] = by
    conversation.tickets.filter(status__in=Ticket.OPEN_STATUSES).update(**closing)
    _system_message(conversation, "This conversation has been resolved", event="resolved", author=by)
    _state_broadcast(conversation, {"type": "resolved", "csat": True})
    return conversation


@transaction.atomic
def conversation_assign(*, conversation_id: int, agent: AbstractUser, assignee: AbstractUser) -> Conversation:
    """Give the conversation (and its open ticket) to another agent."""
    if not agent_is_eligible(user=assignee):
        raise ValidationError({"agent": "Conversations can only be assigned to active agents."})
    conversation = _locked(conversation_id)
    if conversation.status == Conversation.Status.RESOLVED:
        raise TransitionError("A resolved conversation cannot be assigned.")
    previous = conversation.assigned_agent
    conversation.assigned_agent = assignee
    conversation.save(update_fields=["assigned_agent", "updated_at"])
    conversation.tickets.filter(status__in=Ticket.OPEN_STATUSES).update(assignee=assignee, updated_at=timezone.now())
    if conversation.status == Conversation.Status.HUMAN and previous != assignee:
        name = agent_name(assignee)
        _system_message(conversation, f"{name} joined the chat", event="agent_joined", author=assignee)
        _state_broadcast(conversation, {"type": "agent_joined", "name": name})
    else:
        _state_broadcast(conversation)
    return conversation


def agent_is_eligible(*, user: AbstractUser) -> bool:
    return user.is_active and (user.is_staff or AgentProfile.objects.filter(user=user).exists())


@transaction.atomic
def agent_message_send(*, conversation_id: int, agent: AbstractUser, text: str) -> Message:
    """An agent's reply, live to the customer. Replying to an unowned conversation takes it over."""
    conversation = _locked(conversation_id)
    if conversation.status == Conversation.Status.RESOLVED:
        raise TransitionError("This conversation is resolved; the customer can reopen it by writing.")
    if conversation.status != Conversation.Status.HUMAN or conversation.assigned_agent_id != agent.pk:
        conversation = conversation_take_over(conversation_id=conversation_id, agent=agent)
    message, _ = message_add(conversation=conversation, role=Message.Role.AGENT, content=text, author=agent)
    return message


def note_add(*, conversation_id: int, agent: AbstractUser, text: str) -> Message:
    """An internal note: agents see it, the customer never does."""
    conversation = Conversation.objects.get(pk=conversation_id)
    message, _ = message_add(conversation=conversation, role=Message.Role.NOTE, content=text, author=agent)
    return message


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


def conversation_reopen(*, conversation: Conversation) -> Conversation:
    """A customer writing into a resolved conversation brings the bot back."""
    if conversation.status != Conversation.Status.RESOLVED:
        return conversation
    updated = Conversation.objects.filter(pk=conversation.pk, status=Conversation.Status.RESOLVED).update(
        status=Conversation.Status.BOT, resolved_at=None, updated_at=timezone.now()
    )
    if updated:
        conversation.refresh_from_db(fields=["status", "resolved_at", "updated_at"])
        _state_broadcast(conversation)
    return conversation


@transaction.atomic
def conversation_csat_record(*, conversation_id: int, rating: str, comment: str = "") -> Conversation:
    """The customer's thumbs up or down on a resolved conversation; a later rating replaces it."""
    if rating not in Conversation.Csat.values:
        raise ValidationError({"rating": "The rating must be 'up' or 'down'."})
    comment = comment.strip()
    if len(comment) > 2000:
        raise ValidationError({"comment": "A comment can have at most 2000 characters."})
    conversation = _locked(conversation_id)
    if conversation.status != Conversation.Status.RESOLVED:
        raise TransitionError("Only a resolved conversation can be rated.")
    conversation.csat = rating
    conversation.csat_comment = comment
    conversation.csat_at = timezone.now()
    conversation.save(update_fields=["csat", "csat_comment", "csat_at", "updated_at"])
    realtime.send_on_commit(
        realtime.CONSOLE_GROUP, {"type": "csat", "conversation": conversation.pk, "rating": rating, "comment": comment}
    )
    return conversation


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
    if assignee is not None:
        if not agent_is_eligible(user=assignee):
            raise ValidationError({"assignee": "Tickets can only be assigned to active agents."})
        if live and ticket.is_open:
            conversation_assign(conversation_id=conversation.pk, agent=by, assignee=assignee)
            ticket.refresh_from_db()
        else:
            ticket.assignee = assignee
            ticket.save(update_fields=["assignee", "updated_at"])
    return ticket_get(ticket_id=ticket.pk)


# ---------------------------------------------------------------- agent presence


def agent_presence_connect(*, user: AbstractUser) -> None:
    """A console socket opened. Staff without a profile get one, so they show as agents."""
    profile, _ = AgentProfile.objects.get_or_create(
        user=user, defaults={"display_name": user.get_full_name() or user.get_username()}
    )
    AgentProfile.objects.filter(pk=profile.pk).update(
        console_connections=F("console_connections") + 1,
        presence=AgentProfile.Presence.ONLINE,
        last_seen_at=timezone.now(),
    )
    realtime.send_on_commit(realtime.CONSOLE_GROUP, {"type": "presence_changed"})


def agent_presence_disconnect(*, user: AbstractUser) -> None:
    updated = AgentProfile.objects.filter(user=user, console_connections__gt=0).update(
        console_connections=F("console_connections") - 1, last_seen_at=timezone.now()
    )
    if updated:
        AgentProfile.objects.filter(user=user, console_connections=0).update(presence=AgentProfile.Presence.OFFLINE)
    realtime.send_on_commit(realtime.CONSOLE_GROUP, {"type": "presence_changed"})


def agent_presence_heartbeat(*, user: AbstractUser) -> None:
    AgentProfile.objects.filter(user=user).update(last_seen_at=timezone.now())
