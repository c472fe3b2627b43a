"""Abuse limits: customer chat messages per conversation and per client address, and the email
follow-up (docs/live-chat.md) per client address that leaves an address and per recipient.

Fixed windows counted in the shared cache, so every web process and worker sees the same
counts. A cache that is down lets requests through: losing a customer's message to a broken
counter would be worse than a minute without a limit, and the follow-up emails that the
recipient limit guards carry none of the visitor's text to an unconfirmed address anyway.
"""

import hashlib
import ipaddress
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

logger = logging.getLogger(__name__)

MINUTE, HOUR, DAY = 60, 3600, 24 * 3600


class RateLimited(ValidationError):
    pass


def _window(key: str, seconds: int) -> str:
    return f"{key}:{int(time.time() // seconds)}"


def _window_count(key: str, seconds: int = MINUTE) -> int:
    window = _window(key, seconds)
    cache.add(window, 0, timeout=2 * seconds)
    return cache.incr(window)


def message_rate_check(*, conversation_id: int, client_ip: str = "") -> None:
    """Count one new message; raise ``RateLimited`` when a limit is exceeded (0 turns a limit off)."""
    limits = [(f"chat-rate:{conversation_id}", settings.CHAT_MESSAGES_PER_MINUTE)]
    if client_ip:
        limits.append((f"chat-rate-ip:{client_ip}", settings.CHAT_MESSAGES_PER_MINUTE_PER_IP))
    for key, limit in limits:
        if limit <= 0:
            continue
        try:
            count = _window_count(key)
        except Exception:
            logger.warning("Could not count chat messages for %s; letting the message through", key, exc_info=True)
            return
        if count > limit:
            raise RateLimited("Too many messages in a minute; please wait a moment.")


def contact_email_rate_check(*, client_ip: str) -> None:
    """Count one address left for the email follow-up by ``client_ip``; ``RateLimited`` past the hourly limit.

    Without it one client could point the shop's support address at any number of inboxes.
    """
    limit = settings.CONTACT_EMAILS_PER_HOUR_PER_IP
    if limit <= 0 or not client_ip:
        return
    try:
        count = _window_count(f"contact-email-ip:{_client_network(client_ip)}", HOUR)
    except Exception:
        logger.warning("Could not count contact emails for %s; letting it through", client_ip, exc_info=True)
        return
    if count > limit:
        raise RateLimited({"email": "Too many email addresses were left from your network; please try again later."})


def recipient_inbox(email: str) -> str:
    """The mailbox an address reaches, as far as a limit can tell: case, a quoted local part, a
    "+tag" and a Unicode domain's punycode all reach one inbox, so they share one count."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.strip('"').split("+", 1)[0]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return f"{local}@{domain}"


def _recipient_key(email: str) -> str:
    # Hashed: the cache need not hold the addresses, and a 254-character address stays a short key.
    return "follow-up-to:" + hashlib.sha256(recipient_inbox(email).encode()).hexdigest()


def _client_network(client_ip: str) -> str:
    """One client's share of the address space: its IPv4 address, or its IPv6 /64, which a single
    subscriber is usually given whole."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def follow_up_recipient_check(*, email: str) -> None:
    """``RateLimited`` when ``email`` already had today's follow-up emails; counts nothing.

    Asked when the visitor leaves the address, so they hear of the limit instead of waiting for
    an email that ``follow_up_recipient_take`` would refuse.
    """
    limit = settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY
    if limit <= 0:
        return
    try:
        count = cache.get(_window(_recipient_key(email), DAY), 0)
    except Exception:
        logger.warning("Could not read the follow-up count of an address; letting it through", exc_info=True)
        return
    if count >= limit:
        raise RateLimited(
            {"email": "We cannot send more emails to this address today; please leave another address or try tomorrow."}
        )


def follow_up_recipient_take(*, email: str) -> bool:
    """Count one follow-up email to ``email``; whether it is still within today's limit (0: no limit)."""
    limit = settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY
    if limit <= 0:
        return True
    try:
        return _window_count(_recipient_key(email), DAY) <= limit
    except Exception:
        logger.warning("Could not count the follow-up emails of an address; letting it through", exc_info=True)
        return True


def follow_up_recipient_release(*, email: str) -> None:
    """Give back a count taken for an email that was not sent after all (the mail server failed)."""
    if settings.FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY <= 0:
        return
    try:
        cache.decr(_window(_recipient_key(email), DAY))
    except Exception:
        # Gone (a new day) or a cache that is down: nothing to give back.
        logger.info("Could not give back a follow-up count", exc_info=True)
