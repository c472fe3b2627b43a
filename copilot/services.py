"""Writes of the copilot: the taxonomy, the per-turn record, memory and follow-ups."""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from copilot.analysis.classifier import IntentClassifier, intent_classifier_train
from copilot.escalation import escalation_priority, escalation_summary
from copilot.llm.templates import vocative
from copilot.models import AnalyticsEvent, ConversationMemory, CopilotTurn, Intent, IntentExample
from copilot.selectors import (
    intent_catalogue_get,
    intent_examples_fingerprint,
    intent_training_set_get,
    product_names_get,
)
from copilot.taxonomy import DEFAULT_INTENTS, intent_label
from helpdesk.jobs import task_enqueue_on_commit
from helpdesk.metrics import turn_observe
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.selectors import AccessRevoked, conversation_erasure_check
from helpdesk.services import message_add, ticket_escalate
from knowledge.embeddings import embedder_get
from knowledge.services import knowledge_gap_record

logger = logging.getLogger(__name__)

MAX_EXAMPLE_CHARS = 500
TRAJECTORY_LENGTH = 20


@dataclass
class IntentImportSummary:
    intents_created: int = 0
    intents_removed: int = 0
    examples_created: int = 0
    examples_skipped: int = 0
    errors: list[str] = field(default_factory=list)


def intent_name_normalise(value: str) -> str:
    return slugify(value.strip().replace(" ", "_")).replace("-", "_")


@transaction.atomic
def intents_import(*, rows: Iterable[tuple[str, str]], replace: bool = False) -> IntentImportSummary:
    """Add example utterances, creating intents as needed; ``replace`` makes the file the whole taxonomy.

    Rows are (text, intent); bad rows are reported by their 1-based position and skipped.
    """
    summary = IntentImportSummary()
    wanted: dict[str, list[str]] = {}
    for position, (text, intent) in enumerate(rows, start=1):
        text = " ".join((text or "").split())
        name = intent_name_normalise(intent or "")
        if not text or not name:
            summary.errors.append(f"row {position}: needs both text and intent")
            continue
        if len(name) > Intent._meta.get_field("name").max_length:
            summary.errors.append(f"row {position}: intent name longer than 64 characters")
            continue
        if len(text) > MAX_EXAMPLE_CHARS:
            summary.errors.append(f"row {position}: text longer than {MAX_EXAMPLE_CHARS} characters")
            continue
        wanted.setdefault(name, []).append(text)

    if replace and not wanted:
        raise ValueError("The file has no valid rows; refusing to replace the taxonomy with nothing.")
    if replace:
        stale = Intent.objects.exclude(name__in=wanted)
        summary.intents_removed = stale.count()
        stale.delete()
        IntentExample.objects.all().delete()
    intents = {intent.name: intent for intent in Intent.objects.filter(name__in=wanted)}
    for name in wanted.keys() - intents.keys():
        spec = DEFAULT_INTENTS.get(name)
        intents[name] = Intent.objects.create(
            name=name,
            label=intent_label(name),
            description=spec.description if spec else "",
            tool=spec.tool if spec else "",
            escalates=spec.escalates if spec else False,
        )
        summary.intents_created += 1
    # Reactivate intents a file brings back; their edit time also retrains the classifier.
    Intent.objects.filter(name__in=wanted, is_active=False).update(is_active=True)
    candidates = [IntentExample(intent=intents[name], text=text) for name, texts in wanted.items() for text in texts]
    before = IntentExample.objects.count()
    IntentExample.objects.bulk_create(candidates, ignore_conflicts=True, batch_size=1000)
    summary.examples_created = IntentExample.objects.count() - before
    summary.examples_skipped = len(candidates) - summary.examples_created
    return summary


def intent_examples_embed(*, batch_size: int = 256, on_batch: Callable[[int], None] | None = None) -> int:
    """Store vectors for examples that have none, or one from another embedding model."""
    embedder = embedder_get()
    stale = IntentExample.objects.filter(
        ~Q(embedding_model=embedder.model_name) | ~Q(embedded_text=F("text"))
    ).order_by("id")
    done = 0
    while batch := list(stale.only("id", "text")[:batch_size]):
        vectors = embedder.embed_queries([example.text for example in batch])
        for example, vector in zip(batch, vectors, strict=True):
            example.embedding = vector.tolist()
            example.embedding_model = embedder.model_name
            example.embedded_text = example.text
        IntentExample.objects.bulk_update(batch, ["embedding", "embedding_model", "embedded_text"])
        done += len(batch)
        if on_batch:
            on_batch(len(batch))
    return done


