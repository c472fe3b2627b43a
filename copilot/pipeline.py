"""The copilot pipeline: one stored customer message in, events and a traced answer out.

The whole flow, top to bottom (``turn_run``):

    load_context            memory + CRM card; the message is already stored
    ├─ extract_entities  ┐
    ├─ classify_intent   │  in parallel (the message is embedded once, for both
    ├─ analyze_sentiment │  the classifier and the search)
    └─ retrieve_knowledge┘
    route_tools             billing/account → account status; orders/shipping → order status;
                            returns → return eligibility
    decide_escalation       every reason that applies; a ticket when there is one
    generate + quality_check
        verified: check first; below 7 regenerate once with the feedback, then a safe answer
        stream:   sentence by sentence through the guards; score the finished text
    persist                 the reply and the trace row (once more if the database dropped
                            the connection); then, in Celery, the analytics event, the
                            agents' follow-up plan and the summary
    remember                the memory, once the answer is out

Every step is timed into the trace. A step the openai engine fails is redone by the
offline engine, and the trace says so. An unexpected error still ends the turn with an
honest message and an escalation, never with silence.
"""

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import InterfaceError, OperationalError

from copilot import escalation, tools
from copilot.analysis.classifier import IntentClassifier, IntentPrediction
from copilot.analysis.entities import Entities
from copilot.analysis.language import language_detect
from copilot.analysis.sentiment import SentimentResult
from copilot.events import EscalatedEvent, Event, MessageEvent, StatusEvent, TokenEvent
from copilot.guards import sentence_violations, sentences_split
from copilot.llm import EngineError, OfflineEngine, delivery_default, engine_create
from copilot.llm import templates as t
from copilot.llm.base import Engine, Grounding, Quality, Source
from copilot.llm.prompts import instructions_render
from copilot.models import CopilotTurn, Intent
from copilot.quality import grounding_allowed
from copilot.selectors import Context, copilot_context_get, customer_card_from_crm
from copilot.services import (
    TurnRecord,
    copilot_taxonomy_get,
    memory_remember,
    turn_escalate,
    turn_record,
)
from copilot.trace import Trace
from crm.remote import CrmUnavailable, RemoteCrm, remote_crm_get
from helpdesk.asyncdb import database_sync_to_async
from helpdesk.logs import log_context_add, log_context_bind
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.selectors import AccessRevoked
from helpdesk.services import conversation_reopen
from knowledge.embeddings import embedder_get
from knowledge.selectors import SearchResult, kb_search, search_query_build

logger = logging.getLogger(__name__)
T = TypeVar("T")

TOOL_STATUS = {
    tools.ACCOUNT_STATUS: "status_account",
    tools.ORDER_STATUS: "status_order",
    tools.RETURN_ELIGIBILITY: "status_return",
}
MAX_SOURCES = 3
# Storing the turn again after the database dropped the connection (a restart, a failover).
PERSIST_ATTEMPTS = 2


@dataclass
class Turn:
    """The state of one turn as the steps fill it in."""

    message: Message
    conversation: Conversation
    context: Context
    engine: Engine
    offline: OfflineEngine
    delivery: str
    language: str
    catalogue: dict[str, Intent]
    classifier: IntentClassifier | None
    products: list[str]
    trace: Trace
    # The remote CRM's client for this turn (CRM_BACKEND=http); None reads our own tables.
    crm: RemoteCrm | None = None
    vector: Awaitable[np.ndarray] | None = None
    entities: Entities = field(default_factory=Entities)
    intent: IntentPrediction | None = None
    sentiment: SentimentResult | None = None
    knowledge: SearchResult | None = None
    sources: list[Source] = field(default_factory=list)
    tool_results: list[tools.ToolResult] = field(default_factory=list)
    small_talk: bool = False
    escalation_reasons: list[str] = field(default_factory=list)
    ticket: Ticket | None = None
    answer: str = ""
    quality: Quality | None = None
    regenerated: bool = False
    flagged: bool = False
    guard_blocks: list[str] = field(default_factory=list)
    offer_human: bool = False
    record: TurnRecord | None = None
    reply_id: int | None = None

    @property
    def customer(self):
        return self.context.customer

    @property
    def card(self):
        return self.context.card

    def status(self, key: str) -> StatusEvent:
        return StatusEvent(code=key.removeprefix("status_"), text=t.text(self.language, key))


