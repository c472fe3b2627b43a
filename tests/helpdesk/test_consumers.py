"""The chat and console websockets through the real ASGI application: origin check, session
auth, routing and the in-memory channel layer, on a committed database (transactional tests)
so that the broadcasts sent after commit really go out."""

import json

import pytest
import time_machine
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone
from prometheus_client import REGISTRY

from copilot.services import customer_message_receive, intents_import
from copilot.taxonomy import default_examples
from helpdesk.asgi import application
from helpdesk.identity import conversation_token_issue
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.selectors import customer_is_online
from helpdesk.services import conversation_take_over, widget_session_start
from tests.factories import AgentProfileFactory, CustomerFactory, UserFactory
from tests.sockets import frames_until

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
# The console compares the whole origin with the handshake's own host, as a browser sends it.
HOST = (b"host", b"127.0.0.1")
TIMEOUT = 10


@pytest.fixture(autouse=True)
async def close_worker_connections():
    yield
    # The consumers' queries ran on asgiref's worker thread; an open connection there
    # would keep the test database from being dropped at the end of the run.
    await sync_to_async(connections.close_all)()


@pytest.fixture
def taxonomy():
    # A transactional test starts from an emptied database: put back the default intents.
    intents_import(rows=default_examples())


async def chat(token: str, *, origin=ORIGIN) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/chat/{token}/", headers=[origin] if origin else [])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def console(session_cookie: str | None) -> WebsocketCommunicator:
    headers = [ORIGIN, HOST]
    if session_cookie:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def closed_with(communicator: WebsocketCommunicator) -> int:
    output = await communicator.receive_output(timeout=TIMEOUT)
    assert output["type"] == "websocket.close", output
    return output["code"]


@database_sync_to_async
def anonymous_session():
    return widget_session_start()


@database_sync_to_async
def agent_session(client, *, username: str = "jana", staff: bool = False) -> tuple:
    user = UserFactory(username=username, first_name=username.title(), last_name="Agent", is_staff=staff)
    AgentProfileFactory(user=user, display_name=f"{username.title()} Agent")
    client.force_login(user)
    return user, client.cookies[settings.SESSION_COOKIE_NAME].value


# ---------------------------------------------------------------- the customer's socket: who gets in


async def test_a_wrong_token_is_closed_as_unauthenticated():
    communicator = await chat("not-a-token")
    assert await closed_with(communicator) == 4401


async def test_a_missing_token_matches_no_route():
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    with pytest.raises(ValueError, match="No route found"):
        await communicator.connect(timeout=TIMEOUT)


async def test_a_token_for_a_deleted_conversation_is_closed_as_not_found():
    session = await anonymous_session()
    await Conversation.objects.filter(pk=session.conversation.pk).adelete()
    communicator = await chat(session.token)
    assert await closed_with(communicator) == 4404


async def test_a_token_reissued_for_another_identity_is_refused():
    session = await anonymous_session()
    customer = await database_sync_to_async(CustomerFactory)()
    forged = conversation_token_issue(conversation_public_id=session.conversation.public_id, customer_id=customer.pk)
    communicator = await chat(forged)
    assert await closed_with(communicator) == 4404


async def test_a_foreign_origin_is_refused():
    session = await anonymous_session()
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{session.token}/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_an_allowed_shop_origin_opens_the_chat(taxonomy):
    session = await anonymous_session()
    communicator = await chat(session.token, origin=(b"origin", b"https://shop.example"))
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "pong"
    await communicator.disconnect()


async def test_an_open_chat_marks_the_customer_present_until_it_closes():
    session = await anonymous_session()
    communicator = await chat(session.token)
    # The socket is accepted before connect() finishes; a pong means it has.
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "pong"
    assert await database_sync_to_async(customer_is_online)(conversation_id=session.conversation.pk)
    await communicator.disconnect()
    assert not await database_sync_to_async(customer_is_online)(conversation_id=session.conversation.pk)


