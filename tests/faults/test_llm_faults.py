"""The language model fails while a customer is chatting: a timeout, a 5xx, a malformed stream,
a stream that stalls midway.

End to end through the customer's websocket with the copilot on the ``openai`` engine against
the local OpenAI-compatible server (tests/openai_server.py). Every case checks the database:
the customer's message is stored once and before the model was asked, the turn's trace names
the failing step and its error, exactly one answer is stored and it is what the socket showed
(the offline engine's answer, or an honest message with a colleague to follow up), and the
same socket gets a normal answer once the model is healthy again.
"""

from dataclasses import dataclass

import pytest
from channels.db import database_sync_to_async

from copilot.llm import templates as t
from copilot.models import CopilotTurn
from helpdesk.models import Conversation, Message, Ticket
from tests.faults.conftest import (
    FOLLOW_UP,
    GOOD_ANSWER,
    QUESTION,
    chat_open,
    customer_messages,
    frames_until,
    generation_requests,
    rows_for,
    send_message,
    stored,
    streamed,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]

DELIVERIES = ["stream", "verified"]
TIMED_OUT = "APITimeoutError: Request timed out."
# The first sentence of GOOD_ANSWER is its first 13 words; the stall comes one word into the second.
FIRST_SENTENCE = "You can start a return from the Orders page of your account [1]. "
AFTER_FIRST_SENTENCE = 14


@dataclass
class Turn:
    """One customer message and everything its turn left: frames on the socket, rows in the database."""

    message: Message
    frames: list[dict]
    reply: Message
    trace: CopilotTurn
    requests: list[dict]

    @property
    def fallback(self) -> list[str]:
        return self.trace.fallback.splitlines()


async def chat_turn(communicator, llm, *, conversation_id: int, text: str) -> Turn:
    """Send ``text`` and read the turn to its end, checking what every turn must do, fault or not."""
    asked_before = len(llm.chat_requests)
    ack, client_id = await send_message(communicator, text)
    # Stored and acknowledged before the copilot does anything with it.
    [message] = [m for m in await customer_messages(conversation_id=conversation_id) if m.pk == ack["id"]]
    assert (message.content, message.client_message_id) == (text, client_id)

    frames = await frames_until(communicator, "reply_done")
    assert frames[-1] == {"type": "reply_done", "reply_to": message.pk}
    assert not [f for f in frames if f["type"] == "error"], frames
    assert [m["id"] for m in stored(frames, "customer")] == [message.pk]

    rows = await rows_for(conversation_id=conversation_id, message_id=message.pk)
    assert [m.pk for m in rows.customers] == [message.pk]
    [reply] = rows.replies
    [trace] = rows.turns
    assert trace.reply_id == reply.pk and trace.engine == "openai"
    # Exactly what the customer saw: one stored answer, and the tokens that streamed it.
    [shown] = stored(frames, "assistant")
    assert (shown["id"], shown["content"]) == (reply.pk, reply.content)
    assert streamed(frames, message.pk).strip() == reply.content

    requests = llm.chat_requests[asked_before:]
    assert requests, "the model was never asked"
    assert message.created_at.timestamp() < min(r["received_at"] for r in requests)
    return Turn(message=message, frames=frames, reply=reply, trace=trace, requests=requests)


def assert_offline_answer(turn: Turn) -> None:
    """The offline engine answered from the help centre, citing the returns article."""
    assert t.text("en", "kb_intro") in turn.reply.content
    assert turn.reply.content != GOOD_ANSWER.strip()
    assert "lost my train of thought" not in turn.reply.content
    [shown] = stored(turn.frames, "assistant")
    assert any("/help/how-to-return-an-item/" in c["url"] for c in shown["citations"]), shown["citations"]
    assert not turn.trace.escalated and turn.trace.ticket_id is None
    assert not [f for f in turn.frames if f["type"] == "escalated"]


