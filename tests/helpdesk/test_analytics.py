"""Every figure of the analytics page against a hand-built world whose numbers are worked out
by hand below, plus the page, its date filter, the CSV export and who may see them."""

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from copilot.models import CopilotTurn
from helpdesk.analytics import Period, analytics_get
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.services.conversations import conversation_first_messages_refresh, message_add
from knowledge.models import KnowledgeGap
from tests.factories import (
    AgentProfileFactory,
    ConversationFactory,
    CustomerFactory,
    KnowledgeGapFactory,
    TicketFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PRAGUE = ZoneInfo("Europe/Prague")
PERIOD = Period(start=date(2026, 11, 1), end=date(2026, 11, 3))


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=PRAGUE)


def conversation(started: datetime, **fields) -> Conversation:
    made = ConversationFactory(customer=CustomerFactory(), **fields)
    Conversation.objects.filter(pk=made.pk).update(created_at=started)
    made.refresh_from_db()
    return made


def message(conv: Conversation, role: str, when: datetime, author=None) -> Message:
    made, _ = message_add(conversation=conv, role=role, content=f"{role} text", author=author)
    # Moved to its hour, as the demo's history does: the conversation's first times follow.
    Message.objects.filter(pk=made.pk).update(created_at=when)
    conversation_first_messages_refresh(conversation_ids=[conv.pk])
    return made


def turn(conv: Conversation, asked: Message, when: datetime, **fields) -> CopilotTurn:
    made = CopilotTurn.objects.create(
        conversation=conv, customer_message=asked, engine="offline", delivery="verified", language="en", **fields
    )
    CopilotTurn.objects.filter(pk=made.pk).update(created_at=when)
    return made


@pytest.fixture
def world(settings):
    """Seven conversations, five of which count (see each comment), and their copilot turns."""
    settings.TIME_ZONE = "Europe/Prague"
    settings.LLM_PRICE_PROMPT_PER_1K = 0.5
    settings.LLM_PRICE_COMPLETION_PER_1K = 1.5
    agent = AgentProfileFactory(user__username="jana", user__first_name="Jana", user__last_name="Nováková").user
    helper = AgentProfileFactory(user__username="bob", user__first_name="Bob", user__last_name="<b>Brown</b>").user

    # c1, 1 Nov: the bot answers in 2 s, resolved after 300 s, no human, rated up.
    c1 = conversation(at(1, 10), status="resolved", resolved_at=at(1, 10, 5), csat="up")
    q1 = message(c1, "customer", at(1, 10))
    message(c1, "assistant", at(1, 10, 0, 2))
    turn(
        c1,
        q1,
        at(1, 10),
        intent="returns",
        sentiment="neutral",
        qa_score=8.5,
        llm_calls=1,
        prompt_tokens=100,
        completion_tokens=50,
    )

    # c2, 1 Nov: the bot in 4 s, escalated, an agent in 600 s, resolved after 1,800 s, rated down.
    c2 = conversation(at(1, 12), status="resolved", resolved_at=at(1, 12, 30), csat="down", assigned_agent=agent)
    q2 = message(c2, "customer", at(1, 12))
    message(c2, "assistant", at(1, 12, 0, 4))
    message(c2, "agent", at(1, 12, 10), author=agent)
    # Bob helps on c2 after Jana's first reply: a reply of his, not c2's first human one.
    message(c2, "agent", at(1, 12, 20), author=helper)
    TicketFactory(conversation=c2, kind=Ticket.Kind.ESCALATION, status="resolved", resolved_at=at(1, 12, 30))
    turn(
        c2,
        q2,
        at(1, 12),
        intent="human_request",
        sentiment="negative",
        escalated=True,
        escalation_reasons=["human_request", "anger"],
        qa_score=7.0,
        llm_calls=2,
        prompt_tokens=200,
        completion_tokens=80,
    )

    # c3, 2 Nov at 00:30 in Prague (still 1 Nov in UTC): the bot in 6 s, no human, rated down.
    c3 = conversation(at(2, 0, 30), csat="down")
    q3 = message(c3, "customer", at(2, 0, 30))
    message(c3, "assistant", at(2, 0, 30, 6))
    turn(
        c3,
        q3,
        at(2, 0, 30),
        intent="returns",
        sentiment="positive",
        qa_score=9.9,
        llm_calls=1,
        prompt_tokens=120,
        completion_tokens=60,
    )

    # c4, 3 Nov: the bot in 8 s, low confidence escalation decided but no ticket, not rated.
    c4 = conversation(at(3, 23, 30))
    q4 = message(c4, "customer", at(3, 23, 30))
    message(c4, "assistant", at(3, 23, 30, 8))
    turn(
        c4,
        q4,
        at(3, 23, 30),
        intent="orders",
        sentiment="neutral",
        escalated=True,
        escalation_reasons=["low_confidence"],
    )

    # c5, 2 Nov: nobody wrote. Not counted.
    conversation(at(2, 9))

    # c6, 4 Nov: after the period. Not counted, nor its turn.
    c6 = conversation(at(4, 9), csat="up")
    q6 = message(c6, "customer", at(4, 9))
    message(c6, "assistant", at(4, 9, 0, 1))
    turn(c6, q6, at(4, 9), intent="returns", qa_score=1.0, llm_calls=5, prompt_tokens=999, completion_tokens=999)
    message(c6, "agent", at(4, 9, 5), author=agent)

    # c7, 2 Nov: no bot answer; an agent answers in 120 s.
    c7 = conversation(at(2, 15), assigned_agent=agent, status="human")
    message(c7, "customer", at(2, 15))
    message(c7, "agent", at(2, 15, 2), author=agent)

    # Gaps: asked in the period (5 and 9 times), resolved, and last asked before the period.
    gift = KnowledgeGapFactory(question="Do you sell gift cards?", count=5, last_seen_at=at(2, 10))
    KnowledgeGap.objects.filter(pk=gift.pk).update(first_seen_at=at(1, 8))
    late = KnowledgeGapFactory(question='=HYPERLINK("http://x")', count=9, last_seen_at=at(5, 10))
    KnowledgeGap.objects.filter(pk=late.pk).update(first_seen_at=at(2, 8))
    KnowledgeGapFactory(question="Resolved gap", count=50, status="resolved", last_seen_at=at(2, 10))
    old = KnowledgeGapFactory(question="Old gap", count=40, last_seen_at=at(1, 0) - timedelta(days=3))
    KnowledgeGap.objects.filter(pk=old.pk).update(first_seen_at=at(1, 0) - timedelta(days=10))
    return agent


