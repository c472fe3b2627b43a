"""The integration API over real HTTP requests (Django's test client through the full stack):
who may call it, and what each endpoint does to real rows."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from copilot.models import CopilotTurn
from crm.models import Customer
from helpdesk.identity import conversation_token_issue
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.services.conversations import customer_presence_mark
from integrations.models import IntegrationLog
from tests.factories import (
    AccountFactory,
    AgentProfileFactory,
    ConversationFactory,
    CustomerFactory,
    TicketFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def token_for(user) -> str:
    return Token.objects.create(user=user).key


@pytest.fixture
def integration_user():
    user = UserFactory(username="crm-bridge")
    user.user_permissions.add(Permission.objects.get(codename="use_api", content_type__app_label="integrations"))
    return user


@pytest.fixture
def api(client, integration_user):
    """A client holding an integration token."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token_for(integration_user)}"
    return client


@pytest.fixture
def customer() -> Customer:
    return CustomerFactory(external_id="cus_7001", name="Iva Nová")


@pytest.fixture
def other_customer() -> Customer:
    return CustomerFactory(external_id="cus_7002")


def post(client, name: str, body: dict):
    return client.post(reverse(name), body, content_type="application/json")


# ---------------------------------------------------------------- who may call it

ENDPOINTS = [
    ("get", "api-integration-account", {"account_id": "ACC-7001"}, None),
    ("post", "api-integration-escalate", {}, {"customer_id": "cus_7001", "reason": "test"}),
    ("post", "api-integration-send", {}, {"customer_id": "cus_7001", "message": "Hello"}),
    ("post", "api-integration-log", {}, {"event": "order.synced"}),
    ("post", "api-integration-chat", {}, {"customer_id": "cus_7001", "message": "Hi"}),
]


@pytest.mark.parametrize(("method", "name", "kwargs", "body"), ENDPOINTS)
@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", 401), ("customer", 401), ("agent_session", 401), ("agent_token", 403), ("staff_token", 403)],
)
def test_only_a_token_with_the_integration_permission_gets_in(
    client, customer, method, name, kwargs, body, who, expected
):
    AccountFactory(customer=customer, number="ACC-7001")
    if who == "customer":
        conversation = ConversationFactory(customer=customer)
        token = conversation_token_issue(conversation_public_id=conversation.public_id, customer_id=customer.pk)
        client.defaults["HTTP_AUTHORIZATION"] = f"Conversation {token}"
    elif who == "agent_session":
        client.force_login(AgentProfileFactory().user)
    elif who == "agent_token":
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {token_for(AgentProfileFactory().user)}"
    elif who == "staff_token":
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {token_for(UserFactory(is_staff=True))}"
    url = reverse(name, kwargs=kwargs)
    response = client.get(url) if method == "get" else client.post(url, body, content_type="application/json")
    assert response.status_code == expected, response.content
    # Nothing was written on the way.
    assert not Ticket.objects.exists()
    assert not Message.objects.filter(role=Message.Role.AGENT).exists()
    assert not IntegrationLog.objects.exists()
    assert not Message.objects.filter(conversation__channel=Conversation.Channel.API).exists()


def test_an_admins_token_gets_in(client, customer):
    AccountFactory(customer=customer, number="ACC-7001")
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token_for(admin)}"
    assert client.get(reverse("api-integration-account", args=["ACC-7001"])).status_code == 200


# ---------------------------------------------------------------- accounts


def test_an_account_by_number_or_by_customer(api, customer):
    account = AccountFactory(customer=customer, number="ACC-7001", status="suspended", subscription_tier="premium")
    for key in ("ACC-7001", "cus_7001"):
        body = api.get(reverse("api-integration-account", args=[key])).json()
        assert body["account_id"] == "ACC-7001"
        assert body["customer_id"] == "cus_7001"
        assert body["status"] == "suspended"
        assert body["subscription_tier"] == "premium"
        assert body["balance"] == str(account.balance)
        assert set(body) >= {"account_id", "status", "subscription_tier", "balance", "last_payment"}
    assert api.get(reverse("api-integration-account", args=["ACC-0000"])).status_code == 404


def test_with_an_external_crm_the_account_comes_from_it(api, remote_crm):
    customer = CustomerFactory(external_id="cus_1001")
    AccountFactory(customer=customer, number="ACC-LOCAL", status="suspended", balance="10.00")
    for key in ("cus_1001", "ACC-LOCAL"):
        body = api.get(reverse("api-integration-account", args=[key])).json()
        assert body["account_id"] == "EXT-ACC-1001"
        assert body["customer_id"] == "cus_1001"
        assert (body["status"], body["subscription_tier"], body["balance"]) == ("active", "premium", "0.00")
        assert body["last_payment"]["amount"] == "149.00"
    # A customer we do not know is not looked up remotely; one the CRM has no account for is a 404.
    assert api.get(reverse("api-integration-account", args=["cus_9999"])).status_code == 404
    CustomerFactory(external_id="cus_2002")
    assert api.get(reverse("api-integration-account", args=["cus_2002"])).status_code == 404
    assert [r["path"] for r in remote_crm.requests].count("/api/customers/cus_9999/account") == 0


