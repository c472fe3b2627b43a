"""Helpers shared by the follow-up email tests (test_follow_up.py, test_follow_up_relay.py)."""

import socket

from django.urls import reverse

from helpdesk.models import Message
from helpdesk.services import conversation_human_request
from tests.factories import AgentProfileFactory, UserFactory

EMAIL = reverse("api-widget-email")
START = reverse("api-widget-conversations")


def make_agent(username: str = "jana"):
    user = UserFactory(username=username, first_name=username.title(), last_name="Novak")
    AgentProfileFactory(user=user, display_name=f"{username.title()} Novak")
    return user


def escalate(conversation, capture):
    with capture(execute=True):
        ticket, created = conversation_human_request(conversation=conversation)
    assert created
    return ticket


def notices(conversation) -> list[Message]:
    return list(conversation.messages.filter(role=Message.Role.SYSTEM).order_by("id"))


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_anonymous(client) -> str:
    return client.post(START, {}, content_type="application/json").json()["token"]
