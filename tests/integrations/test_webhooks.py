"""Outbound webhooks against a real local HTTP receiver: signing, retries with backoff, the
delivery log, redelivery from the admin, and the events the helpdesk's services publish."""

import json
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import Conversation, Ticket
from helpdesk.services.escalation import ticket_escalate
from helpdesk.services.ownership import conversation_resolve, ticket_update
from integrations.models import WebhookDelivery, WebhookEvent
from integrations.services.webhooks import (
    webhook_backoff_seconds,
    webhook_deliveries_due_queue,
    webhook_delivery_attempt,
    webhook_event_publish,
    webhook_signature,
    webhook_signature_verify,
)
from integrations.tasks import webhook_deliver_task
from tests.factories import AgentProfileFactory, ConversationFactory, TicketFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db

SECRET = "test-secret-of-the-receiver"


@pytest.fixture
def endpoint(receiver):
    return WebhookEndpointFactory(url=receiver.url, secret=SECRET)


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Publish an event and run what its commit queues (Celery is eager in tests)."""

    def send(event: str = WebhookEvent.ESCALATION_CREATED, data: dict | None = None) -> list[WebhookDelivery]:
        with django_capture_on_commit_callbacks(execute=True):
            deliveries = webhook_event_publish(event=event, data=data or {"ticket": {"ticket_id": "ESC-000001"}})
        return [WebhookDelivery.objects.get(pk=delivery.pk) for delivery in deliveries]

    return send


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """What the beat schedule does every 30 s, with the tasks it queues run (eager Celery)."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return webhook_deliveries_due_queue()

    return run


def verified(request) -> dict:
    header = request.headers["X-Webhook-Signature"]
    assert webhook_signature_verify(secret=SECRET, body=request.body, header=header)
    return json.loads(request.body)


# ---------------------------------------------------------------- signing


def test_a_signature_checks_the_body_the_secret_and_the_age():
    body = b'{"type":"escalation.created"}'
    header = webhook_signature(secret=SECRET, timestamp=1_800_000_000, body=body)
    assert header.startswith("t=1800000000,v1=")
    assert webhook_signature_verify(secret=SECRET, body=body, header=header, now=1_800_000_100)
    assert not webhook_signature_verify(secret=SECRET, body=body + b" ", header=header, now=1_800_000_100)
    assert not webhook_signature_verify(secret="another", body=body, header=header, now=1_800_000_100)
    # A captured request replayed ten minutes later is refused.
    assert not webhook_signature_verify(secret=SECRET, body=body, header=header, now=1_800_000_600)
    assert not webhook_signature_verify(secret=SECRET, body=body, header="v1=abc", now=1_800_000_000)
    assert not webhook_signature_verify(secret=SECRET, body=body, header="garbage", now=1_800_000_000)


FORGED = ["t=1800000000,v1=é", "t=1" + "0" * 400 + ",v1=abc", "t=-" + "9" * 400 + ",v1=abc", "t=,v1=", ""]


@pytest.mark.parametrize("header", FORGED)
def test_a_forged_signature_header_is_refused_not_an_error(header):
    assert webhook_signature_verify(secret=SECRET, body=b"{}", header=header, now=1_800_000_000) is False


def test_the_receivers_verify_in_the_docs_agrees_with_ours():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "integrations.md").read_text()
    code = docs.split("```python\n", 1)[1].split("```", 1)[0]
    assert "def verify(" in code
    scope: dict = {}
    exec(code, scope)  # noqa: S102 (our own documentation's example)
    body = b'{"type":"escalation.created"}'
    now = int(time.time())
    good = webhook_signature(secret=SECRET, timestamp=now, body=body)
    assert scope["verify"](SECRET, body, good) is True
    assert scope["verify"]("another", body, good) is False
    for header in FORGED:
        assert scope["verify"](SECRET, body, header) is False


