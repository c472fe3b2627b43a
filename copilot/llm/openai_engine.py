"""The openai engine: any OpenAI-compatible server through the official SDK.

OpenAI, vLLM, Ollama and llama.cpp's server all work: set ``OPENAI_BASE_URL`` and
``COPILOT_MODEL``. The analysis is one structured-output call (entities, intent,
sentiment and urgency together) shared by the three analysis steps; the answer streams.
Every call has a timeout, and the SDK retries with exponential backoff. Anything that
still fails raises ``EngineError`` and the pipeline falls back to the offline engine.
"""

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal, InvalidOperation

import httpx2
import numpy as np
import openai
from django.conf import settings

from copilot.analysis.classifier import IntentClassifier, IntentPrediction
from copilot.analysis.entities import Amount, Entities, entities_extract
from copilot.analysis.sentiment import SENTIMENTS, URGENCIES, SentimentResult
from copilot.llm.base import EngineError, Grounding, Quality, Usage
from copilot.llm.offline import OfflineEngine
from copilot.llm.prompts import (
    ANALYSIS_INSTRUCTIONS,
    JUDGE_INSTRUCTIONS,
    SMALL_MAX_TOKENS,
    SMALL_PASSAGES,
    SMALL_STOP,
    citation_attribute,
    context_render,
    generation_messages,
    small_generation_messages,
)
from copilot.llm.redaction import Redactor, StreamRestorer
from copilot.quality import answer_score_rules
from knowledge.chunking import token_estimate

# Errors of the transport or of a malformed reply: all mean "this engine failed".
FAILURES = (openai.OpenAIError, httpx2.HTTPError, json.JSONDecodeError, KeyError, TypeError, ValueError)

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]" = weakref.WeakKeyDictionary()


@contextmanager
def reply_read(name: str) -> Iterator[None]:
    """Reading a parsed reply: JSON that does not fit the schema is this engine's failure too.

    Servers without strict structured outputs (llama.cpp, vLLM without a grammar) can send
    ``{}`` or a string where a number belongs.
    """
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise EngineError(f"{name}: the reply does not fit the schema: {type(exc).__name__}: {exc}") from exc


def client_get() -> openai.AsyncOpenAI:
    """One client per event loop: its connection pool belongs to the loop that created it."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = openai.AsyncOpenAI(
            api_key=settings.OPENAI_API_KEY or "not-needed",
            base_url=settings.OPENAI_BASE_URL or None,
            timeout=settings.COPILOT_LLM_TIMEOUT,
            max_retries=settings.COPILOT_LLM_RETRIES,
        )
        _clients[loop] = client
    return client


async def chat_stream(*, model: str, request: dict) -> AsyncIterator[dict]:
    """A streamed chat completion's chunks, as plain dicts.

    The SDK's own stream builds a pydantic model for every chunk: with 50 chunks an answer that
    was a sixth of a web process's Python time at 500 bench sessions (py-spy --gil). Its raw
    streaming response keeps the SDK's base URL, auth, retries and status errors and skips
    the models. Server-sent events per the SSE format: ``data:`` lines up to a blank line.
    """
    async with client_get().chat.completions.with_streaming_response.create(
        model=model, stream=True, stream_options={"include_usage": True}, **request
    ) as response:
        data: list[str] = []
        done = False
        async for line in _lines(response):
            if done:
                # The rest of the body is read, so the connection goes back to the pool.
                continue
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
                continue
            if line or not data:
                # Other fields (event:, id:, comments), or a blank line with no event pending.
                continue
            payload, data = "\n".join(data), []
            if payload.startswith("[DONE]"):
                done = True
                continue
            chunk = json.loads(payload)
            if not isinstance(chunk, dict):
                raise ValueError(f"a stream event is not an object: {payload[:80]!r}")
            if chunk.get("error"):
                raise ValueError(f"the server sent an error: {str(chunk['error'])[:200]}")
            yield chunk


async def _lines(response) -> AsyncIterator[str]:
    """The body's lines, with the transport's errors named as the SDK's own stream names them."""
    try:
        async for line in response.iter_lines():
            yield line
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.http_request) from exc
    except httpx2.RequestError as exc:
        raise openai.APIConnectionError(request=response.http_request) from exc


