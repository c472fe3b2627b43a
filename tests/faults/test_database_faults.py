"""PostgreSQL drops the connection in use, as a restart or a failover does: ``pg_terminate_backend``
from a connection of our own, on the real embedded server.

To drop it *during* a request, the test holds a lock on the table the request is about to
write (or read), waits until the request's backend is queued behind it, and ends that
backend. Between requests, it ends the backend the consumers' thread holds. Each case
checks that the request fails cleanly (or recovers by itself), that nothing is stored twice,
and that the next request works.
"""

import asyncio

import pytest
from channels.testing import HttpCommunicator

from copilot.llm import templates as t
from helpdesk.asgi import application
from helpdesk.models import Conversation, Ticket
from tests.faults.conftest import (
    FOLLOW_UP,
    GOOD_ANSWER,
    QUESTION,
    TIMEOUT,
    chat_open,
    customer_messages,
    frames_until,
    rows_for,
    send_message,
    stored,
    streamed,
    worker_backend_pid,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections", "llm"),
]

TERMINATED = "OperationalError: terminating connection due to administrator command"


@pytest.fixture
async def socket(visitor):
    communicator = await chat_open(visitor.token)
    yield communicator
    await communicator.disconnect()


async def answered(communicator, *, conversation_id: int, text: str, client_id: str | None = None):
    """Send a message and read its turn to the end; returns the message id, the frames and the rows."""
    if client_id is None:
        ack, client_id = await send_message(communicator, text)
    else:
        await communicator.send_json_to({"type": "message", "text": text, "client_id": client_id})
        ack = await communicator.receive_json_from(timeout=TIMEOUT)
        assert ack["type"] == "ack" and ack["client_id"] == client_id, ack
    frames = await frames_until(communicator, "reply_done")
    rows = await rows_for(conversation_id=conversation_id, message_id=ack["id"])
    assert [m.pk for m in rows.customers] == [ack["id"]]
    assert len(rows.replies) == 1 and len(rows.turns) == 1, (rows.replies, rows.turns)
    [shown] = stored(frames, "assistant")
    assert (shown["id"], shown["content"]) == (rows.replies[0].pk, rows.replies[0].content)
    return ack, frames, rows


async def assert_healthy_turn(communicator, *, conversation_id: int, text: str = FOLLOW_UP) -> None:
    _, frames, rows = await answered(communicator, conversation_id=conversation_id, text=text)
    assert rows.replies[0].content == GOOD_ANSWER.strip()
    assert rows.turns[0].fallback == "" and all(step["ok"] for step in rows.turns[0].steps)
    assert not [f for f in frames if f["type"] == "error"]


def failed_steps(turn) -> list[tuple[str, str]]:
    return [(step["name"], step.get("error", "")) for step in turn.steps if not step["ok"]]


# ---------------------------------------------------------------- the customer's socket


async def test_a_connection_dropped_between_messages_is_replaced_unseen(helpcentre, visitor, socket, pg):
    await assert_healthy_turn(socket, conversation_id=visitor.conversation_id, text=QUESTION)
    before = await worker_backend_pid()

    pg.terminate([before])

    # Channels' check before each database call finds the dead connection (CONN_HEALTH_CHECKS) and opens another.
    await assert_healthy_turn(socket, conversation_id=visitor.conversation_id)
    assert await worker_backend_pid() != before
    assert len(await customer_messages(conversation_id=visitor.conversation_id)) == 2


async def test_a_connection_dropped_while_the_message_is_stored_is_an_error_the_widget_can_retry(
    helpcentre, visitor, pg
):
    # Not the socket fixture: a consumer that crashed would raise again from its teardown.
    socket = await chat_open(visitor.token)
    frame = {"type": "message", "text": QUESTION, "client_id": "retry-me"}
    pg.lock("helpdesk_message", "SHARE")
    await socket.send_json_to(frame)
    pid, query = await pg.blocked(query='INSERT INTO "helpdesk_message"')
    assert query.startswith('INSERT INTO "helpdesk_message"')
    pg.terminate([pid])
    pg.unlock()

    # The widget keeps the message in its outbox and offers to send it again (any code but
    # too_long, empty and bad_frame); the socket stays open for that.
    # Short: an error frame goes out at once, and a consumer that crashed sends nothing until the timeout.
    error = await socket.receive_json_from(timeout=3)
    assert error["type"] == "error" and error["client_id"] == "retry-me"
    assert error["code"] not in ("too_long", "empty", "bad_frame")
    assert await customer_messages(conversation_id=visitor.conversation_id) == []

    ack, _, rows = await answered(socket, conversation_id=visitor.conversation_id, text=QUESTION, client_id="retry-me")
    assert ack["duplicate"] is False
    assert rows.replies[0].content == GOOD_ANSWER.strip()
    assert len(await customer_messages(conversation_id=visitor.conversation_id)) == 1
    await socket.disconnect()