def test_every_figure_matches_the_hand_count(world):
    figures = analytics_get(period=PERIOD)

    assert figures["days"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    conversations = figures["conversations"]
    assert [d["count"] for d in conversations["per_day"]] == [2, 2, 1]
    # 1 Nov: c1 by the AI, c2 escalated; 2 Nov: c3 by the AI, c7 an agent; 3 Nov: c4 by the AI.
    assert [d["resolved_by_ai"] for d in conversations["per_day"]] == [1, 1, 1]
    assert [d["escalated"] for d in conversations["per_day"]] == [1, 0, 0]
    assert [d["automation_rate"] for d in conversations["per_day"]] == [0.5, 0.5, 1.0]
    assert [d["escalation_rate"] for d in conversations["per_day"]] == [0.5, 0.0, 0.0]
    assert conversations["total"] == 5
    assert conversations["resolved_by_ai"] == 3  # c1, c3, c4
    assert conversations["automation_rate"] == 0.6
    assert conversations["escalated"] == 1  # c2
    assert conversations["escalation_rate"] == 0.2

    times = figures["response_times"]
    assert times["first_response"]["bot"] == {"p50": 5.0, "mean": 5.0}  # 2, 4, 6, 8 s
    assert times["first_response"]["human"] == {"p50": 360.0, "mean": 360.0}  # 600, 120 s
    assert times["resolution"]["bot"] == {"p50": 300.0, "mean": 300.0}  # c1
    assert times["resolution"]["human"] == {"p50": 1800.0, "mean": 1800.0}  # c2

    assert figures["csat"] == {
        "overall": {"rated": 3, "up": 1, "score": 0.3333},
        "ai_resolved": {"rated": 2, "up": 1, "score": 0.5},
    }

    turns = figures["turns"]
    assert turns["intents"] == [
        {"intent": "returns", "count": 2},
        {"intent": "human_request", "count": 1},
        {"intent": "orders", "count": 1},
    ]
    assert turns["sentiment_per_day"] == {"negative": [1, 0, 0], "neutral": [1, 0, 1], "positive": [0, 1, 0]}
    assert turns["escalation_reasons_per_day"] == {
        "anger": [1, 0, 0],
        "human_request": [1, 0, 0],
        "low_confidence": [0, 0, 1],
    }
    histogram = {bucket["score"]: bucket["count"] for bucket in turns["qa_histogram"]}
    assert histogram == {score: (1 if score in (7, 8, 9) else 0) for score in range(11)}

    llm = figures["llm"]
    assert [(d["calls"], d["prompt_tokens"], d["completion_tokens"]) for d in llm["per_day"]] == [
        (3, 300, 130),
        (1, 120, 60),
        (0, 0, 0),
    ]
    assert [d["cost"] for d in llm["per_day"]] == [0.345, 0.15, 0.0]  # 0.5 and 1.5 per 1,000 tokens
    assert (llm["calls"], llm["tokens"], llm["cost"]) == (4, 610, 0.495)

    assert [(gap["question"], gap["count"]) for gap in figures["knowledge_gaps"]] == [
        ('=HYPERLINK("http://x")', 9),
        ("Do you sell gift cards?", 5),
    ]

    # Jana has c2 (resolved, first human reply 600 s, rated down) and c7 (120 s), and wrote in both;
    # her reply in c6 is after the period. Bob has none assigned and wrote once, in c2.
    assert figures["agents"] == [
        {
            "username": "jana",
            "name": "Jana Nováková",
            "conversations": 2,
            "resolved": 1,
            "replies": 2,
            "first_reply_p50": 360.0,
            "csat": {"rated": 1, "up": 0, "score": 0.0},
        },
        {
            "username": "bob",
            "name": "Bob <b>Brown</b>",
            "conversations": 0,
            "resolved": 0,
            "replies": 1,
            "first_reply_p50": None,
            "csat": {"rated": 0, "up": 0, "score": None},
        },
    ]


def test_a_bot_answer_within_a_second_keeps_its_milliseconds(settings):
    settings.TIME_ZONE = "Europe/Prague"
    conv = conversation(at(1, 10))
    message(conv, "customer", at(1, 10))
    message(conv, "assistant", at(1, 10) + timedelta(milliseconds=48))
    times = analytics_get(period=PERIOD)["response_times"]["first_response"]["bot"]
    assert times == {"p50": 0.048, "mean": 0.048}


def test_an_empty_period_has_zeros_and_no_rates(world):
    figures = analytics_get(period=Period(start=date(2025, 1, 1), end=date(2025, 1, 2)))
    assert figures["conversations"]["total"] == 0
    assert figures["conversations"]["automation_rate"] is None
    assert figures["csat"]["overall"]["score"] is None
    assert figures["response_times"]["first_response"]["bot"] == {"p50": None, "mean": None}
    assert figures["turns"]["intents"] == []
    assert figures["llm"]["cost"] == 0
    assert figures["agents"] == []


# ---------------------------------------------------------------- the page and the export


def test_an_agent_sees_the_page_with_the_figures(client, world):
    client.force_login(world)
    response = client.get(reverse("console:analytics"), {"start": "2026-11-01", "end": "2026-11-03"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-kpi="conversations">5<' in html
    assert 'data-rate="0.6"' in html
    assert 'id="analytics-data"' in html
    assert "vendor/chart.js/chart.umd.min.js" in html
    # The gap question is text, escaped, never markup.
    assert "=HYPERLINK(&quot;http://x&quot;)" in html
    assert "<td>Bob &lt;b&gt;Brown&lt;/b&gt;</td>" in html
    assert response["Content-Security-Policy"].startswith("default-src 'self'")


def test_the_export_has_every_figure_and_defuses_formulas(client, world):
    client.force_login(world)
    response = client.get(reverse("console:analytics-export"), {"start": "2026-11-01", "end": "2026-11-03"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="analytics-2026-11-01-2026-11-03.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "name", "day", "value"]
    table = {(section, name, day): value for section, name, day, value in rows[1:]}
    assert table[("conversations", "count", "2026-11-01")] == "2"
    assert table[("conversations", "automation_rate", "")] == "0.6"
    assert table[("conversations", "automation_rate", "2026-11-03")] == "1.0"
    assert table[("conversations", "escalated", "2026-11-01")] == "1"
    assert table[("first_response", "human_p50_seconds", "")] == "360.0"
    assert table[("csat", "ai_resolved_score", "")] == "0.5"
    assert table[("intents", "returns", "")] == "2"
    assert table[("sentiment", "positive", "2026-11-02")] == "1"
    assert table[("escalation_reasons", "low_confidence", "2026-11-03")] == "1"
    assert table[("qa_score", "9", "")] == "1"
    assert table[("llm", "cost", "2026-11-01")] == "0.345"
    assert table[("knowledge_gaps", '\'=HYPERLINK("http://x")', "")] == "9"
    assert table[("agents", "jana.conversations", "")] == "2"
    assert table[("agents", "jana.first_reply_p50", "")] == "360.0"
    assert table[("agents", "jana.csat_score", "")] == "0.0"
    assert table[("agents", "bob.replies", "")] == "1"


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-11-05", "end": "2026-11-01"},
        {"start": "2020-01-01", "end": "2026-01-01"},
        {"start": "yesterday"},
        {"start": "9999-12-31", "end": "9999-12-31"},
    ],
)
def test_a_bad_range_is_refused_clearly(client, world, query):
    client.force_login(world)
    page = client.get(reverse("console:analytics"), query)
    assert page.status_code == 400
    assert b'role="alert"' in page.content
    export = client.get(reverse("console:analytics-export"), query)
    assert export.status_code == 400
    assert export["Content-Type"].startswith("text/plain")


def test_the_default_range_is_the_last_30_days(client, world):
    client.force_login(world)
    figures = client.get(reverse("console:analytics")).context["figures"]
    assert len(figures["days"]) == 30


@pytest.mark.parametrize("name", ["console:analytics", "console:analytics-export"])
def test_only_agents_and_staff_see_analytics(client, name):
    url = reverse(name)
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("console:login"))
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403
    client.force_login(AgentProfileFactory().user)
    assert client.get(url).status_code == 200
    client.force_login(UserFactory(is_staff=True))
    assert client.get(url).status_code == 200
