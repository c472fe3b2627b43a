"""The local OpenAI stub, exercised through the real ``openai`` SDK over real HTTP.

These tests also pin how the SDK reacts to broken streams, which the copilot engine relies on.
"""

import json
import threading
import time

import jsonschema
import openai
import pytest

from tests.openai_server import DEFAULT_REPLY, OpenAIStub, schema_example

MESSAGES = [
    {"role": "system", "content": "You are a helpful support agent."},
    {"role": "user", "content": "Where is my parcel?"},
]

ANALYSIS_SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["negative", "neutral", "positive"]},
        "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
        "confidence": {"type": "number"},
        "needs_human": {"type": "boolean"},
        "customer": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "order_id": {"type": ["string", "null"]}},
            "required": ["name", "order_id"],
            "additionalProperties": False,
        },
        "topics": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["sentiment", "urgency", "confidence", "needs_human", "customer", "topics"],
    "additionalProperties": False,
}


@pytest.fixture
async def client_for(openai_server):
    clients = []

    def make(**options) -> openai.AsyncOpenAI:
        options = {"max_retries": 0, "timeout": 5.0, **options}
        clients.append(openai.AsyncOpenAI(base_url=openai_server.base_url, api_key="test", **options))
        return clients[-1]

    yield make
    # Pooled keep-alive sockets would otherwise outlive the test's event loop.
    for client in clients:
        await client.close()


async def collect(stream) -> list:
    return [chunk async for chunk in stream]


def contents(chunks) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


async def test_non_streaming_completion_is_a_standard_chat_completion(openai_server, client_for):
    response = await client_for().chat.completions.create(model="gpt-test", messages=MESSAGES)

    assert response.object == "chat.completion"
    assert response.id.startswith("chatcmpl-")
    assert response.model == "gpt-test"
    assert response.created > 0
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].message.content == DEFAULT_REPLY
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens == 10
    assert response.usage.completion_tokens == len(DEFAULT_REPLY.split())
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    [request] = openai_server.chat_requests
    assert request == {
        "path": "/v1/chat/completions",
        "body": openai_server.requests[0]["body"],
        "received_at": request["received_at"],
    }
    assert 0 < time.time() - request["received_at"] < 60
    assert openai_server.chat_requests[0]["body"]["messages"] == MESSAGES


async def test_streaming_arrives_as_ordered_deltas_then_a_usage_chunk(openai_server, client_for):
    reply = "Your parcel left our warehouse\nyesterday and  arrives tomorrow."
    openai_server.chat_replies.append(reply)

    stream = await client_for().chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = await collect(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = contents(chunks)
    assert len(deltas) == 9
    assert "".join(deltas) == reply
    assert {c.id for c in chunks} == {chunks[0].id}
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-test" for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 2) + ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 9
    assert chunks[-1].usage.prompt_tokens == 10
    assert chunks[-1].usage.total_tokens == 19
    assert all(c.usage is None for c in chunks[:-1])


async def test_streaming_without_include_usage_sends_no_usage_chunk(client_for):
    chunks = await collect(await client_for().chat.completions.create(model="m", messages=MESSAGES, stream=True))

    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(contents(chunks)) == DEFAULT_REPLY


async def test_json_schema_response_format_gets_a_valid_instance(client_for):
    response = await client_for().chat.completions.create(
        model="m",
        messages=MESSAGES,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "analysis", "strict": True, "schema": ANALYSIS_SCHEMA},
        },
    )

    analysis = json.loads(response.choices[0].message.content)
    jsonschema.validate(analysis, ANALYSIS_SCHEMA)
    assert analysis["sentiment"] in ("negative", "neutral", "positive")
    assert isinstance(analysis["urgency"], int) and analysis["urgency"] >= 1
    assert isinstance(analysis["needs_human"], bool)
    assert isinstance(analysis["customer"]["name"], str)
    assert analysis["topics"] == []
    assert response.usage.completion_tokens > 0