@pytest.mark.parametrize("origin", [b"http://shop.example", b"https://shop.example:8443", b"https://evil.shop.example"])
async def test_a_near_miss_of_the_shop_origin_is_refused(origin):
    session = await anonymous_session()
    communicator = WebsocketCommunicator(application, f"/ws/chat/{session.token}/", headers=[(b"origin", origin)])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_a_missing_origin_is_refused():
    session = await anonymous_session()
    communicator = WebsocketCommunicator(application, f"/ws/chat/{session.token}/")
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_the_shop_origin_may_not_open_the_console(client):
    _, cookie = await agent_session(client)
    communicator = WebsocketCommunicator(
        application,
        "/ws/console/",
        headers=[
            (b"origin", b"https://shop.example"),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ],
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_another_conversations_token_sees_nothing_of_this_one(taxonomy):
    mine, theirs = await anonymous_session(), await anonymous_session()
    me, them = await chat(mine.token), await chat(theirs.token)
    await me.send_json_to({"type": "message", "text": "Hello, my secret is 4242", "client_id": "c1"})
    await frames_until(me, "reply_done")
    assert await them.receive_nothing(timeout=0.3)
    await them.send_json_to({"type": "resume", "last_id": 0})
    replay = await frames_until(them, "resumed")
    assert [f for f in replay if f["type"] == "message"] == []
    await me.disconnect()
    await them.disconnect()


# ---------------------------------------------------------------- bad frames


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json at all", "bad_json"),
        ("[1, 2, 3]", "bad_frame"),
        ('{"no_type": 1}', "bad_frame"),
        ('{"type": "launch_missiles"}', "unknown_type"),
        ('{"type": "message", "text": 42}', "bad_frame"),
        ('{"type": "message", "text": "   "}', "empty"),
        ('{"type": "resume", "last_id": "zero"}', "bad_frame"),
        ('{"type": "typing", "active": "yes"}', "bad_frame"),
        (json.dumps({"type": "message", "text": "x" * 100_000}), "too_long"),
    ],
)
async def test_a_bad_frame_gets_a_clear_error_and_the_socket_survives(raw, code):
    session = await anonymous_session()
    communicator = await chat(session.token)
    await communicator.send_to(text_data=raw)
    error = await communicator.receive_json_from(timeout=TIMEOUT)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["detail"]
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    assert not await Message.objects.filter(conversation_id=session.conversation.pk).aexists()
    await communicator.disconnect()


async def test_a_message_over_the_limit_is_refused_and_nothing_stored():
    session = await anonymous_session()
    communicator = await chat(session.token)
    await communicator.send_json_to(
        {"type": "message", "text": "y" * (settings.CHAT_MESSAGE_MAX_CHARS + 1), "client_id": "big"}
    )
    error = await communicator.receive_json_from(timeout=TIMEOUT)
    assert (error["code"], error["client_id"]) == ("too_long", "big")
    assert not await Message.objects.filter(conversation_id=session.conversation.pk).aexists()
    await communicator.disconnect()


# ---------------------------------------------------------------- chatting with the bot


async def test_a_message_is_acknowledged_stored_and_answered_with_a_streamed_turn(taxonomy):
    session = await anonymous_session()
    communicator = await chat(session.token)
    await communicator.send_json_to({"type": "message", "text": "Hello, good morning!", "client_id": "c-1"})
    frames = await frames_until(communicator, "reply_done")
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "ack"
    assert frames[0]["client_id"] == "c-1"
    assert not frames[0]["duplicate"]
    assert "status" in kinds
    messages = [f["message"] for f in frames if f["type"] == "message"]
    assert [m["role"] for m in messages] == ["customer", "assistant"]
    assert messages[0]["id"] == frames[0]["id"]
    assert messages[1]["content"]
    stored = [m async for m in Message.objects.filter(conversation_id=session.conversation.pk).order_by("id")]
    assert [(m.role, m.pk) for m in stored] == [("customer", messages[0]["id"]), ("assistant", messages[1]["id"])]
    await communicator.disconnect()


