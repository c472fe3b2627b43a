from django.conf import settings

from copilot.llm.base import Engine, EngineError
from copilot.llm.offline import OfflineEngine
from copilot.llm.openai_engine import OpenAIEngine

ENGINES = ("offline", "openai")


def engine_create(*, name: str | None = None, labels: list[str]) -> Engine:
    """A fresh engine for one turn; ``name`` defaults to ``COPILOT_ENGINE``."""
    name = name or settings.COPILOT_ENGINE
    if name == "openai":
        return OpenAIEngine(labels=labels)
    if name == "offline":
        return OfflineEngine()
    raise ValueError(f"Unknown copilot engine {name!r}; expected one of {', '.join(ENGINES)}.")


def delivery_default(*, engine_name: str) -> str:
    if settings.COPILOT_DELIVERY:
        return settings.COPILOT_DELIVERY
    return "stream" if engine_name == "openai" else "verified"


__all__ = ["ENGINES", "Engine", "EngineError", "OfflineEngine", "OpenAIEngine", "delivery_default", "engine_create"]
