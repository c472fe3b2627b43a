"""Channel-layer groups and the sends that services make after their transaction commits.

``conversation.<pk>`` reaches the customer's sockets (every tab) and the agents watching
that conversation; ``console`` reaches every agent console. Frames are documented in
``docs/live-chat.md``.
"""

import asyncio
import collections
import logging
import os
import weakref

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

CONSOLE_GROUP = "console"
# Sent to a conversation's group when its customer is erased: their chat sockets close with 4401.
ACCESS_REVOKED = "access_revoked"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def group_send(group: str, frame: dict) -> bool:
    """Send now. A channel layer that is down loses the live update, never the stored data.

    Returns whether the layer took the frame; the sockets that missed it catch up when they
    reconnect (the widget's ``resume``, the console's reload). Called from a database call
    of a socket or an ASGI request, the frame joins this process's outbox and the call
    returns at once (True): waiting there held the process's one shared database thread
    until the busy event loop got round to Redis, which was 15 % of that thread's time at
    500 bench sessions (bench/ws_load.py).
    """
    loop = _caller_loop()
    if loop is not None:
        loop.call_soon_threadsafe(_outbox_put, loop, group, frame, None)
        return True
    return async_to_sync(_layer_send)(group, frame)


async def agroup_send(group: str, frame: dict) -> bool:
    """Send from async code, in order with the frames that database calls queued before it."""
    loop = asyncio.get_running_loop()
    sent = loop.create_future()
    _outbox_put(loop, group, frame, sent)
    return await sent


def _caller_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop that this thread is doing a ``sync_to_async`` call for, if any.

    The same lookup asgiref's ``async_to_sync`` makes; None in plain synchronous code (a
    test, a Celery task, a management command).
    """
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or not loop.is_running() or loop.is_closed():
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return loop
    return None


# One outbox per event loop: frames leave in the order they were queued, so a reply's stored
# ``message`` frame (queued by the database call) still goes out before its ``reply_done``.
# A sender task drains it and ends when it is empty.
_outboxes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, collections.deque]" = weakref.WeakKeyDictionary()
_senders: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()


def _outbox_put(loop: asyncio.AbstractEventLoop, group: str, frame: dict, sent: asyncio.Future | None) -> None:
    outbox = _outboxes.get(loop)
    if outbox is None:
        outbox = _outboxes[loop] = collections.deque()
    outbox.append((group, frame, sent))
    if loop not in _senders:
        _senders[loop] = loop.create_task(_outbox_send(loop, outbox))


async def _outbox_send(loop: asyncio.AbstractEventLoop, outbox: collections.deque) -> None:
    try:
        while outbox:
            group, frame, sent = outbox.popleft()
            ok = await _layer_send(group, frame)
            if sent is not None and not sent.done():
                sent.set_result(ok)
    finally:
        _senders.pop(loop, None)
        # Cancelled with frames still queued (the loop is ending): their senders stop waiting.
        while outbox:
            _, _, sent = outbox.popleft()
            if sent is not None and not sent.done():
                sent.set_result(False)


async def _layer_send(group: str, frame: dict) -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        await layer.group_send(group, {"type": "relay", "group": group, "frame": frame})
    except Exception:
        logger.exception("Could not send a %s frame to %s", frame.get("type"), group)
        return False
    return True


def send_on_commit(group: str, frame: dict) -> None:
    """Send once the current transaction commits, so no one hears of a change that rolled back."""
    transaction.on_commit(lambda: group_send(group, frame))
