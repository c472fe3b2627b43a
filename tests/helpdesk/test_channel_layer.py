"""The pub/sub channel layer (helpdesk/channel_layer.py) against a real redis-server."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from redis.exceptions import ConnectionError as RedisConnectionError

from helpdesk.asgi import application
from helpdesk.channel_layer import ChannelLayerUnavailable, PubSubChannelLayer
from helpdesk.consumers import CLOSE_RECONNECT
from helpdesk.services import widget_session_start

TIMEOUT = 10


@pytest.fixture
def layer(redis):
    return PubSubChannelLayer(hosts=[redis.url])


async def test_a_group_send_reaches_every_member_and_no_one_else(layer):
    first, second, outsider = [await layer.new_channel() for _ in range(3)]
    await layer.group_add("conversation.1", first)
    await layer.group_add("conversation.1", second)
    await layer.group_add("conversation.2", outsider)
    await layer.group_send("conversation.1", {"type": "relay", "n": 1})
    assert await asyncio.wait_for(layer.receive(first), TIMEOUT) == {"type": "relay", "n": 1}
    assert await asyncio.wait_for(layer.receive(second), TIMEOUT) == {"type": "relay", "n": 1}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(outsider), 0.3)
    await layer.flush()


async def test_a_waiting_receive_hears_that_redis_went_away(layer, redis):
    channel = await layer.new_channel()
    await layer.group_add("conversation.1", channel)
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.2)
    redis.kill()
    with pytest.raises(ChannelLayerUnavailable):
        await asyncio.wait_for(waiting, TIMEOUT)
    await layer.flush()


async def test_while_redis_is_down_a_channel_opens_but_joining_a_group_fails(layer, redis):
    joined = await layer.new_channel()
    await layer.group_add("conversation.1", joined)
    redis.kill()
    # The channel that was there hears of the outage.
    with pytest.raises(ChannelLayerUnavailable):
        await asyncio.wait_for(layer.receive(joined), TIMEOUT)
    # A socket opened during the outage still gets its channel...
    opened = await layer.new_channel()
    # ...and joining a group, even one this process already subscribes to, asks Redis.
    with pytest.raises((RedisConnectionError, ChannelLayerUnavailable)):
        await layer.group_add("conversation.1", opened)
    await asyncio.to_thread(redis.start)
    # As a socket's recovery does: try again each second until the layer is back, subscriptions
    # renewed (a pooled connection that died with the old server fails once first).
    for _ in range(TIMEOUT):
        try:
            await layer.group_add("conversation.1", opened)
            break
        except (RedisConnectionError, ChannelLayerUnavailable):
            await asyncio.sleep(1)
    else:
        pytest.fail("Redis came back but joining the group kept failing")
    await layer.group_send("conversation.1", {"type": "relay", "n": 2})
    assert await asyncio.wait_for(layer.receive(joined), TIMEOUT) == {"type": "relay", "n": 2}
    assert await asyncio.wait_for(layer.receive(opened), TIMEOUT) == {"type": "relay", "n": 2}
    await layer.flush()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_is_asked_back_even_when_redis_returns_before_it_notices(settings, redis):
    """Frames published during even a short outage are gone: the client must always catch up."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "helpdesk.channel_layer.PubSubChannelLayer", "CONFIG": {"hosts": [redis.url]}}
    }
    session = await database_sync_to_async(widget_session_start)()
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{session.token}/", headers=[(b"origin", b"http://127.0.0.1")]
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    redis.kill()
    await asyncio.to_thread(redis.start)
    output = await communicator.receive_output(timeout=TIMEOUT)
    assert output == {"type": "websocket.close", "code": CLOSE_RECONNECT}
    await database_sync_to_async(connections.close_all)()
