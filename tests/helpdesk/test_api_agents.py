"""The agent console's REST API (docs/live-chat.md, "Agent console")."""

from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from copilot.models import ConversationMemory, CopilotTurn
from helpdesk.api.permissions import AgentRateThrottle
from helpdesk.api.serializers import (
    ConsoleMessageSerializer,
    ConversationDetailSerializer,
    ConversationSummarySerializer,
    CustomerDetailSerializer,
    TicketSerializer,
)
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.selectors import messages_for_customer
from helpdesk.services import conversation_resolve, conversation_take_over
from tests.factories import (
    AccountFactory,
    AgentProfileFactory,
    ConversationFactory,
    CustomerFactory,
    MessageFactory,
    OrderFactory,
    TicketFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def make_agent(username: str, display_name: str):
    first, _, last = display_name.partition(" ")
    user = UserFactory(username=username, first_name=first, last_name=last)
    AgentProfileFactory(user=user, display_name=display_name)
    return user


@pytest.fixture
def alice():
    return make_agent("alice", "Alice Adams")


@pytest.fixture
def bob():
    return make_agent("bob", "Bob Brown")


@pytest.fixture
def agent_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    other = Client()
    other.force_login(bob)
    return other


@pytest.fixture
def conversation():
    return ConversationFactory(customer=CustomerFactory(name="Jana Nováková", tier="gold"), subject="Late parcel")


def url(name: str, pk: int | None = None) -> str:
    return reverse(name, args=[pk] if pk is not None else [])


def post(client, name: str, pk: int, body: dict | None = None):
    return client.post(url(name, pk), body or {}, content_type="application/json")


def make_turn(conversation, **fields) -> CopilotTurn:
    message = MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER)
    return CopilotTurn.objects.create(
        conversation=conversation,
        customer_message=message,
        engine="offline",
        delivery=CopilotTurn.Delivery.VERIFIED,
        language=conversation.language,
        **fields,
    )


# ---------------------------------------------------------------- who may call the API

ENDPOINTS = [
    ("get", "api-conversations", None, None),
    ("get", "api-conversation", "conversation", None),
    ("get", "api-conversation-messages", "conversation", None),
    ("post", "api-conversation-take-over", "conversation", {}),
    ("post", "api-conversation-reply", "conversation", {"text": "Hello"}),
    ("post", "api-conversation-notes", "conversation", {"text": "Note"}),
    ("post", "api-conversation-hand-back", "conversation", {}),
    ("post", "api-conversation-resolve", "conversation", {}),
    ("post", "api-conversation-assign", "conversation", {"agent": "alice"}),
    ("post", "api-conversation-suggest", "conversation", {}),
    ("get", "api-tickets", None, None),
    ("get", "api-ticket", "ticket", None),
    ("patch", "api-ticket", "ticket", {"status": "closed"}),
    ("get", "api-customers", None, None),
    ("get", "api-customer", "customer", None),
    ("get", "api-agents", None, None),
]


def call(client, method: str, name: str, target: str | None, body: dict | None, objects: dict):
    pk = objects[target].pk if target else None
    if method == "get":
        return client.get(url(name, pk))
    return getattr(client, method)(url(name, pk), body, content_type="application/json")


@pytest.fixture
def objects(alice):
    ticket = TicketFactory(
        subject="Parcel lost", follow_up_by_email=True, conversation__contact_email="secret.visitor@example.org"
    )
    return {"conversation": ticket.conversation, "ticket": ticket, "customer": ticket.customer}


def assert_untouched(objects: dict) -> None:
    conversation, ticket = objects["conversation"], objects["ticket"]
    conversation.refresh_from_db()
    ticket.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent_id) == ("bot", None)
    assert ticket.status == "open"
    assert not conversation.messages.exists()


@pytest.mark.parametrize(("method", "name", "target", "body"), ENDPOINTS, ids=[f"{e[0]}-{e[1]}" for e in ENDPOINTS])
def test_anonymous_callers_are_refused(client, objects, method, name, target, body):
    response = call(client, method, name, target, body, objects)
    assert response.status_code == 403
    assert "Parcel lost" not in response.content.decode()
    assert "secret.visitor" not in response.content.decode()
    assert_untouched(objects)


@pytest.mark.parametrize(("method", "name", "target", "body"), ENDPOINTS, ids=[f"{e[0]}-{e[1]}" for e in ENDPOINTS])
def test_a_logged_in_user_who_is_not_an_agent_is_refused(client, objects, method, name, target, body):
    client.force_login(UserFactory(username="mallory"))
    response = call(client, method, name, target, body, objects)
    assert response.status_code == 403
    assert response.json()["detail"] == "Only support agents and staff can use the console API."
    assert_untouched(objects)


def test_an_inactive_agent_is_refused(client, alice):
    client.force_login(alice)
    alice.is_active = False
    alice.save()
    assert client.get(url("api-conversations")).status_code == 403