# ---------------------------------------------------------------- the flow


async def turn_run(
    *,
    message_id: int,
    text: str | None = None,
    engine: str | None = None,
    delivery: str | None = None,
) -> AsyncIterator[Event]:
    """Answer one stored customer message. Yields status, token, escalated and message events.

    ``text`` is the message's content when the caller has it at hand (it has just stored
    it); the embedding then starts before the message is read back.

    Yields nothing when the bot must stay silent (an agent has the conversation) and
    replays the stored answer when the message was already answered.
    """
    trace = Trace()
    # The embedding needs only the text: computing it while the context loads hides most of its cost.
    vector = embed_start(text, trace=trace) if text else None
    try:
        message = await Message.objects.select_related("conversation__customer__account", "conversation__memory").aget(
            pk=message_id, role=Message.Role.CUSTOMER
        )
    except BaseException:
        if vector is not None:
            vector.cancel()
        raise
    if vector is None or message.content != text:
        if vector is not None:
            vector.cancel()
        vector = embed_start(message.content, trace=trace)
    log_context_add(conversation_id=message.conversation_id, message_id=message_id)
    loaded = await load_context(message=message, trace=trace, engine_name=engine, delivery=delivery)
    if loaded is None or isinstance(loaded, MessageEvent):
        vector.cancel()
        if loaded is not None:
            yield loaded
        return
    turn = loaded
    turn.vector = vector
    if turn.crm is not None and turn.card is not None:
        turn.context = await card_from_crm(turn)
    try:
        async for event in _flow(turn):
            if isinstance(event, TokenEvent) and turn.trace.first_token_ms is None:
                turn.trace.first_token_ms = turn.trace.elapsed_ms()
            yield event
    except AccessRevoked:
        # The customer was erased while we answered: nothing of the answer is kept or escalated.
        logger.info("Copilot turn for message %s dropped: its customer was erased", message_id)
        return
    except Exception as exc:
        logger.exception("Copilot turn for message %s failed", message_id)
        turn.trace.failed(exc)
        async for event in fail_safely(turn):
            yield event


async def _flow(turn: Turn) -> AsyncIterator[Event]:
    yield turn.status("status_searching")
    await asyncio.gather(
        extract_entities(turn),
        classify_intent(turn),
        analyze_sentiment(turn),
        retrieve_knowledge(turn),
    )
    tool = tool_for(turn)
    if tool:
        yield turn.status(TOOL_STATUS[tool])
    await route_tools(turn, tool=tool)
    decide_escalation(turn)
    if turn.escalation_reasons:
        if event := await open_escalation(turn):
            yield event
    if turn.delivery == CopilotTurn.Delivery.VERIFIED:
        async for event in answer_verified(turn):
            yield event
    else:
        async for event in answer_streamed(turn):
            yield event
    yield await persist(turn)
    await remember(turn)


# ---------------------------------------------------------------- 1. context


@database_sync_to_async
def load_context(
    *, message: Message, trace: Trace, engine_name: str | None, delivery: str | None
) -> Turn | MessageEvent | None:
    started = time.perf_counter()
    conversation = message.conversation
    answered = CopilotTurn.objects.filter(customer_message=message, reply__isnull=False).select_related("reply").first()
    if answered is not None:
        return MessageEvent(
            message_id=answered.reply_id,
            text=answered.reply.content,
            citations=answered.citations,
            turn_id=answered.pk,
            offer_human=answered.reply.metadata.get("offer_human", False),
        )
    if conversation.status == Conversation.Status.HUMAN:
        return None
    conversation_reopen(conversation=conversation)
    context = copilot_context_get(conversation=conversation, before_message=message)
    taxonomy = copilot_taxonomy_get()
    engine = engine_create(name=engine_name, labels=sorted(taxonomy.catalogue))
    trace.record("load_context", began=started)
    return Turn(
        message=message,
        conversation=conversation,
        context=context,
        engine=engine,
        offline=engine if isinstance(engine, OfflineEngine) else OfflineEngine(),
        delivery=delivery or delivery_default(engine_name=engine.name),
        language=language_detect(text=message.content, default=context.language),
        catalogue=taxonomy.catalogue,
        classifier=taxonomy.classifier,
        products=taxonomy.products,
        trace=trace,
        crm=remote_crm_get(),
    )


