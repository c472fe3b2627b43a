"""Reads of the copilot: which customer message still waits for an answer."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from copilot.models import CopilotTurn
from copilot.selectors import UNANSWERED_WINDOW, message_unanswered_get
from helpdesk.models import Conversation, Message
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_last_customer_message_without_an_answer_is_unanswered():
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="Hello")
    MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT, content="Hi, how can I help?")
    waiting = MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="Where is my parcel?")
    # A system notice after it does not count as an answer.
    MessageFactory(conversation=conversation, role=Message.Role.SYSTEM, content="Connection restored")
    assert message_unanswered_get(conversation_id=conversation.pk) == waiting


def test_a_message_with_a_copilot_turn_is_answered():
    conversation = ConversationFactory()
    message = MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="Where is my parcel?")
    CopilotTurn.objects.create(
        conversation=conversation, customer_message=message, engine="offline", delivery="stream", language="en"
    )
    assert message_unanswered_get(conversation_id=conversation.pk) is None


def test_an_agent_reply_answers_it():
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="Where is my parcel?")
    MessageFactory(conversation=conversation, role=Message.Role.AGENT, content="Checking now")
    assert message_unanswered_get(conversation_id=conversation.pk) is None


def test_the_bot_does_not_answer_for_a_human():
    agent = UserFactory()
    conversation = ConversationFactory(status=Conversation.Status.HUMAN, assigned_agent=agent)
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="Are you there?")
    assert message_unanswered_get(conversation_id=conversation.pk) is None


def test_an_old_unanswered_message_is_left_alone():
    conversation = ConversationFactory()
    with time_machine.travel(timezone.now() - UNANSWERED_WINDOW - timedelta(seconds=5)):
        MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="Hello?")
    assert message_unanswered_get(conversation_id=conversation.pk) is None