def test_staff_without_an_agent_profile_may_use_the_api(client, conversation):
    client.force_login(UserFactory(username="boss", is_staff=True))
    response = client.get(url("api-conversations"))
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [conversation.pk]


def test_session_writes_need_the_csrf_token(alice, conversation):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = post(browser, "api-conversation-take-over", conversation.pk)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    conversation.refresh_from_db()
    assert conversation.status == "bot"


def test_an_agent_is_throttled_past_the_rate(agent_client, monkeypatch):
    monkeypatch.setattr(AgentRateThrottle, "rate", "2/min")
    statuses = [agent_client.get(url("api-agents")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


# ---------------------------------------------------------------- the queue


def test_queue_is_paginated_by_25(agent_client):
    ConversationFactory.create_batch(27)
    first = agent_client.get(url("api-conversations")).json()
    assert first["count"] == 27
    assert len(first["results"]) == 25
    assert first["previous"] is None
    assert first["next"]
    second = agent_client.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert second["next"] is None
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert len(set(ids)) == 27


def test_queue_rows_are_the_documented_summary(agent_client, conversation, alice):
    TicketFactory(conversation=conversation, priority=Ticket.Priority.HIGH)
    MessageFactory(conversation=conversation, content="Where is my parcel?")
    conversation_take_over(conversation_id=conversation.pk, agent=alice)
    make_turn(conversation, intent="order_status", sentiment="frustrated")
    row = agent_client.get(url("api-conversations")).json()["results"][0]
    assert set(row) == set(ConversationSummarySerializer().fields)
    assert row["id"] == conversation.pk
    assert row["status"] == "human"
    assert row["customer"]["name"] == "Jana Nováková"
    assert row["customer"]["tier"] == "gold"
    assert row["ticket"]["priority"] == "high"
    assert row["ticket"]["reference"].startswith("ESC-")
    assert row["assigned_agent"] == {"username": "alice", "name": "Alice Adams"}
    assert row["intent"] == "order_status"
    assert row["sentiment"] == "frustrated"


def test_queue_puts_waiting_conversations_first(agent_client):
    with_bot = ConversationFactory()
    waiting = ConversationFactory(status=Conversation.Status.PENDING_HUMAN)
    rows = agent_client.get(url("api-conversations")).json()["results"]
    assert [row["id"] for row in rows] == [waiting.pk, with_bot.pk]


def test_queue_filters_by_status_priority_mine_and_search(agent_client, alice, bob):
    waiting = TicketFactory(priority=Ticket.Priority.URGENT).conversation
    waiting.status = Conversation.Status.PENDING_HUMAN
    waiting.save()
    mine = ConversationFactory(customer=CustomerFactory(name="Petr Svoboda", email="petr@example.cz"))
    conversation_take_over(conversation_id=mine.pk, agent=alice)
    theirs = ConversationFactory()
    conversation_take_over(conversation_id=theirs.pk, agent=bob)

    def ids(**query):
        response = agent_client.get(url("api-conversations"), query)
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert ids(status="pending_human") == {waiting.pk}
    assert ids(status="human") == {mine.pk, theirs.pk}
    assert ids(priority="urgent") == {waiting.pk}
    assert ids(mine="1") == {mine.pk}
    assert ids(search="svoboda") == {mine.pk}
    assert ids(search="petr@example") == {mine.pk}
    assert ids(search=mine.customer.external_id) == {mine.pk}
    # Empty filters, as a form sends them, filter nothing.
    assert ids(status="", priority="", search="", mine="") == {waiting.pk, mine.pk, theirs.pk}


@pytest.mark.parametrize(
    ("query", "field"),
    [({"status": "open"}, "status"), ({"priority": "asap"}, "priority"), ({"mine": "perhaps"}, "mine")],
)
def test_queue_refuses_an_unknown_filter_value(agent_client, query, field):
    response = agent_client.get(url("api-conversations"), query)
    assert response.status_code == 400
    assert field in response.json()


# ---------------------------------------------------------------- one conversation


def test_conversation_detail_has_card_ticket_copilot_panel_and_memory(agent_client, conversation):
    AccountFactory(customer=conversation.customer, number="ACC-77777", status="suspended")
    OrderFactory(customer=conversation.customer, number="12345")
    ticket = TicketFactory(conversation=conversation, reason="angry customer", priority=Ticket.Priority.URGENT)
    make_turn(conversation, intent="order_status", sentiment="neutral")
    make_turn(
        conversation,
        intent="refund_request",
        intent_confidence=0.83,
        sentiment="angry",
        urgency="high",
        entities={"order_numbers": ["12345"]},
        escalation_reasons=["angry"],
        citations=[{"n": 1, "title": "Refunds", "url": "/help/refunds", "heading": "Timing"}],
        qa_score=7.5,
        follow_up={"steps": ["Acknowledge the customer's frustration."], "priority": "urgent"},
        suggested_replies=["Your refund is on its way.", "Hi Jana, I'm here."],
    )
    ConversationMemory.objects.create(conversation=conversation, summary="Jana wants a refund for order 12345.")

    response = agent_client.get(url("api-conversation", conversation.pk))
    assert response.status_code == 200
    data = response.json()
    assert set(data) == set(ConversationDetailSerializer().fields)
    assert data["id"] == conversation.pk
    card = data["customer_card"]
    assert card["name"] == "Jana Nováková"
    assert card["account"] == {"number": "ACC-77777", "status": "suspended", "subscription_tier": "free"}
    assert [order["number"] for order in card["recent_orders"]] == ["12345"]
    assert data["ticket"]["id"] == ticket.pk
    assert data["ticket"]["reason"] == "angry customer"
    assert data["ticket"]["priority"] == "urgent"
    assert set(data["ticket"]) == set(TicketSerializer().fields)
    copilot = data["copilot"]
    assert copilot["intent"] == "refund_request"
    assert copilot["intent_confidence"] == pytest.approx(0.83)
    assert copilot["sentiment_trajectory"] == ["neutral", "angry"]
    assert copilot["urgency"] == "high"
    assert copilot["entities"] == {"order_numbers": ["12345"]}
    assert copilot["escalation_reasons"] == ["angry"]
    assert copilot["citations"] == [{"n": 1, "title": "Refunds", "url": "/help/refunds", "heading": "Timing"}]
    assert copilot["qa_score"] == 7.5
    assert copilot["follow_up"] == {"steps": ["Acknowledge the customer's frustration."], "priority": "urgent"}
    assert copilot["suggested_replies"][0] == "Your refund is on its way."
    assert data["memory"]["summary"] == "Jana wants a refund for order 12345."


def test_an_anonymous_conversation_without_turns_has_empty_panels(agent_client):
    conversation = ConversationFactory(customer=None)
    data = agent_client.get(url("api-conversation", conversation.pk)).json()
    assert data["customer"] is None
    assert data["customer_card"] is None
    assert data["ticket"] is None
    assert data["copilot"] is None
    assert data["memory"]["summary"] == ""


def test_with_an_external_crm_the_card_shows_what_the_copilot_reads(agent_client, conversation, remote_crm):
    # Our own tables and the external CRM disagree: the card follows CRM_BACKEND, like the copilot.
    AccountFactory(customer=conversation.customer, number="ACC-LOCAL", status="suspended")
    OrderFactory(customer=conversation.customer, number="99999")
    remote_crm.customers[conversation.customer.external_id] = remote_crm.customers["cus_1001"]
    card = agent_client.get(url("api-conversation", conversation.pk)).json()["customer_card"]
    assert card["account"] == {"number": "EXT-ACC-1001", "status": "active", "subscription_tier": "premium"}
    assert [order["number"] for order in card["recent_orders"]] == ["12345"]
    assert card["crm_error"] == ""
    customer = agent_client.get(url("api-customer", conversation.customer.pk)).json()
    assert customer["account"]["number"] == "EXT-ACC-1001"
    # Only this customer's records were asked for.
    assert {r["path"].split("/")[3] for r in remote_crm.requests} == {conversation.customer.external_id}


def test_with_an_external_crm_down_the_card_says_so_instead_of_showing_stale_rows(
    agent_client, conversation, remote_crm
):
    AccountFactory(customer=conversation.customer, number="ACC-LOCAL")
    OrderFactory(customer=conversation.customer, number="99999")
    remote_crm.fail("status", 500, times=10)
    response = agent_client.get(url("api-conversation", conversation.pk))
    assert response.status_code == 200
    card = response.json()["customer_card"]
    assert card["name"] == "Jana Nováková"
    assert card["account"] is None and card["recent_orders"] == []
    assert card["crm_error"] == "HTTP 500"


def test_a_turn_whose_follow_up_has_not_run_yet_has_an_empty_plan(agent_client, conversation):
    make_turn(conversation, intent="general")
    copilot = agent_client.get(url("api-conversation", conversation.pk)).json()["copilot"]
    assert copilot["follow_up"] == {"steps": [], "priority": "none"}
    assert copilot["suggested_replies"] == []


@pytest.mark.parametrize("name", ["api-conversation", "api-conversation-messages"], ids=["detail", "messages"])
def test_an_unknown_conversation_is_404(agent_client, name):
    assert agent_client.get(url(name, 999_999)).status_code == 404


def test_transcript_includes_notes_oldest_first(agent_client, conversation, alice):
    asked = MessageFactory(conversation=conversation, content="Where is it?")
    note = MessageFactory(conversation=conversation, role=Message.Role.NOTE, content="Check DHL", author=alice)
    answered = MessageFactory(conversation=conversation, role=Message.Role.AGENT, content="On its way", author=alice)
    response = agent_client.get(url("api-conversation-messages", conversation.pk))
    assert response.status_code == 200
    data = response.json()
    assert [m["id"] for m in data["messages"]] == [asked.pk, note.pk, answered.pk]
    assert [m["role"] for m in data["messages"]] == ["customer", "note", "agent"]
    assert set(data["messages"][0]) == set(ConsoleMessageSerializer().fields)
    assert data["messages"][1]["author"] == "Alice Adams"
    assert data["truncated"] is False


def test_transcript_is_capped_at_the_latest_500(agent_client, conversation):
    Message.objects.bulk_create(
        [Message(conversation=conversation, role=Message.Role.CUSTOMER, content=f"m{i}") for i in range(502)]
    )
    data = agent_client.get(url("api-conversation-messages", conversation.pk)).json()
    assert len(data["messages"]) == 500
    assert data["truncated"] is True
    assert data["messages"][0]["content"] == "m2"
    assert data["messages"][-1]["content"] == "m501"


# ---------------------------------------------------------------- email follow-up (docs/live-chat.md)


def test_a_promised_follow_up_shows_the_crm_address_and_the_acknowledgement(agent_client):
    conversation = ConversationFactory(customer=CustomerFactory(name="Emma Clarke", email="emma@example.com"))
    acknowledged = timezone.now() - timedelta(minutes=5)
    TicketFactory(conversation=conversation, follow_up_by_email=True, follow_up_acknowledged_at=acknowledged)
    data = agent_client.get(url("api-conversation", conversation.pk)).json()
    assert (data["contact_email"], data["reply_email"]) == ("", "emma@example.com")
    assert data["ticket"]["follow_up_by_email"] is True
    assert datetime.fromisoformat(data["ticket"]["follow_up_acknowledged_at"]) == acknowledged


def test_the_address_a_visitor_left_is_shown_in_full_and_wins_over_the_crm(agent_client):
    anonymous = ConversationFactory(customer=None, contact_email="visitor@example.org")
    TicketFactory(conversation=anonymous, follow_up_by_email=True)
    verified = ConversationFactory(customer=CustomerFactory(email="crm@example.com"), contact_email="other@example.org")
    data = agent_client.get(url("api-conversation", anonymous.pk)).json()
    assert (data["contact_email"], data["reply_email"]) == ("visitor@example.org", "visitor@example.org")
    assert (data["ticket"]["follow_up_by_email"], data["ticket"]["follow_up_acknowledged_at"]) == (True, None)
    data = agent_client.get(url("api-conversation", verified.pk)).json()
    assert (data["contact_email"], data["reply_email"]) == ("other@example.org", "other@example.org")


def test_a_visitor_who_left_no_address_has_nowhere_to_reply_yet(agent_client):
    conversation = ConversationFactory(customer=None)
    TicketFactory(conversation=conversation, follow_up_by_email=True)
    data = agent_client.get(url("api-conversation", conversation.pk)).json()
    assert (data["contact_email"], data["reply_email"]) == ("", "")
    assert (data["ticket"]["follow_up_by_email"], data["ticket"]["follow_up_acknowledged_at"]) == (True, None)


def test_a_ticket_escalated_while_agents_were_online_promises_no_email(agent_client, conversation):
    ticket = TicketFactory(conversation=conversation)
    data = agent_client.get(url("api-conversation", conversation.pk)).json()
    assert (data["ticket"]["follow_up_by_email"], data["ticket"]["follow_up_acknowledged_at"]) == (False, None)
    assert data["reply_email"] == conversation.customer.email
    listed = agent_client.get(url("api-tickets")).json()["results"][0]
    assert (listed["id"], listed["follow_up_by_email"]) == (ticket.pk, False)


def test_another_agent_sees_the_follow_up_of_a_conversation_they_do_not_own(bob_client, alice):
    conversation = ConversationFactory(customer=None, contact_email="visitor@example.org")
    TicketFactory(conversation=conversation, follow_up_by_email=True)
    conversation_take_over(conversation_id=conversation.pk, agent=alice)
    data = bob_client.get(url("api-conversation", conversation.pk)).json()
    assert data["assigned_agent"]["username"] == "alice"
    assert (data["reply_email"], data["ticket"]["follow_up_by_email"]) == ("visitor@example.org", True)


def test_a_customers_conversation_token_does_not_open_the_agents_api(client):
    started = client.post(reverse("api-widget-conversations"), {}, content_type="application/json").json()
    conversation = Conversation.objects.get(public_id=started["conversation"]["id"])
    conversation.contact_email = "visitor@example.org"
    conversation.save()
    token = {"HTTP_AUTHORIZATION": f"Conversation {started['token']}"}
    for name in ("api-conversation", "api-conversation-messages"):
        response = client.get(url(name, conversation.pk), **token)
        assert response.status_code in (401, 403)
        assert "visitor@example.org" not in response.content.decode()


def test_the_transcript_marks_agent_replies_that_were_emailed(agent_client, conversation, alice):
    emailed = timezone.now()
    asked = MessageFactory(conversation=conversation, content="Where is it?")
    replied = MessageFactory(conversation=conversation, role=Message.Role.AGENT, author=alice, emailed_at=emailed)
    data = agent_client.get(url("api-conversation-messages", conversation.pk)).json()
    by_id = {m["id"]: m for m in data["messages"]}
    assert by_id[asked.pk]["emailed_at"] is None
    assert datetime.fromisoformat(by_id[replied.pk]["emailed_at"]) == emailed


def test_a_reply_on_a_promised_follow_up_is_marked_emailed_once_it_went_out(
    agent_client, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(customer=CustomerFactory(name="Emma Clarke", email="emma@example.com"))
    TicketFactory(conversation=conversation, follow_up_by_email=True, follow_up_acknowledged_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = post(agent_client, "api-conversation-reply", conversation.pk, {"text": "It is at the depot."})
    assert response.status_code == 201
    # The email goes out after the reply is stored (a Celery task): the answer cannot know yet.
    assert response.json()["emailed_at"] is None
    [sent] = mail.outbox
    assert sent.to == ["emma@example.com"]
    messages = agent_client.get(url("api-conversation-messages", conversation.pk)).json()["messages"]
    [reply] = [m for m in messages if m["role"] == "agent"]
    assert reply["id"] == response.json()["id"]
    assert reply["emailed_at"] is not None
    assert all(m["emailed_at"] is None for m in messages if m["role"] != "agent")


def test_a_note_on_a_promised_follow_up_is_never_emailed(agent_client, django_capture_on_commit_callbacks):
    conversation = ConversationFactory(customer=CustomerFactory(email="emma@example.com"))
    TicketFactory(conversation=conversation, follow_up_by_email=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(agent_client, "api-conversation-notes", conversation.pk, {"text": "Call DHL"})
    assert (response.status_code, response.json()["emailed_at"]) == (201, None)
    assert mail.outbox == []


# ---------------------------------------------------------------- taking over and handing back


def test_take_over_assigns_the_conversation_to_me(agent_client, conversation):
    ticket = TicketFactory(conversation=conversation)
    response = post(agent_client, "api-conversation-take-over", conversation.pk)
    assert response.status_code == 200
    assert response.json()["status"] == "human"
    assert response.json()["assigned_agent"] == {"username": "alice", "name": "Alice Adams"}
    conversation.refresh_from_db()
    ticket.refresh_from_db()
    assert conversation.assigned_agent.username == "alice"
    assert (ticket.status, ticket.assignee.username) == ("pending", "alice")
    assert conversation.messages.get(role=Message.Role.SYSTEM).content == "Alice Adams joined the chat"
    # Taking it over again changes nothing.
    assert post(agent_client, "api-conversation-take-over", conversation.pk).status_code == 200
    assert conversation.messages.filter(role=Message.Role.SYSTEM).count() == 1


def test_the_second_agent_to_take_over_gets_409_naming_the_owner(agent_client, bob_client, conversation):
    assert post(agent_client, "api-conversation-take-over", conversation.pk).status_code == 200
    response = post(bob_client, "api-conversation-take-over", conversation.pk)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Alice Adams has already taken over this conversation.",
        "owner": {"username": "alice", "name": "Alice Adams"},
    }
    conversation.refresh_from_db()
    assert conversation.assigned_agent.username == "alice"


def test_a_resolved_conversation_cannot_be_taken_over(agent_client, conversation):
    conversation_resolve(conversation=conversation)
    response = post(agent_client, "api-conversation-take-over", conversation.pk)
    assert response.status_code == 409
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    "name",
    [
        "api-conversation-take-over",
        "api-conversation-hand-back",
        "api-conversation-resolve",
        "api-conversation-suggest",
    ],
)
def test_actions_on_an_unknown_conversation_are_404(agent_client, name):
    assert post(agent_client, name, 999_999).status_code == 404


def test_hand_back_returns_the_conversation_to_the_bot(agent_client, conversation, alice):
    ticket = TicketFactory(conversation=conversation)
    conversation_take_over(conversation_id=conversation.pk, agent=alice)
    response = post(agent_client, "api-conversation-hand-back", conversation.pk)
    assert response.status_code == 200
    assert response.json()["status"] == "bot"
    assert response.json()["assigned_agent"] is None
    ticket.refresh_from_db()
    assert ticket.status == "resolved"


def test_only_the_owner_hands_back(agent_client, bob_client, conversation, alice):
    conversation_take_over(conversation_id=conversation.pk, agent=alice)
    response = post(bob_client, "api-conversation-hand-back", conversation.pk)
    assert response.status_code == 409
    assert response.json()["owner"]["username"] == "alice"
    conversation.refresh_from_db()
    assert conversation.status == "human"


def test_a_conversation_with_the_bot_cannot_be_handed_back(agent_client, conversation):
    response = post(agent_client, "api-conversation-hand-back", conversation.pk)
    assert response.status_code == 409
    assert response.json()["detail"]


def test_resolve_closes_the_ticket(agent_client, conversation, alice):
    ticket = TicketFactory(conversation=conversation)
    conversation_take_over(conversation_id=conversation.pk, agent=alice)
    response = post(agent_client, "api-conversation-resolve", conversation.pk)
    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    ticket.refresh_from_db()
    assert ticket.status == "resolved"
    assert post(agent_client, "api-conversation-resolve", conversation.pk).status_code == 409


# ---------------------------------------------------------------- replies and notes


def test_reply_is_sent_to_the_customer_and_takes_the_conversation_over(agent_client, conversation):
    response = post(agent_client, "api-conversation-reply", conversation.pk, {"text": "  I'm on it.  "})
    assert response.status_code == 201
    data = response.json()
    assert (data["role"], data["content"], data["author"]) == ("agent", "I'm on it.", "Alice Adams")
    assert data["conversation"] == conversation.pk
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent.username) == ("human", "alice")
    assert [m.content for m in messages_for_customer(conversation=conversation)][-1] == "I'm on it."


@pytest.mark.parametrize(
    "body", [{"text": ""}, {"text": "   "}, {"text": "x" * 4001}, {}], ids=["empty", "blank", "long", "none"]
)
def test_reply_refuses_empty_or_oversized_text(agent_client, conversation, body):
    response = post(agent_client, "api-conversation-reply", conversation.pk, body)
    assert response.status_code == 400
    assert "text" in response.json()
    assert not conversation.messages.exists()
    conversation.refresh_from_db()
    assert conversation.status == "bot"


def test_reply_of_4000_characters_is_accepted(agent_client, conversation):
    response = post(agent_client, "api-conversation-reply", conversation.pk, {"text": "x" * 4000})
    assert response.status_code == 201


def test_reply_to_another_agents_conversation_is_409(bob_client, conversation, alice):
    conversation_take_over(conversation_id=conversation.pk, agent=alice)
    response = post(bob_client, "api-conversation-reply", conversation.pk, {"text": "Me too"})
    assert response.status_code == 409
    assert response.json()["owner"] == {"username": "alice", "name": "Alice Adams"}
    assert not conversation.messages.filter(role=Message.Role.AGENT).exists()


def test_reply_to_a_resolved_conversation_is_409(agent_client, conversation):
    conversation_resolve(conversation=conversation)
    response = post(agent_client, "api-conversation-reply", conversation.pk, {"text": "Anything else?"})
    assert response.status_code == 409


def test_reply_to_an_unknown_conversation_is_404(agent_client):
    assert post(agent_client, "api-conversation-reply", 999_999, {"text": "Hi"}).status_code == 404


def test_a_note_is_for_agents_only(agent_client, conversation):
    response = post(agent_client, "api-conversation-notes", conversation.pk, {"text": "Refund approved by Eva"})
    assert response.status_code == 201
    assert (response.json()["role"], response.json()["author"]) == ("note", "Alice Adams")
    assert conversation.messages.get().content == "Refund approved by Eva"
    assert messages_for_customer(conversation=conversation) == []
    # A note does not take the conversation over.
    conversation.refresh_from_db()
    assert conversation.status == "bot"


def test_a_note_needs_text_and_a_conversation(agent_client, conversation):
    assert post(agent_client, "api-conversation-notes", conversation.pk, {"text": " "}).status_code == 400
    assert post(agent_client, "api-conversation-notes", 999_999, {"text": "Hi"}).status_code == 404
    assert not Message.objects.exists()


# ---------------------------------------------------------------- assigning


def test_assign_gives_the_conversation_and_its_ticket_to_another_agent(agent_client, conversation, alice, bob):
    ticket = TicketFactory(conversation=conversation)
    conversation_take_over(conversation_id=conversation.pk, agent=alice)
    response = post(agent_client, "api-conversation-assign", conversation.pk, {"agent": "bob"})
    assert response.status_code == 200
    assert response.json()["assigned_agent"] == {"username": "bob", "name": "Bob Brown"}
    ticket.refresh_from_db()
    assert ticket.assignee == bob


@pytest.mark.parametrize("username", ["nobody", "mallory", ""], ids=["unknown", "not-an-agent", "blank"])
def test_assign_refuses_anyone_but_an_active_agent(agent_client, conversation, username):
    UserFactory(username="mallory")
    response = post(agent_client, "api-conversation-assign", conversation.pk, {"agent": username})
    assert response.status_code == 400
    assert "agent" in response.json()
    conversation.refresh_from_db()
    assert conversation.assigned_agent is None


def test_a_resolved_conversation_cannot_be_assigned(agent_client, conversation, bob):
    conversation_resolve(conversation=conversation)
    response = post(agent_client, "api-conversation-assign", conversation.pk, {"agent": "bob"})
    assert response.status_code == 409


# ---------------------------------------------------------------- suggested reply


def test_suggest_offers_the_copilots_latest_draft(agent_client, conversation):
    make_turn(conversation, suggested_replies=["An older draft"])
    make_turn(conversation, suggested_replies=["Your parcel left the warehouse today.", "Hi Jana"])
    make_turn(conversation)  # its follow-up has not run yet
    response = post(agent_client, "api-conversation-suggest", conversation.pk)
    assert response.status_code == 200
    assert response.json() == {"text": "Your parcel left the warehouse today.", "source": "copilot"}


def test_suggest_falls_back_to_the_bots_last_answer(agent_client, conversation):
    MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT, content="Older answer")
    MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT, content="It ships on Monday.")
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="Not good enough")
    response = post(agent_client, "api-conversation-suggest", conversation.pk)
    assert response.json() == {"text": "It ships on Monday.", "source": "last_answer"}


