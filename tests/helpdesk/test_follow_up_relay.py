"""Email follow-ups are no open relay: an address nobody confirmed gets none of the visitor's words,
and the emails to one address, and the addresses left from one client, are limited."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from helpdesk.models import Message, Ticket
from helpdesk.services import (
    agent_message_send,
    conversation_contact_email_set,
    conversation_human_request,
    follow_up_acknowledgement_send,
    widget_session_start,
)
from helpdesk.services.limits import RateLimited
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory
from tests.helpdesk.followups import EMAIL, closed_port, escalate, make_agent, start_anonymous

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- no open relay (an address nobody confirmed)

HOSTILE = "Your account is locked, verify at http://evil.example/login"


def assert_neutral(sent, ticket, *leaks: str) -> None:
    """The acknowledgement names the request and the shop, and carries none of the visitor's words."""
    assert sent.subject == f"We received your request {ticket.reference}"
    assert ticket.reference in sent.body
    assert "Brightcart" in sent.body
    for leak in ("evil.example", "verify at", "account is locked", "Your message", *leaks):
        assert leak not in sent.subject
        assert leak not in sent.body


def test_an_address_left_in_the_chat_gets_none_of_the_visitors_text(django_capture_on_commit_callbacks, settings):
    settings.COPILOT_SHOP_NAME = "Brightcart"
    conversation = ConversationFactory(customer=None, language="en")
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content=HOSTILE)
    ticket = escalate(conversation, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        conversation_contact_email_set(conversation_id=conversation.pk, email="victim@example.org")

    [sent] = mail.outbox
    assert sent.to == ["victim@example.org"]
    assert_neutral(sent, ticket)
    ticket.refresh_from_db()
    assert ticket.follow_up_acknowledged_at is not None


def test_a_verified_customers_other_address_gets_no_quote_and_no_name(django_capture_on_commit_callbacks, settings):
    """A name in the CRM can be one the customer typed into their shop profile: not for an unconfirmed address."""
    settings.COPILOT_SHOP_NAME = "Brightcart"
    customer = CustomerFactory(name="Emma Clarke", email="emma@example.com")
    conversation = ConversationFactory(customer=customer, language="en", contact_email="victim@example.org")
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content=HOSTILE)

    ticket = escalate(conversation, django_capture_on_commit_callbacks)

    [sent] = mail.outbox
    assert sent.to == ["victim@example.org"]
    assert_neutral(sent, ticket, "Emma")


def test_the_verified_customers_own_address_is_still_quoted(django_capture_on_commit_callbacks):
    customer = CustomerFactory(name="Emma Clarke", email="emma@example.com")
    # The CRM address left in the chat again, in other letter case, is the same confirmed address.
    conversation = ConversationFactory(customer=customer, language="en", contact_email="EMMA@Example.com")
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="Still no parcel")

    ticket = escalate(conversation, django_capture_on_commit_callbacks)

    [sent] = mail.outbox
    assert sent.to == ["EMMA@Example.com"]
    assert ticket.reference in sent.subject
    assert "Hello Emma" in sent.body
    assert "Your message: Still no parcel" in sent.body


def test_an_agents_reply_to_an_unconfirmed_address_carries_nothing_the_visitor_wrote(
    django_capture_on_commit_callbacks,
):
    customer = CustomerFactory(name="Emma Clarke", email="emma@example.com")
    conversation = ConversationFactory(customer=customer, language="en", contact_email="victim@example.org")
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content=HOSTILE)
    ticket = escalate(conversation, django_capture_on_commit_callbacks)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        agent_message_send(conversation_id=conversation.pk, agent=make_agent(), text="We are looking into it.")

    [sent] = mail.outbox
    assert sent.to == ["victim@example.org"]
    assert sent.subject == f"Jana Novak replied to your request {ticket.reference}"
    assert "We are looking into it." in sent.body
    for leak in ("Emma", "evil.example", "account is locked"):
        assert leak not in sent.subject
        assert leak not in sent.body


# ---------------------------------------------------------------- limits on follow-up emails


def anonymous_escalation(capture, text: str = HOSTILE):
    conversation = ConversationFactory(customer=None, language="en")
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content=text)
    return conversation, escalate(conversation, capture)


