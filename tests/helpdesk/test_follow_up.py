"""Email follow-ups: with no agent online the customer is promised an answer by email, and gets it."""

import pytest
from django.core import mail
from django.urls import reverse

from helpdesk.models import Message, Ticket
from helpdesk.selectors import conversation_follow_up_get
from helpdesk.services import (
    agent_message_send,
    agent_presence_connect,
    agent_reply_email_send,
    conversation_contact_email_set,
    conversation_human_request,
    customer_presence_mark,
    follow_up_acknowledgement_send,
    widget_session_start,
)
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory
from tests.helpdesk.followups import EMAIL, closed_port, escalate, make_agent, notices, start_anonymous

pytestmark = pytest.mark.django_db


def test_a_verified_customer_is_promised_email_and_acknowledged_once(django_capture_on_commit_callbacks):
    customer = CustomerFactory(name="Emma Clarke", email="emma@example.com", locale="en")
    conversation = ConversationFactory(customer=customer, language="en")
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="My parcel never came")

    ticket = escalate(conversation, django_capture_on_commit_callbacks)

    ticket.refresh_from_db()
    assert ticket.follow_up_by_email
    assert ticket.follow_up_acknowledged_at is not None
    [notice] = notices(conversation)
    assert "follow up by email" in notice.content
    assert notice.metadata == {"event": "escalated", "ticket": ticket.reference, "agents_online": False}
    [sent] = mail.outbox
    assert sent.to == ["emma@example.com"]
    assert ticket.reference in sent.subject
    assert "Hello Emma" in sent.body
    assert "My parcel never came" in sent.body
    # The task running again (a redelivery) sends nothing more.
    assert follow_up_acknowledgement_send(ticket_id=ticket.pk) is False
    assert len(mail.outbox) == 1
    assert conversation_follow_up_get(conversation=conversation) == {"by_email": True, "email": "e***@example.com"}


def test_with_an_agent_online_nothing_is_promised_or_sent(django_capture_on_commit_callbacks):
    agent_presence_connect(user=make_agent())
    conversation = ConversationFactory(customer=CustomerFactory(email="liam@example.com"), language="en")

    ticket = escalate(conversation, django_capture_on_commit_callbacks)

    assert not Ticket.objects.get(pk=ticket.pk).follow_up_by_email
    assert "will join this chat shortly" in notices(conversation)[0].content
    assert mail.outbox == []
    assert conversation_follow_up_get(conversation=conversation) is None


def test_an_anonymous_visitor_is_asked_for_an_email_then_acknowledged_there(django_capture_on_commit_callbacks):
    conversation = ConversationFactory(customer=None, language="cs")

    ticket = escalate(conversation, django_capture_on_commit_callbacks)

    assert "Nechte nám svůj e-mail" in notices(conversation)[0].content
    assert mail.outbox == []
    assert conversation_follow_up_get(conversation=conversation) == {"by_email": True, "email": ""}

    with django_capture_on_commit_callbacks(execute=True):
        conversation_contact_email_set(conversation_id=conversation.pk, email=" visitor@example.org ")

    conversation.refresh_from_db()
    assert conversation.contact_email == "visitor@example.org"
    [sent] = mail.outbox
    assert sent.to == ["visitor@example.org"]
    assert sent.subject == f"Přijali jsme váš požadavek {ticket.reference}"
    assert notices(conversation)[-1].content == "Děkujeme! Odpovíme na v***@example.org."
    # Leaving the same address again changes nothing and sends nothing.
    with django_capture_on_commit_callbacks(execute=True):
        conversation_contact_email_set(conversation_id=conversation.pk, email="VISITOR@example.org")
    assert len(mail.outbox) == 1
    assert len(notices(conversation)) == 2


def test_an_invalid_email_is_refused_and_nothing_changes():
    conversation = ConversationFactory(customer=None)
    with pytest.raises(Exception, match="valid email"):
        conversation_contact_email_set(conversation_id=conversation.pk, email="not-an-address")
    conversation.refresh_from_db()
    assert conversation.contact_email == ""
    assert not conversation.messages.exists()