@pytest.mark.parametrize("delivery", ["stream", "verified"])
async def test_a_connection_dropped_while_the_answer_is_saved_is_retried_once(
    helpcentre, visitor, socket, pg, settings, delivery
):
    settings.COPILOT_DELIVERY = delivery
    pg.lock("copilot_copilotturn", "SHARE")
    ack, _ = await send_message(socket, QUESTION)
    first, query = await pg.blocked(query='INSERT INTO "copilot_copilotturn"')
    assert query.startswith('INSERT INTO "copilot_copilotturn"')
    pg.terminate([first])
    # The turn saves again, on a new connection.
    second, query = await pg.blocked(query='INSERT INTO "copilot_copilotturn"')
    assert second != first and query.startswith('INSERT INTO "copilot_copilotturn"')
    pg.unlock()

    frames = await frames_until(socket, "reply_done")
    rows = await rows_for(conversation_id=visitor.conversation_id, message_id=ack["id"])
    # The first attempt (the answer's message and its trace together) rolled back whole.
    [reply], [turn] = rows.replies, rows.turns
    assert reply.content == GOOD_ANSWER.strip() and turn.reply_id == reply.pk
    [shown] = stored(frames, "assistant")
    assert (shown["id"], shown["content"]) == (reply.pk, reply.content)
    assert streamed(frames, ack["id"]).strip() == reply.content
    assert not [f for f in frames if f["type"] in ("error", "escalated")]
    [(name, error)] = failed_steps(turn)
    assert name == "persist" and error.startswith(TERMINATED)
    assert not turn.escalated and turn.fallback == ""
    assert [m.pk for m in await customer_messages(conversation_id=visitor.conversation_id)] == [ack["id"]]

    await assert_healthy_turn(socket, conversation_id=visitor.conversation_id)


@pytest.mark.parametrize(
    ("table", "mode", "drops", "step"),
    [
        ("knowledge_articlechunk", "ACCESS EXCLUSIVE", 1, "retrieve_knowledge"),
        ("copilot_copilotturn", "SHARE", 2, "persist"),
    ],
    ids=["while-searching", "while-saving-twice"],
)
async def test_a_turn_the_database_fails_ends_with_an_honest_message_and_a_colleague(
    helpcentre, visitor, socket, pg, table, mode, drops, step
):
    pg.lock(table, mode)
    ack, _ = await send_message(socket, QUESTION)
    for _ in range(drops):
        pid, _ = await pg.blocked()
        pg.terminate([pid])
    pg.unlock()

    frames = await frames_until(socket, "reply_done")
    assert frames[-1] == {"type": "reply_done", "reply_to": ack["id"]}
    rows = await rows_for(conversation_id=visitor.conversation_id, message_id=ack["id"])
    [reply], [turn] = rows.replies, rows.turns
    honest = t.text("en", "error")
    assert reply.content == honest and turn.reply_id == reply.pk
    [shown] = stored(frames, "assistant")
    assert (shown["id"], shown["content"]) == (reply.pk, honest)
    # The widget swaps whatever streamed before for this stored message.
    tokens = [f["delta"] for f in frames if f["type"] == "token"]
    assert tokens[-1] == honest
    # "A colleague will pick up your message": the ticket for it, announced once.
    assert turn.escalated and turn.escalation_reasons == ["copilot_error"] and turn.flagged
    ticket = turn.ticket
    assert ticket.status == Ticket.Status.OPEN and "the copilot hit an internal error" in ticket.reason
    [escalated] = [f for f in frames if f["type"] == "escalated"]
    assert escalated["ticket"] == ticket.reference
    assert [m["content"] for m in stored(frames, "system")] == [m.content for m in rows.system] == [escalated["text"]]
    assert failed_steps(turn) == [(step, failed_steps(turn)[0][1])] * drops
    assert all(error.startswith(TERMINATED) for _, error in failed_steps(turn))
    assert [m.pk for m in await customer_messages(conversation_id=visitor.conversation_id)] == [ack["id"]]
    assert await Ticket.objects.filter(conversation_id=visitor.conversation_id).acount() == 1

    await assert_healthy_turn(socket, conversation_id=visitor.conversation_id)
    conversation = await Conversation.objects.aget(pk=visitor.conversation_id)
    assert conversation.status == Conversation.Status.PENDING_HUMAN


# ---------------------------------------------------------------- the widget's REST API


async def widget_get(token: str) -> dict:
    communicator = HttpCommunicator(
        application,
        "GET",
        "/api/widget/conversation",
        headers=[
            (b"host", b"testserver"),
            (b"accept", b"application/json"),
            (b"authorization", f"Conversation {token}".encode()),
        ],
    )
    response = await communicator.get_response(timeout=TIMEOUT)
    # The client goes, as a browser's fetch does, so Django's handler finishes within the test.
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=TIMEOUT)
    return response


async def test_a_rest_request_whose_connection_drops_fails_cleanly_and_the_next_one_recovers(
    helpcentre, visitor, socket, pg
):
    await assert_healthy_turn(socket, conversation_id=visitor.conversation_id, text=QUESTION)
    healthy = await widget_get(visitor.token)
    assert healthy["status"] == 200

    pg.lock("helpdesk_conversation", "ACCESS EXCLUSIVE")
    request = asyncio.ensure_future(widget_get(visitor.token))
    pid, query = await pg.blocked(query='SELECT "helpdesk_conversation"."id"')
    assert query.startswith('SELECT "helpdesk_conversation"."id"')
    pg.terminate([pid])
    pg.unlock()
    failed = await request

    assert failed["status"] == 500
    body = failed["body"].decode()
    for leak in ("Traceback", "OperationalError", "terminating connection", "helpdesk_conversation", "SELECT"):
        assert leak not in body
    assert "Server Error (500)" in body

    recovered = await widget_get(visitor.token)
    assert recovered["status"] == 200 and recovered["body"] == healthy["body"]


async def test_rest_requests_after_every_connection_was_dropped_just_work(helpcentre, visitor, socket, pg):
    await assert_healthy_turn(socket, conversation_id=visitor.conversation_id, text=QUESTION)
    healthy = await widget_get(visitor.token)
    assert healthy["status"] == 200

    pg.terminate(pg.backends())

    assert await widget_get(visitor.token) == healthy
    # And the socket, whose connection went too.
    await assert_healthy_turn(socket, conversation_id=visitor.conversation_id)