def test_with_an_external_crm_down_the_account_is_a_503_not_our_stale_copy(api, remote_crm):
    customer = CustomerFactory(external_id="cus_1001")
    AccountFactory(customer=customer, number="ACC-LOCAL")
    remote_crm.fail("garbage", times=10)
    response = api.get(reverse("api-integration-account", args=["cus_1001"]))
    assert response.status_code == 503
    assert response.json()["detail"] == "The CRM did not answer (the CRM's answer is not JSON); try again later."


# ---------------------------------------------------------------- escalate


def test_escalating_opens_an_esc_ticket_on_a_new_api_conversation(api, customer):
    response = post(api, "api-integration-escalate", {"customer_id": "cus_7001", "reason": "VIP", "priority": "high"})
    assert response.status_code == 201, response.content
    body = response.json()
    ticket = Ticket.objects.get()
    assert body == {
        "ticket_id": ticket.reference,
        "status": "escalated",
        "assigned_to": None,
        "priority": "high",
        "session_id": str(ticket.conversation.public_id),
    }
    assert body["ticket_id"].startswith("ESC-")
    assert ticket.kind == Ticket.Kind.ESCALATION
    assert ticket.customer == customer
    assert ticket.conversation.channel == Conversation.Channel.API
    assert ticket.conversation.status == Conversation.Status.PENDING_HUMAN

    # Again on the same session: the open ticket, not a second one.
    again = post(
        api, "api-integration-escalate", {"customer_id": "cus_7001", "reason": "x", "session_id": body["session_id"]}
    )
    assert again.json()["ticket_id"] == body["ticket_id"]
    assert Ticket.objects.count() == 1


def test_escalating_another_customers_conversation_is_not_found(api, customer, other_customer):
    theirs = ConversationFactory(customer=other_customer)
    for session in (str(theirs.public_id), str(theirs.pk)):
        response = post(
            api, "api-integration-escalate", {"customer_id": "cus_7001", "reason": "x", "session_id": session}
        )
        assert response.status_code == 404
    assert not Ticket.objects.exists()


def test_escalating_checks_its_input(api, customer):
    assert (
        post(
            api, "api-integration-escalate", {"customer_id": "cus_7001", "reason": "x", "priority": "asap"}
        ).status_code
        == 400
    )
    assert post(api, "api-integration-escalate", {"customer_id": "cus_7001"}).status_code == 400
    assert post(api, "api-integration-escalate", {"customer_id": "cus_9999", "reason": "x"}).status_code == 404
    assert not Ticket.objects.exists()


def test_raising_the_priority_of_an_open_ticket_without_an_sla_gives_it_one(api, customer):
    """Found by the REST fuzz (500): the admin can clear a ticket's SLA, and a more serious
    escalation then compared the new due time with None."""
    conversation = ConversationFactory(customer=customer, channel=Conversation.Channel.API)
    ticket = TicketFactory(conversation=conversation, priority=Ticket.Priority.LOW, sla_due_at=None)
    response = post(
        api,
        "api-integration-escalate",
        {"customer_id": "cus_7001", "reason": "angry", "priority": "urgent", "session_id": str(conversation.pk)},
    )
    assert response.status_code == 201, response.content
    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.URGENT
    assert ticket.sla_due_at is not None


# ---------------------------------------------------------------- send