_classifier_lock = threading.Lock()
_classifier_cache: dict[str, tuple[tuple, IntentClassifier | None]] = {}


def intent_classifier_get() -> IntentClassifier | None:
    """The classifier for the current examples, retrained whenever they change; None without examples."""
    fingerprint = intent_examples_fingerprint()
    cached = _classifier_cache.get("current")
    if cached and cached[0] == fingerprint:
        return cached[1]
    with _classifier_lock:
        intent_examples_embed()
        fingerprint = intent_examples_fingerprint()
        texts, labels, vectors = intent_training_set_get()
        classifier = intent_classifier_train(texts=texts, labels=labels, vectors=vectors) if texts else None
        _classifier_cache["current"] = (fingerprint, classifier)
        logger.info("Trained the intent classifier on %d examples of %d intents", len(texts), len(set(labels)))
        return classifier


@dataclass(frozen=True)
class Taxonomy:
    """What every turn needs from the taxonomy and catalogue, shared between turns for a moment."""

    catalogue: dict[str, Intent]
    classifier: IntentClassifier | None
    products: list[str]
    checked_at: float


_taxonomy_cache: dict[str, Taxonomy] = {}


def copilot_taxonomy_get() -> Taxonomy:
    """The intents, their classifier and the product names, re-read at most every ``COPILOT_TAXONOMY_TTL`` seconds.

    Saves three queries on the hot path of every turn; an admin's edit shows within the TTL.
    """
    now = time.monotonic()
    cached = _taxonomy_cache.get("current")
    if cached is not None and now - cached.checked_at < settings.COPILOT_TAXONOMY_TTL:
        return cached
    taxonomy = Taxonomy(
        catalogue=intent_catalogue_get(),
        classifier=intent_classifier_get(),
        products=product_names_get(),
        checked_at=now,
    )
    _taxonomy_cache["current"] = taxonomy
    return taxonomy


def turn_escalate(
    *, conversation: Conversation, reasons: list[str], tier: str | None, subject: str
) -> tuple[Ticket, bool]:
    """Open (or reuse) the conversation's human-takeover ticket for these reasons."""
    return ticket_escalate(
        conversation=conversation,
        subject=subject,
        reason=escalation_summary(reasons),
        priority=escalation_priority(reasons=reasons, tier=tier),
    )


@dataclass
class TurnRecord:
    """Everything the pipeline hands over to be stored at the end of a turn."""

    conversation_id: int
    customer_message_id: int
    answer: str
    citations: list[dict]
    engine: str
    model: str
    delivery: str
    fallback: str
    steps: list[dict]
    total_ms: int
    first_token_ms: int | None
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    language: str
    intent: str
    intent_confidence: float
    sentiment: str
    sentiment_score: float
    urgency: str
    entities: dict
    tools: list[dict]
    retrieval_confidence: float | None
    escalation_reasons: list[str]
    ticket_id: int | None
    qa_score: float | None
    qa_reasons: list[str]
    regenerated: bool
    flagged: bool
    guard_blocks: list[str]
    offer_human: bool
    # Facts to remember for later turns, e.g. the order being discussed.
    facts: dict
    failed: bool
    knowledge_gap: bool
    query_vector: list[float] | None = None


def _memory_update(*, memory: ConversationMemory, record: TurnRecord, reply_id: int) -> None:
    memory.turn_count += 1
    memory.facts = {**memory.facts, **{key: value for key, value in record.facts.items() if value}}
    memory.sentiment_trajectory = [
        *memory.sentiment_trajectory,
        {
            "message": record.customer_message_id,
            "sentiment": record.sentiment,
            "urgency": record.urgency,
            "score": round(record.sentiment_score, 3),
        },
    ][-TRAJECTORY_LENGTH:]
    memory.failure_streak = memory.failure_streak + 1 if record.failed else 0
    pending = [action for action in memory.pending_actions if action.get("kind") != "escalation"]
    if record.ticket_id:
        pending.append({"kind": "escalation", "ticket_id": record.ticket_id, "message": reply_id})
    memory.pending_actions = pending
    if record.intent not in ("general", "human_request") and not record.failed:
        topic = {"intent": record.intent, "order_number": record.facts.get("order_number"), "message": reply_id}
        memory.resolved_issues = [*memory.resolved_issues, topic][-TRAJECTORY_LENGTH:]


