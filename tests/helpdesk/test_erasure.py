"""Erasure ends access: every token issued to an erased customer stops working over REST and
websocket, open chat sockets close with 4401, and the copilot never again answers with their
account or orders (docs/privacy.md)."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from copilot.delivery import chat_message_receive
from copilot.models import ConversationMemory, CopilotTurn
from copilot.pipeline import turn_run_collect
from copilot.selectors import copilot_context_get
from copilot.services import customer_message_receive, intents_import
from copilot.taxonomy import default_examples
from crm.models import Customer
from helpdesk.identity import IdentityError, identity_hash_compute
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.selectors import AccessRevoked
from helpdesk.services import widget_session_start
from helpdesk.services.retention import customer_erase
from integrations.models import IntegrationLog
from tests.factories import AccountFactory, CustomerFactory, OrderFactory, UserFactory
from tests.sockets import chat_open

TIMEOUT = 10


def verified_session(external_id: str = "C-ERASE-1"):
    customer = CustomerFactory(external_id=external_id, name="Iva Nová", email=f"{external_id.lower()}@example.cz")
    AccountFactory(customer=customer)
    OrderFactory(customer=customer)
    session = widget_session_start(
        customer_external_id=external_id, identity_hash=identity_hash_compute(external_id=external_id)
    )
    return customer, session


def widget_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Conversation {token}")
    return client


@pytest.mark.django_db
def test_rest_answers_401_to_every_token_issued_to_an_erased_customer():
    customer, session = verified_session()
    # A second conversation of theirs, with its own token: both must stop working.
    other = widget_session_start(
        customer_external_id="C-ERASE-1", identity_hash=identity_hash_compute(external_id="C-ERASE-1")
    )
    for token in (session.token, other.token):
        assert widget_client(token).get(reverse("api-widget-conversation")).status_code == 200

    customer_erase(customer=customer, by=None)

    for token in (session.token, other.token):
        client = widget_client(token)
        answer = client.get(reverse("api-widget-conversation"))
        assert answer.status_code == 401, answer.content
        assert "revoked" in answer.json()["detail"]
        assert client.post(reverse("api-widget-csat"), {"rating": "up"}, format="json").status_code == 401
        emailed = client.post(reverse("api-widget-email"), {"email": "new@example.com"}, format="json")
        assert emailed.status_code == 401
    # Nothing new was collected into the erased record.
    assert not Conversation.objects.filter(customer=customer).exclude(contact_email="").exists()


@pytest.mark.django_db
def test_an_erased_customer_cannot_start_or_resume_a_verified_chat():
    customer, session = verified_session()
    customer_erase(customer=customer, by=None)
    # The shop's page still carries the old id and its genuine hash: the widget's "couldn't verify" case.
    with pytest.raises(IdentityError):
        widget_session_start(
            customer_external_id="C-ERASE-1",
            identity_hash=identity_hash_compute(external_id="C-ERASE-1"),
            token=session.token,
        )
    answer = APIClient().post(
        reverse("api-widget-conversations"),
        {"customer_id": "C-ERASE-1", "identity_hash": identity_hash_compute(external_id="C-ERASE-1")},
        format="json",
    )
    assert answer.status_code == 403
    # Without an identity the old token does not resume the erased conversation: a new anonymous one starts.
    fresh = widget_session_start(token=session.token)
    assert fresh.resumed is False
    assert fresh.conversation.customer_id is None


@pytest.mark.django_db
def test_the_copilot_forgets_the_erased_customers_account_and_orders():
    customer, session = verified_session()
    message = Message.objects.create(conversation=session.conversation, role="customer", content="where is 77001?")
    before = copilot_context_get(conversation=session.conversation, before_message=message)
    assert before.customer is not None and before.card.recent_orders

    customer_erase(customer=customer, by=None)
    conversation = Conversation.objects.select_related("customer").get(pk=session.conversation.pk)
    after = copilot_context_get(conversation=conversation, before_message=message)
    assert after.customer is None
    assert after.card is None


@pytest.mark.django_db
def test_a_message_from_a_socket_opened_before_the_erasure_is_not_stored():
    customer, session = verified_session()
    conversation = session.conversation
    customer_erase(customer=customer, by=None)
    # The socket still holds the conversation it loaded before the erasure.
    with pytest.raises(AccessRevoked):
        chat_message_receive(conversation=conversation, text="my new address is Lidická 5, Brno")
    assert not Message.objects.filter(conversation=conversation, content__contains="Lidická").exists()
    assert not ConversationMemory.objects.filter(conversation=conversation).exists()


@pytest.mark.django_db
def test_erasure_does_not_touch_another_customers_tokens():
    erased, erased_session = verified_session("C-ERASE-1")
    _, kept_session = verified_session("C-KEEP-2")
    customer_erase(customer=erased, by=None)
    assert widget_client(kept_session.token).get(reverse("api-widget-conversation")).status_code == 200
    assert widget_client(erased_session.token).get(reverse("api-widget-conversation")).status_code == 401


# ---------------------------------------------------------------- sockets (committed database)


@pytest.fixture
async def close_worker_connections():
    yield
    await sync_to_async(connections.close_all)()


async def closed_with(communicator: WebsocketCommunicator) -> int:
    while True:
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return output["code"]


@pytest.mark.django_db(transaction=True)
async def test_open_sockets_close_with_4401_when_their_customer_is_erased(close_worker_connections):
    customer, session = await database_sync_to_async(verified_session)()
    anonymous = await database_sync_to_async(widget_session_start)()
    socket = await chat_open(session.token)
    bystander = await chat_open(anonymous.token)
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "pong"

    await database_sync_to_async(customer_erase)(customer=customer, by=None)

    assert await closed_with(socket) == 4401
    # Anyone else's socket stays open.
    await bystander.send_json_to({"type": "ping"})
    assert (await bystander.receive_json_from(timeout=TIMEOUT))["type"] == "pong"
    await bystander.disconnect()
    # The same token cannot open a new one.
    again = await chat_open(session.token)
    assert await closed_with(again) == 4401
    await socket.disconnect()
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_message_sent_as_the_erasure_commits_closes_the_socket_and_is_not_stored(close_worker_connections):
    customer, session = await database_sync_to_async(verified_session)()
    socket = await chat_open(session.token)
    # Erased without the broadcast reaching this socket (another process's layer was down, say).
    await database_sync_to_async(Customer.objects.filter(pk=customer.pk).update)(erased_at=timezone.now())
    await socket.send_json_to({"type": "message", "text": "I live at Lidická 5", "client_id": "c1"})
    assert await closed_with(socket) == 4401
    stored = await database_sync_to_async(Message.objects.filter(content__contains="Lidická").exists)()
    assert not stored
    await socket.disconnect()


# ---------------------------------------------------------------- the integration API


@pytest.fixture
def integration() -> APIClient:
    user = UserFactory(username="erasure-integration")
    user.user_permissions.add(Permission.objects.get(codename="use_api", content_type__app_label="integrations"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.django_db
def test_the_integration_api_no_longer_reaches_an_erased_customer(integration):
    customer, _ = verified_session()
    customer_erase(customer=customer, by=None)
    erased_id = f"erased-{customer.pk}"
    calls = {
        "api-integration-chat": {"customer_id": erased_id, "message": "where is my order?"},
        "api-integration-escalate": {"customer_id": erased_id, "reason": "call me on +420 777 000 111"},
        "api-integration-send": {"customer_id": erased_id, "message": "hello"},
        "api-integration-log": {"event": "crm.sync", "customer_id": erased_id, "data": {"phone": "+420 777"}},
    }
    for name, body in calls.items():
        answer = integration.post(reverse(name), body, format="json")
        assert answer.status_code == 404, (name, answer.content)
    # Nothing new was written about them.
    assert not Message.objects.filter(conversation__customer=customer).exclude(content="[erased]").exists()
    assert not IntegrationLog.objects.filter(customer=customer).exists()
    assert not Ticket.objects.filter(customer=customer).exists()
    # The privacy requests still reach them: an export shows what is left, a second erasure is no error.
    assert integration.get(reverse("api-integration-customer-export", args=[erased_id])).status_code == 200
    assert integration.post(reverse("api-integration-customer-erase", args=[erased_id])).status_code == 200


# ---------------------------------------------------------------- a turn under way


@pytest.mark.django_db(transaction=True)
def test_a_turn_under_way_when_the_customer_is_erased_keeps_nothing(openai_server, settings):
    """The model answers while the erasure commits (the server erases, then replies): the reply,
    the turn's facts and the memory the erasure deleted are not written back."""
    settings.COPILOT_ENGINE = "openai"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.COPILOT_LLM_RETRIES = 0
    intents_import(rows=default_examples())
    customer, session = verified_session()
    conversation = session.conversation
    ConversationMemory.objects.create(conversation=conversation, summary="Iva asked about order 77001")

    def erase_then_answer(body: dict) -> str:
        customer_erase(customer=Customer.objects.get(pk=customer.pk), by=None)
        return "Your order ships today, Iva."

    openai_server.chat_handler = erase_then_answer
    message, _ = customer_message_receive(conversation=conversation, content="Where is my latest order?")
    events = turn_run_collect(message_id=message.pk)
    assert openai_server.chat_requests, "the model was asked, so the erasure ran mid-turn"
    assert not [event for event in events if event.type == "message"]
    assert not Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT).exists()
    assert not ConversationMemory.objects.filter(conversation=conversation).exists()
    assert not CopilotTurn.objects.filter(conversation=conversation).exists()
    assert not Ticket.objects.filter(conversation=conversation).exists()


@pytest.mark.django_db(transaction=True)
async def test_asking_for_a_human_after_a_missed_erasure_closes_the_socket(close_worker_connections):
    customer, session = await database_sync_to_async(verified_session)()
    socket = await chat_open(session.token)
    # Erased where this socket's broadcast never arrives (another process's channel layer).
    await database_sync_to_async(Customer.objects.filter(pk=customer.pk).update)(erased_at=timezone.now())
    await socket.send_json_to({"type": "human"})
    assert await closed_with(socket) == 4401
    assert not await database_sync_to_async(Ticket.objects.filter(conversation=session.conversation).exists)()
    await socket.disconnect()
