"""Chat message limits per conversation and per client address, and the email follow-up limits
(helpdesk/services/limits.py)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from helpdesk.services.limits import (
    RateLimited,
    contact_email_rate_check,
    follow_up_recipient_check,
    follow_up_recipient_release,
    follow_up_recipient_take,
    message_rate_check,
)


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


def cache_down(settings) -> None:
    """A real Redis client against a port nobody listens on."""
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


def test_a_cache_that_is_down_lets_messages_through(settings):
    """The message must not be lost to the counter."""
    cache_down(settings)
    settings.CHAT_MESSAGES_PER_MINUTE = 1
    assert send(3, conversation_id=1, client_ip="192.0.2.1") == 3


# ---------------------------------------------------------------- email follow-ups


def leave(count: int, *, client_ip: str) -> int:
    accepted = 0
    for _ in range(count):
        try:
            contact_email_rate_check(client_ip=client_ip)
        except RateLimited:
            continue
        accepted += 1
    return accepted


def test_one_client_address_leaves_a_limited_number_of_emails_an_hour(settings):
    settings.CONTACT_EMAILS_PER_HOUR_PER_IP = 3
    with time_machine.travel(timezone.now().replace(minute=5), tick=False) as traveller:
        assert leave(5, client_ip="192.0.2.1") == 3
        assert leave(2, client_ip="198.51.100.2") == 2
        traveller.shift(timedelta(minutes=50))
        assert leave(1, client_ip="192.0.2.1") == 0
        traveller.shift(timedelta(minutes=10))
        assert leave(5, client_ip="192.0.2.1") == 3


def test_the_refusal_says_what_to_do(settings):
    settings.CONTACT_EMAILS_PER_HOUR_PER_IP = 1
    with time_machine.travel(timezone.now().replace(minute=5), tick=False):
        contact_email_rate_check(client_ip="192.0.2.1")
        with pytest.raises(RateLimited) as refused:
            contact_email_rate_check(client_ip="192.0.2.1")
    assert "try again later" in refused.value.message_dict["email"][0]


def test_one_recipient_gets_a_limited_number_of_emails_a_day(settings):
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 2
    with time_machine.travel(timezone.now().replace(hour=10), tick=False) as traveller:
        follow_up_recipient_check(email="victim@example.org")
        assert follow_up_recipient_take(email="victim@example.org")
        assert follow_up_recipient_take(email="VICTIM@example.org")
        assert not follow_up_recipient_take(email="victim@example.org")
        with pytest.raises(RateLimited, match="this address"):
            follow_up_recipient_check(email="Victim@Example.org")
        # Another recipient has its own count.
        assert follow_up_recipient_take(email="other@example.org")
        traveller.shift(timedelta(days=1))
        follow_up_recipient_check(email="victim@example.org")
        assert follow_up_recipient_take(email="victim@example.org")


def test_a_send_that_failed_gives_its_count_back(settings):
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 1
    with time_machine.travel(timezone.now().replace(hour=10), tick=False):
        assert follow_up_recipient_take(email="victim@example.org")
        follow_up_recipient_release(email="victim@example.org")
        follow_up_recipient_check(email="victim@example.org")
        assert follow_up_recipient_take(email="victim@example.org")
        assert not follow_up_recipient_take(email="victim@example.org")


def test_zero_turns_the_email_limits_off(settings):
    settings.CONTACT_EMAILS_PER_HOUR_PER_IP = 0
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 0
    assert leave(50, client_ip="192.0.2.1") == 50
    assert all(follow_up_recipient_take(email="victim@example.org") for _ in range(50))
    follow_up_recipient_check(email="victim@example.org")


def test_a_cache_that_is_down_lets_the_email_limits_through(settings):
    cache_down(settings)
    settings.CONTACT_EMAILS_PER_HOUR_PER_IP = 1
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 1
    assert leave(3, client_ip="192.0.2.1") == 3
    assert all(follow_up_recipient_take(email="victim@example.org") for _ in range(3))
    follow_up_recipient_check(email="victim@example.org")
    follow_up_recipient_release(email="victim@example.org")


def test_spellings_of_one_inbox_share_its_count(settings):
    settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = 3
    with time_machine.travel(timezone.now().replace(hour=10), tick=False):
        for spelling in ('"victim"@example.org', "victim+1@EXAMPLE.org", " victim+news@example.org "):
            assert follow_up_recipient_take(email=spelling)
        assert not follow_up_recipient_take(email="victim@example.org")
        # A Unicode domain and its punycode reach one inbox too.
        assert follow_up_recipient_take(email="jan@příklad.cz")
        assert follow_up_recipient_take(email="jan@xn--pklad-zsa96e.cz")
        assert follow_up_recipient_take(email="jan@příklad.cz")
        assert not follow_up_recipient_take(email="jan@xn--pklad-zsa96e.cz")


def test_one_ipv6_subscriber_shares_one_count_across_its_64(settings):
    settings.CONTACT_EMAILS_PER_HOUR_PER_IP = 2
    with time_machine.travel(timezone.now().replace(minute=5), tick=False):
        assert leave(1, client_ip="2001:db8:1:2::1") == 1
        assert leave(1, client_ip="2001:db8:1:2:ffff::9") == 1
        assert leave(1, client_ip="2001:db8:1:2::abcd") == 0
        # The next /64 is another subscriber.
        assert leave(1, client_ip="2001:db8:1:3::1") == 1
