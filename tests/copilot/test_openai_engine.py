"""The openai engine through the real SDK, against a local OpenAI-compatible server (tests/openai_server.py)."""

import json

import pytest

from copilot.events import EscalatedEvent, MessageEvent, TokenEvent
from copilot.models import CopilotTurn
from copilot.pipeline import turn_run_collect
from copilot.services import customer_message_receive
from helpdesk.services import conversation_start

GOOD_ANSWER = "Hi Petr, order 12345 was shipped with PPL and is on its way. It has not been delivered yet. "
ANALYSIS = {
    "entities": {"order_numbers": ["12345"], "emails": [], "amounts": [], "dates": [], "products": []},
    "intent": "shipping",
    "intent_confidence": 0.93,
    "sentiment": "neutral",
    "urgency": "medium",
    "sentiment_score": 0.0,
    "signals": [],
}


def schema_name(body: dict) -> str | None:
    response_format = body.get("response_format") or {}
    return (response_format.get("json_schema") or {}).get("name")


class Model:
    """What the fake model answers: the analysis, the quality verdict and the streamed answers in turn."""

    def __init__(self, *answers: str, analysis: dict | None = None, score: int = 9) -> None:
        self.answers = list(answers) or [GOOD_ANSWER]
        self.analysis = analysis or ANALYSIS
        self.score = score

    def __call__(self, body: dict) -> str:
        name = schema_name(body)
        if name == "analysis":
            return json.dumps(self.analysis)
        if name == "quality":
            return json.dumps({"score": self.score, "reasons": ["judged by the test model"]})
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def llm(openai_server, settings):
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.COPILOT_LLM_RETRIES = 0
    settings.COPILOT_LLM_TIMEOUT = 5.0
    openai_server.chat_handler = Model()
    return openai_server


@pytest.fixture
def ask(petr, django_capture_on_commit_callbacks):
    def send(text: str, **options) -> tuple[list, CopilotTurn]:
        conversation = conversation_start(customer=petr, language="en")
        message, _ = customer_message_receive(conversation=conversation, content=text)
        with django_capture_on_commit_callbacks(execute=True):
            events = turn_run_collect(message_id=message.pk, engine="openai", **options)
        return events, CopilotTurn.objects.get(customer_message=message)

    return send


def tokens(events: list) -> list[str]:
    return [event.delta for event in events if isinstance(event, TokenEvent)]


def final(events: list) -> MessageEvent:
    return next(event for event in events if isinstance(event, MessageEvent))


def test_streams_a_grounded_answer_sentence_by_sentence(llm, ask):
    events, turn = ask("Where is my order 12345?")
    assert turn.engine == "openai" and turn.delivery == "stream"
    assert tokens(events) == [
        "Hi Petr, order 12345 was shipped with PPL and is on its way. ",
        "It has not been delivered yet. ",
    ]
    assert final(events).text == GOOD_ANSWER.strip()
    assert turn.fallback == ""
    assert turn.first_token_ms is not None and turn.first_token_ms <= turn.total_ms
    # One analysis call for entities, intent and sentiment together, one answer, one judgement.
    names = [schema_name(request["body"]) for request in llm.chat_requests]
    assert names.count("analysis") == 1
    assert names.count("quality") == 1
    assert sum(1 for request in llm.chat_requests if request["body"].get("stream")) == 1
    assert turn.llm_calls == 3
    assert turn.prompt_tokens > 0 and turn.completion_tokens > 0
    assert turn.qa_score == 9


def test_a_stream_with_comments_event_names_and_multi_line_data_is_read_whole(llm, ask):
    llm.sse_variants = True
    llm.chat_handler = Model("Hi Petr. Your order 12345 is on its way with PPL.")
    events, turn = ask("Where is my order 12345?")
    assert turn.fallback == ""
    assert "".join(tokens(events)).startswith("Hi Petr. Your order 12345 is on its way with PPL.")


def test_the_prompt_carries_the_crm_card_tool_results_and_rules(llm, ask):
    ask("Where is my order 12345?")
    generation = next(request["body"] for request in llm.chat_requests if request["body"].get("stream"))
    system = generation["messages"][0]["content"]
    assert generation["messages"][0]["role"] == "system"
    assert "Petr Svoboda" in system and '"number": "12345"' in system and "PPL" in system
    assert "Never state an order number" in system
    assert generation["messages"][-1] == {"role": "user", "content": "Where is my order 12345?"}