def turn_record(*, record: TurnRecord) -> tuple[CopilotTurn, Message]:
    """Store the answer and the trace of one turn; the follow-ups run after commit.

    A message answered twice at once (a redelivery racing the first run) keeps the first
    answer: the one-turn-per-message constraint rolls the second back.
    """
    try:
        stored = _turn_record(record=record)
    except IntegrityError:
        existing = (
            CopilotTurn.objects.filter(customer_message_id=record.customer_message_id).select_related("reply").first()
        )
        if existing is None or existing.reply_id is None:
            raise
        return existing, existing.reply
    turn_observe(
        engine=record.engine,
        steps=record.steps,
        fallback=record.fallback,
        escalated=bool(record.escalation_reasons),
        failed=record.failed,
    )
    return stored


@transaction.atomic
def _turn_record(*, record: TurnRecord) -> tuple[CopilotTurn, Message]:
    from copilot.tasks import turn_follow_up_task

    # A customer erased while the turn ran: the answer (their orders, their account) is not kept.
    conversation_erasure_check(conversation_id=record.conversation_id)
    # Only the id is needed to attach rows to the conversation; loading it would cost a query a turn.
    conversation = Conversation(pk=record.conversation_id)
    reply, _ = message_add(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content=record.answer,
        metadata={
            "citations": record.citations,
            "engine": record.engine,
            "qa_score": record.qa_score,
            "offer_human": record.offer_human,
            "in_reply_to": record.customer_message_id,
        },
    )
    # The record's fields named like the trace's columns are stored as they are.
    columns = {field.attname for field in CopilotTurn._meta.concrete_fields} & {f.name for f in fields(record)}
    turn = CopilotTurn.objects.create(
        reply=reply, escalated=bool(record.ticket_id), **{name: getattr(record, name) for name in columns}
    )
    if record.knowledge_gap:
        message = Message.objects.get(pk=record.customer_message_id)
        try:
            with transaction.atomic():
                knowledge_gap_record(
                    question=message.content,
                    locale=record.language,
                    confidence=record.retrieval_confidence or 0.0,
                    embedding=None if record.query_vector is None else _as_array(record.query_vector),
                )
        except Exception:
            # A gap is bookkeeping; losing one must not lose the customer's answer.
            logger.exception("Could not record a knowledge gap for message %s", record.customer_message_id)
    task_enqueue_on_commit(turn_follow_up_task, turn.pk)
    return turn, reply


@transaction.atomic
def memory_remember(*, record: TurnRecord, reply_id: int) -> ConversationMemory:
    """Fold an answered turn into the conversation's memory, right after the reply has gone out."""
    # Erasure deleted the memory: a turn finishing after it must not write it back.
    conversation_erasure_check(conversation_id=record.conversation_id)
    memory, _ = ConversationMemory.objects.select_for_update().get_or_create(conversation_id=record.conversation_id)
    _memory_update(memory=memory, record=record, reply_id=reply_id)
    memory.save()
    return memory


def _as_array(values: list[float]):
    import numpy as np

    return np.asarray(values, dtype=np.float32)


# (with an order number, without one) per intent.
TOPICS = {
    "en": {
        "billing": ("a payment for order {order}", "a payment or charge"),
        "technical": ("a technical problem", "a technical problem"),
        "shipping": ("the delivery of order {order}", "a delivery"),
        "orders": ("order {order}", "an order"),
        "returns": ("a return or warranty claim for order {order}", "a return or warranty claim"),
        "account": ("your account", "your account"),
    },
    "cs": {
        "billing": ("platbu za objednávku č. {order}", "platbu"),
        "technical": ("technický problém", "technický problém"),
        "shipping": ("doručení objednávky č. {order}", "doručení zásilky"),
        "orders": ("objednávku č. {order}", "objednávku"),
        "returns": ("vrácení nebo reklamaci objednávky č. {order}", "vrácení nebo reklamaci"),
        "account": ("váš účet", "váš účet"),
    },
}


def memory_summary_refresh(*, conversation: Conversation) -> str:
    """Rebuild the rolling summary from the conversation's turns, in the customer's language."""
    turns = list(conversation.copilot_turns.order_by("id"))
    if not turns:
        return ""
    language = turns[-1].language if turns[-1].language in TOPICS else "en"
    topics: list[str] = []
    for turn in turns:
        templates = TOPICS[language].get(turn.intent)
        if not templates:
            continue
        order = _order_of(turn)
        text = templates[0].format(order=order) if order else templates[1]
        if text not in topics:
            topics.append(text)
    summary = ", ".join(topics)
    memory, _ = ConversationMemory.objects.select_for_update().get_or_create(conversation=conversation)
    memory.summary = summary
    memory.facts = {**memory.facts, "summary_language": language}
    memory.save(update_fields=["summary", "facts", "updated_at"])
    return summary


def _order_of(turn: CopilotTurn) -> str | None:
    """The order a turn was about: the one a tool found, else the one the customer named."""
    for tool in turn.tools:
        if number := tool.get("data", {}).get("number"):
            return number
    return (turn.entities.get("order_numbers") or [None])[0]


