"""JSON log lines carry the conversation and turn they are about, across tasks and threads."""

import asyncio
import json
import logging

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from helpdesk import logs
from helpdesk.logs import ContextFilter, JsonFormatter, log_context_add, log_context_bind


@pytest.fixture(autouse=True)
def no_ids_yet():
    """Each test starts with no ids bound, whatever ran before it in this thread."""
    token = logs._context.set(None)
    yield
    logs._context.reset(token)


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[dict] = []
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


def capture() -> tuple[logging.Logger, Lines]:
    logger = logging.getLogger("tests.logs")
    handler = Lines()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, handler


def test_a_line_is_json_with_the_bound_ids_and_the_exception():
    logger, handler = capture()
    try:
        logger.info("outside")
        with log_context_bind(conversation_id=7, message_id=42):
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("the turn failed")
        logger.info("after")
    finally:
        logger.removeHandler(handler)
    outside, failed, after = handler.lines
    assert set(outside) == {"time", "level", "logger", "message"}
    assert failed["message"] == "the turn failed"
    assert failed["level"] == "ERROR"
    assert (failed["conversation_id"], failed["message_id"]) == (7, 42)
    assert "ValueError: boom" in failed["exception"]
    assert "conversation_id" not in after


def test_ids_follow_into_tasks_and_database_threads():
    logger, handler = capture()

    def in_a_thread():
        logger.info("from the database thread")

    async def turn():
        log_context_add(conversation_id=3, message_id=9)
        await asyncio.create_task(asyncio.sleep(0))
        await sync_to_async(in_a_thread)()
        log_context_add(turn_id=11)

        async def child():
            logger.info("from a task")

        await asyncio.create_task(child())

    try:
        async_to_sync(turn)()
    finally:
        logger.removeHandler(handler)
    thread_line, task_line = handler.lines
    assert (thread_line["conversation_id"], thread_line["message_id"]) == (3, 9)
    assert "turn_id" not in thread_line
    assert (task_line["conversation_id"], task_line["turn_id"]) == (3, 11)
