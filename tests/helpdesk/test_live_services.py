"""Identity, the ownership state machine and presence: the services behind live chat."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from helpdesk.identity import (
    IdentityError,
    conversation_token_issue,
    conversation_token_read,
    customer_verify,
    identity_hash_compute,
)
from helpdesk.models import AgentProfile, Conversation, Message, Ticket
from helpdesk.selectors import agents_online_get, messages_for_customer
from helpdesk.services import (
    ConversationTaken,
    TransitionError,
    agent_message_send,
    agent_presence_connect,
    agent_presence_disconnect,
    conversation_assign,
    conversation_csat_record,
    conversation_hand_back,
    conversation_human_request,
    conversation_resolve,
    conversation_take_over,
    note_add,
    ticket_escalate,
    widget_session_start,
)
from tests.factories import AgentProfileFactory, ConversationFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def make_agent(username: str):
    user = UserFactory(username=username, first_name=username.title(), last_name="Novak")
    AgentProfileFactory(user=user, display_name=f"{username.title()} Novak")
    return user


# ---------------------------------------------------------------- identity


def test_the_identity_hash_verifies_only_its_own_customer():
    petr, tereza = CustomerFactory(external_id="cus_1"), CustomerFactory(external_id="cus_2")
    assert customer_verify(external_id="cus_1", identity_hash=identity_hash_compute(external_id="cus_1")) == petr
    with pytest.raises(IdentityError):
        customer_verify(external_id="cus_2", identity_hash=identity_hash_compute(external_id="cus_1"))
    with pytest.raises(IdentityError):
        customer_verify(external_id="cus_2", identity_hash="")
    with pytest.raises(IdentityError):
        customer_verify(external_id="cus_404", identity_hash=identity_hash_compute(external_id="cus_404"))
    assert tereza.pk != petr.pk


def test_the_identity_hash_depends_on_the_shared_secret(settings):
    before = identity_hash_compute(external_id="cus_1")
    settings.WIDGET_IDENTITY_SECRET = "another secret"  # noqa: S105
    assert identity_hash_compute(external_id="cus_1") != before


def test_a_conversation_token_round_trips_and_rejects_tampering():
    conversation = ConversationFactory(customer=None)
    token = conversation_token_issue(conversation_public_id=conversation.public_id, customer_id=None)
    claims = conversation_token_read(token=token)
    assert (claims.conversation, claims.customer_id) == (conversation.public_id, None)
    assert conversation_token_read(token=token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    assert conversation_token_read(token="") is None
    assert conversation_token_read(token="x" * 600) is None


def test_a_conversation_token_expires(settings):
    settings.CONVERSATION_TOKEN_MAX_AGE = 3600
    conversation = ConversationFactory(customer=None)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        token = conversation_token_issue(conversation_public_id=conversation.public_id, customer_id=None)
        traveller.shift(timedelta(minutes=59))
        assert conversation_token_read(token=token) is not None
        traveller.shift(timedelta(minutes=2))
        assert conversation_token_read(token=token) is None


def test_a_widget_session_resumes_only_for_the_identity_it_was_issued_to():
    customer = CustomerFactory(external_id="cus_7")
    identity = {"customer_external_id": "cus_7", "identity_hash": identity_hash_compute(external_id="cus_7")}
    first = widget_session_start(**identity)
    assert (first.customer, first.resumed) == (customer, False)
    again = widget_session_start(**identity, token=first.token)
    assert (again.conversation, again.resumed) == (first.conversation, True)
    # The same browser signed out: the customer's token does not open their conversation anonymously.
    anonymous = widget_session_start(token=first.token)
    assert anonymous.conversation != first.conversation
    assert anonymous.conversation.customer is None
    with pytest.raises(IdentityError):
        widget_session_start(identity_hash=identity["identity_hash"])


# ---------------------------------------------------------------- the state machine


def test_an_escalated_conversation_goes_through_human_to_resolved():
    jana = make_agent("jana")
    conversation = ConversationFactory()
    ticket, created = ticket_escalate(conversation=conversation, subject="Help", reason="human_request")
    assert created
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING_HUMAN

    conversation = conversation_take_over(conversation_id=conversation.pk, agent=jana)
    assert (conversation.status, conversation.assigned_agent) == (Conversation.Status.HUMAN, jana)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == (Ticket.Status.PENDING, jana)
    assert Message.objects.filter(conversation=conversation, role="system", content="Jana Novak joined the chat")

    reply = agent_message_send(conversation_id=conversation.pk, agent=jana, text="Hi, I'm Jana. Let me check.")
    assert (reply.role, reply.author) == ("agent", jana)

    conversation_resolve(conversation=conversation, by=jana)
    conversation.refresh_from_db()
    ticket.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED
    assert ticket.status == Ticket.Status.RESOLVED
    with pytest.raises(TransitionError):
        conversation_take_over(conversation_id=conversation.pk, agent=jana)
    with pytest.raises(TransitionError):
        conversation_resolve(conversation=conversation, by=jana)


def test_hand_back_returns_the_conversation_to_the_bot_and_closes_the_ticket():
    jana = make_agent("jana")
    conversation = ConversationFactory()
    ticket, _ = ticket_escalate(conversation=conversation, subject="Help", reason="anger")
    conversation_take_over(conversation_id=conversation.pk, agent=jana)
    conversation = conversation_hand_back(conversation_id=conversation.pk, agent=jana)
    ticket.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent) == (Conversation.Status.BOT, None)
    assert ticket.status == Ticket.Status.RESOLVED
    with pytest.raises(TransitionError):
        conversation_hand_back(conversation_id=conversation.pk, agent=jana)


def test_a_second_agent_is_told_who_took_the_conversation():
    jana, marek = make_agent("jana"), make_agent("marek")
    conversation = ConversationFactory()
    conversation_take_over(conversation_id=conversation.pk, agent=jana)
    with pytest.raises(ConversationTaken) as taken:
        conversation_take_over(conversation_id=conversation.pk, agent=marek)
    assert taken.value.owner == jana
    assert "Jana Novak" in taken.value.messages[0]
    with pytest.raises(ConversationTaken):
        conversation_hand_back(conversation_id=conversation.pk, agent=marek)
    # Taking over one's own conversation again is harmless.
    assert conversation_take_over(conversation_id=conversation.pk, agent=jana).assigned_agent == jana


@pytest.mark.django_db(transaction=True)
def test_two_agents_taking_over_at_once_leave_exactly_one_winner():
    agents = [make_agent(f"agent{n}") for n in range(2)]
    conversation = ConversationFactory()
    ticket_escalate(conversation=conversation, subject="Help", reason="human_request")
    barrier = threading.Barrier(2)
    outcomes: list = []

    def take(agent):
        try:
            barrier.wait()
            conversation_take_over(conversation_id=conversation.pk, agent=agent)
            outcomes.append(("won", agent.username))
        except ConversationTaken as exc:
            outcomes.append(("lost", exc.owner.username))
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [name for result, name in outcomes if result == "won"]
    losers_saw = [name for result, name in outcomes if result == "lost"]
    assert len(winners) == 1
    assert losers_saw == winners
    conversation.refresh_from_db()
    assert conversation.assigned_agent.username == winners[0]
    assert Message.objects.filter(conversation=conversation, metadata__event="agent_joined").count() == 1


def test_an_agent_reply_takes_over_an_unowned_conversation_but_not_anothers():
    jana, marek = make_agent("jana"), make_agent("marek")
    conversation = ConversationFactory()
    agent_message_send(conversation_id=conversation.pk, agent=jana, text="Hello from Jana")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent) == (Conversation.Status.HUMAN, jana)
    with pytest.raises(ConversationTaken):
        agent_message_send(conversation_id=conversation.pk, agent=marek, text="Me too")
    assert not Message.objects.filter(conversation=conversation, content="Me too").exists()


def test_notes_never_reach_the_customer():
    jana = make_agent("jana")
    conversation = ConversationFactory()
    Message.objects.create(conversation=conversation, role="customer", content="Hi")
    note_add(conversation_id=conversation.pk, agent=jana, text="VIP, be nice")
    visible = messages_for_customer(conversation=conversation)
    assert [m.content for m in visible] == ["Hi"]
    assert Message.objects.filter(conversation=conversation, role="note").count() == 1


def test_assigning_moves_the_conversation_and_its_ticket():
    jana, marek = make_agent("jana"), make_agent("marek")
    conversation = ConversationFactory()
    ticket, _ = ticket_escalate(conversation=conversation, subject="Help", reason="anger")
    conversation_take_over(conversation_id=conversation.pk, agent=jana)
    conversation = conversation_assign(conversation_id=conversation.pk, agent=jana, assignee=marek)
    ticket.refresh_from_db()
    assert conversation.assigned_agent == marek
    assert ticket.assignee == marek
    shopper = UserFactory(username="shopper")
    with pytest.raises(ValidationError):
        conversation_assign(conversation_id=conversation.pk, agent=jana, assignee=shopper)


def test_the_human_button_escalates_once_and_is_quiet_while_an_agent_has_it():
    jana = make_agent("jana")
    conversation = ConversationFactory(customer__tier="gold")
    ticket, created = conversation_human_request(conversation=conversation)
    assert created
    assert ticket.priority == Ticket.Priority.HIGH
    again, created_again = conversation_human_request(conversation=conversation)
    assert (again, created_again) == (ticket, False)
    conversation_take_over(conversation_id=conversation.pk, agent=jana)
    conversation.refresh_from_db()
    assert conversation_human_request(conversation=conversation) == (None, False)


def test_csat_is_recorded_only_for_a_resolved_conversation():
    conversation = ConversationFactory()
    with pytest.raises(TransitionError):
        conversation_csat_record(conversation_id=conversation.pk, rating="up")
    conversation_resolve(conversation=conversation)
    with pytest.raises(ValidationError):
        conversation_csat_record(conversation_id=conversation.pk, rating="meh")
    rated = conversation_csat_record(conversation_id=conversation.pk, rating="down", comment="  Too slow  ")
    assert (rated.csat, rated.csat_comment) == ("down", "Too slow")
    assert rated.csat_at is not None


# ---------------------------------------------------------------- presence


def test_presence_counts_consoles_and_goes_stale_without_a_heartbeat(settings):
    settings.AGENT_PRESENCE_TIMEOUT = 90
    jana = make_agent("jana")
    agent_presence_connect(user=jana)
    agent_presence_connect(user=jana)
    assert [p.user for p in agents_online_get()] == [jana]
    agent_presence_disconnect(user=jana)
    assert [p.user for p in agents_online_get()] == [jana]
    with time_machine.travel(timezone.now() + timedelta(seconds=120)):
        assert agents_online_get() == []
    agent_presence_disconnect(user=jana)
    agent_presence_disconnect(user=jana)
    profile = AgentProfile.objects.get(user=jana)
    assert (profile.console_connections, profile.presence) == (0, "offline")
    assert agents_online_get() == []