def test_suggest_opens_with_a_greeting_in_the_conversations_language(agent_client, conversation):
    conversation.language = "cs"
    conversation.save()
    response = post(agent_client, "api-conversation-suggest", conversation.pk)
    assert response.json()["source"] == "greeting"
    assert response.json()["text"].startswith("Dobrý den, Jana")


# ---------------------------------------------------------------- tickets


def test_tickets_list_open_and_urgent_first_with_filters(agent_client, alice):
    low = TicketFactory(priority=Ticket.Priority.LOW)
    urgent = TicketFactory(priority=Ticket.Priority.URGENT, assignee=alice)
    done = TicketFactory(priority=Ticket.Priority.URGENT, status=Ticket.Status.RESOLVED, resolved_at=timezone.now())
    response = agent_client.get(url("api-tickets"))
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 3
    assert [row["id"] for row in data["results"]] == [urgent.pk, low.pk, done.pk]
    assert set(data["results"][0]) == set(TicketSerializer().fields)
    assert data["results"][0]["assignee"] == {"username": "alice", "name": "Alice Adams"}
    assert data["results"][0]["conversation"] == urgent.conversation_id

    def ids(**query):
        return [row["id"] for row in agent_client.get(url("api-tickets"), query).json()["results"]]

    assert ids(status="resolved") == [done.pk]
    assert ids(priority="low") == [low.pk]
    assert ids(mine="1") == [urgent.pk]


