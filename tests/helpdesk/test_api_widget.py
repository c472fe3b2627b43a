"""The widget's REST API: identity, the conversation token and what it opens (docs/live-chat.md)."""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from helpdesk.identity import conversation_token_issue, identity_hash_compute
from helpdesk.models import Conversation, Message
from helpdesk.services import conversation_resolve
from tests.factories import AgentProfileFactory, CustomerFactory, MessageFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

START = reverse("api-widget-conversations")
HISTORY = reverse("api-widget-conversation")
CSAT = reverse("api-widget-csat")


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    # The widget's throttle counts per address in the cache, and every test comes from 127.0.0.1.
    cache.clear()
    yield
    cache.clear()


def start(client, **body):
    return client.post(START, body, content_type="application/json")


def with_token(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Conversation {token}"}


def verified_identity(customer) -> dict:
    return {
        "customer_id": customer.external_id,
        "identity_hash": identity_hash_compute(external_id=customer.external_id),
    }


# ---------------------------------------------------------------- starting and resuming


def test_an_anonymous_visitor_gets_a_new_conversation_and_a_token(client):
    response = start(client, language="cs")
    assert response.status_code == 201
    data = response.json()
    assert data["customer"] is None
    assert data["agents_online"] is False
    assert data["conversation"]["status"] == "bot"
    assert data["conversation"]["language"] == "cs"
    assert data["conversation"]["agent"] is None
    conversation = Conversation.objects.get(public_id=data["conversation"]["id"])
    assert conversation.customer is None
    assert conversation.channel == Conversation.Channel.WIDGET
    # The token opens that conversation.
    history = client.get(HISTORY, **with_token(data["token"]))
    assert history.status_code == 200
    assert history.json()["conversation"]["id"] == str(conversation.public_id)


def test_agents_online_is_reported_when_an_agent_has_a_live_console(client):
    AgentProfileFactory(console_connections=1, last_seen_at=timezone.now())
    assert start(client).json()["agents_online"] is True


def test_a_verified_customer_is_linked_to_the_crm_customer(client):
    customer = CustomerFactory(name="Jana Nováková", locale="cs")
    response = start(client, **verified_identity(customer))
    assert response.status_code == 201
    data = response.json()
    assert data["customer"] == {"name": "Jana Nováková", "verified": True}
    conversation = Conversation.objects.get(public_id=data["conversation"]["id"])
    assert conversation.customer == customer
    # Without a language the customer's own locale is used.
    assert conversation.language == "cs"


def test_the_identity_hash_is_accepted_in_upper_case(client):
    customer = CustomerFactory()
    identity = verified_identity(customer)
    identity["identity_hash"] = identity["identity_hash"].upper()
    assert start(client, **identity).status_code == 201


@pytest.mark.parametrize(
    "identity",
    [
        lambda c: {"customer_id": c.external_id, "identity_hash": identity_hash_compute(external_id="someone_else")},
        lambda c: {"customer_id": c.external_id, "identity_hash": "0" * 64},
        lambda c: {"customer_id": c.external_id},
        lambda c: {"identity_hash": identity_hash_compute(external_id=c.external_id)},
        lambda c: {
            "customer_id": "no_such_customer",
            "identity_hash": identity_hash_compute(external_id="no_such_customer"),
        },
    ],
    ids=["hash-of-another-id", "wrong-hash", "no-hash", "hash-without-id", "unknown-customer"],
)
def test_an_unverifiable_identity_is_refused_without_a_fallback(client, identity):
    customer = CustomerFactory()
    response = start(client, **identity(customer))
    assert response.status_code == 403
    assert "token" not in response.json()
    assert not Conversation.objects.exists()


def test_a_still_valid_token_resumes_the_same_conversation(client):
    first = start(client).json()
    response = start(client, token=first["token"])
    assert response.status_code == 200
    resumed = response.json()
    assert resumed["conversation"]["id"] == first["conversation"]["id"]
    assert Conversation.objects.count() == 1
    # The renewed token opens the same conversation.
    history = client.get(HISTORY, **with_token(resumed["token"]))
    assert history.json()["conversation"]["id"] == first["conversation"]["id"]


def test_a_verified_customer_resumes_with_their_token(client):
    customer = CustomerFactory()
    first = start(client, **verified_identity(customer)).json()
    response = start(client, token=first["token"], **verified_identity(customer))
    assert response.status_code == 200
    assert response.json()["conversation"]["id"] == first["conversation"]["id"]


def test_an_anonymous_token_does_not_resume_for_a_verified_customer(client):
    customer = CustomerFactory()
    anonymous = start(client).json()
    response = start(client, token=anonymous["token"], **verified_identity(customer))
    assert response.status_code == 201
    assert response.json()["conversation"]["id"] != anonymous["conversation"]["id"]
    assert Conversation.objects.get(public_id=response.json()["conversation"]["id"]).customer == customer


def test_a_customers_token_does_not_resume_for_another_identity(client):
    alice, bob = CustomerFactory(), CustomerFactory()
    alices = start(client, **verified_identity(alice)).json()
    as_bob = start(client, token=alices["token"], **verified_identity(bob))
    assert as_bob.status_code == 201
    assert as_bob.json()["conversation"]["id"] != alices["conversation"]["id"]
    # Nor for an anonymous visitor holding it.
    as_anonymous = start(client, token=alices["token"])
    assert as_anonymous.status_code == 201
    assert Conversation.objects.get(public_id=as_anonymous.json()["conversation"]["id"]).customer is None


def test_a_garbage_resume_token_starts_a_new_conversation(client):
    response = start(client, token="not-a-token")
    assert response.status_code == 201
    assert Conversation.objects.count() == 1


# ---------------------------------------------------------------- history


@pytest.fixture
def session(client):
    """An anonymous visitor's conversation with a little of everything in it, and its token."""
    data = start(client).json()
    conversation = Conversation.objects.get(public_id=data["conversation"]["id"])
    return conversation, data["token"]


def test_history_shows_what_the_customer_may_see_and_never_internal_notes(client, session):
    conversation, token = session
    asked = MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, content="Where is my parcel?")
    answered = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="It ships today [1].",
        metadata={"citations": [{"n": 1, "title": "Shipping", "url": "/help/shipping"}], "offer_human": True},
    )
    MessageFactory(conversation=conversation, role=Message.Role.NOTE, content="VIP, be generous")
    response = client.get(HISTORY, **with_token(token))
    assert response.status_code == 200
    messages = response.json()["messages"]
    assert [m["id"] for m in messages] == [asked.pk, answered.pk]
    assert all(m["role"] != "note" for m in messages)
    assert "VIP, be generous" not in response.content.decode()
    assert messages[1]["citations"] == [{"n": 1, "title": "Shipping", "url": "/help/shipping"}]
    assert messages[1]["offer_human"] is True