async def test_a_resent_client_id_creates_no_duplicate(taxonomy):
    session = await anonymous_session()
    communicator = await chat(session.token)
    frame = {"type": "message", "text": "Do you ship to Slovakia?", "client_id": "same-id"}
    await communicator.send_json_to(frame)
    first = await frames_until(communicator, "reply_done")
    await communicator.send_json_to(frame)
    ack = await communicator.receive_json_from(timeout=TIMEOUT)
    assert ack == {"type": "ack", "client_id": "same-id", "id": first[0]["id"], "duplicate": True}
    assert await communicator.receive_nothing(timeout=0.3)
    customer_messages = Message.objects.filter(conversation_id=session.conversation.pk, role="customer")
    assert await customer_messages.acount() == 1
    await communicator.disconnect()


@database_sync_to_async
def stored_without_answer(session, *, client_id: str = "lost"):
    # What a process that died between storing the message and answering it leaves behind.
    message, _ = customer_message_receive(
        conversation=session.conversation, content="How do I reset my password?", client_message_id=client_id
    )
    return message


async def test_a_resend_answers_a_message_whose_answer_was_lost(taxonomy):
    session = await anonymous_session()
    lost = await stored_without_answer(session)
    communicator = await chat(session.token)
    await communicator.send_json_to({"type": "message", "text": lost.content, "client_id": "lost"})
    frames = await frames_until(communicator, "reply_done")
    assert frames[0] == {"type": "ack", "client_id": "lost", "id": lost.pk, "duplicate": True}
    answers = [f["message"] for f in frames if f["type"] == "message" and f["message"]["role"] == "assistant"]
    assert len(answers) == 1
    assert await Message.objects.filter(conversation_id=session.conversation.pk, role="customer").acount() == 1
    await communicator.disconnect()


async def test_reconnecting_answers_a_message_whose_answer_was_lost(taxonomy):
    session = await anonymous_session()
    lost = await stored_without_answer(session)
    communicator = await chat(session.token)
    await communicator.send_json_to({"type": "resume", "last_id": lost.pk})
    frames = await frames_until(communicator, "reply_done")
    assert frames[0]["type"] == "resumed"
    assert any(f["type"] == "token" and f["reply_to"] == lost.pk for f in frames)
    assert await Message.objects.filter(conversation_id=session.conversation.pk, role="assistant").acount() == 1
    # Reconnecting again finds nothing left to answer.
    await communicator.send_json_to({"type": "resume", "last_id": lost.pk})
    await frames_until(communicator, "resumed")
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_a_message_being_answered_elsewhere_is_not_answered_twice(taxonomy):
    session = await anonymous_session()
    lost = await stored_without_answer(session)
    # Another process holds the claim: it is still streaming this answer.
    await cache.aset(f"turn-claim:{lost.pk}", 1)
    communicator = await chat(session.token)
    await communicator.send_json_to({"type": "resume", "last_id": lost.pk})
    await frames_until(communicator, "resumed")
    assert await communicator.receive_nothing(timeout=0.5)
    assert not await Message.objects.filter(conversation_id=session.conversation.pk, role="assistant").aexists()
    await communicator.disconnect()


async def test_resume_replays_what_the_client_missed(taxonomy):
    session = await anonymous_session()
    communicator = await chat(session.token)
    await communicator.send_json_to({"type": "message", "text": "What are your opening hours?", "client_id": "a"})
    frames = await frames_until(communicator, "reply_done")
    await communicator.disconnect()
    first_id = frames[0]["id"]
    again = await chat(session.token)
    await again.send_json_to({"type": "resume", "last_id": first_id})
    replay = await frames_until(again, "resumed")
    replayed = [f["message"] for f in replay if f["type"] == "message"]
    # Without a knowledge base the bot hands over: the stored notice, then the answer.
    assert [m["role"] for m in replayed] == ["system", "assistant"]
    assert all(m["id"] > first_id for m in replayed)
    assert replay[-1]["last_id"] == replayed[-1]["id"]
    await again.disconnect()