def analysis_schema(labels: list[str]) -> dict:
    strings = {"type": "array", "items": {"type": "string"}}
    amount = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"value": {"type": "string"}, "currency": {"type": ["string", "null"]}},
        "required": ["value", "currency"],
    }
    entities = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "order_numbers": strings,
            "emails": strings,
            "amounts": {"type": "array", "items": amount},
            "dates": strings,
            "products": strings,
        },
        "required": ["order_numbers", "emails", "amounts", "dates", "products"],
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "entities": entities,
            "intent": {"type": "string", "enum": labels},
            "intent_confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "sentiment": {"type": "string", "enum": list(SENTIMENTS)},
            "urgency": {"type": "string", "enum": list(URGENCIES)},
            "sentiment_score": {"type": "number", "minimum": -1, "maximum": 1},
            "signals": strings,
        },
        "required": ["entities", "intent", "intent_confidence", "sentiment", "urgency", "sentiment_score", "signals"],
    }


JUDGE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["score", "reasons"],
}


def _response_format(name: str, schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def _entities_from(payload: dict, *, text: str, products: list[str]) -> Entities:
    """The model's entities, kept only where they really occur in the message, plus the regex ones."""
    lowered = text.lower()
    amounts = []
    for row in payload.get("amounts", []):
        try:
            amounts.append(
                Amount(value=Decimal(str(row["value"])), currency=row.get("currency"), text=str(row["value"]))
            )
        except (InvalidOperation, KeyError):
            continue
    dates = []
    for value in payload.get("dates", []):
        try:
            dates.append(date.fromisoformat(value))
        except (TypeError, ValueError):
            continue
    model = Entities(
        order_numbers=tuple(n.lstrip("#") for n in payload.get("order_numbers", []) if n.lstrip("#") in text),
        emails=tuple(e.lower() for e in payload.get("emails", []) if e.lower() in lowered),
        amounts=tuple(amounts),
        dates=tuple(dates),
        products=tuple(p for p in payload.get("products", []) if p.lower() in lowered),
    )
    return entities_extract(text=text, products=products).merged(model)


class OpenAIEngine:
    """The ``full`` profile asks the model for everything: analysis, answer and judgement.

    The ``small`` profile (``COPILOT_LLM_PROFILE``, for a local CPU model) keeps the
    analysis and the quality score on the offline engine, so the answer is the only call,
    with a short prompt, a hard token budget and stop sequences.
    """

    name = "openai"

    def __init__(self, *, labels: list[str], model: str | None = None, profile: str | None = None) -> None:
        self.model = model or settings.COPILOT_MODEL
        self.profile = profile or settings.COPILOT_LLM_PROFILE
        self.usage = Usage()
        # The taxonomy the analysis call classifies into.
        self.labels = labels
        self._analysis: asyncio.Task | None = None
        self._offline = OfflineEngine() if self.profile == "small" else None
        # Emails, phones and cards masked in what leaves, restored in what comes back (redaction.py).
        self.redactor = Redactor() if settings.LLM_REDACT_PII else None

    def _outgoing(self, messages: list[dict]) -> list[dict]:
        return self.redactor.messages(messages) if self.redactor else messages

    async def _complete(self, *, messages: list[dict], schema_name: str, schema: dict) -> dict:
        try:
            response = await client_get().chat.completions.create(
                model=self.model,
                messages=self._outgoing(messages),
                response_format=_response_format(schema_name, schema),
                temperature=0,
            )
            content = response.choices[0].message.content or ""
            usage = response.usage
            self.usage.add(
                prompt_tokens=usage.prompt_tokens if usage else sum(token_estimate(m["content"]) for m in messages),
                completion_tokens=usage.completion_tokens if usage else token_estimate(content),
            )
            payload = json.loads(content)
            if not isinstance(payload, dict):
                raise ValueError("the reply is not a JSON object")
            return self.redactor.restore_data(payload) if self.redactor else payload
        except FAILURES as exc:
            raise EngineError(f"{schema_name}: {type(exc).__name__}: {exc}") from exc

    def _analyse(self, *, text: str) -> Awaitable[dict]:
        # The three analysis steps share one call; the first to ask starts it.
        if self._analysis is None:
            messages = [{"role": "system", "content": ANALYSIS_INSTRUCTIONS}, {"role": "user", "content": text}]
            self._analysis = asyncio.ensure_future(
                self._complete(messages=messages, schema_name="analysis", schema=analysis_schema(self.labels))
            )
        return asyncio.shield(self._analysis)

    async def extract_entities(self, *, text: str, products: list[str]) -> Entities:
        if self._offline:
            return await self._offline.extract_entities(text=text, products=products)
        payload = await self._analyse(text=text)
        with reply_read("analysis"):
            return _entities_from(payload["entities"], text=text, products=products)

    async def classify_intent(
        self, *, text: str, vector: Awaitable[np.ndarray], classifier: IntentClassifier | None
    ) -> IntentPrediction:
        if self._offline:
            return await self._offline.classify_intent(text=text, vector=vector, classifier=classifier)
        payload = await self._analyse(text=text)
        with reply_read("analysis"):
            intent = payload["intent"]
            if intent not in self.labels:
                raise EngineError(f"analysis: unknown intent {intent!r}")
            confidence = float(payload["intent_confidence"])
            return IntentPrediction(intent=intent, confidence=confidence, ranking=((intent, confidence),))

    async def analyze_sentiment(self, *, text: str, language: str) -> SentimentResult:
        if self._offline:
            return await self._offline.analyze_sentiment(text=text, language=language)
        payload = await self._analyse(text=text)
        with reply_read("analysis"):
            if payload["sentiment"] not in SENTIMENTS or payload["urgency"] not in URGENCIES:
                raise EngineError("analysis: sentiment or urgency outside the allowed values")
            return SentimentResult(
                sentiment=payload["sentiment"],
                urgency=payload["urgency"],
                score=float(payload["sentiment_score"]),
                signals=tuple(str(s) for s in payload["signals"]),
            )

    def _generation_request(self, grounding: Grounding) -> dict:
        if self.profile == "small":
            return {
                "messages": small_generation_messages(grounding),
                "max_tokens": settings.COPILOT_MAX_TOKENS or SMALL_MAX_TOKENS,
                "stop": SMALL_STOP,
                "temperature": 0.1,
                # Small models loop ("check whether the parcel is lost. Check whether...").
                "frequency_penalty": 0.3,
            }
        request = {"messages": generation_messages(grounding), "temperature": 0.2}
        if settings.COPILOT_MAX_TOKENS:
            request["max_tokens"] = settings.COPILOT_MAX_TOKENS
        return request

    async def generate(self, *, grounding: Grounding) -> AsyncIterator[str]:
        request = self._generation_request(grounding)
        messages = request["messages"] = self._outgoing(request["messages"])
        restorer = StreamRestorer(self.redactor) if self.redactor else None
        produced: list[str] = []
        usage: dict = {}
        try:
            finished = False
            async for chunk in chat_stream(model=self.model, request=request):
                if isinstance(chunk.get("usage"), dict):
                    usage = chunk["usage"]
                if not chunk.get("choices"):
                    continue
                choice = chunk["choices"][0]
                if delta := (choice.get("delta") or {}).get("content"):
                    if restorer:
                        delta = restorer.feed(delta)
                    if delta:
                        produced.append(delta)
                        yield delta
                finished = finished or choice.get("finish_reason") is not None
            # A stream cut short, or whose last event was corrupt, has no finish_reason.
            if not finished:
                raise ValueError("the stream ended without a finish_reason")
            if restorer and (rest := restorer.flush()):
                produced.append(rest)
                yield rest
            if self.profile == "small":
                source = citation_attribute("".join(produced), grounding.sources[:SMALL_PASSAGES])
                if source is not None:
                    yield f" [{source}]"
        except (*FAILURES, AttributeError) as exc:
            raise EngineError(f"generate: {type(exc).__name__}: {exc}") from exc
        finally:
            prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
            self.usage.add(
                prompt_tokens=prompt_tokens
                if isinstance(prompt_tokens, int)
                else sum(token_estimate(m["content"]) for m in messages),
                completion_tokens=completion_tokens
                if isinstance(completion_tokens, int)
                else token_estimate("".join(produced)),
            )

    async def score(self, *, grounding: Grounding, answer: str) -> Quality:
        rules = answer_score_rules(grounding=grounding, answer=answer)
        if self._offline:
            return rules
        messages = [
            {"role": "system", "content": JUDGE_INSTRUCTIONS},
            {
                "role": "user",
                "content": f"{context_render(grounding)}\n# QUESTION\n{grounding.message}\n# ANSWER\n{answer}",
            },
        ]
        payload = await self._complete(messages=messages, schema_name="quality", schema=JUDGE_SCHEMA)
        with reply_read("quality"):
            judged = float(payload["score"])
            reasons = [f"model: {reason}" for reason in payload["reasons"][:5]]
        if not 0 <= judged <= 10:
            raise EngineError(f"quality: score {judged} outside 0-10")
        if judged < rules.score:
            return Quality(score=judged, reasons=reasons + rules.reasons)
        return Quality(score=rules.score, reasons=rules.reasons + reasons)