def test_tickets_list_refuses_an_unknown_status(agent_client):
    response = agent_client.get(url("api-tickets"), {"status": "bot"})
    assert response.status_code == 400
    assert "status" in response.json()


def test_one_ticket(agent_client):
    ticket = TicketFactory()
    assert agent_client.get(url("api-ticket", ticket.pk)).json()["reference"] == ticket.reference
    assert agent_client.get(url("api-ticket", 999_999)).status_code == 404


def patch(client, pk: int, body: dict):
    return client.patch(url("api-ticket", pk), body, content_type="application/json")


def test_resolving_a_ticket_resolves_its_live_conversation(agent_client, conversation, alice):
    ticket = TicketFactory(conversation=conversation)
    response = patch(agent_client, ticket.pk, {"status": "resolved"})
    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    assert response.json()["resolved_at"]
    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    assert conversation.messages.filter(metadata__event="resolved").exists()
    ticket.refresh_from_db()
    assert ticket.assignee == alice


def test_closing_a_ticket_of_a_live_conversation_resolves_it_and_closes_the_ticket(agent_client, conversation):
    ticket = TicketFactory(conversation=conversation)
    assert patch(agent_client, ticket.pk, {"status": "closed"}).json()["status"] == "closed"
    conversation.refresh_from_db()
    assert conversation.status == "resolved"


