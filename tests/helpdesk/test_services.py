from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from helpdesk.models import Conversation, Message, Ticket
from helpdesk.services import (
    MAX_MESSAGE_LENGTH,
    agent_upsert,
    conversation_resolve,
    conversation_start,
    message_add,
    ticket_escalate,
)
from tests.factories import ConversationFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_conversation_start_takes_the_customer_language():
    customer = CustomerFactory(locale="cs")
    conversation = conversation_start(customer=customer)
    assert conversation.language == "cs"
    assert conversation.status == Conversation.Status.BOT
    assert conversation_start(customer=None).language == "en"


def test_message_add_stores_and_stamps_the_conversation():
    conversation = ConversationFactory()
    message, created = message_add(conversation=conversation, role="customer", content="  Where is my order?  ")
    assert created is True
    assert message.content == "Where is my order?"
    conversation.refresh_from_db()
    assert conversation.last_message_at == message.created_at


def test_resending_the_same_client_message_id_returns_the_stored_message():
    conversation = ConversationFactory()
    first, created_first = message_add(
        conversation=conversation, role="customer", content="Hi", client_message_id="c-1"
    )
    again, created_again = message_add(
        conversation=conversation, role="customer", content="Hi", client_message_id="c-1"
    )
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk
    assert Message.objects.filter(conversation=conversation).count() == 1


@pytest.mark.parametrize("content", ["", "   ", "x" * (MAX_MESSAGE_LENGTH + 1)])
def test_message_add_rejects_empty_or_oversized_content(content):
    conversation = ConversationFactory()
    with pytest.raises(ValidationError) as error:
        message_add(conversation=conversation, role="customer", content=content)
    assert "content" in error.value.message_dict
    assert not Message.objects.filter(conversation=conversation).exists()


def test_message_add_rejects_unknown_role():
    with pytest.raises(ValidationError, match="role"):
        message_add(conversation=ConversationFactory(), role="robot", content="hello")


def test_internal_note_does_not_bump_last_message_time():
    conversation = ConversationFactory(last_message_at=None)
    message_add(conversation=conversation, role="note", content="Customer is a VIP", author=UserFactory())
    conversation.refresh_from_db()
    assert conversation.last_message_at is None


def test_the_conversation_keeps_when_each_side_first_wrote():
    conversation = ConversationFactory(last_message_at=None)
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    agent = UserFactory()
    for minute, role in enumerate(["customer", "assistant", "customer", "note", "agent", "assistant", "agent"]):
        with time_machine.travel(start + timedelta(minutes=minute), tick=False):
            message_add(conversation=conversation, role=role, content=f"{role} {minute}", author=agent)
    conversation.refresh_from_db()
    assert conversation.first_customer_message_at == start
    assert conversation.first_bot_reply_at == start + timedelta(minutes=1)
    # The note at minute 3 is not a reply; the agent first wrote at minute 4.
    assert conversation.first_agent_reply_at == start + timedelta(minutes=4)
    assert conversation.last_message_at == start + timedelta(minutes=6)


def test_escalation_opens_one_ticket_with_sla_and_hands_over():
    conversation = ConversationFactory()
    with time_machine.travel(datetime(2026, 11, 2, 9, 0, tzinfo=UTC), tick=False):
        ticket, created = ticket_escalate(
            conversation=conversation, subject="Wants a human", reason="explicit request", priority="high"
        )
    assert created is True
    assert ticket.sla_due_at == datetime(2026, 11, 2, 11, 0, tzinfo=UTC)
    assert ticket.customer == conversation.customer
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING_HUMAN

    again, created_again = ticket_escalate(conversation=conversation, subject="Again", reason="angry")
    assert created_again is False
    assert again.pk == ticket.pk
    assert Ticket.objects.filter(conversation=conversation).count() == 1


def test_escalation_leaves_a_conversation_an_agent_already_holds():
    agent = UserFactory()
    conversation = ConversationFactory(status=Conversation.Status.HUMAN, assigned_agent=agent)
    ticket_escalate(conversation=conversation, subject="Angry", reason="anger")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.HUMAN


def test_resolving_a_conversation_closes_its_open_tickets():
    conversation = ConversationFactory()
    ticket, _ = ticket_escalate(conversation=conversation, subject="Help", reason="human request")
    agent = UserFactory()
    with time_machine.travel(datetime(2026, 11, 3, 12, 0, tzinfo=UTC), tick=False):
        conversation_resolve(conversation=conversation, by=agent)
    conversation.refresh_from_db()
    ticket.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED
    assert conversation.resolved_at == datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    assert (ticket.status, ticket.assignee) == (Ticket.Status.RESOLVED, agent)
    assert ticket.resolved_at - ticket.created_at < timedelta(days=365)


def test_agent_upsert_is_idempotent_and_sets_a_usable_password():
    first = agent_upsert(username="jana", email="jana@example.com", display_name="Jana Nováková", password="pw-1")
    second = agent_upsert(username="jana", email="jana@example.com", display_name="Jana N.", password="pw-2")
    assert first.pk == second.pk
    second.refresh_from_db()
    assert second.check_password("pw-2")
    assert second.agent_profile.display_name == "Jana N."
    assert (second.first_name, second.last_name) == ("Jana", "N.")
