"""When the copilot hands a conversation to a person, and how urgently."""

from copilot.tools import ToolResult

HUMAN_REQUEST = "human_request"
ANGER = "anger"
FRUSTRATION = "frustration"
HIGH_URGENCY = "high_urgency"
ACCOUNT_REVIEW = "account_review"
LOW_CONFIDENCE = "low_confidence"
REPEATED_FAILURE = "repeated_failure"
LOW_QUALITY = "low_quality"
ENGINE_FAILURE = "engine_failure"
COPILOT_ERROR = "copilot_error"

REASON_TEXT = {
    HUMAN_REQUEST: "the customer asked for a person",
    ANGER: "the customer is angry",
    FRUSTRATION: "the customer is frustrated",
    HIGH_URGENCY: "the request is urgent",
    ACCOUNT_REVIEW: "the account needs a manual review",
    LOW_CONFIDENCE: "the knowledge base has no confident answer",
    REPEATED_FAILURE: "the copilot could not help twice in this conversation",
    LOW_QUALITY: "the copilot's answer failed its quality check twice",
    ENGINE_FAILURE: "the language model failed mid-answer",
    COPILOT_ERROR: "the copilot hit an internal error",
}
PRIORITY_ORDER = ["low", "medium", "high", "urgent"]


def escalation_reasons(
    *,
    intent_escalates: bool,
    sentiment: str,
    urgency: str,
    signals: tuple[str, ...],
    tools: list[ToolResult],
    answerable: bool,
    small_talk: bool,
    earlier_failures: int,
) -> list[str]:
    """Every reason to hand this turn to a person; empty when the copilot can answer alone."""
    reasons = []
    if intent_escalates or "human_request" in signals:
        reasons.append(HUMAN_REQUEST)
    if sentiment == "angry":
        reasons.append(ANGER)
    elif sentiment == "frustrated":
        reasons.append(FRUSTRATION)
    if urgency == "high":
        reasons.append(HIGH_URGENCY)
    if any(tool.needs_review for tool in tools):
        reasons.append(ACCOUNT_REVIEW)
    # A tool that ran has answered, even "no such order on your account" or "please sign in".
    failed = not small_talk and not answerable and not tools
    if failed and HUMAN_REQUEST not in reasons:
        reasons.append(LOW_CONFIDENCE)
    if failed and earlier_failures >= 1:
        reasons.append(REPEATED_FAILURE)
    return reasons


def escalation_priority(*, reasons: list[str], tier: str | None) -> str:
    if not reasons:
        return "low"
    level = 1
    if ANGER in reasons and HIGH_URGENCY in reasons:
        level = 3
    elif {ANGER, FRUSTRATION, HIGH_URGENCY, ACCOUNT_REVIEW} & set(reasons):
        level = 2
    if tier in ("gold", "vip"):
        level = min(3, level + 1)
    return PRIORITY_ORDER[level]


def escalation_summary(reasons: list[str]) -> str:
    return "; ".join(REASON_TEXT.get(reason, reason) for reason in reasons)
