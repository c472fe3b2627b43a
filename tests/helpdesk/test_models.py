import pytest
from django.utils import timezone

from helpdesk.models import Conversation, Ticket
from tests.assertions import assert_violates
from tests.factories import AgentProfileFactory, ConversationFactory, MessageFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_conversation_taken_by_a_human_needs_an_agent():
    assert_violates("helpdesk_conversation_human_has_agent", lambda: ConversationFactory(status="human"))
    conversation = ConversationFactory(status=Conversation.Status.HUMAN, assigned_agent=UserFactory())
    assert conversation.bot_active is False


def test_resolved_conversation_needs_a_date():
    assert_violates("helpdesk_conversation_resolved_has_date", lambda: ConversationFactory(status="resolved"))


def test_conversation_status_must_be_known():
    assert_violates("helpdesk_conversation_status_valid", lambda: ConversationFactory(status="closed"))


def test_anonymous_visitor_conversation_has_no_customer():
    conversation = ConversationFactory(customer=None)
    assert conversation.customer is None
    assert conversation.public_id is not None


def test_client_message_id_is_unique_per_conversation():
    first = MessageFactory(client_message_id="m-1")
    assert_violates(
        "helpdesk_message_client_id_unique",
        lambda: MessageFactory(conversation=first.conversation, client_message_id="m-1"),
    )
    # The same client id in another conversation, and messages without one, are fine.
    MessageFactory(client_message_id="m-1")
    MessageFactory(conversation=first.conversation, client_message_id="")
    MessageFactory(conversation=first.conversation, client_message_id="")


def test_message_needs_content_and_a_known_role():
    assert_violates("helpdesk_message_content_not_empty", lambda: MessageFactory(content=""))
    assert_violates("helpdesk_message_role_valid", lambda: MessageFactory(role="bot"))


def test_one_open_escalation_ticket_per_conversation():
    ticket = TicketFactory()
    assert_violates("helpdesk_ticket_one_open_escalation", lambda: TicketFactory(conversation=ticket.conversation))
    # A request ticket, or a new escalation once the first is resolved, is allowed.
    TicketFactory(conversation=ticket.conversation, kind=Ticket.Kind.REQUEST)
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.RESOLVED, resolved_at=timezone.now())
    TicketFactory(conversation=ticket.conversation)


def test_ticket_choices_and_resolution_date_are_enforced():
    assert_violates("helpdesk_ticket_priority_valid", lambda: TicketFactory(priority="critical"))
    assert_violates("helpdesk_ticket_status_valid", lambda: TicketFactory(status="done", resolved_at=timezone.now()))
    assert_violates("helpdesk_ticket_kind_valid", lambda: TicketFactory(kind="bug"))
    assert_violates("helpdesk_ticket_resolved_has_date", lambda: TicketFactory(status="closed"))
    assert_violates("helpdesk_ticket_subject_not_empty", lambda: TicketFactory(subject=""))


def test_ticket_reference_uses_kind_and_id():
    ticket = TicketFactory()
    assert ticket.reference == f"ESC-{ticket.pk:06d}"
    request = TicketFactory(kind=Ticket.Kind.REQUEST)
    assert request.reference.startswith("REQ-")


def test_agent_profile_presence_and_one_per_user():
    profile = AgentProfileFactory()
    assert_violates("user_id", lambda: AgentProfileFactory(user=profile.user))
    assert_violates("helpdesk_agent_presence_valid", lambda: AgentProfileFactory(presence="busy"))