def test_a_ticket_without_a_conversation_changes_status_on_its_own(agent_client):
    ticket = TicketFactory(conversation=None, customer=CustomerFactory(), kind=Ticket.Kind.REQUEST)
    assert patch(agent_client, ticket.pk, {"status": "pending"}).json()["status"] == "pending"
    resolved = patch(agent_client, ticket.pk, {"status": "resolved"}).json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"]
    reopened = patch(agent_client, ticket.pk, {"status": "open"}).json()
    assert (reopened["status"], reopened["resolved_at"]) == ("open", None)


def test_a_ticket_cannot_be_reopened_beside_another_open_escalation(agent_client, conversation):
    old = TicketFactory(conversation=conversation, status=Ticket.Status.RESOLVED, resolved_at=timezone.now())
    TicketFactory(conversation=conversation)
    response = patch(agent_client, old.pk, {"status": "open"})
    assert response.status_code == 409
    old.refresh_from_db()
    assert old.status == "resolved"


def test_assigning_a_ticket_assigns_its_live_conversation(agent_client, conversation, bob):
    ticket = TicketFactory(conversation=conversation)
    response = patch(agent_client, ticket.pk, {"assignee": "bob"})
    assert response.status_code == 200
    assert response.json()["assignee"]["username"] == "bob"
    conversation.refresh_from_db()
    assert conversation.assigned_agent == bob