async def test_json_schema_also_works_streamed(client_for):
    stream = await client_for().chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "analysis", "schema": ANALYSIS_SCHEMA}},
    )
    deltas = contents(await collect(stream))

    assert len(deltas) > 1
    jsonschema.validate(json.loads("".join(deltas)), ANALYSIS_SCHEMA)


async def test_queued_replies_win_over_the_handler_then_the_handler_wins_over_the_default(openai_server, client_for):
    client = client_for()
    openai_server.chat_handler = lambda body: f"handled {body['messages'][-1]['content']}"
    openai_server.chat_replies.extend(["first", "second"])

    replies = []
    for _ in range(3):
        response = await client.chat.completions.create(model="m", messages=MESSAGES)
        replies.append(response.choices[0].message.content)
    openai_server.chat_handler = None
    response = await client.chat.completions.create(model="m", messages=MESSAGES)
    replies.append(response.choices[0].message.content)

    assert replies == ["first", "second", "handled Where is my parcel?", DEFAULT_REPLY]
    assert not openai_server.chat_replies


async def test_a_failing_chat_handler_answers_500(openai_server, client_for):
    openai_server.chat_handler = lambda body: 1 / 0

    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        await client_for().chat.completions.create(model="m", messages=MESSAGES)


async def test_fail_next_applies_to_chat(openai_server, client_for):
    openai_server.fail_next(status=500)

    with pytest.raises(openai.InternalServerError) as excinfo:
        await client_for().chat.completions.create(model="m", messages=MESSAGES)

    assert excinfo.value.status_code == 500
    assert excinfo.value.body == {"message": "injected 500", "type": "server_error"}


async def test_the_sdk_retries_through_injected_failures(openai_server, client_for):
    openai_server.fail_next(status=500, times=2)

    response = await client_for(max_retries=2).chat.completions.create(model="m", messages=MESSAGES)

    assert response.choices[0].message.content == DEFAULT_REPLY
    assert len(openai_server.chat_requests) == 3


async def test_fail_next_applies_to_streaming_requests(openai_server, client_for):
    openai_server.fail_next(status=503)

    with pytest.raises(openai.InternalServerError) as excinfo:
        await client_for().chat.completions.create(model="m", messages=MESSAGES, stream=True)

    assert excinfo.value.status_code == 503


async def test_a_delay_longer_than_the_client_timeout_times_out(openai_server, client_for):
    openai_server.delay = 1.0

    with pytest.raises(openai.APITimeoutError):
        await client_for(timeout=0.2).chat.completions.create(model="m", messages=MESSAGES)


async def test_delay_is_spent_once_per_call(openai_server, client_for):
    openai_server.delay = 0.3
    client = client_for()

    started = time.perf_counter()
    await client.chat.completions.create(model="m", messages=MESSAGES)
    await client.chat.completions.create(model="m", messages=MESSAGES)
    elapsed = time.perf_counter() - started

    assert 0.6 <= elapsed < 1.5


async def test_a_malformed_stream_yields_the_good_chunks_then_raises_json_decode_error(openai_server, client_for):
    openai_server.malformed_next()
    stream = await client_for().chat.completions.create(model="m", messages=MESSAGES, stream=True)

    received = []
    with pytest.raises(json.JSONDecodeError):
        async for chunk in stream:
            received.append(chunk)

    assert contents(received) == ["This "]
    # Deliberately not an openai.APIError: callers catching only the SDK's errors would miss it.
    assert not issubclass(json.JSONDecodeError, openai.OpenAIError)


async def test_a_malformed_non_streaming_body_raises_json_decode_error(openai_server, client_for):
    openai_server.malformed_next()

    with pytest.raises(json.JSONDecodeError):
        await client_for().chat.completions.create(model="m", messages=MESSAGES)


