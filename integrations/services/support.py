"""What the integration API does (docs/integrations.md): another system, trusted with a token,
acts for one of our customers, named by the CRM's id. Every conversation it names is looked
up through that customer, so a session id of another customer's conversation is not found."""

from dataclasses import dataclass

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction

from copilot.delivery import chat_message_receive
from copilot.events import EscalatedEvent, MessageEvent
from copilot.models import CopilotTurn
from copilot.pipeline import turn_run_collect
from crm.models import Customer
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.selectors import conversation_get_for_customer, customer_is_online
from helpdesk.services import conversation_start, message_add, ticket_escalate
from helpdesk.services.follow_up import agent_reply_email_enqueue, agent_reply_email_wanted
from integrations.models import IntegrationLog


class NotFound(ObjectDoesNotExist):
    pass


def _conversation(*, customer: Customer, session_id: str | int | None) -> Conversation:
    """The customer's conversation the caller names, or a new API conversation."""
    if session_id in (None, ""):
        return conversation_start(customer=customer, channel=Conversation.Channel.API)
    conversation = conversation_get_for_customer(customer=customer, conversation_id=session_id)
    if conversation is None:
        raise NotFound("No such conversation for this customer.")
    return conversation


@transaction.atomic
def support_escalate(
    *,
    customer: Customer,
    reason: str,
    priority: str = Ticket.Priority.MEDIUM,
    subject: str = "",
    session_id: str | int | None = None,
) -> Ticket:
    """Open (or return the open) human-takeover ticket for the customer's conversation."""
    if priority not in Ticket.Priority.values:
        raise ValidationError({"priority": f"One of {', '.join(Ticket.Priority.values)}."})
    conversation = _conversation(customer=customer, session_id=session_id)
    ticket, _ = ticket_escalate(
        conversation=conversation,
        subject=subject or f"Escalated by an integration: {reason}"[:200],
        reason=reason,
        priority=priority,
    )
    return ticket


@dataclass(frozen=True)
class Sent:
    message: Message
    delivery_status: str

    @property
    def reference(self) -> str:
        return f"MSG-{self.message.pk:06d}"


@transaction.atomic
def support_message_send(*, customer: Customer, text: str, author, session_id: str | int | None = None) -> Sent:
    """Send the customer a message from the support team, in the chat they see.

    ``delivery_status``: ``delivered`` when their chat is open now (it arrives live),
    ``email_queued`` when an email answer was promised and they are away, ``stored`` when it
    waits for their next visit.
    """
    conversation = _conversation(customer=customer, session_id=session_id)
    if conversation.status == Conversation.Status.RESOLVED:
        raise ValidationError({"session_id": "This conversation is resolved; start a new one by leaving it out."})
    email_wanted = agent_reply_email_wanted(conversation=conversation)
    message, _ = message_add(
        conversation=conversation,
        role=Message.Role.AGENT,
        content=text,
        author=author,
        metadata={"source": "api", **({"email_wanted": True} if email_wanted else {})},
    )
    if email_wanted:
        agent_reply_email_enqueue(message=message)
        status = "email_queued"
    elif customer_is_online(conversation_id=conversation.pk):
        status = "delivered"
    else:
        status = "stored"
    return Sent(message=message, delivery_status=status)


def analytics_log_record(
    *, event: str, data: dict, source, customer: Customer | None = None, session_id: str | int | None = None
) -> IntegrationLog:
    """Store an event another system reports, linked to our customer and conversation when named."""
    conversation = None
    if session_id not in (None, ""):
        if customer is None:
            raise ValidationError({"session_id": "Name the customer too."})
        conversation = _conversation(customer=customer, session_id=session_id)
    return IntegrationLog.objects.create(
        event=event, data=data, customer=customer, conversation=conversation, source=source
    )


@dataclass(frozen=True)
class ChatAnswer:
    conversation: Conversation
    response: str | None
    sentiment: str | None
    needs_escalation: bool


def api_chat_turn(*, customer: Customer, text: str, session_id: str | None = None) -> ChatAnswer:
    """One customer message through the copilot, for channels that are not websockets.

    The message is stored first, as on the widget. ``response`` is None while an agent has the
    conversation: the bot is silent then, and the agent answers in the console.
    """
    with transaction.atomic():
        conversation = _conversation(customer=customer, session_id=session_id)
        message, _ = chat_message_receive(conversation=conversation, text=text)
    events = turn_run_collect(message_id=message.pk, text=message.content)
    reply = next((event for event in events if isinstance(event, MessageEvent)), None)
    turn = CopilotTurn.objects.filter(customer_message=message).only("sentiment", "escalated").first()
    conversation.refresh_from_db(fields=["status"])
    escalated = any(isinstance(event, EscalatedEvent) for event in events) or bool(turn and turn.escalated)
    return ChatAnswer(
        conversation=conversation,
        response=reply.text if reply else None,
        sentiment=turn.sentiment if turn else None,
        needs_escalation=escalated
        or conversation.status in (Conversation.Status.HUMAN, Conversation.Status.PENDING_HUMAN),
    )
