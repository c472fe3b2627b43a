"""The timing record of one copilot turn: every step with its milliseconds, and what failed."""

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

# Enough to tell one failure from another in the admin; a traceback belongs in the logs.
ERROR_CHARS = 500


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]


@dataclass
class Trace:
    started: float = field(default_factory=time.perf_counter)
    steps: list[dict] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    first_token_ms: int | None = None

    def elapsed_ms(self) -> int:
        return round((time.perf_counter() - self.started) * 1000)

    @asynccontextmanager
    async def step(self, name: str):
        began = time.perf_counter()
        try:
            yield
        except asyncio.CancelledError:
            # A step the flow abandoned (an embedding of superseded text) did no work for this turn.
            raise
        except BaseException as exc:
            self.record(name, began=began, error=exc)
            raise
        self.record(name, began=began)

    def record(self, name: str, *, began: float, ok: bool = True, error: BaseException | None = None) -> None:
        """Add a step that ran synchronously, timed from ``began`` (a ``perf_counter`` value)."""
        step = {"name": name, "ms": round((time.perf_counter() - began) * 1000, 2), "ok": ok and error is None}
        if error is not None:
            step["error"] = error_text(error)
        self.steps.append(step)

    def failed(self, exc: BaseException) -> None:
        """The turn failed with ``exc``: keep the error, unless the step it came from already has it."""
        if not any(step.get("error") for step in self.steps):
            self.record("turn", began=self.started, error=exc)
