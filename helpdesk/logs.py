"""Structured logs: one JSON object per line, carrying the conversation and turn a line is about.

``log_context_bind(conversation_id=..., message_id=...)`` sets the ids for the code that runs
inside it, including asyncio tasks it starts and ``sync_to_async`` threads (both copy the
context), so a line logged deep in the copilot still says which conversation it belongs to.
"""

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

CONTEXT_KEYS = ("conversation_id", "message_id", "turn_id")
_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_context", default=None)


def _ids() -> dict:
    return _context.get() or {}


@contextmanager
def log_context_bind(**ids: int | str | None) -> Iterator[None]:
    token = _context.set({**_ids(), **{key: value for key, value in ids.items() if value is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def log_context_add(**ids: int | str | None) -> None:
    """Add ids for the rest of the current context (e.g. the turn's id once it is stored)."""
    _context.set({**_ids(), **{key: value for key, value in ids.items() if value is not None}})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _ids().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            if (value := getattr(record, key, None)) is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