def test_assigning_a_closed_ticket_leaves_the_conversation_alone(agent_client, conversation, bob):
    ticket = TicketFactory(conversation=conversation, status=Ticket.Status.CLOSED, resolved_at=timezone.now())
    assert patch(agent_client, ticket.pk, {"assignee": "bob"}).json()["assignee"]["username"] == "bob"
    conversation.refresh_from_db()
    assert conversation.assigned_agent is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"status": "done"}, "status"),
        ({"assignee": "nobody"}, "assignee"),
        ({"assignee": "mallory"}, "assignee"),
    ],
    ids=["empty", "bad-status", "unknown-assignee", "not-an-agent"],
)
def test_ticket_update_refuses_bad_input(agent_client, body, field):
    UserFactory(username="mallory")
    ticket = TicketFactory()
    response = patch(agent_client, ticket.pk, body)
    assert response.status_code == 400
    assert field in response.json()
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == ("open", None)


def test_updating_an_unknown_ticket_is_404(agent_client):
    assert patch(agent_client, 999_999, {"status": "closed"}).status_code == 404


# ---------------------------------------------------------------- customers and agents


def test_customers_search_by_name_email_or_id(agent_client):
    jana = CustomerFactory(name="Jana Nováková", email="jana@example.cz", external_id="cus_1001")
    AccountFactory(customer=jana, number="ACC-10001")
    CustomerFactory(name="Petr Svoboda", email="petr@example.cz")

    def names(**query):
        response = agent_client.get(url("api-customers"), query)
        assert response.status_code == 200
        return [row["name"] for row in response.json()["results"]]

    assert names() == ["Jana Nováková", "Petr Svoboda"]
    assert names(search="nová") == ["Jana Nováková"]
    assert names(search="JANA@example") == ["Jana Nováková"]
    assert names(search="cus_1001") == ["Jana Nováková"]
    assert names(search="cus_10") == []
    row = agent_client.get(url("api-customers"), {"search": "jana"}).json()["results"][0]
    assert row["account"]["number"] == "ACC-10001"