def test_history_keeps_the_agents_follow_up_details_to_the_agents(client, session):
    conversation, token = session
    conversation.contact_email = "visitor@example.org"
    conversation.save()
    TicketFactory(conversation=conversation, follow_up_by_email=True, follow_up_acknowledged_at=timezone.now())
    MessageFactory(conversation=conversation, role=Message.Role.AGENT, content="On its way", emailed_at=timezone.now())
    response = client.get(HISTORY, **with_token(token))
    assert response.status_code == 200
    data = response.json()
    [reply] = data["messages"]
    assert reply["content"] == "On its way"
    assert "emailed_at" not in reply
    assert "contact_email" not in data["conversation"]
    assert "reply_email" not in data["conversation"]
    # The customer is only reminded of a masked address, never shown it in full.
    assert data["follow_up"] == {"by_email": True, "email": "v***@example.org"}
    assert "visitor@example.org" not in response.content.decode()
    assert "emailed_at" not in response.content.decode()


def test_history_after_a_message_id_returns_only_newer_messages(client, session):
    conversation, token = session
    first = MessageFactory(conversation=conversation)
    second = MessageFactory(conversation=conversation)
    response = client.get(HISTORY, {"after": first.pk}, **with_token(token))
    assert [m["id"] for m in response.json()["messages"]] == [second.pk]


@pytest.mark.parametrize("after", ["abc", "-1", "1.5"])
def test_history_refuses_an_after_that_is_not_a_message_id(client, session, after):
    _, token = session
    response = client.get(HISTORY, {"after": after}, **with_token(token))
    assert response.status_code == 400
    assert "after" in response.json()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Conversation garbage"},
        {"HTTP_AUTHORIZATION": "Conversation"},
        {"HTTP_AUTHORIZATION": "Conversation a b"},
    ],
    ids=["no-header", "garbage-token", "no-token", "two-tokens"],
)
def test_history_without_a_genuine_token_is_refused(client, session, headers):
    conversation, _ = session
    MessageFactory(conversation=conversation, content="Private matter")
    response = client.get(HISTORY, **headers)
    assert response.status_code == 401
    assert "Private matter" not in response.content.decode()


def test_a_tampered_token_is_refused(client, session):
    _, token = session
    value, _, signature = token.rpartition(":")
    tampered = f"{value}:{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    assert client.get(HISTORY, **with_token(tampered)).status_code == 401


def test_an_expired_token_is_refused(client, session, settings):
    _, token = session
    settings.CONVERSATION_TOKEN_MAX_AGE = 3600
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert client.get(HISTORY, **with_token(token)).status_code == 401


