"""Channel-layer groups and the sends that services make after their transaction commits.

``conversation.<pk>`` reaches the customer's sockets (every tab) and the agents watching
that conversation; ``console`` reaches every agent console. Frames are documented in
``docs/live-chat.md``.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

CONSOLE_GROUP = "console"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def group_send(group: str, frame: dict) -> bool:
    """Send now. A channel layer that is down loses the live update, never the stored data.

    Returns whether the layer took the frame; the sockets that missed it catch up when they
    reconnect (the widget's ``resume``, the console's reload).
    """
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.group_send)(group, {"type": "relay", "group": group, "frame": frame})
    except Exception:
        logger.exception("Could not send a %s frame to %s", frame.get("type"), group)
        return False
    return True


async def agroup_send(group: str, frame: dict) -> bool:
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
