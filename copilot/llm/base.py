"""The interface both engines implement, and the data they exchange with the pipeline."""

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from copilot.analysis.classifier import IntentClassifier, IntentPrediction
from copilot.analysis.entities import Entities
from copilot.analysis.sentiment import SentimentResult
from copilot.tools import ToolResult


class EngineError(RuntimeError):
    """The engine could not do its part; the pipeline falls back to the offline engine."""


@dataclass(frozen=True)
class Source:
    """One numbered knowledge-base passage the answer may cite as [n]."""

    number: int
    title: str
    url: str
    heading: str
    text: str
    locale: str

    @classmethod
    def from_hit(cls, hit, *, number: int) -> "Source":
        """From a ``knowledge.selectors.SearchHit``."""
        return cls(number=number, title=hit.title, url=hit.url, heading=hit.heading, text=hit.text, locale=hit.locale)

    def citation(self) -> dict:
        return {"n": self.number, "title": self.title, "url": self.url, "heading": self.heading}


@dataclass(frozen=True)
class Grounding:
    """Everything an answer may say. An answer that states a fact from outside this is wrong."""

    message: str
    language: str
    intent: str
    sentiment: str
    urgency: str
    customer_name: str | None
    first_name: str | None
    tier: str | None
    customer_email: str | None
    tools: list[ToolResult]
    sources: list[Source]
    history: list[tuple[str, str]]
    memory_summary: str
    previous_summary: str
    # Small talk (thanks, greetings) needs no knowledge-base answer.
    small_talk: bool = False
    escalation_reasons: list[str] = field(default_factory=list)
    ticket_reference: str | None = None
    ticket_sla_minutes: int | None = None
    # Set when regenerating: what the quality check disliked about the first answer.
    feedback: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Quality:
    score: float
    reasons: list[str]


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, *, prompt_tokens: int, completion_tokens: int) -> None:
        self.calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens


class Engine(Protocol):
    name: str
    model: str
    usage: Usage

    async def extract_entities(self, *, text: str, products: list[str]) -> Entities: ...

    async def classify_intent(
        self, *, text: str, vector: Awaitable[np.ndarray], classifier: IntentClassifier | None
    ) -> IntentPrediction: ...

    async def analyze_sentiment(self, *, text: str, language: str) -> SentimentResult: ...

    def generate(self, *, grounding: Grounding) -> AsyncIterator[str]:
        """The answer as text deltas; grounded, personalised, with [n] citations."""
        ...

    async def score(self, *, grounding: Grounding, answer: str) -> Quality: ...