async def card_from_crm(turn: Turn) -> Context:
    """The customer card's account and recent orders from the remote CRM; without them if it is down."""
    began = time.perf_counter()
    card, error = await customer_card_from_crm(card=turn.card, crm=turn.crm)
    turn.trace.record("crm_card", began=began, error=error)
    return replace(turn.context, card=card)


async def with_fallback(turn: Turn, step: str, call: Callable[[Engine], Awaitable[T]]) -> T:
    """Run ``call`` on the turn's engine; if that engine fails, on the offline one."""
    try:
        return await call(turn.engine)
    except EngineError as exc:
        if turn.engine is turn.offline:
            raise
        turn.trace.fallbacks.append(f"{step}: {exc}")
        return await call(turn.offline)


def embed_start(text: str, *, trace: Trace) -> Awaitable[np.ndarray]:
    """Embed the message in a worker thread; the classifier and the search share the result."""

    async def embed() -> np.ndarray:
        async with trace.step("embed_message"):
            return await asyncio.to_thread(embedder_get().embed_query, text)

    return asyncio.ensure_future(embed())


def message_vector(turn: Turn) -> Awaitable[np.ndarray]:
    return asyncio.shield(turn.vector)


# ---------------------------------------------------------------- 2. analysis, in parallel


async def extract_entities(turn: Turn) -> None:
    async with turn.trace.step("extract_entities"):
        turn.entities = await with_fallback(
            turn, "extract_entities", lambda e: e.extract_entities(text=turn.message.content, products=turn.products)
        )


async def classify_intent(turn: Turn) -> None:
    async with turn.trace.step("classify_intent"):
        turn.intent = await with_fallback(
            turn,
            "classify_intent",
            lambda e: e.classify_intent(
                text=turn.message.content, vector=message_vector(turn), classifier=turn.classifier
            ),
        )


async def analyze_sentiment(turn: Turn) -> None:
    async with turn.trace.step("analyze_sentiment"):
        turn.sentiment = await with_fallback(
            turn, "analyze_sentiment", lambda e: e.analyze_sentiment(text=turn.message.content, language=turn.language)
        )


async def retrieve_knowledge(turn: Turn) -> None:
    async with turn.trace.step("retrieve_knowledge"):
        # The full-text half of the query is built while the embedding is still running.
        prepared = await database_sync_to_async(search_query_build)(query=turn.message.content, locale=turn.language)
        vector = await message_vector(turn)
        turn.knowledge = await database_sync_to_async(kb_search)(
            prepared=prepared, query_vector=vector, limit=MAX_SOURCES, per_article=1
        )


# ---------------------------------------------------------------- 3. tools


# "my order", "where is", "moje objednávka", "kde je", "мой заказ": the question is about the customer's own order.
OWN_ORDER = re.compile(
    r"\b(?:my|mine|where\s+is|where's|moje|mou|můj|mé|mojí|moji|mám|kde\s+je|мой|мою|мои|моего|где|mein\w*|wo\s+ist)\b",
    re.IGNORECASE,
)


# The account's state, billing or signing in: what the account status tool can speak to.
# Billing always goes to it; an account how-to question ("how do I reset my password?") is
# answered from the help centre without reciting the account's balance.
ACCOUNT_STATE = re.compile(
    r"\b(?:status|active|suspend\w*|block\w*|lock\w*|closed|frozen|plan|subscri\w*|tier|balance|"
    r"pa(?:y|id)\w*|charg\w*|bill\w*|invoice\w*|refund\w*|premium|upgrad\w*|downgrad\w*|log\s*in|sign\s*in|"
    r"stav\w*|aktivn\w*|pozastav\w*|zablokov\w*|tarif\w*|předplat\w*|plat[bi]\w*|zaplat\w*|zůstat\w*|"
    r"faktur\w*|strh\w*|účtov\w*|přihlás\w*)",
    re.IGNORECASE,
)