def test_one_address_gets_a_limited_number_of_acknowledgements_a_day(django_capture_on_commit_callbacks, settings):
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 2
    settings.CONTACT_EMAILS_PER_HOUR_PER_IP = 0
    with time_machine.travel(timezone.now().replace(hour=10), tick=False) as traveller:
        for address in ("victim@example.org", "Victim@Example.org"):
            conversation, _ = anonymous_escalation(django_capture_on_commit_callbacks)
            with django_capture_on_commit_callbacks(execute=True):
                conversation_contact_email_set(conversation_id=conversation.pk, email=address)
        assert len(mail.outbox) == 2

        conversation, ticket = anonymous_escalation(django_capture_on_commit_callbacks)
        with pytest.raises(RateLimited, match="this address"), django_capture_on_commit_callbacks(execute=True):
            conversation_contact_email_set(conversation_id=conversation.pk, email="VICTIM@example.org")

        # Refused, and nothing lost: the request is still queued for the agents.
        assert len(mail.outbox) == 2
        conversation.refresh_from_db()
        ticket.refresh_from_db()
        assert conversation.contact_email == ""
        assert ticket.is_open and ticket.follow_up_by_email and ticket.follow_up_acknowledged_at is None
        assert Ticket.objects.filter(pk=ticket.pk).exists()
        # Another address is not held back by that one.
        with django_capture_on_commit_callbacks(execute=True):
            conversation_contact_email_set(conversation_id=conversation.pk, email="someone@example.org")
        assert mail.outbox[-1].to == ["someone@example.org"]

        traveller.shift(timedelta(days=1))
        later, _ = anonymous_escalation(django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            conversation_contact_email_set(conversation_id=later.pk, email="victim@example.org")
        assert mail.outbox[-1].to == ["victim@example.org"]
        assert len(mail.outbox) == 4


def test_the_limit_per_address_also_holds_for_an_address_left_before_the_escalation(
    django_capture_on_commit_callbacks, settings
):
    """Leaving the address first and asking for a human afterwards must not get round the limit."""
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 1
    early = ConversationFactory(customer=None, language="en")
    conversation_contact_email_set(conversation_id=early.pk, email="victim@example.org")
    _, first = anonymous_escalation(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_contact_email_set(conversation_id=first.conversation_id, email="victim@example.org")
    assert len(mail.outbox) == 1

    MessageFactory(conversation=early, role=Message.Role.CUSTOMER, content=HOSTILE)
    ticket = escalate(early, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    ticket.refresh_from_db()
    assert ticket.is_open and ticket.follow_up_by_email and ticket.follow_up_acknowledged_at is None


def test_an_acknowledgement_the_mail_server_refused_does_not_count_against_the_address(settings):
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 1
    conversation = ConversationFactory(customer=None, language="en", contact_email="visitor@example.org")
    ticket, _ = conversation_human_request(conversation=conversation)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 2
    with pytest.raises(OSError):
        follow_up_acknowledgement_send(ticket_id=ticket.pk)

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert follow_up_acknowledgement_send(ticket_id=ticket.pk) is True
    assert [sent.to for sent in mail.outbox] == [["visitor@example.org"]]


def test_the_verified_customers_own_address_is_not_held_to_the_limit(django_capture_on_commit_callbacks, settings):
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 1
    customer = CustomerFactory(email="emma@example.com")
    for _ in range(3):
        escalate(ConversationFactory(customer=customer, language="en"), django_capture_on_commit_callbacks)
    assert [sent.to for sent in mail.outbox] == [["emma@example.com"]] * 3


def test_one_client_address_may_leave_a_limited_number_of_emails_an_hour(django_capture_on_commit_callbacks, settings):
    settings.CONTACT_EMAILS_PER_HOUR_PER_IP = 2
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 0
    with time_machine.travel(timezone.now().replace(minute=5), tick=False) as traveller:
        for n in range(2):
            conversation, _ = anonymous_escalation(django_capture_on_commit_callbacks)
            with django_capture_on_commit_callbacks(execute=True):
                conversation_contact_email_set(
                    conversation_id=conversation.pk, email=f"person{n}@example.org", client_ip="192.0.2.7"
                )
        assert len(mail.outbox) == 2

        conversation, ticket = anonymous_escalation(django_capture_on_commit_callbacks)
        with pytest.raises(RateLimited, match="try again later"), django_capture_on_commit_callbacks(execute=True):
            conversation_contact_email_set(
                conversation_id=conversation.pk, email="person9@example.org", client_ip="192.0.2.7"
            )
        assert len(mail.outbox) == 2
        conversation.refresh_from_db()
        ticket.refresh_from_db()
        assert conversation.contact_email == ""
        assert ticket.is_open and ticket.follow_up_acknowledged_at is None
        # Another client is not held back by that one.
        with django_capture_on_commit_callbacks(execute=True):
            conversation_contact_email_set(
                conversation_id=conversation.pk, email="person9@example.org", client_ip="198.51.100.3"
            )
        assert len(mail.outbox) == 3

        traveller.shift(timedelta(hours=1))
        later, _ = anonymous_escalation(django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            conversation_contact_email_set(
                conversation_id=later.pk, email="person10@example.org", client_ip="192.0.2.7"
            )
        assert len(mail.outbox) == 4


def test_the_widget_is_told_when_an_address_has_had_enough_email(client, django_capture_on_commit_callbacks, settings):
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 1
    tokens = [start_anonymous(client) for _ in range(2)]
    for token in tokens:
        escalate(widget_session_start(token=token).conversation, django_capture_on_commit_callbacks)

    answers = []
    for token in tokens:
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(
                client.post(
                    EMAIL,
                    {"email": "victim@example.org"},
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Conversation {token}",
                )
            )

    assert answers[0].status_code == 200
    assert answers[1].status_code == 429
    assert "this address" in answers[1].json()["detail"]
    assert len(mail.outbox) == 1
    refused = widget_session_start(token=tokens[1]).conversation
    assert refused.contact_email == ""
    assert refused.status == refused.Status.PENDING_HUMAN


def test_the_widget_is_told_when_its_client_address_left_too_many_emails(
    client, django_capture_on_commit_callbacks, settings
):
    settings.CONTACT_EMAILS_PER_HOUR_PER_IP = 1
    settings.TRUSTED_PROXY_COUNT = 0
    tokens = [start_anonymous(client) for _ in range(3)]
    answers = []
    for n, token in enumerate(tokens):
        answers.append(
            client.post(
                EMAIL,
                {"email": f"person{n}@example.org"},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Conversation {token}",
                REMOTE_ADDR="192.0.2.7" if n < 2 else "198.51.100.3",
            )
        )

    assert [answer.status_code for answer in answers] == [200, 429, 200]
    assert "try again later" in answers[1].json()["detail"]
