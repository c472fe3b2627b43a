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
from django.db import transaction

from copilot.events import StatusEvent, TokenEvent
from copilot.models import CopilotTurn
from copilot.pipeline import turn_run
from copilot.services import customer_message_receive
from helpdesk import realtime
from helpdesk.asyncdb import database_sync_to_async
from helpdesk.models import Conversation, Message
from helpdesk.selectors import conversation_erasure_check
from helpdesk.services.limits import message_rate_check

logger = logging.getLogger(__name__)


def chat_message_receive(
    *, conversation: Conversation, text: str, client_id: str = "", client_ip: str = ""
) -> tuple[Message, bool]:
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
    # Limits per conversation and per address; a cache outage lifts them rather than losing the message.
    message_rate_check(conversation_id=conversation.pk, client_ip=client_ip)
    with transaction.atomic():
        # Erased while this socket was open, or being erased right now: nothing new is stored about them.
        conversation_erasure_check(conversation_id=conversation.pk)
        return customer_message_receive(conversation=conversation, content=text, client_message_id=client_id)


# How long a claim on answering a message holds if its process dies without releasing it.
TURN_CLAIM_SECONDS = 90
# Messages this process is answering: the claim that still holds while the shared cache is down.
_answering: set[int] = set()


async def _claim(message_id: int) -> bool:
    if message_id in _answering:
        return False
    _answering.add(message_id)
    try:
        if not await cache.aadd(f"turn-claim:{message_id}", 1, timeout=TURN_CLAIM_SECONDS):
            _answering.discard(message_id)
            return False
    except Exception:
        # Without the shared cache only this process's claim holds; the database still keeps
        # one turn per message (CopilotTurn.customer_message is unique).
        logger.warning("Answering message %s without a shared claim: the cache is unavailable", message_id)
    return True


async def _release(message_id: int) -> None:
    _answering.discard(message_id)
    try:
        await cache.adelete(f"turn-claim:{message_id}")
    except Exception:
        logger.warning("Could not release the claim on message %s; it expires by itself", message_id)


@transaction.atomic
def turn_delivery_failed(*, message_id: int, ms: float, error: str) -> bool:
    """Add a failed ``deliver`` step to the trace of the turn that answered ``message_id``.

    The answer is stored; only its live stream was lost, and the customer gets the answer
    when their socket resumes. Returns whether a turn was found.
    """
    turn = CopilotTurn.objects.select_for_update().filter(customer_message_id=message_id).first()
    if turn is None:
        return False
    turn.steps = [*turn.steps, {"name": "deliver", "ms": round(ms, 2), "ok": False, "error": error[:500]}]
    turn.save(update_fields=["steps"])
    return True


async def turn_deliver(*, conversation_id: int, message_id: int, text: str | None = None) -> bool:
    """Answer a stored customer message and stream the turn to the conversation's sockets.

    The answer itself arrives as a stored ``message`` frame; this adds the status chips,
    the token deltas and the closing ``reply_done``. A failure here never loses the
    customer's message, which was stored first.

    One process at a time answers a message (a claim in the shared cache; in this process
    only while the cache is down), so a resend or a reconnect while the answer is still
    streaming does not start a second stream. A channel layer that fails mid-stream loses
    the rest of the live frames, not the answer; the turn's trace gets a failed ``deliver``
    step. Returns whether this call answered it.
    """
    if not await _claim(message_id):
        return False
    group = realtime.conversation_group(conversation_id)
    began = time.perf_counter()
    lost: list[str] = []

    async def send(frame: dict) -> None:
        # Once the channel layer has failed, the rest of the stream is skipped: each try
        # would only wait for a connection that is not there.
        if lost and frame["type"] in ("token", "status"):
            return
        if not await realtime.agroup_send(group, frame):
            lost.append(frame["type"])

    try:
        async for event in turn_run(message_id=message_id, text=text):
            if isinstance(event, TokenEvent):
                await send({"type": "token", "reply_to": message_id, "delta": event.delta})
            elif isinstance(event, StatusEvent):
                await send({"type": "status", "key": event.code, "text": event.text, "reply_to": message_id})
    except Exception:
        logger.exception("Could not answer message %s", message_id)
        await send(
            {
                "type": "error",
                "code": "copilot_unavailable",
                "detail": "The assistant could not answer just now. Your message is saved; an agent will see it.",
            },
        )
    finally:
        await send({"type": "reply_done", "reply_to": message_id})
        await _release(message_id)
    if lost:
        error = f"channel layer unavailable; live {', '.join(dict.fromkeys(lost))} frames lost"
        try:
            await database_sync_to_async(turn_delivery_failed)(
                message_id=message_id, ms=(time.perf_counter() - began) * 1000, error=error
            )
        except Exception:
            logger.exception("Could not trace the lost delivery of message %s", message_id)
    return True
