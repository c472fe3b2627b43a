"""Live chat while Redis fails: a real redis-server on a free port, killed and restarted on it.

The channel layer and the cache are Redis in production. Without them the customer's
message must still be stored and answered once (Postgres is up), the socket must stay
open, and when the layer returns the socket asks its client to reconnect and catch up.
The multi-process version of this is tests/faults/test_redis_faults.py.
"""

import asyncio
import json
import logging
import time

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections

from copilot.delivery import chat_message_receive, turn_deliver
from copilot.models import CopilotTurn
from copilot.services import customer_message_receive, intents_import
from copilot.taxonomy import default_examples
from helpdesk import realtime
from helpdesk.consumers import CLOSE_RECONNECT
from helpdesk.models import Message
from helpdesk.services import widget_session_start
from tests.factories import ConversationFactory
from tests.helpdesk.conftest import free_port
from tests.sockets import chat_open

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


@pytest.fixture(params=["helpdesk.channel_layer.PubSubChannelLayer", "channels_redis.core.RedisChannelLayer"])
def redis_layer(request, settings, redis):
    """Both kinds of channel layer (CHANNEL_LAYER_KIND) against a real redis-server."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": request.param, "CONFIG": {"hosts": [redis.url]}}}
    return redis


@pytest.fixture
def cache_down(settings):
    """The cache is Redis at an address where nothing listens."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }


@pytest.fixture
def taxonomy():
    # A transactional test starts from an emptied database: put back the default intents.
    intents_import(rows=default_examples())


@pytest.fixture(autouse=True)
async def close_worker_connections():
    yield
    # The consumers' queries ran on asgiref's worker thread; close them so the test database can be dropped.
    await sync_to_async(connections.close_all)()


async def frames_until(communicator: WebsocketCommunicator, kind: str) -> list[dict]:
    seen = []
    while True:
        seen.append(await communicator.receive_json_from(timeout=TIMEOUT))
        if seen[-1]["type"] == kind:
            return seen


async def answered(message_id: int) -> CopilotTurn:
    deadline = time.monotonic() + TIMEOUT
    while (turn := await CopilotTurn.objects.filter(customer_message_id=message_id).afirst()) is None:
        assert time.monotonic() < deadline, f"message {message_id} was not answered"
        await asyncio.sleep(0.05)
    return turn


# ---------------------------------------------------------------- sends report what they could not do


async def test_a_send_says_whether_the_channel_layer_took_it(redis_layer, caplog):
    frame = {"type": "typing", "active": True}
    assert await realtime.agroup_send("conversation.1", frame) is True
    redis_layer.kill()
    with caplog.at_level(logging.ERROR, logger="helpdesk.realtime"):
        assert await realtime.agroup_send("conversation.1", frame) is False
        # The after-commit path in a socket's database call only queues the frame for the loop...
        assert await sync_to_async(realtime.group_send)("conversation.1", {**frame, "n": 2}) is True
        # ...which sends it before anything queued later, and logs the failure.
        assert await realtime.agroup_send("conversation.1", frame) is False
    assert [r.getMessage() for r in caplog.records] == ["Could not send a typing frame to conversation.1"] * 3


def test_a_send_from_plain_sync_code_says_whether_the_channel_layer_took_it(redis_layer, caplog):
    frame = {"type": "typing", "active": True}
    assert realtime.group_send("conversation.1", frame) is True
    redis_layer.kill()
    with caplog.at_level(logging.ERROR, logger="helpdesk.realtime"):
        assert realtime.group_send("conversation.1", frame) is False
    assert [r.getMessage() for r in caplog.records] == ["Could not send a typing frame to conversation.1"]


