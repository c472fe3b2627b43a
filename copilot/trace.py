"""The timing record of one copilot turn: every step with its milliseconds."""

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


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
        except BaseException:
            self.record(name, began=began, ok=False)
            raise
        self.record(name, began=began)

    def record(self, name: str, *, began: float, ok: bool = True) -> None:
        """Add a step that ran synchronously, timed from ``began`` (a ``perf_counter`` value)."""
        self.steps.append({"name": name, "ms": round((time.perf_counter() - began) * 1000, 2), "ok": ok})
