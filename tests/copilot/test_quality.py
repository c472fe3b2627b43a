"""The rule-based quality score: 10 for a grounded, cited, personal answer, less for each problem."""

from dataclasses import replace

import pytest

from copilot.guards import AllowedFacts
from copilot.llm.base import Grounding, Source
from copilot.quality import MAX_ANSWER_CHARS, answer_score_rules, grounding_texts, tool_key_facts
from copilot.tools import ToolResult

RETURNS_POLICY = Source(
    number=1,
    title="Our 30-day returns policy",
    url="/help/returns-policy/",
    heading="What can be returned",
    text="Most items can be returned within 30 days of delivery, unused and in their original packaging.",
    locale="en",
)
ORDER_12345 = ToolResult(
    name="order_status",
    ok=True,
    data={"number": "12345", "status": "shipped", "carrier": "PPL", "tracking_number": "BC123450001"},
)
ACCOUNT = ToolResult(name="account_status", ok=True, data={"account_number": "ACC-1007", "status": "active"})
NOT_FOUND = ToolResult(name="order_status", ok=False, error="not_found", data={"asked": "99999"})
SIGN_IN = ToolResult(name="order_status", ok=False, error="no_customer", data={"asked": None})


def grounding(**changes) -> Grounding:
    base = Grounding(
        message="How do I return an item?",
        language="en",
        intent="returns",
        sentiment="neutral",
        urgency="low",
        customer_name="Emma Clarke",
        first_name="Emma",
        tier="gold",
        customer_email="emma.clarke@example.co.uk",
        tools=[],
        sources=[RETURNS_POLICY],
        history=[],
        memory_summary="",
        previous_summary="",
    )
    return replace(base, **changes)


GOOD = "Hi Emma, you can return most items within 30 days of delivery, unused and in the original packaging [1]."


def test_a_grounded_cited_personal_answer_scores_ten():
    quality = answer_score_rules(grounding=grounding(), answer=GOOD)
    assert quality.score == 10.0
    assert quality.reasons == ["grounded, on topic and cited"]


@pytest.mark.parametrize("answer", ["", "   \n "])
def test_an_empty_answer_scores_zero(answer):
    quality = answer_score_rules(grounding=grounding(), answer=answer)
    assert (quality.score, quality.reasons) == (0.0, ["the answer is empty"])


def test_an_invented_number_costs_five():
    answer = GOOD.replace("30 days", "45 days")
    quality = answer_score_rules(grounding=grounding(), answer=answer)
    assert quality.score == 5.0
    assert quality.reasons == ["states facts that are not in the context: number not in context: 45"]


def test_an_invented_email_costs_five():
    answer = GOOD + " Write to returns@brightcart.example."
    quality = answer_score_rules(grounding=grounding(), answer=answer)
    assert quality.score == 5.0
    assert quality.reasons == [
        "states facts that are not in the context: email not in context: returns@brightcart.example"
    ]


def test_citing_a_source_that_does_not_exist_costs_three():
    quality = answer_score_rules(grounding=grounding(), answer=GOOD.replace("[1]", "[1][4]"))
    assert quality.score == 7.0
    assert quality.reasons == ["cites sources that do not exist: [4]"]


def test_a_knowledge_base_answer_without_a_citation_costs_three():
    quality = answer_score_rules(grounding=grounding(), answer=GOOD.replace(" [1]", ""))
    assert quality.score == 7.0
    assert quality.reasons == ["answers from the knowledge base without a citation"]


def test_a_tool_answer_needs_no_citation_but_must_name_the_order():
    g = grounding(intent="orders", tools=[ORDER_12345], message="Where is my order 12345?")
    named = answer_score_rules(grounding=g, answer="Hi Emma, order 12345 is on its way with PPL.")
    assert (named.score, named.reasons) == (10.0, ["grounded, on topic and cited"])
    vague = answer_score_rules(grounding=g, answer="Hi Emma, your parcel is on its way with PPL.")
    assert vague.score == 7.0
    assert vague.reasons == ["does not address the orders question: 12345 not mentioned"]


def test_an_answer_without_sources_or_tools_is_ungrounded_unless_escalated():
    g = grounding(sources=[], intent="general", message="Do you sponsor football clubs?")
    answer = "Hi Emma, a colleague will look into your question about football clubs."
    ungrounded = answer_score_rules(grounding=g, answer=answer)
    assert ungrounded.score == 6.0
    assert ungrounded.reasons == ["is not grounded in the knowledge base or a tool result"]
    escalated = answer_score_rules(grounding=replace(g, escalation_reasons=["low_confidence"]), answer=answer)
    assert escalated.score == 10.0


def test_small_talk_needs_no_grounding():
    g = grounding(sources=[], intent="general", message="Thanks a lot!", small_talk=True)
    quality = answer_score_rules(grounding=g, answer="You're welcome, Emma! Have a lovely day.")
    assert (quality.score, quality.reasons) == (10.0, ["grounded, on topic and cited"])


def test_an_answer_in_another_language_costs_two():
    g = grounding(language="cs", first_name="Petr", message="Jak vrátím zboží?")
    answer = "Hi Petr, you can return most items within 30 days of delivery, unused and in the original box [1]."
    quality = answer_score_rules(grounding=g, answer=answer)
    assert quality.score == 8.0
    assert quality.reasons == ["is not in the customer's language (cs)"]


