"""When the copilot hands over to a person, and how urgently."""

import pytest

from copilot.escalation import (
    ACCOUNT_REVIEW,
    ANGER,
    COPILOT_ERROR,
    ENGINE_FAILURE,
    FRUSTRATION,
    HIGH_URGENCY,
    HUMAN_REQUEST,
    LOW_CONFIDENCE,
    LOW_QUALITY,
    REASON_TEXT,
    REPEATED_FAILURE,
    escalation_priority,
    escalation_reasons,
    escalation_summary,
)
from copilot.tools import ToolResult

ORDER_FOUND = ToolResult(name="order_status", ok=True, data={"number": "12345"})
NOT_FOUND = ToolResult(name="order_status", ok=False, error="not_found", data={"asked": "99999"})
SUSPENDED = ToolResult(name="account_status", ok=True, data={"status": "suspended"}, needs_review=True)


def reasons(**changes) -> list[str]:
    """The reasons for a calm, answerable message, with ``changes`` applied."""
    calm = {
        "intent_escalates": False,
        "sentiment": "neutral",
        "urgency": "low",
        "signals": (),
        "tools": [],
        "answerable": True,
        "small_talk": False,
        "earlier_failures": 0,
    }
    return escalation_reasons(**{**calm, **changes})


def test_a_calm_answerable_message_stays_with_the_copilot():
    assert reasons() == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"intent_escalates": True}, [HUMAN_REQUEST]),
        ({"signals": ("human_request",)}, [HUMAN_REQUEST]),
        ({"signals": ("gratitude",)}, []),
        ({"sentiment": "angry"}, [ANGER]),
        ({"sentiment": "frustrated"}, [FRUSTRATION]),
        ({"sentiment": "negative"}, []),
        ({"urgency": "high"}, [HIGH_URGENCY]),
        ({"urgency": "medium"}, []),
        ({"tools": [SUSPENDED]}, [ACCOUNT_REVIEW]),
        ({"tools": [ORDER_FOUND]}, []),
    ],
)
def test_each_signal_gives_its_reason(changes, expected):
    assert reasons(**changes) == expected


def test_every_applicable_reason_is_listed_in_a_fixed_order():
    got = reasons(intent_escalates=True, sentiment="angry", urgency="high", tools=[SUSPENDED])
    assert got == [HUMAN_REQUEST, ANGER, HIGH_URGENCY, ACCOUNT_REVIEW]


def test_a_human_request_replaces_low_confidence_but_not_a_repeated_failure():
    assert reasons(intent_escalates=True, answerable=False) == [HUMAN_REQUEST]
    assert reasons(intent_escalates=True, answerable=False, earlier_failures=1) == [HUMAN_REQUEST, REPEATED_FAILURE]


def test_an_unanswerable_question_is_low_confidence():
    assert reasons(answerable=False) == [LOW_CONFIDENCE]


def test_a_second_failure_in_a_row_is_a_repeated_failure():
    assert reasons(answerable=False, earlier_failures=1) == [LOW_CONFIDENCE, REPEATED_FAILURE]
    assert reasons(answerable=False, earlier_failures=3) == [LOW_CONFIDENCE, REPEATED_FAILURE]


def test_earlier_failures_alone_do_not_escalate_an_answered_question():
    assert reasons(earlier_failures=2) == []


@pytest.mark.parametrize("tool", [ORDER_FOUND, NOT_FOUND])
def test_a_tool_that_ran_counts_as_an_answer_without_knowledge_base_hits(tool):
    # "No such order on your account" is an answer, not a failure.
    assert reasons(answerable=False, tools=[tool], earlier_failures=1) == []


def test_small_talk_needs_no_knowledge_base_answer():
    assert reasons(answerable=False, small_talk=True, earlier_failures=1) == []


@pytest.mark.parametrize(
    ("reason_list", "tier", "priority"),
    [
        ([], None, "low"),
        ([], "vip", "low"),
        ([HUMAN_REQUEST], None, "medium"),
        ([LOW_CONFIDENCE, REPEATED_FAILURE], "standard", "medium"),
        ([LOW_QUALITY], None, "medium"),
        ([ENGINE_FAILURE], None, "medium"),
        ([COPILOT_ERROR], None, "medium"),
        ([ANGER], None, "high"),
        ([FRUSTRATION], "standard", "high"),
        ([HIGH_URGENCY], None, "high"),
        ([ACCOUNT_REVIEW, HUMAN_REQUEST], None, "high"),
        ([ANGER, HIGH_URGENCY], None, "urgent"),
        ([HUMAN_REQUEST], "gold", "high"),
        ([LOW_CONFIDENCE], "vip", "high"),
        ([FRUSTRATION], "gold", "urgent"),
        ([ANGER, HIGH_URGENCY], "vip", "urgent"),
    ],
)
def test_priority_rises_with_emotion_urgency_and_tier(reason_list, tier, priority):
    assert escalation_priority(reasons=reason_list, tier=tier) == priority


def test_summary_spells_out_each_reason_and_keeps_unknown_codes():
    assert escalation_summary([HUMAN_REQUEST, ANGER]) == "the customer asked for a person; the customer is angry"
    assert escalation_summary(["vendor_outage"]) == "vendor_outage"
    assert escalation_summary([]) == ""


def test_every_reason_code_has_a_text():
    codes = {
        HUMAN_REQUEST,
        ANGER,
        FRUSTRATION,
        HIGH_URGENCY,
        ACCOUNT_REVIEW,
        LOW_CONFIDENCE,
        REPEATED_FAILURE,
        LOW_QUALITY,
        ENGINE_FAILURE,
        COPILOT_ERROR,
    }
    assert set(REASON_TEXT) == codes
    assert all(REASON_TEXT[code] and REASON_TEXT[code] != code for code in codes)
