"""The copilot pipeline end to end with the offline engine, on the demo shop."""

import pytest

from copilot.analysis.language import language_detect
from copilot.events import EscalatedEvent, MessageEvent, StatusEvent, TokenEvent
from copilot.models import AnalyticsEvent, ConversationMemory, CopilotTurn
from copilot.pipeline import turn_run_collect
from copilot.services import customer_message_receive
from crm.models import Customer
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.services import conversation_start
from knowledge.models import KnowledgeGap

PIPELINE_STEPS = {
    "load_context",
    "extract_entities",
    "classify_intent",
    "analyze_sentiment",
    "embed_message",
    "retrieve_knowledge",
    "route_tools",
    "decide_escalation",
    "generate",
    "quality_check",
}


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    """Send a customer message and run its turn, background follow-ups included."""

    def send(conversation: Conversation, content: str, **options) -> tuple[list, CopilotTurn | None]:
        message, _ = customer_message_receive(conversation=conversation, content=content)
        with django_capture_on_commit_callbacks(execute=True):
            events = turn_run_collect(message_id=message.pk, **options)
        return events, CopilotTurn.objects.filter(customer_message=message).first()

    return send


def final(events: list) -> MessageEvent:
    messages = [event for event in events if isinstance(event, MessageEvent)]
    assert len(messages) == 1, events
    return messages[0]


def test_czech_demo_conversation(petr, ask):
    """The original workflow's demo: four Czech messages about order 12345 in one session."""
    conversation = conversation_start(customer=petr)

    events, first = ask(conversation, "Dobrý den, mám problém s mou objednávkou č. 12345")
    answer = final(events).text
    assert first.language == "cs"
    assert language_detect(text=answer, default="en") == "cs"
    assert first.entities["order_numbers"] == ["12345"]
    assert first.tools[0]["name"] == "order_status"
    assert first.tools[0]["data"]["number"] == "12345"
    assert "12345" in answer and "PPL" in answer
    assert "Dobrý den, Petře," in answer

    events, second = ask(conversation, "Objednávka nebyla doručena včas a potřebuji ji urgentně")
    answer = final(events).text
    assert second.urgency == "high"
    assert second.entities["order_numbers"] == []  # not named again: taken from memory
    assert second.tools[0]["data"]["number"] == "12345"
    assert second.tools[0]["data"]["late"] is True
    assert "12345" in answer
    assert language_detect(text=answer, default="en") == "cs"
    assert "high_urgency" in second.escalation_reasons
    assert second.ticket is not None
    assert any(isinstance(event, EscalatedEvent) for event in events)

    events, third = ask(conversation, "Můžete mi pomoci s reklamací?")
    answer = final(events).text
    assert third.intent == "returns"
    assert third.tools[0]["name"] == "return_eligibility"
    assert third.tools[0]["data"]["number"] == "12345"
    assert "12345" in answer
    assert third.citations, "the warranty-claim answer cites the help centre"
    assert "reklamac" in answer.lower()
    assert language_detect(text=answer, default="en") == "cs"

    events, fourth = ask(conversation, "Děkuji za pomoc, jste velmi vstřícní")
    answer = final(events).text
    assert fourth.sentiment == "positive"
    assert language_detect(text=answer, default="en") == "cs"

    memory = ConversationMemory.objects.get(conversation=conversation)
    assert memory.turn_count == 4
    assert memory.facts["order_number"] == "12345"
    assert [point["sentiment"] for point in memory.sentiment_trajectory][-1] == "positive"
    assert "12345" in memory.summary
    # The escalation opened in turn 2 is reused, not duplicated.
    assert Ticket.objects.filter(conversation=conversation, kind="escalation").count() == 1


def test_double_charge_routes_to_account_status(petr, ask):
    conversation = conversation_start(customer=petr)
    events, turn = ask(conversation, "I've been charged twice for my order #12345")
    answer = final(events).text
    assert turn.intent == "billing"
    assert [tool["name"] for tool in turn.tools] == ["account_status"]
    assert turn.tools[0]["data"]["account_number"] == petr.account.number
    assert petr.account.number in answer
    assert turn.citations and turn.citations[0]["url"].startswith("/help/double-charge/")
    assert "[1]" in answer
    assert turn.qa_score >= 7
    assert not turn.escalated


