"""Abuse limits on customer chat messages: per conversation and per client address.

Fixed one-minute windows counted in the shared cache, so every web process sees the same
counts. A cache that is down lets messages through: losing a customer's message to a broken
counter would be worse than a minute without a limit.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

logger = logging.getLogger(__name__)


class RateLimited(ValidationError):
    pass


def _window_count(key: str) -> int:
    window = f"{key}:{int(time.time() // 60)}"
    cache.add(window, 0, timeout=120)
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