def test_a_short_answer_is_not_language_checked():
    # Under 40 characters the detector guesses, so a wrong guess must not cost points.
    g = grounding(language="cs", first_name="Petr", message="Jak vrátím zboží?")
    answer = "Petr, the policy is here [1]."
    assert len(answer) < 40
    assert answer_score_rules(grounding=g, answer=answer).score == 10.0


def test_not_using_the_customers_first_name_costs_one():
    quality = answer_score_rules(grounding=grounding(), answer=GOOD.replace("Hi Emma, you", "You"))
    assert quality.score == 9.0
    assert quality.reasons == ["does not address the customer by name"]


def test_an_anonymous_customer_is_not_expected_to_be_named():
    g = grounding(first_name=None, customer_name=None, customer_email=None, tier=None)
    assert answer_score_rules(grounding=g, answer=GOOD.replace("Hi Emma, you", "You")).score == 10.0


def test_an_overlong_answer_costs_one():
    sentence = "Hi Emma, you can return most items within 30 days of delivery [1]. "
    answer = sentence * (MAX_ANSWER_CHARS // len(sentence) + 1)
    assert len(answer.strip()) > MAX_ANSWER_CHARS
    quality = answer_score_rules(grounding=grounding(), answer=answer)
    assert (quality.score, quality.reasons) == (9.0, ["is too long"])


def test_the_score_never_goes_below_zero():
    g = grounding(language="cs", first_name="Petr", intent="orders", tools=[ORDER_12345])
    answer = ("Your parcel 77777 is on its way, see [7]. " * 60).strip()
    quality = answer_score_rules(grounding=g, answer=answer)
    assert quality.score == 0.0
    assert len(quality.reasons) == 6
    assert quality.reasons[0].startswith("states facts that are not in the context: number not in context: 77777")


def test_a_prebuilt_allowed_set_is_used_instead_of_the_grounding():
    # The streamed delivery builds the set once per turn and passes it in.
    strict = AllowedFacts.from_texts(["nothing numeric here"])
    quality = answer_score_rules(grounding=grounding(), answer=GOOD, allowed=strict)
    assert quality.score == 5.0
    assert quality.reasons == ["states facts that are not in the context: number not in context: 30"]


def test_grounding_texts_cover_every_source_of_facts_we_vouch_for():
    g = grounding(
        tools=[ORDER_12345, NOT_FOUND],
        history=[("customer", "Hello 777"), ("assistant", "Hi Emma"), ("agent", "Jana here")],
        memory_summary="order 12345",
        previous_summary="a return",
        ticket_reference="ESC-000042",
        ticket_sla_minutes=120,
    )
    texts = grounding_texts(g)
    assert texts[:3] == [
        "Hi Emma",
        "Jana here",
        ("Our 30-day returns policy\nWhat can be returned\n" + RETURNS_POLICY.text + "\n/help/returns-policy/"),
    ]
    assert str(ORDER_12345.as_dict()) in texts
    # The SLA is offered in minutes and in hours, the two ways an answer may state it.
    assert texts[-3:] == ["emma.clarke@example.co.uk", "ESC-000042", "120 2"]
    assert "" not in grounding_texts(grounding(customer_email=None, tools=[]))
    # The customer's words are no facts (tests/copilot/test_grounding_trust.py): not their message, their
    # earlier messages, the summaries of what they asked, nor the order number they asked a tool about.
    corpus = "\n".join(texts)
    for customer_text in ("How do I return an item?", "Hello 777", "order 12345", "a return", "99999"):
        assert customer_text not in corpus


def test_ticket_reference_and_sla_hours_are_allowed_facts():
    g = grounding(
        sources=[], escalation_reasons=["human_request"], ticket_reference="ESC-000042", ticket_sla_minutes=480
    )
    answer = "Hi Emma, I've passed this to a colleague (ticket ESC-000042); they will reply within 8 hours."
    assert answer_score_rules(grounding=g, answer=answer).score == 10.0
    hours = answer.replace("8 hours", "12 hours")
    assert answer_score_rules(grounding=g, answer=hours).reasons == [
        "states facts that are not in the context: number not in context: 12"
    ]


@pytest.mark.parametrize(
    ("tools", "facts"),
    [
        ([ORDER_12345], ["12345"]),
        ([ACCOUNT], ["ACC-1007"]),
        ([NOT_FOUND], ["99999"]),
        ([SIGN_IN], []),
        ([ACCOUNT, NOT_FOUND], ["ACC-1007", "99999"]),
        ([], []),
    ],
)
def test_tool_key_facts(tools, facts):
    assert tool_key_facts(grounding(tools=tools)) == facts


def test_a_not_found_answer_must_name_the_order_asked_about():
    g = grounding(intent="orders", tools=[NOT_FOUND], sources=[], message="Where is order 99999?")
    quality = answer_score_rules(grounding=g, answer="Hi Emma, I couldn't find that order on your account.")
    assert quality.score == 7.0
    assert quality.reasons == ["does not address the orders question: 99999 not mentioned"]
