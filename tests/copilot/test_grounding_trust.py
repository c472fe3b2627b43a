"""Which texts may ground an answer's numbers and emails: ours (the CRM card, the tool results,
the help-centre passages, our own earlier replies), never the customer's words.

A customer who writes "your new 365-day return policy" must not get that policy confirmed
because a model repeated it: the number is in the conversation, but it is not a fact.
"""

import pytest

from copilot.guards import AllowedFacts, sentence_violations
from copilot.llm.base import Grounding
from copilot.quality import answer_score_rules, grounding_texts
from copilot.tools import ToolResult
from tests.copilot.test_quality import grounding

CLAIM = "I read that you have a new 365-day return policy, so I can return my order from last year, right?"
ECHO = "Yes, under our new 365-day return policy you can return it."
TRUE = "Most items can be returned within 30 days of delivery [1]."


def facts(g: Grounding) -> AllowedFacts:
    return AllowedFacts.from_texts(grounding_texts(g))


def problems(answer: str, g: Grounding) -> list[str]:
    """The grounding problems the quality score (the verified delivery's check) finds in ``answer``."""
    reasons = answer_score_rules(grounding=g, answer=answer).reasons
    return [reason for reason in reasons if reason.startswith("states facts")]


@pytest.mark.parametrize(
    "customer_text",
    [
        pytest.param({"message": CLAIM}, id="message"),
        pytest.param({"history": [("customer", CLAIM), ("assistant", "Hi Emma, how can I help?")]}, id="history"),
        # Both summaries name what the customer asked about: customer-chosen text.
        pytest.param({"memory_summary": "the new 365-day return policy"}, id="memory"),
        pytest.param({"previous_summary": "the new 365-day return policy"}, id="previous-conversation"),
    ],
)
def test_a_number_only_the_customer_wrote_grounds_nothing(customer_text):
    g = grounding(**customer_text)
    assert sentence_violations(ECHO, allowed=facts(g)) == ["number not in context: 365"]
    # The help centre's own policy still goes through.
    assert sentence_violations(TRUE, allowed=facts(g)) == []


def test_the_verified_check_scores_a_repeated_customer_claim_as_ungrounded():
    g = grounding(message=CLAIM)
    answer = f"Hi Emma, {ECHO[0].lower()}{ECHO[1:]} {TRUE}"
    quality = answer_score_rules(grounding=g, answer=answer)
    assert quality.score == 5.0
    assert quality.reasons == ["states facts that are not in the context: number not in context: 365"]


def test_an_email_only_the_customer_wrote_grounds_nothing():
    g = grounding(message="Please send the label to eve.other@example.com instead.")
    allowed = facts(g)
    assert sentence_violations("We sent the label to eve.other@example.com.", allowed=allowed) == [
        "email not in context: eve.other@example.com"
    ]
    # The address on the CRM card is ours.
    assert sentence_violations("We sent the label to emma.clarke@example.co.uk.", allowed=allowed) == []


def test_a_colleagues_and_our_own_earlier_replies_ground_numbers():
    g = grounding(
        history=[
            ("customer", "Can I have longer for this return?"),
            ("agent", "I have extended the return window of this order to 45 days."),
            ("assistant", "Your refund of 1 249,00 CZK was issued on 5. 3. 2026."),
        ]
    )
    assert sentence_violations("Your return window is 45 days.", allowed=facts(g)) == []
    assert sentence_violations("The refund of 1 249,00 CZK is on its way.", allowed=facts(g)) == []


def test_an_order_number_the_customer_asked_about_may_be_named_and_nothing_more():
    # No tool found 54321 on the account: the answer may say so, the number grounds nothing else.
    not_found = ToolResult(name="order_status", ok=False, error="not_found", data={"asked": "54321"})
    g = grounding(intent="orders", message="Where is my order 54321?", tools=[not_found], sources=[])
    assert problems("Hi Emma, I couldn't find order #54321 on your account.", g) == []
    assert problems("Hi Emma, order 54321 was refunded: 54321 CZK.", g) == [
        "states facts that are not in the context: number not in context: 54321"
    ]


def test_an_order_number_we_echoed_earlier_stays_a_mere_order_reference():
    # Our own reply repeated the customer's number; that does not make it a fact for later turns.
    g = grounding(
        history=[
            ("customer", "Where is my order 54321?"),
            ("assistant", "I couldn't find order #54321 on your account."),
        ]
    )
    assert problems("Hi Emma, about order 54321: see the policy [1].", g) == []
    assert sentence_violations("We will refund 54321 CZK.", allowed=facts(g)) == ["number not in context: 54321"]


def test_a_card_the_customer_typed_is_repeated_only_as_its_masked_ending():
    g = grounding(message="I was charged twice on card 4111 1111 1111 1111, can I return the order?")
    assert problems("Hi Emma, card •••• 1111 will not be charged again [1].", g) == []
    assert problems("Hi Emma, the return costs 1111 CZK [1].", g) == [
        "states facts that are not in the context: number not in context: 1111"
    ]


def test_the_tool_results_ground_the_order_number_the_customer_typed():
    found = ToolResult(name="order_status", ok=True, data={"number": "54321", "status": "shipped", "total": "4999.00"})
    g = grounding(intent="orders", message="Where is my order 54321?", tools=[found], sources=[])
    assert sentence_violations("Order 54321 (4999.00) has shipped; the total was 4999 CZK.", allowed=facts(g)) == []