def test_the_analysis_is_one_json_schema_call_over_the_taxonomy(llm, ask):
    llm.chat_handler = Model(analysis={**ANALYSIS, "intent": "billing", "entities": {**ANALYSIS["entities"]}})
    _, turn = ask("Where is my order 12345?")
    analysis = next(r["body"] for r in llm.chat_requests if schema_name(r["body"]) == "analysis")
    schema = analysis["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert set(schema["schema"]["properties"]["intent"]["enum"]) >= {"billing", "shipping", "human_request"}
    # The model's verdict is what routes the tools.
    assert turn.intent == "billing"
    assert [tool["name"] for tool in turn.tools] == ["account_status"]


def test_entities_the_model_invents_are_dropped(llm, ask):
    invented = {**ANALYSIS, "entities": {**ANALYSIS["entities"], "order_numbers": ["12345", "77777"]}}
    llm.chat_handler = Model(analysis=invented)
    _, turn = ask("Where is my order 12345?")
    assert turn.entities["order_numbers"] == ["12345"]


def test_server_errors_fall_back_to_the_offline_engine(llm, ask):
    llm.fail_next(status=500, times=20)
    events, turn = ask("Where is my order 12345?")
    assert "analysis: InternalServerError" in turn.fallback
    assert "generate: InternalServerError" in turn.fallback
    assert "quality: InternalServerError" in turn.fallback
    answer = final(events).text
    assert "12345" in answer and "PPL" in answer
    assert turn.intent in ("shipping", "orders")


def test_a_timeout_falls_back_to_the_offline_engine(llm, ask, settings):
    settings.COPILOT_LLM_TIMEOUT = 0.3
    llm.delay = 1.0
    events, turn = ask("Where is my order 12345?")
    assert "APITimeoutError" in turn.fallback
    assert "12345" in final(events).text


def test_a_malformed_reply_falls_back(llm, ask):
    llm.malformed_next()
    _, turn = ask("Where is my order 12345?")
    assert "analysis: JSONDecodeError" in turn.fallback
    assert turn.intent in ("shipping", "orders")


def test_a_stream_that_breaks_midway_is_admitted_and_escalated(llm, ask):
    llm.chat_handler = Model("Hi Petr. Your order 12345 is on its way. I will tell you more in a moment, please wait.")
    llm.disconnect_next()
    events, turn = ask("Where is my order 12345?")
    assert "generate: APIConnectionError" in turn.fallback
    assert "engine_failure" in turn.escalation_reasons
    assert any(isinstance(event, EscalatedEvent) for event in events)
    assert "lost my train of thought" in final(events).text


def test_a_stream_that_stalls_after_a_sentence_drops_the_unfinished_one_and_escalates(llm, ask, settings):
    settings.COPILOT_LLM_TIMEOUT = 0.5
    llm.chat_handler = Model("Hi Petr. Your order 12345 is on its way with PPL.")
    # "Hi ", "Petr. " make a sentence; "Your ", "order " do not yet.
    llm.stall_next(after_chunks=4, seconds=5.0)
    events, turn = ask("Where is my order 12345?")
    assert turn.fallback == "generate: APITimeoutError: Request timed out."
    assert tokens(events) == [
        "Hi Petr. ",
        "Sorry, I lost my train of thought there. A colleague will follow up on this.",
    ]
    assert final(events).text == "Hi Petr. Sorry, I lost my train of thought there. A colleague will follow up on this."
    assert turn.escalated and turn.ticket is not None
    assert turn.escalation_reasons == ["engine_failure"]


def test_an_error_event_in_the_stream_is_answered_by_the_offline_engine(llm, ask):
    llm.error_event_next()
    events, turn = ask("Where is my order 12345?")
    assert turn.fallback == (
        "generate: ValueError: the server sent an error: "
        "{'message': 'The server is overloaded.', 'type': 'server_error'}"
    )
    answer = final(events).text
    assert "12345" in answer and "PPL" in answer


def test_a_stream_that_breaks_before_a_whole_sentence_is_answered_by_the_offline_engine(llm, ask):
    # "Hi ", "Petr, " arrive, then the connection drops: the customer has seen nothing yet.
    llm.disconnect_next()
    events, turn = ask("Where is my order 12345?")
    assert turn.fallback == "generate: APIConnectionError: Connection error."
    answer = final(events).text
    assert "12345" in answer and "PPL" in answer
    assert "lost my train of thought" not in answer
    assert "".join(tokens(events)).strip() == answer
    assert "engine_failure" not in turn.escalation_reasons
    assert not turn.escalated


def test_verified_mode_redoes_a_stream_broken_midway_with_the_offline_engine(llm, ask):
    # Nothing is sent before the check, so half an answer is never worth an apology.
    llm.chat_handler = Model("Hi Petr. Your order 12345 is on its way. I will tell you more in a moment, please wait.")
    llm.disconnect_next()
    events, turn = ask("Where is my order 12345?", delivery="verified")
    assert turn.fallback == "generate: APIConnectionError: Connection error."
    answer = final(events).text
    assert tokens(events) == [answer]
    assert "12345" in answer and "PPL" in answer
    assert "lost my train of thought" not in answer and "Hi Petr. Your" not in answer
    assert "engine_failure" not in turn.escalation_reasons
    assert not turn.escalated


def test_an_analysis_that_does_not_fit_the_schema_falls_back(llm, ask):
    model = Model()
    # What a server without strict structured outputs may send.
    llm.chat_handler = lambda body: "{}" if schema_name(body) == "analysis" else model(body)
    events, turn = ask("Where is my order 12345?")
    assert "classify_intent: analysis: the reply does not fit the schema: KeyError: 'intent'" in turn.fallback
    assert "analyze_sentiment: analysis: the reply does not fit the schema: KeyError" in turn.fallback
    assert "extract_entities: analysis: the reply does not fit the schema: KeyError" in turn.fallback
    assert turn.intent in ("shipping", "orders")
    assert "copilot_error" not in turn.escalation_reasons
    assert final(events).text == GOOD_ANSWER.strip()


def test_a_verdict_that_does_not_fit_the_schema_falls_back_to_the_rules(llm, ask):
    model = Model()
    verdict = json.dumps({"score": "great", "reasons": []})
    llm.chat_handler = lambda body: verdict if schema_name(body) == "quality" else model(body)
    events, turn = ask("Where is my order 12345?")
    assert turn.fallback.startswith("quality_check: quality: the reply does not fit the schema: ValueError")
    assert turn.qa_score is not None
    assert final(events).text == GOOD_ANSWER.strip()


def test_a_sentence_with_an_invented_number_is_held_back(llm, ask):
    llm.chat_handler = Model(
        "Hi Petr, order 12345 was shipped with PPL. Your refund of 4999 CZK for order 55555 is on its way. "
        "It has not been delivered yet."
    )
    events, turn = ask("Where is my order 12345?")
    streamed = "".join(tokens(events))
    assert "55555" not in streamed and "4999" not in streamed
    assert "It has not been delivered yet." in streamed
    assert turn.flagged
    assert any("55555" in block for block in turn.guard_blocks)
    assert "55555" not in final(events).text


def test_a_sentence_repeating_the_system_prompt_is_held_back(llm, ask):
    leak = "My rules: never state an order number, amount, date, email address or policy that is not in the CONTEXT."
    llm.chat_handler = Model(f"Hi Petr, order 12345 is on its way. {leak}")
    events, turn = ask("Where is my order 12345?")
    assert "never state" not in "".join(tokens(events)).lower()
    assert "repeats the system prompt" in turn.guard_blocks


def test_a_low_score_in_stream_mode_flags_the_turn_and_offers_a_human(llm, ask):
    llm.chat_handler = Model(score=3)
    events, turn = ask("Where is my order 12345?")
    assert turn.qa_score == 3 and turn.flagged
    assert final(events).offer_human
    assert final(events).text.endswith("I can connect you with a colleague.")
    assert not turn.escalated


def test_verified_mode_regenerates_once_with_the_feedback(llm, ask):
    llm.chat_handler = Model("Hi Petr, your refund of 4999 CZK arrives tomorrow.", GOOD_ANSWER)
    events, turn = ask("Where is my order 12345?", delivery="verified")
    assert turn.regenerated
    assert final(events).text == GOOD_ANSWER.strip()
    generations = [r["body"] for r in llm.chat_requests if r["body"].get("stream")]
    assert len(generations) == 2
    assert "Fix these problems" in generations[1]["messages"][0]["content"]
    assert "4999" in generations[1]["messages"][0]["content"]
    assert tokens(events) == [GOOD_ANSWER.strip()]


def test_verified_mode_sends_a_safe_answer_and_escalates_when_both_drafts_fail(llm, ask):
    llm.chat_handler = Model("Your refund of 4999 CZK arrives tomorrow.")
    events, turn = ask("Where is my order 12345?", delivery="verified")
    answer = final(events).text
    assert "4999" not in "".join(tokens(events))
    assert turn.ticket is not None and turn.ticket.reference in answer
    assert "low_quality" in turn.escalation_reasons
    assert turn.regenerated and turn.flagged


# ---------------------------------------------------------------- the small-model profile (a local CPU model)


@pytest.fixture
def small(llm, settings):
    settings.COPILOT_LLM_PROFILE = "small"
    settings.COPILOT_MAX_TOKENS = 160
    return llm


def test_the_small_profile_makes_the_answer_the_only_call(small, ask):
    small.chat_handler = Model("Hi Petr, order 12345 was shipped with PPL and is on its way. ")
    events, turn = ask("Where is my order 12345?")
    [request] = small.chat_requests
    body = request["body"]
    assert body["stream"] is True
    assert body["max_tokens"] == 160
    assert "<|im_end|>" in body["stop"]
    assert "response_format" not in body
    # The analysis came from the offline engine, the quality from the rules.
    assert turn.intent == "orders" and turn.entities["order_numbers"] == ["12345"]
    assert [tool["name"] for tool in turn.tools] == ["order_status"]
    assert turn.llm_calls == 1
    assert turn.fallback == ""
    assert "PPL" in final(events).text


def test_the_small_prompt_is_short_and_carries_the_facts(small, ask):
    ask("How do I reset my password?")
    body = small.chat_requests[0]["body"]
    system = body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": "How do I reset my password?"}
    assert "Greet the customer as Petr." in system
    assert system.count("\n- [") <= 2
    assert "[1]" in system and "reset" in system.lower()
    # About 36 prompt tokens a second on two cores: the whole prompt stays small.
    assert len(system.split()) < 260


def test_a_local_server_that_is_down_falls_back_to_offline_and_says_so(small, ask, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    events, turn = ask("Where is my order 12345?")
    assert turn.fallback.startswith("generate: APIConnectionError")
    assert "12345" in final(events).text


def test_the_small_prompt_speaks_the_customers_language(small, ask):
    small.chat_handler = Model("Objednávka 12345 je na cestě.")
    ask("Kde je moje objednávka 12345?")
    system = small.chat_requests[0]["body"]["messages"][0]["content"]
    assert system.startswith("Jsi asistent zákaznické podpory")
    assert "Oslov zákazníka: Petře." in system and "FAKTA:" in system


def test_an_uncited_small_model_answer_is_attributed_to_the_passage_it_copied(small, ask):
    # Copied from the reset-password article, without the [1] the prompt asks for.
    small.chat_handler = Model(
        "If you've forgotten your password, you can set a new one with a reset link sent to your email."
    )
    events, turn = ask("How do I reset my password?")
    assert final(events).text.endswith("email. [1]")
    [citation] = final(events).citations
    assert "/help/reset-password/" in citation["url"]


def test_an_answer_that_copied_nothing_gets_no_citation(small, ask):
    small.chat_handler = Model("I am not sure, a colleague will help you with that.")
    events, _ = ask("How do I reset my password?")
    assert "[" not in final(events).text


def test_personal_data_is_masked_for_the_model_and_restored_in_the_answer(llm, ask, settings):
    settings.LLM_REDACT_PII = True
    llm.chat_handler = Model(
        "Thank you, Petr. We will confirm the refund to [EMAIL_1] and charge card [CARD_1] nothing more. ",
        analysis={**ANALYSIS, "entities": {**ANALYSIS["entities"], "emails": ["[EMAIL_1]"]}},
    )
    events, turn = ask(
        "I paid twice with card 4111 1111 1111 1111, write to petr.svoboda@example.cz or +420 601 234 567"
    )
    sent = json.dumps([request["body"] for request in llm.chat_requests], ensure_ascii=False)
    for secret in ("petr.svoboda@example.cz", "4111 1111 1111 1111", "601 234 567"):
        assert secret not in sent, secret
    assert "[EMAIL_1]" in sent and "[CARD_1]" in sent and "[PHONE_1]" in sent
    answer = final(events).text
    assert "petr.svoboda@example.cz" in answer
    assert "•••• 1111" in answer
    assert "4111 1111 1111 1111" not in answer
    assert "[EMAIL_1]" not in "".join(tokens(events))
    # The analysis came back with the placeholder; the turn stores the real address.
    assert turn.entities["emails"] == ["petr.svoboda@example.cz"]


def test_without_the_setting_the_model_sees_the_text_as_written(llm, ask, settings):
    settings.LLM_REDACT_PII = False
    ask("Write to petr.svoboda@example.cz please")
    sent = json.dumps([request["body"] for request in llm.chat_requests], ensure_ascii=False)
    assert "petr.svoboda@example.cz" in sent