def test_manager_request_escalates_with_reasons(shop, ask):
    customer = Customer.objects.get(external_id="cus_1005")
    conversation = conversation_start(customer=customer)
    events, turn = ask(conversation, "I want to speak to a manager, this is ridiculous!")
    assert turn.escalated
    assert "human_request" in turn.escalation_reasons
    assert "anger" in turn.escalation_reasons
    assert turn.ticket.kind == Ticket.Kind.ESCALATION
    assert turn.ticket.priority in ("high", "urgent")
    escalated = [event for event in events if isinstance(event, EscalatedEvent)]
    assert escalated[0].ticket_reference == turn.ticket.reference
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING_HUMAN
    assert turn.ticket.reference in final(events).text


def test_another_customers_order_is_refused_without_revealing_it(shop, ask):
    tereza = Customer.objects.get(external_id="cus_1002")
    petrs_order = Customer.objects.get(external_id="cus_1001").orders.get(number="12345")
    conversation = conversation_start(customer=tereza, language="en")
    events, turn = ask(conversation, "Where is my order 12345? What's the tracking number?")
    answer = final(events).text
    assert turn.tools[0]["ok"] is False
    assert turn.tools[0]["error"] == "not_found"
    assert turn.tools[0]["data"] == {"asked": "12345"}
    shipped = f"{petrs_order.shipped_at.day} {petrs_order.shipped_at:%B}"
    for secret in (petrs_order.tracking_number, "Petr", "Svoboda", shipped):
        assert secret not in answer
    streamed = "".join(event.delta for event in events if isinstance(event, TokenEvent))
    assert petrs_order.tracking_number not in streamed
    assert "couldn't find order #12345" in answer


def test_unanswerable_question_escalates_as_low_confidence_and_records_a_gap(shop, ask):
    customer = Customer.objects.get(external_id="cus_1005")
    conversation = conversation_start(customer=customer, language="en")
    question = "Do you sponsor local football clubs?"
    events, turn = ask(conversation, question)
    assert "low_confidence" in turn.escalation_reasons
    assert turn.escalated
    assert turn.retrieval_confidence < 0.5
    gap = KnowledgeGap.objects.get(question=question)
    assert gap.locale == "en" and gap.count == 1
    assert turn.ticket.reference in final(events).text


def test_trace_has_every_step_timed(petr, ask):
    conversation = conversation_start(customer=petr)
    events, turn = ask(conversation, "Where is my parcel? Order 12345")
    names = {step["name"] for step in turn.steps}
    assert PIPELINE_STEPS <= names
    assert all(step["ms"] >= 0 and step["ok"] for step in turn.steps)
    assert turn.total_ms > 0
    assert turn.engine == "offline" and turn.delivery == "verified"
    assert turn.llm_calls == 0
    assert isinstance(events[0], StatusEvent)
    # The background part ran (Celery is eager in tests): analytics, plan and summary.
    turn.refresh_from_db()
    assert turn.follow_up["steps"]
    assert turn.suggested_replies[0] == turn.reply.content
    assert AnalyticsEvent.objects.filter(turn=turn, kind="turn").count() == 1


def test_the_bot_is_silent_while_an_agent_has_the_conversation(petr, django_user_model):
    agent = django_user_model.objects.create_user(username="agent")
    conversation = conversation_start(customer=petr)
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.HUMAN, assigned_agent=agent)
    message, _ = customer_message_receive(conversation=conversation, content="Hello?")
    assert turn_run_collect(message_id=message.pk) == []
    assert not CopilotTurn.objects.filter(conversation=conversation).exists()
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_a_redelivered_message_is_answered_once(petr):
    conversation = conversation_start(customer=petr)
    message, _ = customer_message_receive(conversation=conversation, content="How do I reset my password?")
    first = final(turn_run_collect(message_id=message.pk))
    second = final(turn_run_collect(message_id=message.pk))
    assert second.message_id == first.message_id
    assert CopilotTurn.objects.filter(customer_message=message).count() == 1
    assert conversation.messages.filter(role="assistant").count() == 1


def test_a_new_conversation_remembers_the_last_one(petr, ask):
    earlier = conversation_start(customer=petr, language="en")
    ask(earlier, "Where is my order 12345?")
    assert ConversationMemory.objects.get(conversation=earlier).summary == "order 12345"
    later = conversation_start(customer=petr, language="en")
    events, _ = ask(later, "Any news on it? I asked before.")
    assert "Last time you asked about order 12345" in final(events).text