def test_a_token_for_a_deleted_conversation_is_refused(client, session):
    conversation, token = session
    conversation.delete()
    assert client.get(HISTORY, **with_token(token)).status_code == 401


def test_an_agents_login_does_not_open_the_widget_api(client, session):
    client.force_login(UserFactory(is_staff=True))
    assert client.get(HISTORY).status_code == 401


def test_another_customers_token_cannot_see_this_conversation(client):
    alice, bob = CustomerFactory(), CustomerFactory()
    alices = start(client, **verified_identity(alice)).json()
    bobs = start(client, **verified_identity(bob)).json()
    alices_conversation = Conversation.objects.get(public_id=alices["conversation"]["id"])
    MessageFactory(conversation=alices_conversation, content="My address is Dlouhá 5")
    response = client.get(HISTORY, **with_token(bobs["token"]))
    assert response.status_code == 200
    assert response.json()["conversation"]["id"] == bobs["conversation"]["id"]
    assert response.json()["messages"] == []
    assert "Dlouhá" not in response.content.decode()


def test_a_token_whose_identity_no_longer_matches_the_conversation_is_refused(client):
    customer = CustomerFactory()
    conversation = Conversation.objects.create(customer=customer)
    # Signed for an anonymous visitor, but the conversation is the customer's.
    forged = conversation_token_issue(conversation_public_id=conversation.public_id, customer_id=None)
    assert client.get(HISTORY, **with_token(forged)).status_code == 401


# ---------------------------------------------------------------- csat


def test_csat_is_refused_until_the_conversation_is_resolved(client, session):
    conversation, token = session
    response = client.post(CSAT, {"rating": "up"}, content_type="application/json", **with_token(token))
    assert response.status_code == 409
    assert response.json()["detail"]
    conversation.refresh_from_db()
    assert conversation.csat == ""


def test_csat_is_recorded_on_a_resolved_conversation(client, session):
    conversation, token = session
    conversation_resolve(conversation=conversation)
    response = client.post(
        CSAT, {"rating": "down", "comment": "  Too slow  "}, content_type="application/json", **with_token(token)
    )
    assert response.status_code == 200
    assert response.json()["csat"] == "down"
    assert response.json()["status"] == "resolved"
    conversation.refresh_from_db()
    assert (conversation.csat, conversation.csat_comment) == ("down", "Too slow")
    assert conversation.csat_at is not None
    # A later rating replaces it.
    client.post(CSAT, {"rating": "up"}, content_type="application/json", **with_token(token))
    conversation.refresh_from_db()
    assert (conversation.csat, conversation.csat_comment) == ("up", "")


@pytest.mark.parametrize(
    "body", [{"rating": "meh"}, {}, {"rating": "up", "comment": "x" * 2001}], ids=["bad-rating", "none", "long-comment"]
)
def test_csat_refuses_an_invalid_rating(client, session, body):
    conversation, token = session
    conversation_resolve(conversation=conversation)
    response = client.post(CSAT, body, content_type="application/json", **with_token(token))
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.csat == ""


def test_csat_needs_the_conversation_token(client, session):
    conversation, _ = session
    conversation_resolve(conversation=conversation)
    assert client.post(CSAT, {"rating": "up"}, content_type="application/json").status_code == 401
    conversation.refresh_from_db()
    assert conversation.csat == ""


# ---------------------------------------------------------------- throttling


@pytest.fixture
def widget_rate_two_a_minute(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "widget": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.mark.usefixtures("widget_rate_two_a_minute")
def test_starting_conversations_is_throttled(client):
    statuses = [start(client).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]


@pytest.mark.usefixtures("widget_rate_two_a_minute")
def test_reading_the_history_is_throttled_per_conversation(client, session):
    _, token = session
    statuses = [client.get(HISTORY, **with_token(token)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


# ---------------------------------------------------------------- embedding on another site (CORS)

SHOP = "https://shop.example"


def preflight(client, path: str, origin: str):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


def test_an_allowed_shop_may_call_the_widget_api_across_origins(client):
    answer = preflight(client, START, SHOP)
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == SHOP
    assert "authorization" in answer["Access-Control-Allow-Headers"]
    # The widget never sends cookies, so browsers must not be told it may.
    assert "Access-Control-Allow-Credentials" not in answer
    response = client.post(START, {}, content_type="application/json", HTTP_ORIGIN=SHOP)
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == SHOP


def test_an_unlisted_site_gets_no_cors_grant(client):
    answer = preflight(client, START, "https://evil.example")
    assert "Access-Control-Allow-Origin" not in answer


def test_the_agents_api_is_never_opened_to_shop_sites(client):
    answer = preflight(client, reverse("api-conversations"), SHOP)
    assert "Access-Control-Allow-Origin" not in answer
