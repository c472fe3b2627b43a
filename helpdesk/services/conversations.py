"""Conversations and their messages: starting one (the widget's session), storing and
broadcasting messages, reopening, and the customer's rating."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Customer
from helpdesk import realtime
from helpdesk.identity import IdentityError, conversation_token_issue, conversation_token_read, customer_verify
from helpdesk.models import Conversation, Message
from helpdesk.payloads import agent_name, message_payload
from helpdesk.selectors import CUSTOMER_PRESENCE_SECONDS, customer_presence_key

MAX_MESSAGE_LENGTH = 8000


class TransitionError(ValidationError):
    """The conversation cannot move to that state from where it is."""


class ConversationTaken(TransitionError):
    """Another agent already owns the conversation."""

    def __init__(self, owner: AbstractUser):
        self.owner = owner
        super().__init__(f"{agent_name(owner)} has already taken over this conversation.")


# The conversation's field that keeps when each role first wrote (the analytics' response times).
FIRST_MESSAGE_FIELDS = {
    Message.Role.CUSTOMER: "first_customer_message_at",
    Message.Role.ASSISTANT: "first_bot_reply_at",
    Message.Role.AGENT: "first_agent_reply_at",
}


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
                changes = {"last_message_at": message.created_at}
                if first := FIRST_MESSAGE_FIELDS.get(role):
                    changes[first] = Coalesce(first, Value(message.created_at))
                Conversation.objects.filter(pk=conversation.pk).update(**changes)
    except IntegrityError:
        # Two concurrent resends: the other one won the unique constraint.
        if not client_message_id:
            raise
        return Message.objects.get(conversation=conversation, client_message_id=client_message_id), False
    message_broadcast(message=message)
    return message, True


def conversation_first_messages_refresh(*, conversation_ids: list[int]) -> int:
    """Recompute when each side first wrote, from the messages (after they were moved in time)."""
    firsts = {
        field: Subquery(
            Message.objects.filter(conversation=OuterRef("pk"), role=role)
            .order_by("created_at")
            .values("created_at")[:1]
        )
        for role, field in FIRST_MESSAGE_FIELDS.items()
    }
    return Conversation.objects.filter(pk__in=conversation_ids).update(**firsts)


def message_broadcast(*, message: Message) -> None:
    """Tell the conversation's sockets and the agent consoles about a stored message, after commit.

    Internal notes go to the consoles only.
    """
    frame = {"type": "message", "message": message_payload(message)}
    if message.role != Message.Role.NOTE:
        realtime.send_on_commit(realtime.conversation_group(message.conversation_id), frame)
    realtime.send_on_commit(realtime.CONSOLE_GROUP, {**frame, "conversation": message.conversation_id})


def system_message_add(
    *,
    conversation: Conversation,
    text: str,
    event: str,
    author: AbstractUser | None = None,
    metadata: dict | None = None,
) -> Message:
    message, _ = message_add(
        conversation=conversation,
        role=Message.Role.SYSTEM,
        content=text,
        author=author,
        metadata={**(metadata or {}), "event": event},
    )
    return message


def conversation_state_broadcast(*, conversation: Conversation, customer_frame: dict | None = None) -> None:
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


def conversation_lock(*, conversation_id: int) -> Conversation:
    # No joins: after waiting for the lock, PostgreSQL re-reads the locked row but may pair
    # it with a stale or missing joined agent row. Related rows are read after the lock.
    return Conversation.objects.select_for_update().get(pk=conversation_id)


def conversation_reopen(*, conversation: Conversation) -> Conversation:
    """A customer writing into a resolved conversation brings the bot back."""
    if conversation.status != Conversation.Status.RESOLVED:
        return conversation
    updated = Conversation.objects.filter(pk=conversation.pk, status=Conversation.Status.RESOLVED).update(
        status=Conversation.Status.BOT, resolved_at=None, updated_at=timezone.now()
    )
    if updated:
        conversation.refresh_from_db(fields=["status", "resolved_at", "updated_at"])
        conversation_state_broadcast(conversation=conversation)
    return conversation


@transaction.atomic
def conversation_csat_record(*, conversation_id: int, rating: str, comment: str = "") -> Conversation:
    """The customer's thumbs up or down on a resolved conversation; a later rating replaces it."""
    if rating not in Conversation.Csat.values:
        raise ValidationError({"rating": "The rating must be 'up' or 'down'."})
    comment = comment.strip()
    if len(comment) > 2000:
        raise ValidationError({"comment": "A comment can have at most 2000 characters."})
    conversation = conversation_lock(conversation_id=conversation_id)
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


def customer_presence_mark(*, conversation_id: int, online: bool) -> None:
    """The customer's widget connected or pinged (online) or closed its socket.

    Kept in the shared cache: a heartbeat that expires needs no cleanup after a crash.
    """
    key = customer_presence_key(conversation_id)
    if online:
        cache.set(key, 1, timeout=CUSTOMER_PRESENCE_SECONDS)
    else:
        cache.delete(key)