def remembered_order(turn: Turn) -> str | None:
    """The order this message is about: named in it, or carried over from earlier turns."""
    if turn.entities.order_numbers:
        return turn.entities.order_numbers[0]
    return turn.context.memory.facts.get("order_number")


def tool_for(turn: Turn) -> str | None:
    """The tool the intent routes to, if the message gives it something to look up."""
    intent = turn.catalogue.get(turn.intent.intent) if turn.intent else None
    tool = intent.tool if intent else ""
    if tool in (tools.ORDER_STATUS, tools.RETURN_ELIGIBILITY):
        # A general question ("how much is delivery?") is not about the latest order.
        if remembered_order(turn) is None and not OWN_ORDER.search(turn.message.content):
            return None
    if (
        tool == tools.ACCOUNT_STATUS
        and turn.intent.intent != "billing"
        and not ACCOUNT_STATE.search(turn.message.content)
    ):
        return None
    return tool or None


async def route_tools(turn: Turn, *, tool: str | None) -> None:
    if tool is None:
        return
    began = time.perf_counter()
    order_number = None if tool == tools.ACCOUNT_STATUS else remembered_order(turn)
    result = await tools.tool_run(tool=tool, customer=turn.customer, order_number=order_number, crm=turn.crm)
    turn.tool_results.append(result)
    # A CRM that did not answer is an error of this step in the trace, though the turn goes on.
    unavailable = result.error == "crm_unavailable"
    turn.trace.record("route_tools", began=began, error=CrmUnavailable(result.data["why"]) if unavailable else None)


# ---------------------------------------------------------------- 4. escalation


# Knowledge-base categories that answer each default intent, for the agreement check below.
INTENT_CATEGORIES = {"orders": "ordering"}
AGREEMENT_MIN_INTENT_CONFIDENCE = 0.6
# Passages scoring this close to the best one are cited with it; further ones are noise.
SOURCE_SCORE_BAND = 0.015


def retrieval_answers(turn: Turn) -> bool:
    """Whether the knowledge base answers the message.

    The calibrated confidence is fitted on English questions and under-rates other
    languages, so a confident intent whose category matches the top hit's also counts:
    two independent signals agreeing.
    """
    knowledge = turn.knowledge
    if not knowledge or not knowledge.hits:
        return False
    if knowledge.answerable:
        return True
    intent = turn.intent
    category = INTENT_CATEGORIES.get(intent.intent, intent.intent)
    return intent.confidence >= AGREEMENT_MIN_INTENT_CONFIDENCE and knowledge.hits[0].category == category


def knowledge_sources(turn: Turn) -> list[Source]:
    if not retrieval_answers(turn):
        return []
    # A tool already answered; passages that only agree on the topic would be filler.
    if not turn.knowledge.answerable and any(result.ok for result in turn.tool_results):
        return []
    top = turn.knowledge.hits[0].vector_score
    hits = [hit for hit in turn.knowledge.hits[:MAX_SOURCES] if hit.vector_score >= top - SOURCE_SCORE_BAND]
    return [Source.from_hit(hit, number=number) for number, hit in enumerate(hits, start=1)]


def is_small_talk(turn: Turn) -> bool:
    """Thanks and greetings: no knowledge-base answer is needed, so no low-confidence escalation."""
    if turn.intent is None or turn.intent.intent != "general" or turn.entities.order_numbers:
        return False
    text = turn.message.content
    return "gratitude" in turn.sentiment.signals or (len(text.split()) <= 4 and "?" not in text)