def test_an_unrelated_question_is_not_prefaced_with_the_last_visit(petr, ask):
    earlier = conversation_start(customer=petr, language="en")
    ask(earlier, "Where is my order 12345?")
    later = conversation_start(customer=petr, language="en")
    events, turn = ask(later, "How do I reset my password?")
    text = final(events).text
    assert "Last time" not in text
    # A how-to question about the account gets the help centre, not the account's balance.
    assert turn.tools == []
    assert "ACC-" not in text and "payment" not in text
    assert "reset" in text.lower()


@pytest.mark.parametrize(
    "question", ["Is my account suspended?", "I can't log in to my account", "Proč je můj účet zablokovaný?"]
)
def test_questions_about_the_accounts_state_check_the_account(petr, ask, question):
    conversation = conversation_start(customer=petr, language="en")
    _, turn = ask(conversation, question)
    assert [tool["name"] for tool in turn.tools] == ["account_status"]


def test_an_unexpected_error_ends_the_turn_honestly(petr, monkeypatch, ask):
    from copilot import pipeline

    async def broken(turn, *, tool):
        raise RuntimeError("CRM is down")

    monkeypatch.setattr(pipeline, "route_tools", broken)
    conversation = conversation_start(customer=petr, language="en")
    events, turn = ask(conversation, "Where is my order 12345?")
    assert "something went wrong" in final(events).text
    assert "copilot_error" in turn.escalation_reasons
    assert turn.ticket is not None and turn.flagged
    assert conversation.messages.filter(role="customer").count() == 1


@pytest.mark.parametrize("delivery", ["verified", "stream"])
def test_both_delivery_modes_answer_the_same_offline(petr, delivery, ask):
    conversation = conversation_start(customer=petr, language="en")
    events, turn = ask(conversation, "How do I return an item?", delivery=delivery)
    tokens = "".join(event.delta for event in events if isinstance(event, TokenEvent))
    assert turn.delivery == delivery
    assert tokens.strip() == final(events).text
    assert turn.first_token_ms is not None and turn.first_token_ms <= turn.total_ms


def test_a_summary_in_another_language_is_not_quoted(petr, ask):
    earlier = conversation_start(customer=petr, language="cs")
    ask(earlier, "Kde je moje objednávka 12345?")
    assert ConversationMemory.objects.get(conversation=earlier).summary == "doručení objednávky č. 12345"
    later = conversation_start(customer=petr, language="en")
    events, _ = ask(later, "Any news on my order? I asked before.")
    assert "Last time" not in final(events).text
    assert "objednávky" not in final(events).text


def test_a_tool_answer_is_not_padded_with_loosely_related_passages(petr, ask):
    conversation = conversation_start(customer=petr)
    events, turn = ask(conversation, "Dobrý den, mám problém s mou objednávkou č. 12345")
    assert turn.tools[0]["ok"] is True
    assert turn.retrieval_confidence < 0.5
    assert turn.citations == []
    assert "[1]" not in final(events).text


def test_the_callers_text_only_starts_the_embedding_early_the_stored_text_wins(petr, ask):
    conversation = conversation_start(customer=petr, language="en")
    passed, passed_turn = ask(conversation, "How do I reset my password?", text="How do I reset my password?")
    stale, stale_turn = ask(conversation, "How do I reset my password?", text="I want to return my shoes")
    assert passed_turn.intent == stale_turn.intent == "account"
    assert final(stale).citations == final(passed).citations
    # The stale text's embedding was dropped, not timed into the trace twice.
    assert [step["name"] for step in stale_turn.steps].count("embed_message") == 1


def test_an_anonymous_visitor_asking_about_an_order_is_asked_to_sign_in(shop, ask):
    conversation = conversation_start(customer=None, language="en")
    events, turn = ask(conversation, "Where is my order 12345? It has not arrived.")
    answer = final(events).text
    assert "sign in" in answer
    # Nothing about the order leaks to someone who has not proved who they are.
    assert "PPL" not in answer
    assert "shipped" not in answer.lower()
    assert [tool["name"] for tool in turn.tools] in ([], ["order_status"])
    assert all(not tool.get("ok") for tool in turn.tools)