def test_an_agents_reply_on_a_promised_follow_up_is_emailed_once(django_capture_on_commit_callbacks):
    customer = CustomerFactory(name="Emma Clarke", email="emma@example.com")
    conversation = ConversationFactory(customer=customer, language="en")
    ticket = escalate(conversation, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    agent = make_agent()

    with django_capture_on_commit_callbacks(execute=True):
        reply = agent_message_send(conversation_id=conversation.pk, agent=agent, text="Your parcel is at the depot.")

    [sent] = mail.outbox
    assert sent.to == ["emma@example.com"]
    assert sent.subject == f"Jana Novak replied to your request {ticket.reference}"
    assert "Your parcel is at the depot." in sent.body
    reply.refresh_from_db()
    assert reply.emailed_at is not None
    assert agent_reply_email_send(message_id=reply.pk) is False
    assert agent_reply_email_send(message_id=reply.pk + 1000) is False
    assert len(mail.outbox) == 1


def test_replies_in_a_live_chat_are_not_emailed(django_capture_on_commit_callbacks):
    agent = make_agent()
    agent_presence_connect(user=agent)
    conversation = ConversationFactory(customer=CustomerFactory(email="liam@example.com"))
    escalate(conversation, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        agent_message_send(conversation_id=conversation.pk, agent=agent, text="Hi Liam, Jana here.")
    assert mail.outbox == []


def test_a_mail_server_that_is_down_leaves_the_acknowledgement_to_retry(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 2
    conversation = ConversationFactory(customer=CustomerFactory(email="emma@example.com"))
    ticket, _ = conversation_human_request(conversation=conversation)

    with pytest.raises(OSError):
        follow_up_acknowledgement_send(ticket_id=ticket.pk)

    ticket.refresh_from_db()
    assert ticket.follow_up_acknowledged_at is None


# ---------------------------------------------------------------- the widget's endpoint


def test_the_widget_leaves_an_email_for_its_own_conversation_only(client, django_capture_on_commit_callbacks):
    token = start_anonymous(client)
    other = start_anonymous(client)
    session = widget_session_start(token=token)
    escalate(session.conversation, django_capture_on_commit_callbacks)
    history = client.get(reverse("api-widget-conversation"), HTTP_AUTHORIZATION=f"Conversation {token}").json()
    assert history["follow_up"] == {"by_email": True, "email": ""}

    bad = client.post(
        EMAIL, {"email": "nope"}, content_type="application/json", HTTP_AUTHORIZATION=f"Conversation {token}"
    )
    assert bad.status_code == 400
    assert "valid email" in bad.json()["email"][0]
    with django_capture_on_commit_callbacks(execute=True):
        good = client.post(
            EMAIL,
            {"email": "visitor@example.org"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Conversation {token}",
        )
    assert good.status_code == 200
    assert good.json() == {"follow_up": {"by_email": True, "email": "v***@example.org"}}
    assert len(mail.outbox) == 1
    # Another visitor's token sets the address on their own conversation, never on this one.
    client.post(
        EMAIL,
        {"email": "intruder@example.org"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Conversation {other}",
    )
    session.conversation.refresh_from_db()
    assert session.conversation.contact_email == "visitor@example.org"


def test_leaving_an_email_needs_the_conversation_token(client):
    agent = make_agent()
    client.force_login(agent)
    assert client.post(EMAIL, {"email": "a@example.org"}, content_type="application/json").status_code == 401


def test_a_reply_the_customer_sees_live_in_the_chat_is_not_emailed(django_capture_on_commit_callbacks):
    conversation = ConversationFactory(customer=CustomerFactory(email="emma@example.com"))
    escalate(conversation, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    customer_presence_mark(conversation_id=conversation.pk, online=True)
    agent = make_agent()
    with django_capture_on_commit_callbacks(execute=True):
        seen = agent_message_send(conversation_id=conversation.pk, agent=agent, text="Are you still there?")
    assert mail.outbox == []
    # The customer closes the chat: the next reply goes by email.
    customer_presence_mark(conversation_id=conversation.pk, online=False)
    with django_capture_on_commit_callbacks(execute=True):
        agent_message_send(conversation_id=conversation.pk, agent=agent, text="I have refunded the order.")
    [sent] = mail.outbox
    assert "I have refunded the order." in sent.body and "Are you still there?" not in sent.body
    seen.refresh_from_db()
    assert seen.emailed_at is None


def test_replies_written_before_the_visitor_left_an_address_follow_it(django_capture_on_commit_callbacks):
    conversation = ConversationFactory(customer=None, language="en")
    escalate(conversation, django_capture_on_commit_callbacks)
    agent = make_agent()
    with django_capture_on_commit_callbacks(execute=True):
        agent_message_send(conversation_id=conversation.pk, agent=agent, text="We found your parcel.")
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        conversation_contact_email_set(conversation_id=conversation.pk, email="visitor@example.org")
    subjects = sorted(message.subject for message in mail.outbox)
    assert len(subjects) == 2
    assert subjects[0].startswith("Jana Novak replied")
    assert subjects[1].startswith("We received your request")
    assert any("We found your parcel." in message.body for message in mail.outbox)


def test_an_acknowledgement_without_a_written_message_quotes_nothing(django_capture_on_commit_callbacks):
    conversation = ConversationFactory(customer=CustomerFactory(email="emma@example.com"), language="en")
    escalate(conversation, django_capture_on_commit_callbacks)
    [sent] = mail.outbox
    assert "Your message" not in sent.body
    assert sent.body.rstrip().endswith("support")