def test_a_sent_message_lands_in_the_customers_chat(api, customer, integration_user):
    conversation = ConversationFactory(customer=customer)
    response = post(
        api,
        "api-integration-send",
        {"customer_id": "cus_7001", "message": "Your refund is on its way.", "session_id": str(conversation.public_id)},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    message = Message.objects.get(role=Message.Role.AGENT)
    assert body == {
        "message_id": f"MSG-{message.pk:06d}",
        "status": "sent",
        "delivery_status": "stored",
        "session_id": str(conversation.public_id),
    }
    assert message.conversation == conversation
    assert message.content == "Your refund is on its way."
    assert message.author == integration_user
    assert message.metadata["source"] == "api"


def test_a_message_to_a_customer_in_the_chat_is_delivered_live(api, customer):
    conversation = ConversationFactory(customer=customer)
    customer_presence_mark(conversation_id=conversation.pk, online=True)
    body = post(
        api, "api-integration-send", {"customer_id": "cus_7001", "message": "Hi", "session_id": str(conversation.pk)}
    ).json()
    assert body["delivery_status"] == "delivered"


def test_sending_checks_whose_conversation_and_its_state(api, customer, other_customer):
    theirs = ConversationFactory(customer=other_customer)
    response = post(
        api, "api-integration-send", {"customer_id": "cus_7001", "message": "Hi", "session_id": str(theirs.public_id)}
    )
    assert response.status_code == 404
    resolved = ConversationFactory(customer=customer, status=Conversation.Status.RESOLVED, resolved_at=timezone.now())
    response = post(
        api, "api-integration-send", {"customer_id": "cus_7001", "message": "Hi", "session_id": str(resolved.pk)}
    )
    assert response.status_code == 400
    assert post(api, "api-integration-send", {"customer_id": "cus_7001", "message": ""}).status_code == 400
    assert post(api, "api-integration-send", {"customer_id": "cus_7001", "message": "x" * 5000}).status_code == 400
    assert not Message.objects.filter(role=Message.Role.AGENT).exists()


# ---------------------------------------------------------------- analytics log


def test_a_logged_event_is_stored_and_linked(api, customer, integration_user):
    conversation = ConversationFactory(customer=customer)
    response = post(
        api,
        "api-integration-log",
        {
            "event": "refund.issued",
            "data": {"amount": "12.50"},
            "customer_id": "cus_7001",
            "session_id": str(conversation.public_id),
        },
    )
    assert response.status_code == 201, response.content
    log = IntegrationLog.objects.get()
    assert response.json() == {"log_id": log.reference, "status": "logged", "indexed": True}
    assert log.reference.startswith("LOG-")
    assert (log.event, log.data, log.customer, log.conversation, log.source) == (
        "refund.issued",
        {"amount": "12.50"},
        customer,
        conversation,
        integration_user,
    )
    # The data is queryable by content (a GIN index backs it).
    assert IntegrationLog.objects.filter(data__contains={"amount": "12.50"}).get() == log


def test_logging_checks_its_input(api, customer, other_customer):
    assert post(api, "api-integration-log", {"event": ""}).status_code == 400
    assert post(api, "api-integration-log", {"event": "x", "data": [1, 2]}).status_code == 400
    assert post(api, "api-integration-log", {"event": "x", "customer_id": "cus_9999"}).status_code == 404
    theirs = ConversationFactory(customer=other_customer)
    response = post(api, "api-integration-log", {"event": "x", "customer_id": "cus_7001", "session_id": str(theirs.pk)})
    assert response.status_code == 404
    assert post(api, "api-integration-log", {"event": "x", "session_id": str(theirs.pk)}).status_code == 400
    assert not IntegrationLog.objects.exists()


# ---------------------------------------------------------------- chat


@pytest.fixture
def shop(db):
    from helpdesk.demo import demo_seed

    demo_seed(kb_slugs={"late-delivery", "track-your-order", "returns-policy"})
    return Customer.objects.get(external_id="cus_1001")


def test_chat_runs_the_copilot_and_keeps_the_session(api, shop):
    first = post(api, "api-integration-chat", {"customer_id": "cus_1001", "message": "Where is my order 12345?"})
    assert first.status_code == 200, first.content
    body = first.json()
    assert "12345" in body["response"]
    assert body["sentiment"] in {"positive", "neutral", "negative", "angry", "frustrated"}
    assert body["needs_escalation"] is False
    conversation = Conversation.objects.get(public_id=body["session_id"])
    assert conversation.customer == shop
    assert conversation.channel == Conversation.Channel.API

    second = post(
        api,
        "api-integration-chat",
        {"customer_id": "cus_1001", "message": "I want to talk to a human now", "session_id": body["session_id"]},
    ).json()
    assert second["session_id"] == body["session_id"]
    assert second["needs_escalation"] is True
    assert conversation.messages.filter(role=Message.Role.CUSTOMER).count() == 2
    assert CopilotTurn.objects.filter(conversation=conversation).count() == 2
    assert Ticket.objects.filter(conversation=conversation, kind=Ticket.Kind.ESCALATION).exists()


def test_chat_is_silent_while_an_agent_has_the_conversation(api, shop):
    agent = AgentProfileFactory().user
    conversation = ConversationFactory(customer=shop, status=Conversation.Status.HUMAN, assigned_agent=agent)
    response = post(
        api,
        "api-integration-chat",
        {"customer_id": "cus_1001", "message": "Hello?", "session_id": str(conversation.public_id)},
    )
    assert response.status_code == 200
    assert response.json() == {
        "response": None,
        "sentiment": None,
        "needs_escalation": True,
        "session_id": str(conversation.public_id),
    }
    # Stored for the agent all the same.
    assert conversation.messages.filter(role=Message.Role.CUSTOMER, content="Hello?").exists()


def test_chat_cannot_continue_another_customers_session(api, shop):
    theirs = ConversationFactory(customer=CustomerFactory())
    response = post(
        api, "api-integration-chat", {"customer_id": "cus_1001", "message": "Hi", "session_id": str(theirs.public_id)}
    )
    assert response.status_code == 404
    assert not theirs.messages.exists()
    assert not CopilotTurn.objects.exists()


# ---------------------------------------------------------------- OpenAPI


def test_the_endpoints_are_in_the_openapi_schema(admin_client):
    schema = admin_client.get(reverse("api-schema"), {"format": "json"}).json()
    for path in (
        "/api/accounts/{account_id}",
        "/api/support/escalate",
        "/api/support/send",
        "/api/analytics/log",
        "/api/chat",
    ):
        assert path in schema["paths"], path
    assert "tokenAuth" in schema["components"]["securitySchemes"]