def test_customers_are_paginated(agent_client):
    CustomerFactory.create_batch(26)
    data = agent_client.get(url("api-customers")).json()
    assert (data["count"], len(data["results"])) == (26, 25)


def test_customer_detail_has_account_orders_and_conversations(agent_client, conversation):
    customer = conversation.customer
    AccountFactory(customer=customer, number="ACC-10002")
    OrderFactory(customer=customer, number="111", placed_at=timezone.now() - timedelta(days=9))
    OrderFactory(customer=customer, number="222", placed_at=timezone.now() - timedelta(days=1))
    response = agent_client.get(url("api-customer", customer.pk))
    assert response.status_code == 200
    data = response.json()
    assert set(data) == set(CustomerDetailSerializer().fields)
    assert data["account"]["number"] == "ACC-10002"
    assert [order["number"] for order in data["recent_orders"]] == ["222", "111"]
    assert [c["id"] for c in data["conversations"]] == [conversation.pk]
    assert agent_client.get(url("api-customer", 999_999)).status_code == 404


def test_customers_are_read_only(agent_client, conversation):
    response = agent_client.patch(url("api-customer", conversation.customer_id), {"name": "X"}, "application/json")
    assert response.status_code == 405


def test_agents_list_shows_presence(agent_client, alice, bob):
    AgentProfileFactory(user=UserFactory(username="gone", is_active=False), display_name="Gone Agent")
    bob.agent_profile.console_connections = 1
    bob.agent_profile.last_seen_at = timezone.now()
    bob.agent_profile.save()
    response = agent_client.get(url("api-agents"))
    assert response.status_code == 200
    assert response.json() == [
        {"username": "alice", "name": "Alice Adams", "online": False},
        {"username": "bob", "name": "Bob Brown", "online": True},
    ]


def test_queue_leaves_out_a_widget_opened_with_nothing_said(agent_client):
    spoken = ConversationFactory()
    idle = ConversationFactory(last_message_at=None)
    escalated_idle = ConversationFactory(last_message_at=None, status=Conversation.Status.PENDING_HUMAN)
    ids = {row["id"] for row in agent_client.get(url("api-conversations")).json()["results"]}
    assert ids == {spoken.pk, escalated_idle.pk}
    # It is still there when asked for by id.
    assert agent_client.get(url("api-conversation", idle.pk)).status_code == 200