async def test_frames_queued_by_database_calls_keep_their_order_with_direct_sends(redis_layer):
    """A reply's stored message (sent after its commit, from the database thread) comes before its reply_done."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("conversation.7", channel)

    def commit_three() -> None:
        for n in range(3):
            realtime.group_send("conversation.7", {"type": "message", "n": n})

    await sync_to_async(commit_three)()
    assert await realtime.agroup_send("conversation.7", {"type": "reply_done"}) is True
    received = [(await asyncio.wait_for(layer.receive(channel), 5))["frame"] for _ in range(4)]
    assert received == [
        {"type": "message", "n": 0},
        {"type": "message", "n": 1},
        {"type": "message", "n": 2},
        {"type": "reply_done"},
    ]


# ---------------------------------------------------------------- the cache is down: store and answer anyway


def test_a_chat_message_is_stored_while_the_cache_is_down(cache_down, caplog):
    conversation = ConversationFactory()
    with caplog.at_level(logging.WARNING, logger="helpdesk.services.limits"):
        message, created = chat_message_receive(conversation=conversation, text="Where is my parcel?", client_id="x1")
    assert created
    assert Message.objects.get(pk=message.pk).content == "Where is my parcel?"
    assert "Could not count chat messages for chat-rate:" in " ".join(caplog.messages)
    # A resend is still recognised by its client_id: the database, not the cache, decides that.
    again, created = chat_message_receive(conversation=conversation, text="Where is my parcel?", client_id="x1")
    assert (again.pk, created) == (message.pk, False)


async def test_without_the_cache_a_message_is_still_answered_once(cache_down, taxonomy):
    session = await database_sync_to_async(widget_session_start)()
    message, _ = await database_sync_to_async(customer_message_receive)(
        conversation=session.conversation, content="What are your opening hours?"
    )
    # A resend racing the first answer in this process: the claim held here keeps it to one.
    results = await asyncio.gather(
        turn_deliver(conversation_id=session.conversation.pk, message_id=message.pk, text=message.content),
        turn_deliver(conversation_id=session.conversation.pk, message_id=message.pk, text=message.content),
    )
    assert sorted(results) == [False, True]
    assert await CopilotTurn.objects.filter(customer_message=message).acount() == 1
    assert await Message.objects.filter(conversation=session.conversation, role="assistant").acount() == 1
    # Released: a later delivery may answer again (and finds the stored answer).
    assert await turn_deliver(conversation_id=session.conversation.pk, message_id=message.pk) is True


# ---------------------------------------------------------------- the channel layer is down


async def test_a_turn_whose_live_stream_is_lost_is_traced_and_stored(redis_layer, taxonomy, caplog):
    session = await database_sync_to_async(widget_session_start)()
    message, _ = await database_sync_to_async(customer_message_receive)(
        conversation=session.conversation, content="What are your opening hours?"
    )
    redis_layer.kill()
    with caplog.at_level(logging.ERROR, logger="helpdesk.realtime"):
        assert await turn_deliver(conversation_id=session.conversation.pk, message_id=message.pk) is True
    turn = await answered(message.pk)
    assert turn.reply_id is not None
    deliver = [step for step in turn.steps if step["name"] == "deliver"]
    assert len(deliver) == 1 and deliver[0]["ok"] is False
    assert deliver[0]["error"].startswith("channel layer unavailable; live status")
    sent = [
        r.getMessage() for r in caplog.records if r.getMessage().endswith(f"conversation.{session.conversation.pk}")
    ]
    # After the first lost frame the stream is not tried token by token; the closing reply_done still is.
    assert not [line for line in sent if "token frame" in line]
    assert sum("status frame" in line for line in sent) == 1
    assert sum("reply_done frame" in line for line in sent) == 1


async def test_the_socket_outlives_the_channel_layer_and_asks_its_client_back(redis_layer, taxonomy):
    session = await database_sync_to_async(widget_session_start)()
    communicator = await chat_open(session.token)
    await communicator.send_json_to({"type": "resume", "last_id": 0})
    await frames_until(communicator, "resumed")
    redis_layer.kill()
    # Redis is down, Postgres is up: the customer writes, the message is stored and acked.
    await communicator.send_json_to({"type": "message", "text": "What are your opening hours?", "client_id": "d1"})
    ack = await frames_until(communicator, "ack")
    message_id = ack[-1]["id"]
    await communicator.send_json_to({"type": "ping"})
    assert (await frames_until(communicator, "pong"))[-1] == {"type": "pong"}
    turn = await answered(message_id)
    await asyncio.to_thread(redis_layer.start)
    # Back: the socket closes with 4012 for the client to reconnect and catch up.
    output = await communicator.receive_output(timeout=TIMEOUT)
    assert output == {"type": "websocket.close", "code": CLOSE_RECONNECT}
    again = await chat_open(session.token)
    await again.send_json_to({"type": "resume", "last_id": 0})
    replay = [f["message"] for f in await frames_until(again, "resumed") if f["type"] == "message"]
    assert [m["id"] for m in replay if m["id"] in (message_id, turn.reply_id)] == [message_id, turn.reply_id]
    # Live again through Redis.
    await realtime.agroup_send(realtime.conversation_group(session.conversation.pk), {"type": "typing", "x": 1})
    assert (await again.receive_json_from(timeout=TIMEOUT)) == {"type": "typing", "x": 1}
    await again.disconnect()


async def test_a_receive_that_outlives_the_socket_timeout_is_not_an_outage(settings, redis):
    # channels_redis blocks 5 s on each receive; a client socket timeout below that makes every idle
    # receive time out (redis-py 8 defaults to 5 s, racing it). The socket must not close over it.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": redis.url, "socket_timeout": 0.5}]},
        }
    }
    session = await database_sync_to_async(widget_session_start)()
    communicator = await chat_open(session.token)
    assert await communicator.receive_nothing(timeout=2)
    group = realtime.conversation_group(session.conversation.pk)
    assert await realtime.agroup_send(group, {"type": "typing", "x": 2})
    assert json.loads((await communicator.receive_output(timeout=TIMEOUT))["text"]) == {"type": "typing", "x": 2}
    await communicator.disconnect()


async def test_a_socket_that_asked_its_client_back_does_not_close_the_next_one(settings, redis, taxonomy):
    # The closed socket lives on until its client's disconnect arrives, and its receives still fail
    # now and then: here every idle one, as a socket timeout below channels_redis's 5 s block makes
    # them. Taken for an outage, each would close the client's new socket too, over and over.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": redis.url, "socket_timeout": 0.5}]},
        }
    }
    session = await database_sync_to_async(widget_session_start)()
    first = await chat_open(session.token)
    redis.kill()
    await first.send_json_to({"type": "ping"})
    assert (await frames_until(first, "pong"))[-1] == {"type": "pong"}
    await asyncio.sleep(1.5)
    await asyncio.to_thread(redis.start)
    assert await first.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": CLOSE_RECONNECT}
    again = await chat_open(session.token)
    assert await again.receive_nothing(timeout=3)
    await realtime.agroup_send(realtime.conversation_group(session.conversation.pk), {"type": "typing", "x": 3})
    assert (await again.receive_json_from(timeout=TIMEOUT)) == {"type": "typing", "x": 3}
    await again.disconnect()
    await first.disconnect()