async def assert_recovers(communicator, llm, *, conversation_id: int, earlier: Turn) -> None:
    """The same socket, the model healthy again: the next message gets the model's own answer."""
    llm.heal()
    turn = await chat_turn(communicator, llm, conversation_id=conversation_id, text=FOLLOW_UP)
    assert turn.trace.fallback == ""
    assert turn.reply.content == GOOD_ANSWER.strip()
    assert all(step["ok"] for step in turn.trace.steps)
    # Nothing of the failed turn was redone or duplicated by the next one.
    customers = await customer_messages(conversation_id=conversation_id)
    assert [m.pk for m in customers] == [earlier.message.pk, turn.message.pk]
    counts = await conversation_counts(conversation_id)
    assert counts["assistant"] == 2 and counts["turns"] == 2


@database_sync_to_async
def conversation_counts(conversation_id: int) -> dict[str, int]:
    messages = Message.objects.filter(conversation_id=conversation_id)
    return {
        "assistant": messages.filter(role=Message.Role.ASSISTANT).count(),
        "system": messages.filter(role=Message.Role.SYSTEM).count(),
        "turns": CopilotTurn.objects.filter(conversation_id=conversation_id).count(),
        "tickets": Ticket.objects.filter(conversation_id=conversation_id).count(),
    }


@pytest.fixture
async def socket(visitor):
    communicator = await chat_open(visitor.token)
    yield communicator
    await communicator.disconnect()


# ---------------------------------------------------------------- the model never answers


@pytest.mark.parametrize("delivery", DELIVERIES)
async def test_a_model_that_times_out_gets_the_offline_answer(helpcentre, visitor, socket, llm, settings, delivery):
    settings.COPILOT_DELIVERY = delivery
    llm.delay = 2 * settings.COPILOT_LLM_TIMEOUT

    turn = await chat_turn(socket, llm, conversation_id=visitor.conversation_id, text=QUESTION)

    assert_offline_answer(turn)
    for step in ("extract_entities", "classify_intent", "analyze_sentiment"):
        assert f"{step}: analysis: {TIMED_OUT}" in turn.fallback
    assert f"generate: {TIMED_OUT}" in turn.fallback
    assert f"quality_check: quality: {TIMED_OUT}" in turn.fallback
    # One analysis, one answer, one verdict: each asked once, none retried (COPILOT_LLM_RETRIES=0).
    assert len(turn.requests) == 3 and len(generation_requests(llm)) == 1
    assert turn.trace.delivery == delivery
    await assert_recovers(socket, llm, conversation_id=visitor.conversation_id, earlier=turn)


@pytest.mark.parametrize("delivery", DELIVERIES)
async def test_a_model_answering_5xx_gets_the_offline_answer(helpcentre, visitor, socket, llm, settings, delivery):
    settings.COPILOT_DELIVERY = delivery
    llm.fail_next(status=503, times=3)

    turn = await chat_turn(socket, llm, conversation_id=visitor.conversation_id, text=QUESTION)

    assert_offline_answer(turn)
    failed = "InternalServerError: Error code: 503 - injected 503"
    assert f"classify_intent: analysis: {failed}" in turn.fallback
    assert f"generate: {failed}" in turn.fallback
    assert f"quality_check: quality: {failed}" in turn.fallback
    assert len(turn.requests) == 3
    await assert_recovers(socket, llm, conversation_id=visitor.conversation_id, earlier=turn)


async def test_a_passing_5xx_is_retried_and_the_customer_never_notices(helpcentre, visitor, socket, llm, settings):
    settings.COPILOT_LLM_RETRIES = 1
    llm.fail_next(status=502)

    turn = await chat_turn(socket, llm, conversation_id=visitor.conversation_id, text=QUESTION)

    assert turn.trace.fallback == ""
    assert turn.reply.content == GOOD_ANSWER.strip()
    # The analysis call met the 502 and was asked again.
    assert len(turn.requests) == 4
    await assert_recovers(socket, llm, conversation_id=visitor.conversation_id, earlier=turn)


# ---------------------------------------------------------------- the answer's stream breaks


