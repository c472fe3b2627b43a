"""Chat message limits per conversation and per client address (helpdesk/services/limits.py)."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from helpdesk.services.limits import RateLimited, message_rate_check


def send(count: int, *, conversation_id: int, client_ip: str = "") -> int:
    accepted = 0
    for _ in range(count):
        try:
            message_rate_check(conversation_id=conversation_id, client_ip=client_ip)
        except RateLimited:
            continue
        accepted += 1
    return accepted


def test_one_conversation_is_held_to_its_own_limit(settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        assert send(5, conversation_id=1, client_ip="192.0.2.1") == 3
        assert send(3, conversation_id=2, client_ip="192.0.2.1") == 3


def test_one_address_is_held_to_its_limit_across_conversations(settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    settings.CHAT_MESSAGES_PER_MINUTE_PER_IP = 5
    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        accepted = sum(send(2, conversation_id=n, client_ip="192.0.2.1") for n in range(5))
        assert accepted == 5
        # Someone else is not slowed down by that address.
        assert send(2, conversation_id=99, client_ip="198.51.100.2") == 2


def test_the_limits_reset_the_next_minute(settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    with time_machine.travel(timezone.now().replace(second=5), tick=False) as traveller:
        assert send(4, conversation_id=1) == 2
        traveller.shift(timedelta(minutes=1))
        assert send(4, conversation_id=1) == 2


def test_zero_turns_a_limit_off(settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 0
    settings.CHAT_MESSAGES_PER_MINUTE_PER_IP = 0
    assert send(50, conversation_id=1, client_ip="192.0.2.1") == 50


def test_a_cache_that_is_down_lets_messages_through(settings):
    """A real Redis client against a port nobody listens on: the message must not be lost to the counter."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    settings.CHAT_MESSAGES_PER_MINUTE = 1
    assert send(3, conversation_id=1, client_ip="192.0.2.1") == 3
