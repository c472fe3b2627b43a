"""Live chat for the copilot: take a customer's chat message in, stream the answer out.

The consumers call these; the pipeline (``copilot/pipeline.py``) stays transport-free.
Stored messages reach the sockets through ``helpdesk.services.message_add`` after commit;
what is only in flight (status chips, tokens) is sent from here.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from copilot.events import StatusEvent, TokenEvent
from copilot.pipeline import turn_run
from copilot.services import customer_message_receive
from helpdesk import realtime
from helpdesk.models import Conversation, Message

logger = logging.getLogger(__name__)


class RateLimited(ValidationError):
    pass


def chat_message_receive(*, conversation: Conversation, text: str, client_id: str = "") -> tuple[Message, bool]:
    """Store a customer's chat message, idempotently by ``client_id``, within the rate limit.

    A resend of a stored message is always accepted: the customer must not lose it to the
    limit. Returns the message and whether it is new.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError({"text": "A message cannot be empty."})
    if len(text) > settings.CHAT_MESSAGE_MAX_CHARS:
        raise ValidationError({"text": f"A message can have at most {settings.CHAT_MESSAGE_MAX_CHARS} characters."})
    if client_id and (existing := conversation.messages.filter(client_message_id=client_id).first()):
        return existing, False
    key = f"chat-rate:{conversation.pk}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    if cache.incr(key) > settings.CHAT_MESSAGES_PER_MINUTE:
        raise RateLimited("Too many messages in a minute; please wait a moment.")
    return customer_message_receive(conversation=conversation, content=text, client_message_id=client_id)


# How long a claim on answering a message holds if its process dies without releasing it.
TURN_CLAIM_SECONDS = 90


async def turn_deliver(*, conversation_id: int, message_id: int, text: str | None = None) -> bool:
    """Answer a stored customer message and stream the turn to the conversation's sockets.

    The answer itself arrives as a stored ``message`` frame; this adds the status chips,
    the token deltas and the closing ``reply_done``. A failure here never loses the
    customer's message, which was stored first.

    One process at a time answers a message (a claim in the shared cache), so a resend or
    a reconnect while the answer is still streaming does not start a second stream.
    Returns whether this call answered it.
    """
    claim = f"turn-claim:{message_id}"
    if not await cache.aadd(claim, 1, timeout=TURN_CLAIM_SECONDS):
        return False
    group = realtime.conversation_group(conversation_id)
    try:
        async for event in turn_run(message_id=message_id, text=text):
            if isinstance(event, TokenEvent):
                await realtime.agroup_send(group, {"type": "token", "reply_to": message_id, "delta": event.delta})
            elif isinstance(event, StatusEvent):
                await realtime.agroup_send(
                    group, {"type": "status", "key": event.code, "text": event.text, "reply_to": message_id}
                )
    except Exception:
        logger.exception("Could not answer message %s", message_id)
        await realtime.agroup_send(
            group,
            {
                "type": "error",
                "code": "copilot_unavailable",
                "detail": "The assistant could not answer just now. Your message is saved; an agent will see it.",
            },
        )
    finally:
        await realtime.agroup_send(group, {"type": "reply_done", "reply_to": message_id})
        await cache.adelete(claim)
    return True
