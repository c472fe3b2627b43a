"""The rule-based quality score of an answer, 0 to 10 with reasons.

Both engines use it: the offline engine alone, the openai engine together with the
model's own judgement (the lower score wins).
"""

import re

from copilot.analysis.language import language_detect
from copilot.guards import (
    CARD_ENDING,
    CITATION,
    AllowedFacts,
    order_references,
    references_removed,
    sentence_violations,
)
from copilot.llm.base import Grounding, Quality
from copilot.llm.redaction import card_spans
from copilot.llm.templates import vocative

MAX_ANSWER_CHARS = 1800


# Who wrote a history message, as ``Message.role`` stores it.
CUSTOMER, ASSISTANT, AGENT = "customer", "assistant", "agent"


def grounding_texts(grounding: Grounding) -> list[str]:
    """Every text an answer may take facts from: only what we vouch for, never what the customer wrote.

    The customer's message and earlier messages, the two summaries (they name what the customer
    asked about, order numbers included) and the order number a tool was asked for but did not
    find are the customer's words; a model repeating them ("your new 365-day return policy")
    would state them as ours. Those give at most ``grounding_references``.

    A colleague's reply is ours. So is an earlier reply of the copilot's: every number in it
    passed these same checks when it was sent (the stream's guard, or the verified delivery's
    score, where an ungrounded number costs 5 points: below the default threshold of 7, so the
    answer is replaced), except the order numbers and card endings it repeated after the
    customer, which are taken out.
    """
    texts = []
    for role, content in grounding.history:
        if role == AGENT:
            texts.append(content)
        elif role == ASSISTANT:
            texts.append(references_removed(content))
    texts += [f"{source.title}\n{source.heading}\n{source.text}\n{source.url}" for source in grounding.sources]
    # "asked" is the order number taken from the customer's message, found or not.
    texts += [str({**tool.as_dict(), "data": _without_asked(tool.data)}) for tool in grounding.tools]
    if grounding.customer_email:
        texts.append(grounding.customer_email)
    if grounding.ticket_reference:
        texts.append(grounding.ticket_reference)
    if grounding.ticket_sla_minutes:
        texts.append(f"{grounding.ticket_sla_minutes} {grounding.ticket_sla_minutes // 60}")
    return [text for text in texts if text]


def _without_asked(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "asked"}


def grounding_references(grounding: Grounding) -> list[str]:
    """The identifiers the customer gave, which an answer may repeat only to name them.

    The order numbers the customer (or a summary of their questions) named, and the one a tool
    was asked for: "I couldn't find order #54321" must stay possible. A card number's last four
    digits: the redaction restores a card placeholder in the answer as "•••• 1111".
    """
    customer = [grounding.message] + [content for role, content in grounding.history if role == CUSTOMER]
    ours = [content for role, content in grounding.history if role == ASSISTANT]
    references = [
        number
        for text in (*customer, *ours, grounding.memory_summary, grounding.previous_summary)
        for number in order_references(text)
    ]
    references += [str(tool.data["asked"]) for tool in grounding.tools if tool.data.get("asked")]
    references += [re.sub(r"\D", "", text[start:end])[-4:] for text in customer for start, end in card_spans(text)]
    references += [match["id"] for text in ours for match in CARD_ENDING.finditer(text)]
    return references


def grounding_allowed(grounding: Grounding, *, instructions: str = "") -> AllowedFacts:
    """The facts an answer built from ``grounding`` may state; the stream's guard and the score both use it."""
    return AllowedFacts.from_texts(
        grounding_texts(grounding), instructions=instructions, references=grounding_references(grounding)
    )


def tool_key_facts(grounding: Grounding) -> list[str]:
    """Facts an answer to a tool question must mention: the order or account it is about."""
    facts = []
    for tool in grounding.tools:
        if tool.ok:
            facts.append(str(tool.data.get("number") or tool.data.get("account_number") or ""))
        elif tool.data.get("asked"):
            facts.append(str(tool.data["asked"]))
    return [fact for fact in facts if fact]


def answer_score_rules(*, grounding: Grounding, answer: str, allowed: AllowedFacts | None = None) -> Quality:
    answer = answer.strip()
    if not answer:
        return Quality(score=0.0, reasons=["the answer is empty"])
    allowed = allowed or grounding_allowed(grounding)
    score = 10.0
    reasons: list[str] = []

    violations = sentence_violations(answer, allowed=allowed)
    if violations:
        score -= 5
        reasons.append("states facts that are not in the context: " + "; ".join(violations[:3]))

    cited = {int(n) for n in re.findall(r"\[(\d{1,2})\]", answer)}
    known = {source.number for source in grounding.sources}
    if cited - known:
        score -= 3
        reasons.append(f"cites sources that do not exist: {sorted(cited - known)}")

    escalated = bool(grounding.escalation_reasons)
    tool_answered = any(tool.ok for tool in grounding.tools)
    if not grounding.small_talk:
        if grounding.sources and not CITATION.search(answer) and not tool_answered:
            score -= 3
            reasons.append("answers from the knowledge base without a citation")
        if not grounding.sources and not grounding.tools and not escalated:
            score -= 4
            reasons.append("is not grounded in the knowledge base or a tool result")
        missing = [fact for fact in tool_key_facts(grounding) if fact not in answer]
        if missing:
            score -= 3
            reasons.append(f"does not address the {grounding.intent} question: {', '.join(missing)} not mentioned")

    if len(answer) >= 40 and language_detect(text=answer, default=grounding.language) != grounding.language:
        score -= 2
        reasons.append(f"is not in the customer's language ({grounding.language})")
    if grounding.first_name and not {grounding.first_name, vocative(grounding.language, grounding.first_name)} & set(
        re.findall(r"\w+", answer)
    ):
        score -= 1
        reasons.append("does not address the customer by name")
    if len(answer) > MAX_ANSWER_CHARS:
        score -= 1
        reasons.append("is too long")
    return Quality(score=max(0.0, min(10.0, score)), reasons=reasons or ["grounded, on topic and cited"])