@pytest.mark.parametrize("delivery", DELIVERIES)
async def test_a_malformed_stream_gets_the_offline_answer(helpcentre, visitor, socket, llm, settings, delivery):
    settings.COPILOT_DELIVERY = delivery
    # The role chunk and "You " arrive, then an event whose JSON is cut off.
    llm.malformed_next(streams_only=True)

    turn = await chat_turn(socket, llm, conversation_id=visitor.conversation_id, text=QUESTION)

    assert_offline_answer(turn)
    [failure] = turn.fallback
    assert failure.startswith("generate: JSONDecodeError: ")
    # The analysis and the verdict came from the model; only the answer fell back.
    assert turn.trace.qa_score == 9
    await assert_recovers(socket, llm, conversation_id=visitor.conversation_id, earlier=turn)


@pytest.mark.parametrize(
    ("delivery", "after_chunks"),
    [("stream", 3), ("verified", 3), ("verified", AFTER_FIRST_SENTENCE)],
    ids=["stream-before-a-sentence", "verified-early", "verified-after-a-sentence"],
)
async def test_a_stream_that_stalls_before_the_customer_saw_any_of_it_gets_the_offline_answer(
    helpcentre, visitor, socket, llm, settings, delivery, after_chunks
):
    settings.COPILOT_DELIVERY = delivery
    llm.stall_next(after_chunks=after_chunks, seconds=5 * settings.COPILOT_LLM_TIMEOUT)

    turn = await chat_turn(socket, llm, conversation_id=visitor.conversation_id, text=QUESTION)

    assert_offline_answer(turn)
    assert turn.fallback == [f"generate: {TIMED_OUT}"]
    # Nothing the model wrote before it stalled reached the customer.
    assert "You can start" not in streamed(turn.frames, turn.message.pk)
    [generate] = [step for step in turn.trace.steps if step["name"] == "generate"]
    assert generate["ms"] >= 1000 * settings.COPILOT_LLM_TIMEOUT
    await assert_recovers(socket, llm, conversation_id=visitor.conversation_id, earlier=turn)


async def test_a_stream_that_stalls_after_a_sentence_is_owned_up_to_and_handed_to_a_colleague(
    helpcentre, visitor, socket, llm, settings
):
    settings.COPILOT_DELIVERY = "stream"
    llm.stall_next(after_chunks=AFTER_FIRST_SENTENCE, seconds=5 * settings.COPILOT_LLM_TIMEOUT)

    turn = await chat_turn(socket, llm, conversation_id=visitor.conversation_id, text=QUESTION)

    # The sentence already shown stays, the unfinished one ("Pack ") is dropped, and the customer is told.
    lost = t.text("en", "lost")
    assert turn.reply.content == FIRST_SENTENCE + lost
    tokens = [f["delta"] for f in turn.frames if f["type"] == "token"]
    assert tokens == [FIRST_SENTENCE, lost]
    assert turn.fallback == [f"generate: {TIMED_OUT}"]
    # "A colleague will follow up": there is a ticket for that colleague, announced once.
    assert turn.trace.escalated and turn.trace.escalation_reasons == ["engine_failure"]
    ticket = turn.trace.ticket
    assert ticket.status == Ticket.Status.OPEN
    assert "the language model failed mid-answer" in ticket.reason
    [escalated] = [f for f in turn.frames if f["type"] == "escalated"]
    assert escalated["ticket"] == ticket.reference
    [notice] = stored(turn.frames, "system")
    assert notice["content"] == escalated["text"]
    counts = await conversation_counts(visitor.conversation_id)
    assert counts == {"assistant": 1, "system": 1, "turns": 1, "tickets": 1}
    conversation = await Conversation.objects.aget(pk=visitor.conversation_id)
    assert conversation.status == Conversation.Status.PENDING_HUMAN

    await assert_recovers(socket, llm, conversation_id=visitor.conversation_id, earlier=turn)
    # The colleague is still on the way; the healthy turn opened nothing new.
    assert (await conversation_counts(visitor.conversation_id))["tickets"] == 1