def decide_escalation(turn: Turn) -> None:
    began = time.perf_counter()
    turn.sources = knowledge_sources(turn)
    turn.small_talk = is_small_talk(turn)
    intent = turn.catalogue.get(turn.intent.intent)
    turn.escalation_reasons = escalation.escalation_reasons(
        intent_escalates=bool(intent and intent.escalates),
        sentiment=turn.sentiment.sentiment,
        urgency=turn.sentiment.urgency,
        signals=turn.sentiment.signals,
        tools=turn.tool_results,
        answerable=bool(turn.sources),
        small_talk=turn.small_talk,
        earlier_failures=turn.context.memory.failure_streak,
    )
    turn.trace.record("decide_escalation", began=began)


async def open_escalation(turn: Turn) -> EscalatedEvent | None:
    """Hand the conversation to a person through the helpdesk's ticket service."""
    async with turn.trace.step("open_escalation"):
        subject = f"{turn.intent.intent if turn.intent else 'copilot'}: {turn.message.content}"[:200]
        ticket, created = await database_sync_to_async(turn_escalate)(
            conversation=turn.conversation,
            reasons=turn.escalation_reasons,
            tier=turn.card.tier if turn.card else None,
            subject=subject,
        )
    turn.ticket = ticket
    if not created:
        return None
    return EscalatedEvent(
        ticket_id=ticket.pk,
        ticket_reference=ticket.reference,
        reasons=list(turn.escalation_reasons),
        priority=ticket.priority,
    )


# ---------------------------------------------------------------- 5.–6. generate and check


def grounding_build(turn: Turn, *, feedback: list[str] | None = None) -> Grounding:
    card, memory = turn.card, turn.context.memory
    # "Last time you asked about ..." only reads right in the language the summary is written in.
    context = turn.context
    previous = context.previous_summary if context.previous_summary_language == turn.language else ""
    return Grounding(
        message=turn.message.content,
        language=turn.language,
        intent=turn.intent.intent,
        sentiment=turn.sentiment.sentiment,
        urgency=turn.sentiment.urgency,
        customer_name=card.name if card else None,
        first_name=card.first_name if card else None,
        tier=card.tier if card else None,
        customer_email=card.email if card else None,
        tools=turn.tool_results,
        sources=turn.sources,
        history=turn.context.history,
        memory_summary=memory.summary,
        previous_summary=previous,
        small_talk=turn.small_talk,
        escalation_reasons=list(turn.escalation_reasons),
        ticket_reference=turn.ticket.reference if turn.ticket else None,
        ticket_sla_minutes=settings.TICKET_SLA_MINUTES.get(turn.ticket.priority) if turn.ticket else None,
        feedback=feedback or [],
    )


async def generate_text(turn: Turn, grounding: Grounding) -> str:
    """The whole answer, before any of it is sent: if the engine fails, even midway, the offline engine writes it."""
    try:
        return "".join([delta async for delta in turn.engine.generate(grounding=grounding)])
    except EngineError as exc:
        if turn.engine is turn.offline:
            raise
        turn.trace.fallbacks.append(str(exc))
        return "".join([delta async for delta in turn.offline.generate(grounding=grounding)])


async def quality_check(turn: Turn, grounding: Grounding, answer: str) -> Quality:
    async with turn.trace.step("quality_check"):
        quality = await with_fallback(turn, "quality_check", lambda e: e.score(grounding=grounding, answer=answer))
    turn.quality = quality
    return quality


async def answer_verified(turn: Turn) -> AsyncIterator[Event]:
    """Check before sending: regenerate once with the feedback, then fall back to a safe answer."""
    grounding = grounding_build(turn)
    async with turn.trace.step("generate"):
        answer = await generate_text(turn, grounding)
    quality = await quality_check(turn, grounding, answer)
    if quality.score < settings.COPILOT_QA_THRESHOLD:
        turn.regenerated = True
        grounding = replace(grounding, feedback=quality.reasons)
        async with turn.trace.step("regenerate"):
            answer = await generate_text(turn, grounding)
        quality = await quality_check(turn, grounding, answer)
    if quality.score < settings.COPILOT_QA_THRESHOLD:
        turn.flagged = True
        turn.escalation_reasons.append(escalation.LOW_QUALITY)
        if event := await open_escalation(turn):
            yield event
        answer = safe_answer(turn)
    turn.answer = answer.strip()
    yield TokenEvent(delta=turn.answer)