def turn_follow_up_plan(*, turn: CopilotTurn) -> dict:
    """Next steps for the agents, drafted from what the turn found; deterministic, so a retry writes the same."""
    steps: list[str] = []
    if turn.ticket_id:
        ticket = turn.ticket
        due = timezone.localtime(ticket.sla_due_at)
        steps.append(f"Take over {ticket.reference} ({ticket.priority}) before {due:%Y-%m-%d %H:%M}.")
    for tool in turn.tools:
        data = tool.get("data", {})
        if tool.get("name") == "order_status" and data.get("late"):
            steps.append(
                f"Ask {data.get('carrier') or 'the carrier'} about parcel {data.get('tracking_number') or '?'} "
                f"(order {data['number']}, {data.get('days_in_transit')} days in transit); if it is lost, "
                "offer a replacement or a refund."
            )
        if tool.get("needs_review"):
            steps.append(f"Review account {data.get('account_number')} (status {data.get('status')}).")
        if tool.get("error") == "not_found":
            steps.append(f"The customer asked about order {data.get('asked')}, which is not on their account.")
    if "low_confidence" in turn.escalation_reasons:
        steps.append("Answer the question, then add the answer to the help centre (it is logged as a gap).")
    if turn.sentiment in ("negative", "frustrated", "angry"):
        steps.append("Acknowledge the customer's frustration before solving the problem.")
    if turn.flagged:
        steps.append(f"Check the copilot's answer: quality {turn.qa_score}/10 ({'; '.join(turn.qa_reasons[:2])}).")
    if not steps:
        steps.append("No action needed; the copilot answered.")
    return {"steps": steps, "priority": turn.ticket.priority if turn.ticket_id else "none"}


def turn_suggested_replies(*, turn: CopilotTurn) -> list[str]:
    """Drafts an agent can send as they are or edit: the copilot's own answer, then short openers."""
    replies = [turn.reply.content] if turn.reply_id else []
    name = turn.conversation.customer.first_name if turn.conversation.customer_id else ""
    name = vocative(turn.language, name) if name else ""
    if turn.language == "cs":
        replies.append(f"Dobrý den{', ' + name if name else ''}, jsem tu a vaši věc teď řeším osobně.")
    else:
        replies.append(f"Hi{' ' + name if name else ''}, I'm here and looking into this for you personally.")
    return replies


@transaction.atomic
def turn_follow_up(*, turn_id: int) -> CopilotTurn | None:
    """The background part of a turn: the analytics event, the agents' plan and the rolling summary.

    Idempotent: a second run changes nothing. A turn deleted meanwhile is skipped.
    """
    conversation_id = CopilotTurn.objects.filter(pk=turn_id).values_list("conversation_id", flat=True).first()
    try:
        # Before the turn's lock: the customer's row comes first, in the order ``customer_erase`` takes them.
        conversation_erasure_check(conversation_id=conversation_id or 0)
    except AccessRevoked:
        # Erased since the turn: no plan, no summary, nothing more about them.
        return None
    turn = (
        CopilotTurn.objects.select_related("ticket", "reply", "conversation__customer")
        .select_for_update(of=("self",))
        .filter(pk=turn_id)
        .first()
    )
    if turn is None:
        return None
    AnalyticsEvent.objects.get_or_create(
        turn=turn,
        kind=AnalyticsEvent.Kind.TURN,
        defaults={
            "conversation_id": turn.conversation_id,
            "payload": {
                "engine": turn.engine,
                "language": turn.language,
                "intent": turn.intent,
                "sentiment": turn.sentiment,
                "urgency": turn.urgency,
                "escalated": turn.escalated,
                "escalation_reasons": turn.escalation_reasons,
                "qa_score": turn.qa_score,
                "flagged": turn.flagged,
                "fallback": bool(turn.fallback),
                "total_ms": turn.total_ms,
                "first_token_ms": turn.first_token_ms,
                "llm_calls": turn.llm_calls,
            },
        },
    )
    turn.follow_up = turn_follow_up_plan(turn=turn)
    turn.suggested_replies = turn_suggested_replies(turn=turn)
    turn.save(update_fields=["follow_up", "suggested_replies"])
    memory_summary_refresh(conversation=turn.conversation)
    return turn


def customer_message_receive(
    *, conversation: Conversation, content: str, client_message_id: str = ""
) -> tuple[Message, bool]:
    """Store a customer's message before anything else happens to it."""
    return message_add(
        conversation=conversation, role=Message.Role.CUSTOMER, content=content, client_message_id=client_message_id
    )