async def test_malformed_and_disconnect_are_spent_then_streams_recover(openai_server, client_for):
    client = client_for()
    openai_server.malformed_next(times=2)
    openai_server.disconnect_next()

    outcomes = []
    for _ in range(4):
        try:
            await collect(await client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
        except Exception as exc:
            outcomes.append(type(exc))
        else:
            outcomes.append("ok")

    assert outcomes == [json.JSONDecodeError, json.JSONDecodeError, openai.APIConnectionError, "ok"]


async def test_a_streams_only_malformed_reply_waits_for_a_stream(openai_server, client_for):
    client = client_for()
    openai_server.malformed_next(streams_only=True)

    response = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert response.choices[0].message.content == DEFAULT_REPLY

    with pytest.raises(json.JSONDecodeError):
        await collect(await client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert (
        "".join(
            contents(await collect(await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)))
        )
        == DEFAULT_REPLY
    )


async def test_heal_disarms_every_fault(openai_server, client_for):
    client = client_for(timeout=0.5)
    openai_server.fail_next(status=500, times=3)
    openai_server.malformed_next(times=2)
    openai_server.malformed_next(streams_only=True)
    openai_server.disconnect_next()
    openai_server.stall_next(seconds=5.0)
    openai_server.delay = openai_server.token_delay = 2.0

    openai_server.heal()

    response = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert response.choices[0].message.content == DEFAULT_REPLY
    chunks = await collect(await client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert "".join(contents(chunks)) == DEFAULT_REPLY
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_a_disconnected_stream_yields_what_arrived_then_raises_api_connection_error(openai_server, client_for):
    openai_server.disconnect_next()
    stream = await client_for().chat.completions.create(model="m", messages=MESSAGES, stream=True)

    received = []
    with pytest.raises(openai.APIConnectionError) as excinfo:
        async for chunk in stream:
            received.append(chunk)

    assert type(excinfo.value) is openai.APIConnectionError
    assert "incomplete chunked read" in str(excinfo.value.__cause__)
    assert contents(received) == ["This ", "is "]
    assert all(c.choices[0].finish_reason is None for c in received)


async def test_disconnect_next_waits_for_a_streaming_request(openai_server, client_for):
    client = client_for()
    openai_server.disconnect_next()

    response = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert response.choices[0].message.content == DEFAULT_REPLY

    with pytest.raises(openai.APIConnectionError):
        await collect(await client.chat.completions.create(model="m", messages=MESSAGES, stream=True))


async def test_a_stalled_stream_times_out(openai_server, client_for):
    openai_server.token_delay = 0.5
    stream = await client_for(timeout=0.2).chat.completions.create(model="m", messages=MESSAGES, stream=True)

    with pytest.raises(openai.APITimeoutError):
        await collect(stream)


async def test_a_stall_longer_than_the_timeout_yields_what_arrived_then_times_out(openai_server, client_for):
    openai_server.stall_next(after_chunks=2, seconds=5.0)
    stream = await client_for(timeout=0.3).chat.completions.create(model="m", messages=MESSAGES, stream=True)

    received = []
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError) as excinfo:
        async for chunk in stream:
            received.append(chunk)

    assert contents(received) == ["This ", "is "]
    assert all(c.choices[0].finish_reason is None for c in received)
    # A subclass of the connection error a dropped stream raises, so one except clause catches both.
    assert isinstance(excinfo.value, openai.APIConnectionError)
    # The read timeout fires while the server is still holding the connection open.
    assert time.perf_counter() - started < 5.0


async def test_a_stall_shorter_than_the_timeout_only_delays_the_answer(openai_server, client_for):
    client = client_for(timeout=5.0)
    openai_server.stall_next(after_chunks=1, seconds=0.4)

    # A non-streaming request does not spend the stall.
    response = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert response.choices[0].message.content == DEFAULT_REPLY

    started = time.perf_counter()
    chunks = await collect(await client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    stalled = time.perf_counter() - started
    assert "".join(contents(chunks)) == DEFAULT_REPLY
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert stalled >= 0.4

    started = time.perf_counter()
    chunks = await collect(await client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert "".join(contents(chunks)) == DEFAULT_REPLY
    assert time.perf_counter() - started < 0.4


async def test_the_client_timeout_is_per_read_not_for_the_whole_stream(openai_server, client_for):
    # Eleven events 0.1 s apart take a second, twice the timeout, and still arrive.
    openai_server.token_delay = 0.1
    started = time.perf_counter()
    chunks = await collect(
        await client_for(timeout=0.5).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    )
    assert "".join(contents(chunks)) == DEFAULT_REPLY
    assert time.perf_counter() - started > 0.9


async def test_a_stall_past_the_end_of_a_short_reply_holds_back_the_finish(openai_server, client_for):
    openai_server.chat_replies.append("Short.")
    openai_server.stall_next(after_chunks=5, seconds=5.0)
    stream = await client_for(timeout=0.3).chat.completions.create(model="m", messages=MESSAGES, stream=True)

    received = []
    with pytest.raises(openai.APITimeoutError):
        async for chunk in stream:
            received.append(chunk)

    assert contents(received) == ["Short."]
    assert all(c.choices[0].finish_reason is None for c in received)


async def test_closing_the_server_ends_a_stall_at_once():
    server = OpenAIStub()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=0.2)
    server.stall_next(seconds=60.0)
    try:
        with pytest.raises(openai.APITimeoutError):
            await collect(await client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
        [handler] = server.handler_threads
        assert handler.is_alive(), "the stalled answer should still be held open"
    finally:
        await client.close()
        server.shutdown()
        server.server_close()

    handler.join(timeout=5.0)
    assert not handler.is_alive()


async def test_tokens_arrive_incrementally(openai_server, client_for):
    openai_server.token_delay = 0.05
    openai_server.chat_replies.append("one two three four five six seven eight")

    started = time.perf_counter()
    stream = await client_for().chat.completions.create(model="m", messages=MESSAGES, stream=True)
    arrivals = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - started)
    total = time.perf_counter() - started

    assert len(arrivals) == 8
    assert arrivals[0] < total / 2
    assert arrivals == sorted(arrivals)
    assert arrivals[-1] - arrivals[0] >= 7 * 0.05 * 0.8


def test_schema_example_resolves_refs_and_picks_first_branches():
    schema = {
        "$defs": {
            "Priority": {"type": "string", "enum": ["low", "high"]},
            "Step": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "minLength": 3},
                    "done": {"type": "boolean"},
                    "weight": {"type": "number", "exclusiveMinimum": 0},
                },
                "required": ["action", "done", "weight"],
            },
        },
        "definitions": {"Kind": {"const": "ticket"}},
        "type": "object",
        "properties": {
            "priority": {"$ref": "#/$defs/Priority"},
            "kind": {"$ref": "#/definitions/Kind"},
            "assignee": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "reason": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "score": {"type": ["null", "integer"], "minimum": 3},
            "grid": {
                "type": "array",
                "minItems": 2,
                "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Step"}},
            },
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["priority", "kind", "assignee", "reason", "score", "grid", "tags"],
    }

    example = schema_example(schema)

    step = {"action": "xxx", "done": False, "weight": 1}
    assert example == {
        "priority": "low",
        "kind": "ticket",
        "assignee": None,
        "reason": "",
        "score": 3,
        "grid": [[step], [step]],
        "tags": [],
    }
    jsonschema.validate(example, schema)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, ""),
        ({"type": "integer"}, 0),
        ({"type": "number", "minimum": 0.5}, 0.5),
        ({"type": "boolean"}, False),
        ({"type": "null"}, None),
        ({"type": "array", "items": {"type": "integer"}}, []),
        ({"enum": [7, 8]}, 7),
        ({"const": {"a": 1}}, {"a": 1}),
        ({"properties": {"a": {"type": "integer"}}}, {"a": 0}),
        (
            {"allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": {"type": "boolean"}}}]},
            {"a": "", "b": False},
        ),
    ],
)
def test_schema_example_scalars_and_shapes(schema, expected):
    assert schema_example(schema) == expected
    jsonschema.validate(schema_example(schema), schema)


def test_schema_example_refuses_remote_refs():
    with pytest.raises(ValueError, match="local"):
        schema_example({"$ref": "https://example.com/schema.json"})