async def test_the_customer_is_rate_limited_per_conversation(taxonomy, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    session = await anonymous_session()
    communicator = await chat(session.token)
    for number in range(2):
        await communicator.send_json_to({"type": "message", "text": f"hi {number}", "client_id": f"r{number}"})
        await frames_until(communicator, "reply_done")
    await communicator.send_json_to({"type": "message", "text": "hi again", "client_id": "r2"})
    # Broadcasts of the earlier turns (the hand-over notice) may still be on their way.
    frames = await frames_until(communicator, "error")
    assert frames[-1]["code"] == "rate_limited"
    assert not [f for f in frames if f["type"] == "ack" and f["client_id"] == "r2"]
    assert await Message.objects.filter(conversation_id=session.conversation.pk, role="customer").acount() == 2
    await communicator.disconnect()


async def test_one_address_is_rate_limited_across_its_conversations(taxonomy, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 5
    settings.CHAT_MESSAGES_PER_MINUTE_PER_IP = 2
    frames_seen = []
    # From the start of a minute: the limits count in one-minute windows, and three answered turns
    # on a busy machine could cross into the next window (a CI run saw it).
    with time_machine.travel(timezone.now().replace(second=0, microsecond=0), tick=True):
        for number in range(3):
            session = await anonymous_session()
            communicator = WebsocketCommunicator(application, f"/ws/chat/{session.token}/", headers=[ORIGIN])
            communicator.scope["client"] = ("192.0.2.5", 40000 + number)
            assert (await communicator.connect(timeout=TIMEOUT))[0]
            text = {"type": "message", "text": f"hello {number}", "client_id": f"ip{number}"}
            await communicator.send_json_to(text)
            frames = await frames_until(communicator, "reply_done" if number < 2 else "error")
            frames_seen.append(frames)
            await communicator.disconnect()
    assert frames_seen[-1][-1]["code"] == "rate_limited"
    assert await Message.objects.filter(role="customer", client_message_id__startswith="ip").acount() == 2


# ---------------------------------------------------------------- humans


async def test_an_agent_socket_without_login_is_refused():
    communicator = await console(None)
    assert await closed_with(communicator) == 4403


async def test_a_logged_in_non_agent_is_refused_from_the_console(client):
    user = await database_sync_to_async(UserFactory)(username="shopper")
    await database_sync_to_async(client.force_login)(user)
    communicator = await console(client.cookies[settings.SESSION_COOKIE_NAME].value)
    assert await closed_with(communicator) == 4403


async def test_human_request_reaches_the_console_and_the_agent_takes_over(taxonomy, client):
    agent, cookie = await agent_session(client)
    desk = await console(cookie)
    presence = await desk.receive_json_from(timeout=TIMEOUT)
    assert presence == {"type": "presence", "agents": [{"username": "jana", "name": "Jana Agent", "online": True}]}

    session = await anonymous_session()
    customer = await chat(session.token)
    await customer.send_json_to({"type": "human"})
    escalated = await frames_until(customer, "escalated")
    assert escalated[-1]["agents_online"] is True
    assert escalated[-1]["text"]
    queue = await frames_until(desk, "escalation")
    ticket = await Ticket.objects.aget(conversation_id=session.conversation.pk)
    assert queue[-1]["ticket"]["reference"] == ticket.reference
    assert queue[-1]["conversation"] == session.conversation.pk

    # Watching the conversation brings the customer's typing.
    await desk.send_json_to({"type": "watch", "conversation": session.conversation.pk})
    await frames_until(desk, "watching")
    await customer.send_json_to({"type": "typing", "active": True})
    typing = await frames_until(desk, "typing")
    assert typing[-1] == {
        "type": "typing",
        "conversation": session.conversation.pk,
        "role": "customer",
        "active": True,
    }

    await database_sync_to_async(conversation_take_over)(conversation_id=session.conversation.pk, agent=agent)
    joined = await frames_until(customer, "agent_joined")
    assert joined[-1]["name"] == "Jana Agent"

    # The bot is silent while Jana has the conversation: the customer's message gets no answer.
    await customer.send_json_to({"type": "message", "text": "Are you a real person?", "client_id": "h1"})
    turn = await frames_until(customer, "reply_done")
    assert [f["message"]["role"] for f in turn if f["type"] == "message"] == ["customer"]
    assert not any(f["type"] in ("token", "status") for f in turn)
    assert not await Message.objects.filter(conversation_id=session.conversation.pk, role="assistant").aexists()
    await customer.disconnect()
    await desk.disconnect()


async def test_an_agent_typing_reaches_the_customer_but_not_their_own_typing(client):
    _, cookie = await agent_session(client)
    desk = await console(cookie)
    await frames_until(desk, "presence")
    session = await anonymous_session()
    customer = await chat(session.token)
    await desk.send_json_to({"type": "watch", "conversation": session.conversation.pk})
    await frames_until(desk, "watching")
    await desk.send_json_to({"type": "typing", "conversation": session.conversation.pk, "active": True})
    frame = await customer.receive_json_from(timeout=TIMEOUT)
    assert (frame["type"], frame["role"], frame["name"], frame["active"]) == ("typing", "agent", "Jana Agent", True)
    await customer.send_json_to({"type": "typing", "active": False})
    assert await customer.receive_nothing(timeout=0.3)
    await customer.disconnect()
    await desk.disconnect()


async def test_the_last_console_closing_marks_the_agent_offline(client):
    from helpdesk.models import AgentProfile

    agent, cookie = await agent_session(client)
    first, second = await console(cookie), await console(cookie)
    await frames_until(first, "presence")
    await frames_until(second, "presence")
    profile = await AgentProfile.objects.aget(user=agent)
    assert (profile.presence, profile.console_connections) == ("online", 2)
    await first.disconnect()
    await profile.arefresh_from_db()
    assert (profile.presence, profile.console_connections) == ("online", 1)
    await second.disconnect()
    await profile.arefresh_from_db()
    assert (profile.presence, profile.console_connections) == ("offline", 0)


async def test_watching_an_unknown_conversation_is_an_error(client):
    _, cookie = await agent_session(client)
    desk = await console(cookie)
    await frames_until(desk, "presence")
    await desk.send_json_to({"type": "watch", "conversation": 999999})
    assert (await frames_until(desk, "error"))[-1]["code"] == "not_found"
    await desk.send_json_to({"type": "watch", "conversation": "1; DROP TABLE"})
    assert (await frames_until(desk, "error"))[-1]["code"] == "bad_frame"
    await desk.disconnect()


async def test_an_agent_session_opens_no_customer_chat_without_its_token(client):
    _, cookie = await agent_session(client, staff=True)
    communicator = WebsocketCommunicator(
        application,
        "/ws/chat/guessed-token/",
        headers=[ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())],
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    assert await closed_with(communicator) == 4401


async def test_open_sockets_are_counted_for_prometheus(client):
    def open_sockets(kind: str) -> float:
        return REGISTRY.get_sample_value("helpdesk_websocket_connections", {"socket": kind}) or 0.0

    before_chat, before_console = open_sockets("chat"), open_sockets("console")
    session = await anonymous_session()
    customer = await chat(session.token)
    _, cookie = await agent_session(client)
    agent = await console(cookie)
    await agent.receive_json_from(timeout=TIMEOUT)
    assert (open_sockets("chat"), open_sockets("console")) == (before_chat + 1, before_console + 1)
    await customer.disconnect()
    await agent.disconnect()
    assert (open_sockets("chat"), open_sockets("console")) == (before_chat, before_console)
    # A socket refused at the door was never counted.
    refused = await chat("not-a-token")
    assert await closed_with(refused) == 4401
    assert open_sockets("chat") == before_chat