async def answer_streamed(turn: Turn) -> AsyncIterator[Event]:
    """Release the answer sentence by sentence, each through the guards; score the finished text."""
    grounding = grounding_build(turn)
    # Only what we vouch for grounds a number or an email; the customer's words never do (quality.py).
    allowed = grounding_allowed(grounding, instructions=instructions_render(grounding))
    released: list[str] = []

    def admit(sentence: str) -> bool:
        problems = sentence_violations(sentence, allowed=allowed)
        if problems:
            turn.guard_blocks.extend(problems)
            turn.flagged = True
            return False
        released.append(sentence)
        return True

    engine, buffer = turn.engine, ""
    async with turn.trace.step("generate"):
        while True:
            buffer = ""
            try:
                async for delta in engine.generate(grounding=grounding):
                    sentences, buffer = sentences_split(buffer + delta)
                    for sentence in sentences:
                        if admit(sentence):
                            yield TokenEvent(delta=sentence)
                break
            except EngineError as exc:
                if engine is turn.offline:
                    raise
                turn.trace.fallbacks.append(str(exc))
                if not released:
                    # Nothing reached the customer yet: the offline engine answers from the start.
                    engine = turn.offline
                    continue
                # Part of the answer is out: drop the unfinished sentence, say so, and get a person.
                turn.escalation_reasons.append(escalation.ENGINE_FAILURE)
                lost = ("" if released[-1][-1:].isspace() else " ") + t.text(turn.language, "lost")
                released.append(lost)
                yield TokenEvent(delta=lost)
                buffer = ""
                break
        if buffer.strip() and admit(buffer):
            yield TokenEvent(delta=buffer)
    answer = "".join(released).strip()
    quality = await quality_check(turn, grounding, answer)
    if escalation.ENGINE_FAILURE in turn.escalation_reasons and turn.ticket is None:
        if event := await open_escalation(turn):
            yield event
    if quality.score < settings.COPILOT_QA_THRESHOLD or not answer:
        turn.flagged = True
        if turn.ticket is None:
            turn.offer_human = True
            offer = ("\n" if answer else "") + t.text(turn.language, "offer_human")
            answer += offer
            yield TokenEvent(delta=offer)
    turn.answer = answer


def safe_answer(turn: Turn) -> str:
    name = turn.card.first_name if turn.card else None
    if name:
        greeting = t.text(turn.language, "greeting", name=t.vocative(turn.language, name))
    else:
        greeting = t.text(turn.language, "greeting_anonymous")
    sla = t.sla(turn.language, settings.TICKET_SLA_MINUTES.get(turn.ticket.priority) if turn.ticket else None)
    ticket = turn.ticket.reference if turn.ticket else "—"
    return f"{greeting}\n{t.text(turn.language, 'safe', ticket=ticket, sla=sla)}"


# ---------------------------------------------------------------- 7. persist


def turn_facts(turn: Turn) -> dict:
    found = next((r.data.get("number") for r in turn.tool_results if r.ok and r.data.get("number")), None)
    return {
        "order_number": found or (turn.entities.order_numbers[0] if turn.entities.order_numbers else None),
        "email": turn.entities.emails[0] if turn.entities.emails else None,
        "last_intent": turn.intent.intent if turn.intent else None,
    }


def turn_failed(turn: Turn) -> bool:
    return escalation.LOW_CONFIDENCE in turn.escalation_reasons or turn.flagged


