"""The turn's trace keeps each step's time and, for a step that raised, the error."""

import asyncio

import pytest

from copilot.trace import ERROR_CHARS, Trace


async def test_a_step_that_raises_is_recorded_failed_with_its_error():
    trace = Trace()
    async with trace.step("load_context"):
        pass
    with pytest.raises(ConnectionError):
        async with trace.step("persist"):
            raise ConnectionError("server closed the connection unexpectedly")

    ok, failed = trace.steps
    assert ok["name"] == "load_context" and ok["ok"] and "error" not in ok
    assert failed["name"] == "persist" and failed["ok"] is False
    assert failed["error"] == "ConnectionError: server closed the connection unexpectedly"


async def test_a_cancelled_step_is_not_recorded():
    trace = Trace()

    async def embed():
        async with trace.step("embed_message"):
            await asyncio.sleep(10)

    task = asyncio.ensure_future(embed())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert trace.steps == []


def test_a_long_error_is_cut():
    trace = Trace()
    trace.record("generate", began=trace.started, error=ValueError("x" * 5000))
    assert len(trace.steps[0]["error"]) == ERROR_CHARS


def test_a_failure_between_steps_is_recorded_as_the_turn_failing():
    trace = Trace()
    trace.record("decide_escalation", began=trace.started)
    trace.failed(KeyError("shipping"))
    assert trace.steps[-1]["name"] == "turn"
    assert trace.steps[-1]["ok"] is False
    assert trace.steps[-1]["error"] == "KeyError: 'shipping'"


async def test_a_failure_a_step_already_recorded_is_not_recorded_twice():
    trace = Trace()
    error = OSError("terminating connection due to administrator command")
    with pytest.raises(OSError):
        async with trace.step("persist"):
            raise error
    trace.failed(error)
    assert [step["name"] for step in trace.steps] == ["persist"]