def test_backoff_doubles_from_the_base_up_to_an_hour(settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 30
    assert [webhook_backoff_seconds(attempts=n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


# ---------------------------------------------------------------- delivery


def test_an_event_is_posted_signed_to_each_subscribed_endpoint(receiver, endpoint, publish):
    other = WebhookEndpointFactory(url=receiver.url, secret=SECRET, name="Second")
    WebhookEndpointFactory(url=receiver.url, events=[WebhookEvent.TICKET_UPDATED])  # not subscribed
    WebhookEndpointFactory(url=receiver.url, is_active=False)  # disabled

    deliveries = publish(data={"ticket": {"ticket_id": "ESC-000042"}})

    assert {delivery.endpoint_id for delivery in deliveries} == {endpoint.pk, other.pk}
    assert len(receiver.received) == 2
    event_ids = set()
    for request in receiver.received:
        body = verified(request)
        assert body["type"] == "escalation.created"
        assert body["data"] == {"ticket": {"ticket_id": "ESC-000042"}}
        assert request.headers["X-Webhook-Event"] == "escalation.created"
        assert request.headers["X-Webhook-Id"] == body["id"]
        assert request.headers["Content-Type"] == "application/json"
        event_ids.add(body["id"])
    # One event, one id: a receiver behind both endpoints can de-duplicate.
    assert len(event_ids) == 1
    for delivery in deliveries:
        assert delivery.status == WebhookDelivery.Status.SUCCEEDED
        assert delivery.attempts == 1
        assert delivery.last_status_code == 200
        assert delivery.delivered_at is not None
        assert delivery.attempt_log[0]["status_code"] == 200


def test_nothing_is_sent_for_a_change_that_rolls_back(receiver, endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        webhook_event_publish(event=WebhookEvent.ESCALATION_CREATED, data={})
    # The callbacks were captured, not run: as if the transaction had rolled back.
    assert len(callbacks) == 1
    assert receiver.received == []


def test_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="Unknown webhook event"):
        webhook_event_publish(event="order.exploded", data={})


def test_a_5xx_is_retried_with_backoff_until_it_succeeds(sweep, receiver, endpoint, publish, settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 30
    receiver.answer(500, 503)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        (delivery,) = publish()
        assert delivery.status == WebhookDelivery.Status.RETRYING
        assert delivery.last_status_code == 500
        assert "HTTP 500" in delivery.last_error
        assert delivery.next_attempt_at - timezone.now() == timedelta(seconds=30)

        # Not due yet: the sweep leaves it alone.
        clock.shift(timedelta(seconds=29))
        assert sweep() == 0
        clock.shift(timedelta(seconds=2))
        assert sweep() == 1
        delivery.refresh_from_db()
        assert delivery.status == WebhookDelivery.Status.RETRYING
        assert delivery.attempts == 2
        assert delivery.last_status_code == 503
        assert delivery.next_attempt_at - timezone.now() == timedelta(seconds=60)

        clock.shift(timedelta(seconds=61))
        assert sweep() == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempts == 3
    assert [entry["status_code"] for entry in delivery.attempt_log] == [500, 503, 200]
    # Every attempt carried the same event id, each freshly signed.
    assert len({verified(request)["id"] for request in receiver.received}) == 1
    assert len(receiver.received) == 3


def test_a_delivery_fails_for_good_after_the_last_attempt(sweep, receiver, endpoint, publish, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.answer(500, 500, 500, 500)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        (delivery,) = publish()
        for _ in range(2):
            clock.shift(timedelta(hours=1))
            sweep()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == 3
    assert delivery.next_attempt_at is None
    assert len(receiver.received) == 3
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert sweep() == 0
    assert len(receiver.received) == 3


def test_a_receiver_that_hangs_times_out_and_is_retried(receiver, endpoint, publish, settings):
    settings.WEBHOOK_TIMEOUT = 0.3
    receiver.answer((200, 2.0))
    (delivery,) = publish()
    assert delivery.status == WebhookDelivery.Status.RETRYING
    assert delivery.last_status_code is None
    assert "Timeout" in delivery.last_error
    assert delivery.attempt_log[0]["ms"] < 1500


def test_a_receiver_that_is_down_is_retried(publish):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    WebhookEndpointFactory(url=f"http://127.0.0.1:{port}/hooks")
    (delivery,) = publish()
    assert delivery.status == WebhookDelivery.Status.RETRYING
    assert "ConnectError" in delivery.last_error


def test_a_redirect_is_not_followed(receiver, publish):
    WebhookEndpointFactory(url=receiver.url)
    receiver.answer(302)
    (delivery,) = publish()
    assert delivery.status == WebhookDelivery.Status.RETRYING
    assert delivery.last_status_code == 302
    assert len(receiver.received) == 1


def test_the_task_is_idempotent_and_tolerates_a_deleted_delivery(receiver, endpoint, publish):
    (delivery,) = publish()
    assert len(receiver.received) == 1
    # A duplicate task (a redelivered message, a sweep racing the first try) sends nothing.
    assert webhook_deliver_task.delay(delivery.pk).get() == "skipped"
    assert len(receiver.received) == 1
    delivery.delete()
    assert webhook_deliver_task.delay(delivery.pk).get() == "skipped"


def test_copies_of_a_queued_task_do_not_skip_the_backoff(receiver, endpoint, django_capture_on_commit_callbacks):
    # Workers lag behind: the first try of a stored delivery is queued again by each sweep, and
    # the receiver is failing. One copy may spend the attempt; the rest must leave the backoff be.
    receiver.answer(503, 503, 503)
    now = timezone.now()
    with time_machine.travel(now - timedelta(minutes=2), tick=False):
        with django_capture_on_commit_callbacks(execute=False):
            (delivery,) = webhook_event_publish(event=WebhookEvent.ESCALATION_CREATED, data={})
    with time_machine.travel(now, tick=False):
        # Three sweeps' worth of copies, all queued for the first attempt.
        results = [webhook_deliver_task.delay(delivery.pk, 0).get() for _ in range(3)]
    assert results == ["retrying", "skipped", "skipped"]
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.next_attempt_at > now
    assert len(receiver.received) == 1


def test_a_send_whose_worker_died_is_picked_up_again(sweep, receiver, endpoint, settings):
    settings.WEBHOOK_TIMEOUT = 5
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=WebhookEvent.ESCALATION_CREATED,
        payload={"id": "x", "type": "escalation.created", "data": {}},
        status=WebhookDelivery.Status.SENDING,
        attempts=1,
        claimed_at=now - timedelta(seconds=10),
    )
    # Claimed ten seconds ago: possibly still sending, so nobody else may.
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert sweep() == 0
    # Its task's hard time limit (4 timeouts + 30 s = 50 s) and 30 s more: only then has its worker died.
    with time_machine.travel(now + timedelta(seconds=60)):
        assert sweep() == 0
    with time_machine.travel(now + timedelta(seconds=90)):
        assert sweep() == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempts == 2
    assert len(receiver.received) == 1


def test_a_first_try_lost_with_the_broker_is_sent_by_the_sweep(
    sweep, receiver, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        (delivery,) = webhook_event_publish(event=WebhookEvent.TICKET_UPDATED, data={})
    # Its queueing never happened; the sweep waits a minute before assuming so.
    assert sweep() == 0
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert sweep() == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert len(receiver.received) == 1


def test_a_disabled_endpoint_gets_nothing_more(sweep, receiver, endpoint, publish):
    receiver.answer(500)
    (delivery,) = publish()
    endpoint.is_active = False
    endpoint.save()
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        sweep()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.last_error == "the endpoint is disabled"
    assert len(receiver.received) == 1


# ---------------------------------------------------------------- admin


def test_the_admin_redelivers_a_delivered_event(
    receiver, endpoint, publish, admin_client, django_capture_on_commit_callbacks
):
    (delivery,) = publish()
    changelist = reverse("admin:integrations_webhookdelivery_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            changelist, {"action": "redeliver", "_selected_action": [delivery.pk]}, follow=True
        )
    assert response.status_code == 200
    assert b"Queued 1 deliveries again." in response.content
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempts == 1
    assert len(delivery.attempt_log) == 2
    assert len(receiver.received) == 2
    assert verified(receiver.received[0])["id"] == verified(receiver.received[1])["id"]


def test_the_admin_pings_only_the_chosen_endpoint_signed_and_logged(
    receiver, endpoint, admin_client, django_capture_on_commit_callbacks
):
    # The other endpoint subscribes to every event and must hear nothing; a ping is for one receiver.
    WebhookEndpointFactory(url=receiver.url + "/other", events=list(WebhookEvent.values))
    changelist = reverse("admin:integrations_webhookendpoint_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(changelist, {"action": "ping", "_selected_action": [endpoint.pk]}, follow=True)
    assert response.status_code == 200
    assert b"Sent webhook.ping to 1 endpoints" in response.content
    (request,) = receiver.received
    assert request.path == "/hooks"
    assert request.headers["X-Webhook-Event"] == "webhook.ping"
    body = verified(request)
    assert body["type"] == "webhook.ping"
    assert body["data"] == {"endpoint": endpoint.name, "events": endpoint.events}
    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.endpoint_id, delivery.event, delivery.status) == (endpoint.pk, "webhook.ping", "succeeded")


def test_a_ping_to_a_receiver_that_refuses_it_is_logged_as_failing(
    receiver, endpoint, admin_client, django_capture_on_commit_callbacks
):
    receiver.answer(401)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:integrations_webhookendpoint_changelist"),
            {"action": "ping", "_selected_action": [endpoint.pk]},
        )
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.status == WebhookDelivery.Status.RETRYING
    assert delivery.last_status_code == 401
    log = admin_client.get(reverse("admin:integrations_webhookdelivery_changelist"), {"event": "webhook.ping"})
    assert log.status_code == 200
    assert b"webhook.ping" in log.content


def test_the_admin_shows_the_delivery_log_escaped(receiver, endpoint, publish, admin_client):
    receiver.answer(500)
    (delivery,) = publish()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempt_log=[{"attempt": 1, "at": "now", "status_code": 500, "ms": 3, "error": "<script>alert(1)</script>"}]
    )
    page = admin_client.get(reverse("admin:integrations_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.content
    assert b"<script>alert(1)</script>" not in page.content


def test_an_admin_configures_an_endpoint_with_its_events(admin_client, receiver):
    response = admin_client.post(
        reverse("admin:integrations_webhookendpoint_add"),
        {
            "name": "CRM sync",
            "url": receiver.url,
            "events": ["escalation.created", "ticket.updated"],
            "secret": "s3cret",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    from integrations.models import WebhookEndpoint

    saved = WebhookEndpoint.objects.get(name="CRM sync")
    assert saved.events == ["escalation.created", "ticket.updated"]


@pytest.mark.parametrize(
    ("url", "events", "error"),
    [
        ("ftp://hooks.example/in", ["ticket.updated"], b"Enter a valid URL."),
        ("not a url", ["ticket.updated"], b"Enter a valid URL."),
        ("https://hooks.example/in", [], b"This field is required."),
        ("https://hooks.example/in", ["order.exploded"], b"Select a valid choice."),
    ],
)
def test_a_bad_endpoint_is_refused_with_the_reason(admin_client, url, events, error):
    response = admin_client.post(
        reverse("admin:integrations_webhookendpoint_add"),
        {"name": "Bad", "url": url, "events": events, "secret": "s3cret", "is_active": "on"},
    )
    assert response.status_code == 200
    assert error in response.content
    from integrations.models import WebhookEndpoint

    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("who", ["anonymous", "agent", "customer_session"])
def test_only_staff_reach_the_webhook_admin(client, who, endpoint):
    if who == "agent":
        client.force_login(AgentProfileFactory().user)
    elif who == "customer_session":
        session = client.session
        session["conversation"] = 1
        session.save()
    for url in (
        reverse("admin:integrations_webhookendpoint_changelist"),
        reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]),
        reverse("admin:integrations_webhookdelivery_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


# ---------------------------------------------------------------- the helpdesk's events


def events_received(receiver) -> list[tuple[str, dict]]:
    return [(body["type"], body["data"]) for body in map(verified, receiver.received)]


def test_an_escalation_sends_escalation_created(receiver, endpoint, django_capture_on_commit_callbacks):
    conversation = ConversationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        ticket, created = ticket_escalate(
            conversation=conversation, subject="Wants a human", reason="explicit request", priority="high"
        )
    assert created
    ((event, data),) = events_received(receiver)
    assert event == "escalation.created"
    assert data["ticket"]["ticket_id"] == ticket.reference
    assert data["ticket"]["ticket_id"].startswith("ESC-")
    assert data["ticket"]["priority"] == "high"
    assert data["ticket"]["status"] == "open"
    assert data["ticket"]["conversation_id"] == conversation.pk
    assert data["ticket"]["customer_id"] == conversation.customer.external_id

    # The same conversation escalating again, more urgently, updates the one ticket.
    with django_capture_on_commit_callbacks(execute=True):
        again, created = ticket_escalate(conversation=conversation, subject="x", reason="anger", priority="urgent")
    assert not created and again.pk == ticket.pk
    event, data = events_received(receiver)[-1]
    assert event == "ticket.updated"
    assert data["ticket"]["priority"] == "urgent"
    assert "priority" in data["changes"]


def test_resolving_sends_conversation_resolved_and_the_tickets_update(
    receiver, endpoint, django_capture_on_commit_callbacks
):
    agent = AgentProfileFactory().user
    ticket = TicketFactory(conversation__status=Conversation.Status.HUMAN, conversation__assigned_agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_resolve(conversation=ticket.conversation, by=agent)
    received = dict(events_received(receiver))
    assert set(received) == {"ticket.updated", "conversation.resolved"}
    assert received["conversation.resolved"]["conversation_id"] == ticket.conversation_id
    assert received["conversation.resolved"]["resolved_by"] == agent.get_username()
    assert received["ticket.updated"]["ticket"]["ticket_id"] == ticket.reference
    assert received["ticket.updated"]["ticket"]["status"] == "resolved"
    assert received["ticket.updated"]["ticket"]["assigned_to"] == agent.get_username()


def test_an_agent_changing_a_ticket_sends_ticket_updated(receiver, endpoint, django_capture_on_commit_callbacks):
    agent = AgentProfileFactory().user
    other = AgentProfileFactory().user
    ticket = TicketFactory(kind=Ticket.Kind.REQUEST, conversation=None, customer=ConversationFactory().customer)
    with django_capture_on_commit_callbacks(execute=True):
        ticket_update(ticket_id=ticket.pk, by=agent, assignee=other)
    with django_capture_on_commit_callbacks(execute=True):
        ticket_update(ticket_id=ticket.pk, by=agent, status=Ticket.Status.PENDING)
    # Assigning the ticket to whoever already has it is no change, and sends nothing.
    with django_capture_on_commit_callbacks(execute=True):
        ticket_update(ticket_id=ticket.pk, by=agent, assignee=other)
    received = events_received(receiver)
    assert [event for event, _ in received] == ["ticket.updated", "ticket.updated"]
    assert received[0][1]["changes"] == ["assignee"]
    assert received[0][1]["ticket"]["assigned_to"] == other.get_username()
    assert received[1][1]["changes"] == ["resolved_at", "status"]
    assert received[1][1]["ticket"]["status"] == "pending"
