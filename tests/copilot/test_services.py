"""The copilot's writes: the taxonomy, the classifier cache, the turn record and its follow-ups."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import time_machine

from copilot import services
from copilot.escalation import ANGER, HIGH_URGENCY, HUMAN_REQUEST, LOW_CONFIDENCE
from copilot.models import AnalyticsEvent, ConversationMemory, CopilotTurn, Intent, IntentExample
from copilot.services import (
    MAX_EXAMPLE_CHARS,
    TurnRecord,
    customer_message_receive,
    intent_classifier_get,
    intent_examples_embed,
    intent_name_normalise,
    intents_import,
    memory_remember,
    memory_summary_refresh,
    turn_escalate,
    turn_follow_up,
    turn_record,
)
from copilot.tasks import turn_follow_up_task
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.services import conversation_reopen, conversation_resolve, conversation_start
from knowledge.embeddings import embedder_get
from knowledge.models import EMBEDDING_DIMENSIONS
from tests.factories import ConversationFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

# 11:00 in Prague (CET, UTC+1).
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)

LATE_ORDER = {
    "name": "order_status",
    "ok": True,
    "data": {"number": "12345", "carrier": "PPL", "tracking_number": "BC123450001", "days_in_transit": 8, "late": True},
    "error": "",
    "needs_review": False,
}
SUSPENDED_ACCOUNT = {
    "name": "account_status",
    "ok": True,
    "data": {"account_number": "ACC-1005", "status": "suspended"},
    "error": "",
    "needs_review": True,
}
NOT_FOUND = {
    "name": "order_status",
    "ok": False,
    "data": {"asked": "99999"},
    "error": "not_found",
    "needs_review": False,
}


@pytest.fixture
def emma():
    return CustomerFactory(name="Emma Clarke", locale="en")


@pytest.fixture
def conversation(emma):
    return conversation_start(customer=emma)


def turn_fields(conversation: Conversation, message: Message, **changes) -> TurnRecord:
    """What the pipeline hands to ``turn_record`` for a calm, answered turn, with ``changes``."""
    fields = {
        "conversation_id": conversation.pk,
        "customer_message_id": message.pk,
        "answer": "Hi Emma, here is what I found.",
        "citations": [],
        "engine": "offline",
        "model": "rules",
        "delivery": "verified",
        "fallback": "",
        "steps": [{"name": "generate", "ms": 1.5, "ok": True}],
        "total_ms": 42,
        "first_token_ms": 30,
        "llm_calls": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "language": "en",
        "intent": "general",
        "intent_confidence": 0.9,
        "sentiment": "neutral",
        "sentiment_score": 0.0,
        "urgency": "low",
        "entities": {"order_numbers": []},
        "tools": [],
        "retrieval_confidence": 0.8,
        "escalation_reasons": [],
        "ticket_id": None,
        "qa_score": 9.0,
        "qa_reasons": ["grounded, on topic and cited"],
        "regenerated": False,
        "flagged": False,
        "guard_blocks": [],
        "offer_human": False,
        "facts": {},
        "failed": False,
        "knowledge_gap": False,
    }
    return TurnRecord(**{**fields, **changes})


def record_turn(conversation: Conversation, text: str = "Where is my order?", **changes) -> CopilotTurn:
    """Store a turn the way the pipeline does, without running the pipeline."""
    message, _ = customer_message_receive(conversation=conversation, content=text)
    record = turn_fields(conversation, message, **changes)
    turn, reply = turn_record(record=record)
    memory_remember(record=record, reply_id=reply.pk)
    return turn


# ---------------------------------------------------------------- intents_import


@pytest.mark.parametrize(
    ("raw", "name"),
    [("Loyalty Points", "loyalty_points"), (" loyalty-points ", "loyalty_points"), ("Vrácení zboží!", "vraceni_zbozi")],
)
def test_intent_names_are_normalised_to_slugs(raw, name):
    assert intent_name_normalise(raw) == name


def test_import_creates_missing_intents_and_adds_examples():
    summary = intents_import(
        rows=[
            ("How many points do I have?", "Loyalty Points"),
            ("  Can I   pay with   points? ", "loyalty-points"),
            ("Where is my parcel right now, please?", "shipping"),
        ]
    )
    assert (summary.intents_created, summary.examples_created, summary.examples_skipped) == (1, 3, 0)
    assert summary.errors == []
    loyalty = Intent.objects.get(name="loyalty_points")
    assert (loyalty.label, loyalty.tool, loyalty.escalates, loyalty.is_active) == ("Loyalty points", "", False, True)
    assert sorted(loyalty.examples.values_list("text", flat=True)) == [
        "Can I pay with points?",
        "How many points do I have?",
    ]
    assert IntentExample.objects.filter(intent__name="shipping", text="Where is my parcel right now, please?").exists()
    assert IntentExample.objects.get(text="How many points do I have?").embedding is None


def test_a_removed_default_intent_comes_back_with_its_default_settings():
    Intent.objects.filter(name="returns").delete()
    summary = intents_import(rows=[("I want to send this back", "Returns")])
    returns = Intent.objects.get(name="returns")
    assert summary.intents_created == 1
    assert (returns.label, returns.tool, returns.escalates) == ("Returns and claims", "return_eligibility", False)
    assert returns.description == "Returns, refunds and warranty claims."


def test_existing_and_repeated_examples_are_skipped():
    existing = IntentExample.objects.filter(intent__name="billing").first()
    before = IntentExample.objects.count()
    summary = intents_import(
        rows=[(existing.text, "billing"), ("Charged twice again", "billing"), ("Charged  twice again", "billing")]
    )
    assert (summary.examples_created, summary.examples_skipped) == (1, 2)
    assert IntentExample.objects.count() == before + 1


def test_bad_rows_are_reported_by_position_and_skipped():
    summary = intents_import(
        rows=[
            ("Fine example", "billing"),
            ("", "billing"),
            ("No intent here", "  "),
            ("x" * (MAX_EXAMPLE_CHARS + 1), "billing"),
            (None, None),
            ("Only punctuation intent", "???"),
        ]
    )
    assert summary.errors == [
        "row 2: needs both text and intent",
        "row 3: needs both text and intent",
        f"row 4: text longer than {MAX_EXAMPLE_CHARS} characters",
        "row 5: needs both text and intent",
        "row 6: needs both text and intent",
    ]
    assert summary.examples_created == 1
    assert not IntentExample.objects.filter(text__startswith="xxx").exists()


def test_an_example_of_exactly_the_maximum_length_is_accepted():
    summary = intents_import(rows=[("y" * MAX_EXAMPLE_CHARS, "billing")])
    assert (summary.examples_created, summary.errors) == (1, [])


def test_an_overlong_intent_name_is_a_bad_row_not_a_crash():
    summary = intents_import(rows=[("Good row", "billing"), ("Bad row", "x" * 70)])
    assert [error[:7] for error in summary.errors] == ["row 2: "]
    assert IntentExample.objects.filter(text="Good row").exists()


def test_import_reactivates_an_intent_the_file_brings_back():
    Intent.objects.filter(name="technical").update(is_active=False)
    intents_import(rows=[("The app crashes on start", "technical")])
    assert Intent.objects.get(name="technical").is_active is True


def test_replace_makes_the_file_the_whole_taxonomy():
    before = set(Intent.objects.values_list("name", flat=True))
    assert {"shipping", "billing"} <= before
    summary = intents_import(
        rows=[("Where is my parcel?", "shipping"), ("How many points do I have?", "loyalty")], replace=True
    )
    assert set(Intent.objects.values_list("name", flat=True)) == {"shipping", "loyalty"}
    assert summary.intents_removed == len(before - {"shipping"})
    assert summary.intents_created == 1
    assert sorted(IntentExample.objects.values_list("intent__name", "text")) == [
        ("loyalty", "How many points do I have?"),
        ("shipping", "Where is my parcel?"),
    ]


def test_without_replace_other_intents_and_examples_stay():
    intents = Intent.objects.count()
    examples = IntentExample.objects.count()
    intents_import(rows=[("How many points do I have?", "loyalty")])
    assert Intent.objects.count() == intents + 1
    assert IntentExample.objects.count() == examples + 1


# ---------------------------------------------------------------- embedding and the classifier


def test_intent_examples_embed_fills_missing_and_stale_vectors(shop):
    model = embedder_get().model_name
    intent_examples_embed()
    stale = IntentExample.objects.filter(intent__name="billing").first()
    IntentExample.objects.filter(pk=stale.pk).update(embedding_model="an-older-model")
    intents_import(rows=[("Points please", "loyalty"), ("Points balance", "loyalty"), ("Do points expire?", "loyalty")])
    batches = []
    assert intent_examples_embed(batch_size=3, on_batch=batches.append) == 4
    assert batches == [3, 1]
    for example in IntentExample.objects.filter(intent__name="loyalty") | IntentExample.objects.filter(pk=stale.pk):
        assert example.embedding_model == model
        assert len(example.embedding) == EMBEDDING_DIMENSIONS
    assert intent_examples_embed() == 0


def test_an_example_is_embedded_as_a_query(shop):
    intents_import(rows=[("Do points expire?", "loyalty")])
    intent_examples_embed()
    stored = np.asarray(IntentExample.objects.get(text="Do points expire?").embedding)
    expected = embedder_get().embed_query("Do points expire?")
    assert float(stored @ expected) == pytest.approx(1.0, abs=1e-3)


@pytest.fixture
def trainings(monkeypatch):
    """Every training of the classifier, recorded; the real training still runs."""
    calls = []
    real = services.intent_classifier_train

    def spy(*, texts, labels, vectors, **options):
        calls.append({"texts": list(texts), "labels": list(labels), "rows": len(vectors)})
        return real(texts=texts, labels=labels, vectors=vectors, **options)

    monkeypatch.setattr(services, "intent_classifier_train", spy)
    monkeypatch.setattr(services, "_classifier_cache", {})
    return calls


def test_the_classifier_is_reused_while_the_examples_stay_the_same(shop, trainings):
    first = intent_classifier_get()
    assert first is not None
    assert len(trainings) == 1
    assert intent_classifier_get() is first
    assert len(trainings) == 1
    assert trainings[0]["rows"] == IntentExample.objects.count()


def test_a_new_example_retrains_with_it_embedded(shop, trainings):
    first = intent_classifier_get()
    intents_import(rows=[("How many loyalty points do I have?", "loyalty")])
    second = intent_classifier_get()
    assert second is not first
    assert len(trainings) == 2
    assert "How many loyalty points do I have?" in trainings[1]["texts"]
    assert "loyalty" in trainings[1]["labels"]
    assert trainings[1]["rows"] == trainings[0]["rows"] + 1
    assert IntentExample.objects.get(text="How many loyalty points do I have?").embedding is not None


def test_an_edited_example_retrains(shop, trainings):
    intent_classifier_get()
    example = IntentExample.objects.filter(intent__name="billing").first()
    example.text = "My card was charged two times for one order"
    example.save()
    intent_classifier_get()
    assert len(trainings) == 2
    assert "My card was charged two times for one order" in trainings[1]["texts"]
    example.refresh_from_db()
    # The stored vector follows the edited text, not the old one.
    assert example.embedded_text == example.text
    assert np.allclose(example.embedding, embedder_get().embed_query(example.text), atol=1e-5)


def test_a_deleted_example_retrains_without_it(shop, trainings):
    intent_classifier_get()
    example = IntentExample.objects.filter(intent__name="billing").first()
    example.delete()
    intent_classifier_get()
    assert len(trainings) == 2
    assert example.text not in trainings[1]["texts"]
    assert trainings[1]["rows"] == trainings[0]["rows"] - 1


def test_a_deactivated_intent_is_left_out_of_training(shop, trainings):
    intent_classifier_get()
    technical = Intent.objects.get(name="technical")
    technical.is_active = False
    technical.save()
    intent_classifier_get()
    assert len(trainings) == 2
    assert "technical" in trainings[0]["labels"]
    assert "technical" not in trainings[1]["labels"]


def test_without_examples_there_is_no_classifier(shop, trainings):
    intent_classifier_get()
    IntentExample.objects.all().delete()
    assert intent_classifier_get() is None
    assert len(trainings) == 1


# ---------------------------------------------------------------- conversation_reopen and turn_escalate


def test_a_resolved_conversation_is_reopened_for_the_bot(conversation):
    conversation_resolve(conversation=conversation)
    reopened = conversation_reopen(conversation=Conversation.objects.get(pk=conversation.pk))
    assert (reopened.status, reopened.resolved_at) == ("bot", None)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.resolved_at) == ("bot", None)


@pytest.mark.parametrize("status", ["bot", "pending_human", "human"])
def test_only_a_resolved_conversation_is_reopened(emma, status):
    agent = UserFactory() if status == "human" else None
    conversation = ConversationFactory(customer=emma, status=status, assigned_agent=agent)
    assert conversation_reopen(conversation=conversation).status == status
    conversation.refresh_from_db()
    assert conversation.status == status


@pytest.mark.parametrize(
    ("reasons", "tier", "priority", "minutes"),
    [
        ([LOW_CONFIDENCE], "standard", "medium", 480),
        ([HUMAN_REQUEST], "gold", "high", 120),
        ([ANGER, HIGH_URGENCY], "standard", "urgent", 30),
        ([LOW_CONFIDENCE], None, "medium", 480),
    ],
)
def test_turn_escalate_opens_a_ticket_with_priority_and_sla(conversation, reasons, tier, priority, minutes):
    with time_machine.travel(NOW, tick=False):
        ticket, created = turn_escalate(conversation=conversation, reasons=reasons, tier=tier, subject="orders: help")
    assert created is True
    assert (ticket.kind, ticket.priority, ticket.status) == ("escalation", priority, "open")
    assert ticket.sla_due_at == NOW + timedelta(minutes=minutes)
    assert ticket.customer == conversation.customer
    conversation.refresh_from_db()
    assert conversation.status == "pending_human"


def test_turn_escalate_explains_the_reasons(conversation):
    ticket, _ = turn_escalate(conversation=conversation, reasons=[HUMAN_REQUEST, ANGER], tier=None, subject="s")
    assert ticket.reason == "the customer asked for a person; the customer is angry"


def test_a_second_escalation_reuses_the_open_ticket(conversation):
    first, _ = turn_escalate(conversation=conversation, reasons=[LOW_CONFIDENCE], tier=None, subject="first")
    again, created = turn_escalate(conversation=conversation, reasons=[HUMAN_REQUEST], tier=None, subject="again")
    assert (again.pk, created) == (first.pk, False)
    assert Ticket.objects.filter(conversation=conversation).count() == 1


# ---------------------------------------------------------------- turn_record and memory


def test_turn_record_stores_reply_trace_and_memory(conversation):
    turn = record_turn(
        conversation,
        intent="orders",
        sentiment="negative",
        sentiment_score=-0.4567,
        facts={"order_number": "12345", "email": None, "last_intent": "orders"},
    )
    assert turn.reply.content == "Hi Emma, here is what I found."
    assert turn.reply.metadata["in_reply_to"] == turn.customer_message_id
    memory = ConversationMemory.objects.get(conversation=conversation)
    assert memory.turn_count == 1
    assert memory.facts == {"order_number": "12345", "last_intent": "orders"}
    assert memory.sentiment_trajectory == [
        {"message": turn.customer_message_id, "sentiment": "negative", "urgency": "low", "score": -0.457}
    ]
    assert memory.resolved_issues == [{"intent": "orders", "order_number": "12345", "message": turn.reply_id}]


def test_failures_in_a_row_are_counted_and_reset_by_a_success(conversation):
    record_turn(conversation, "First?", failed=True)
    record_turn(conversation, "Second?", failed=True)
    assert ConversationMemory.objects.get(conversation=conversation).failure_streak == 2
    record_turn(conversation, "Third?")
    assert ConversationMemory.objects.get(conversation=conversation).failure_streak == 0


def test_a_redelivered_turn_is_stored_once(conversation):
    turn = record_turn(conversation)
    again, reply = turn_record(record=turn_fields(conversation, turn.customer_message, answer="A different answer"))
    assert (again.pk, reply.content) == (turn.pk, "Hi Emma, here is what I found.")
    assert conversation.messages.filter(role="assistant").count() == 1
    assert ConversationMemory.objects.get(conversation=conversation).turn_count == 1


# ---------------------------------------------------------------- turn_follow_up


def follow_ups(callbacks: list) -> list:
    """The follow-up task enqueued on commit, among the live broadcasts of the stored reply."""
    return [callback for callback in callbacks if "task_enqueue_on_commit" in callback.__qualname__]


def test_turn_record_runs_the_follow_up_after_commit(conversation, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        turn = record_turn(conversation)
    assert len(follow_ups(callbacks)) == 1
    turn.refresh_from_db()
    assert turn.follow_up == {"steps": ["No action needed; the copilot answered."], "priority": "none"}
    assert AnalyticsEvent.objects.filter(turn=turn).count() == 1


def test_follow_up_writes_the_analytics_event(conversation):
    turn = record_turn(conversation, intent="orders", sentiment="frustrated", urgency="high", fallback="generate: x")
    turn_follow_up(turn_id=turn.pk)
    event = AnalyticsEvent.objects.get(turn=turn)
    assert (event.kind, event.conversation_id) == ("turn", conversation.pk)
    assert event.payload == {
        "engine": "offline",
        "language": "en",
        "intent": "orders",
        "sentiment": "frustrated",
        "urgency": "high",
        "escalated": False,
        "escalation_reasons": [],
        "qa_score": 9.0,
        "flagged": False,
        "fallback": True,
        "total_ms": 42,
        "first_token_ms": 30,
        "llm_calls": 0,
    }


def test_follow_up_is_idempotent(conversation):
    turn = record_turn(conversation, intent="orders", tools=[LATE_ORDER])
    first = turn_follow_up(turn_id=turn.pk)
    summary = ConversationMemory.objects.get(conversation=conversation).summary
    event = AnalyticsEvent.objects.get(turn=turn)
    second = turn_follow_up(turn_id=turn.pk)
    assert AnalyticsEvent.objects.filter(turn=turn).count() == 1
    assert AnalyticsEvent.objects.get(turn=turn).created_at == event.created_at
    assert second.follow_up == first.follow_up
    assert second.suggested_replies == first.suggested_replies
    assert ConversationMemory.objects.get(conversation=conversation).summary == summary == "order 12345"


def test_follow_up_of_a_deleted_turn_is_skipped(conversation):
    turn = record_turn(conversation)
    turn_id = turn.pk
    turn.delete()
    assert turn_follow_up(turn_id=turn_id) is None
    assert not AnalyticsEvent.objects.filter(conversation=conversation).exists()
    # The Celery task (eager in tests) tolerates it too.
    turn_follow_up_task.delay(turn_id)
    assert not AnalyticsEvent.objects.filter(conversation=conversation).exists()


def test_a_turn_deleted_before_commit_does_not_break_the_queued_follow_up(
    conversation, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        record_turn(conversation).delete()
    assert len(follow_ups(callbacks)) == 1
    assert not AnalyticsEvent.objects.filter(conversation=conversation).exists()


def test_the_plan_lists_every_next_step(conversation):
    with time_machine.travel(NOW, tick=False):
        ticket, _ = turn_escalate(conversation=conversation, reasons=[ANGER, HIGH_URGENCY], tier=None, subject="s")
        turn = record_turn(
            conversation,
            intent="shipping",
            sentiment="angry",
            tools=[LATE_ORDER, SUSPENDED_ACCOUNT, NOT_FOUND],
            escalation_reasons=[ANGER, HIGH_URGENCY, LOW_CONFIDENCE],
            ticket_id=ticket.pk,
            flagged=True,
            qa_score=4.0,
            qa_reasons=["is too long", "does not address the customer by name", "third reason"],
        )
        turn = turn_follow_up(turn_id=turn.pk)
    steps = turn.follow_up["steps"]
    assert turn.follow_up["priority"] == "urgent"
    assert steps[0].startswith(f"Take over {ticket.reference} (urgent) before 2026-03-10 ")
    assert steps[1:] == [
        "Ask PPL about parcel BC123450001 (order 12345, 8 days in transit); if it is lost, offer a replacement "
        "or a refund.",
        "Review account ACC-1005 (status suspended).",
        "The customer asked about order 99999, which is not on their account.",
        "Answer the question, then add the answer to the help centre (it is logged as a gap).",
        "Acknowledge the customer's frustration before solving the problem.",
        "Check the copilot's answer: quality 4.0/10 (is too long; does not address the customer by name).",
    ]
    assert turn.escalated is True


def test_the_plan_states_the_sla_deadline_in_local_time(conversation):
    with time_machine.travel(NOW, tick=False):
        ticket, _ = turn_escalate(conversation=conversation, reasons=[ANGER, HIGH_URGENCY], tier=None, subject="s")
        turn = record_turn(conversation, escalation_reasons=[ANGER, HIGH_URGENCY], ticket_id=ticket.pk)
        turn = turn_follow_up(turn_id=turn.pk)
    # Due 30 minutes after 11:00 Prague time.
    assert turn.follow_up["steps"][0] == f"Take over {ticket.reference} (urgent) before 2026-03-10 11:30."


def test_a_parcel_not_late_yet_needs_no_carrier_step(conversation):
    on_time = {**LATE_ORDER, "data": {**LATE_ORDER["data"], "days_in_transit": 2, "late": False}}
    turn = record_turn(conversation, intent="shipping", tools=[on_time])
    assert turn_follow_up(turn_id=turn.pk).follow_up == {
        "steps": ["No action needed; the copilot answered."],
        "priority": "none",
    }


@pytest.mark.parametrize(
    ("name", "language", "opener"),
    [
        ("Emma Clarke", "en", "Hi Emma, I'm here and looking into this for you personally."),
        ("Petr Svoboda", "cs", "Dobrý den, Petře, jsem tu a vaši věc teď řeším osobně."),
        (None, "en", "Hi, I'm here and looking into this for you personally."),
        (None, "cs", "Dobrý den, jsem tu a vaši věc teď řeším osobně."),
    ],
)
def test_suggested_replies_are_the_answer_then_a_personal_opener(name, language, opener):
    customer = CustomerFactory(name=name) if name else None
    conversation = conversation_start(customer=customer, language=language)
    turn = turn_follow_up(turn_id=record_turn(conversation, language=language).pk)
    assert turn.suggested_replies == ["Hi Emma, here is what I found.", opener]


# ---------------------------------------------------------------- memory_summary_refresh


def test_no_turns_no_summary(conversation):
    assert memory_summary_refresh(conversation=conversation) == ""
    assert not ConversationMemory.objects.filter(conversation=conversation).exists()


def test_the_summary_lists_each_topic_once_in_the_customers_language(conversation):
    record_turn(conversation, "Kde je objednávka?", language="cs", intent="shipping", tools=[LATE_ORDER])
    record_turn(conversation, "Děkuji", language="cs", intent="general")
    record_turn(conversation, "Pořád nic?", language="cs", intent="shipping", tools=[LATE_ORDER])
    record_turn(conversation, "Vrácení?", language="cs", intent="returns")
    record_turn(
        conversation,
        "A objednávka 99999?",
        language="cs",
        intent="orders",
        tools=[NOT_FOUND],
        entities={"order_numbers": ["99999"]},
        facts={"order_number": "12345"},
    )
    record_turn(conversation, "Body?", language="cs", intent="loyalty_points")
    summary = memory_summary_refresh(conversation=conversation)
    assert summary == "doručení objednávky č. 12345, vrácení nebo reklamaci, objednávku č. 99999"
    memory = ConversationMemory.objects.get(conversation=conversation)
    assert memory.summary == summary
    # Facts the turns stored are kept beside the language of the summary.
    assert memory.facts == {"order_number": "12345", "summary_language": "cs"}


def test_the_summary_follows_the_language_of_the_last_turn(conversation):
    record_turn(conversation, "Platba?", language="cs", intent="billing", tools=[LATE_ORDER])
    record_turn(conversation, "My account?", language="en", intent="account")
    assert memory_summary_refresh(conversation=conversation) == "a payment for order 12345, your account"
    assert ConversationMemory.objects.get(conversation=conversation).facts["summary_language"] == "en"


def test_a_language_without_topic_texts_is_summarised_in_english(conversation):
    record_turn(conversation, "Wo ist mein Paket?", language="de", intent="shipping", tools=[LATE_ORDER])
    assert memory_summary_refresh(conversation=conversation) == "the delivery of order 12345"
    assert ConversationMemory.objects.get(conversation=conversation).facts["summary_language"] == "en"