async def persist(turn: Turn) -> MessageEvent:
    async with turn.trace.step("persist_prepare"):
        citations = [source.citation() for source in turn.sources if f"[{source.number}]" in turn.answer]
        knowledge = turn.knowledge
        record = TurnRecord(
            conversation_id=turn.conversation.pk,
            customer_message_id=turn.message.pk,
            answer=turn.answer or t.text(turn.language, "error"),
            citations=citations,
            engine=turn.engine.name,
            model=turn.engine.model,
            delivery=turn.delivery,
            fallback="\n".join(turn.trace.fallbacks),
            steps=turn.trace.steps,
            total_ms=turn.trace.elapsed_ms(),
            first_token_ms=turn.trace.first_token_ms,
            llm_calls=turn.engine.usage.calls,
            prompt_tokens=turn.engine.usage.prompt_tokens,
            completion_tokens=turn.engine.usage.completion_tokens,
            language=turn.language,
            intent=turn.intent.intent if turn.intent else "",
            intent_confidence=round(turn.intent.confidence, 4) if turn.intent else 0.0,
            sentiment=turn.sentiment.sentiment if turn.sentiment else "neutral",
            sentiment_score=turn.sentiment.score if turn.sentiment else 0.0,
            urgency=turn.sentiment.urgency if turn.sentiment else "low",
            entities=turn.entities.as_dict(),
            tools=[result.as_dict() for result in turn.tool_results],
            retrieval_confidence=round(knowledge.confidence, 4) if knowledge else None,
            escalation_reasons=list(dict.fromkeys(turn.escalation_reasons)),
            ticket_id=turn.ticket.pk if turn.ticket else None,
            qa_score=turn.quality.score if turn.quality else None,
            qa_reasons=turn.quality.reasons if turn.quality else [],
            regenerated=turn.regenerated,
            flagged=turn.flagged,
            guard_blocks=turn.guard_blocks,
            offer_human=turn.offer_human,
            facts=turn_facts(turn),
            failed=turn_failed(turn),
            knowledge_gap=escalation.LOW_CONFIDENCE in turn.escalation_reasons,
            query_vector=knowledge.query_vector.tolist() if knowledge and knowledge.query_vector is not None else None,
        )
    record.total_ms = turn.trace.elapsed_ms()
    for attempt in range(1, PERSIST_ATTEMPTS + 1):
        try:
            async with turn.trace.step("persist"):
                stored, reply = await database_sync_to_async(turn_record)(record=record)
            break
        except (OperationalError, InterfaceError):
            # The answer is written, maybe already shown. The failed attempt rolled back, and
            # the next call replaces a dropped connection (CONN_HEALTH_CHECKS): worth one more try.
            if attempt == PERSIST_ATTEMPTS:
                raise
    turn.record, turn.reply_id = record, reply.pk
    log_context_add(turn_id=stored.pk)
    return MessageEvent(
        message_id=reply.pk, text=reply.content, citations=citations, turn_id=stored.pk, offer_human=turn.offer_human
    )


async def remember(turn: Turn) -> None:
    """Update the conversation's memory once the answer is out; the next message needs it, the customer doesn't wait."""
    try:
        await database_sync_to_async(memory_remember)(record=turn.record, reply_id=turn.reply_id)
    except AccessRevoked:
        logger.info("Memory of conversation %s not updated: its customer was erased", turn.conversation.pk)
    except Exception:
        # The answer is stored and sent; stale memory only costs the next turn some context.
        logger.exception("Could not update the memory of conversation %s", turn.conversation.pk)


async def fail_safely(turn: Turn) -> AsyncIterator[Event]:
    """An unexpected error: tell the customer honestly, get a person, and keep the trace."""
    turn.escalation_reasons = [*turn.escalation_reasons, escalation.COPILOT_ERROR]
    try:
        if event := await open_escalation(turn):
            yield event
    except Exception:
        logger.exception("Could not escalate conversation %s after a copilot error", turn.conversation.pk)
    turn.answer = t.text(turn.language, "error")
    turn.flagged = True
    yield TokenEvent(delta=turn.answer)
    yield await persist(turn)
    await remember(turn)


# ---------------------------------------------------------------- for synchronous callers


def turn_run_collect(
    *, message_id: int, text: str | None = None, engine: str | None = None, delivery: str | None = None
) -> list[Event]:
    """Run a turn to the end from synchronous code (the CLI, tests) and return its events."""

    async def collect() -> list[Event]:
        return [event async for event in turn_run(message_id=message_id, text=text, engine=engine, delivery=delivery)]

    # asgiref copies the turn's log ids back into the caller's context; they end with the turn.
    with log_context_bind():
        return async_to_sync(collect)()
