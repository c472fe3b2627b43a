"""Retention and privacy: purging old conversations, a customer's export and erasure (admin and
API), and the audit log of agents' actions."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from copilot.models import ConversationMemory, CopilotTurn
from crm.models import Customer
from helpdesk.models import AuditEntry, Conversation, Message, Ticket
from helpdesk.services import conversation_assign, conversation_resolve, conversation_take_over
from helpdesk.services.retention import ERASED, conversations_purge, customer_erase, customer_export
from helpdesk.tasks import conversations_purge_task
from integrations.models import IntegrationLog, WebhookDelivery
from integrations.services.webhooks import webhook_ticket_data
from tests.factories import (
    AgentProfileFactory,
    ConversationFactory,
    CustomerFactory,
    MessageFactory,
    OrderFactory,
    TicketFactory,
    UserFactory,
    WebhookEndpointFactory,
)
from tests.pg import pg_connect

pytestmark = pytest.mark.django_db


def aged(days: int, **fields) -> Conversation:
    conversation = ConversationFactory(**fields)
    when = timezone.now() - timedelta(days=days)
    Conversation.objects.filter(pk=conversation.pk).update(created_at=when, last_message_at=when)
    return conversation


def turn_for(message: Message, **fields) -> CopilotTurn:
    return CopilotTurn.objects.create(
        conversation=message.conversation,
        customer_message=message,
        engine="offline",
        delivery="verified",
        language="en",
        **fields,
    )


# ---------------------------------------------------------------- purge


def test_purge_deletes_inactive_conversations_but_not_unfinished_human_work():
    old = aged(100)
    turn_for(MessageFactory(conversation=old), intent="returns")
    ticket = TicketFactory(conversation=old, status="resolved", resolved_at=timezone.now())
    waiting = aged(100, status=Conversation.Status.PENDING_HUMAN)
    recent = aged(10)
    agent = AgentProfileFactory().user
    with_agent = aged(200, status=Conversation.Status.HUMAN, assigned_agent=agent)

    assert conversations_purge(older_than=timedelta(days=90), dry_run=True) == 1
    assert Conversation.objects.filter(pk=old.pk).exists()

    assert conversations_purge(older_than=timedelta(days=90)) == 1
    assert not Conversation.objects.filter(pk=old.pk).exists()
    assert not Message.objects.filter(conversation_id=old.pk).exists()
    assert not CopilotTurn.objects.filter(conversation_id=old.pk).exists()
    assert set(Conversation.objects.values_list("pk", flat=True)) == {waiting.pk, recent.pk, with_agent.pk}
    ticket.refresh_from_db()
    assert ticket.conversation_id is None
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PURGE)
    assert entry.detail["conversations"] == 1
    # Nothing left to purge: nothing done, nothing logged again.
    assert conversations_purge(older_than=timedelta(days=90)) == 0
    assert AuditEntry.objects.filter(action=AuditEntry.Action.PURGE).count() == 1


def test_activity_not_age_decides():
    started_long_ago = aged(400)
    Conversation.objects.filter(pk=started_long_ago.pk).update(last_message_at=timezone.now() - timedelta(days=5))
    assert conversations_purge(older_than=timedelta(days=90)) == 0


def test_the_command_reads_days_or_hours_and_refuses_nonsense(settings):
    aged(100)
    aged(3)
    out = StringIO()
    call_command("purge_conversations", "--older-than", "90d", "--dry-run", stdout=out)
    assert "Would purge 1 conversations" in out.getvalue()
    call_command("purge_conversations", "--older-than", "48h", stdout=out)
    assert "Purged 2 conversations" in out.getvalue()
    for bad in ("90", "0d", "3w", "-5d"):
        with pytest.raises(CommandError, match="--older-than"):
            call_command("purge_conversations", "--older-than", bad)


def test_beat_runs_the_purge_daily_with_the_setting(settings):
    schedule = django_settings.CELERY_BEAT_SCHEDULE["conversations-purge"]
    assert schedule["task"] == "helpdesk.tasks.conversations_purge_task"
    assert schedule["schedule"].hour == {3}
    settings.RETENTION_DAYS = 30
    aged(45)
    aged(20)
    assert conversations_purge_task.delay().get() == 1


def test_retention_days_0_keeps_everything(settings):
    settings.RETENTION_DAYS = 0
    kept = aged(4000)
    assert conversations_purge_task.delay().get() == 0
    out = StringIO()
    call_command("purge_conversations", stdout=out)
    assert "RETENTION_DAYS is 0: nothing is purged" in out.getvalue()
    assert Conversation.objects.filter(pk=kept.pk).exists()
    call_command("purge_conversations", "--older-than", "90d", stdout=out)
    assert not Conversation.objects.filter(pk=kept.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_purge_skips_a_conversation_being_written_in_right_now():
    quiet, busy = aged(100), aged(100)
    # Another backend holds the row, as a customer's new message does while it updates last_message_at.
    with pg_connect(autocommit=False) as writer:
        writer.execute("SELECT 1 FROM helpdesk_conversation WHERE id = %s FOR UPDATE", [busy.pk])
        assert conversations_purge(older_than=timedelta(days=90)) == 1
        writer.execute("UPDATE helpdesk_conversation SET last_message_at = now() WHERE id = %s", [busy.pk])
        writer.commit()
    assert list(Conversation.objects.values_list("pk", flat=True)) == [busy.pk]
    assert not Conversation.objects.filter(pk=quiet.pk).exists()


# ---------------------------------------------------------------- export and erase


@pytest.fixture
def customer_with_history() -> Customer:
    customer = CustomerFactory(
        name="Iva Nová", email="iva@example.cz", phone="+420 777 000 111", address={"city": "Brno"}
    )
    OrderFactory(customer=customer, number="55501", shipping_address={"street": "Lidická 1"})
    conversation = ConversationFactory(
        customer=customer, contact_email="iva@example.cz", csat="up", csat_comment="Iva says thanks"
    )
    asked = MessageFactory(conversation=conversation, content="My name is Iva, order 55501 is late")
    MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT, content="Hi Iva, order 55501 ships today")
    MessageFactory(conversation=conversation, role=Message.Role.NOTE, content="internal: VIP, be nice")
    turn_for(asked, intent="orders", sentiment="negative", qa_score=8.0, entities={"name": "Iva"})
    ConversationMemory.objects.create(conversation=conversation, summary="Iva's late order 55501")
    ticket = TicketFactory(conversation=conversation, subject="Iva Nová: late order", reason="Iva is angry")
    IntegrationLog.objects.create(event="email_bridge.inbound", customer=customer, data={"from": "iva@example.cz"})
    endpoint = WebhookEndpointFactory()
    # One event already delivered, one still to be retried: both name her.
    for status in (WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.RETRYING):
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event="escalation.created",
            status=status,
            payload={"id": "e1", "type": "escalation.created", "data": {"ticket": webhook_ticket_data(ticket)}},
        )
    return customer


def test_an_export_has_the_customers_data_and_not_the_agents_notes(customer_with_history):
    other = ConversationFactory()
    MessageFactory(conversation=other, content="someone else's secret")
    agent = AgentProfileFactory().user
    data = customer_export(customer=customer_with_history, by=agent)
    text = json.dumps(data, ensure_ascii=False)
    assert data["customer"]["email"] == "iva@example.cz"
    assert data["orders"][0]["number"] == "55501"
    (conversation,) = data["conversations"]
    assert [message["role"] for message in conversation["messages"]] == ["customer", "assistant"]
    assert "internal: VIP" not in text
    assert "someone else's secret" not in text
    assert data["tickets"][0]["id"].startswith("ESC-")
    assert [(log["event"], log["data"]) for log in data["integration_logs"]] == [
        ("email_bridge.inbound", {"from": "iva@example.cz"})
    ]
    entry = AuditEntry.objects.get(action=AuditEntry.Action.EXPORT)
    assert (entry.actor, entry.customer_id) == (agent, customer_with_history.pk)


def test_erasing_removes_the_person_and_keeps_the_counts(customer_with_history):
    conversation = Conversation.objects.get(customer=customer_with_history)
    admin = UserFactory(is_staff=True, is_superuser=True)
    report = customer_erase(customer=customer_with_history, by=admin)
    assert report["messages"] == 3
    customer = Customer.objects.get(pk=customer_with_history.pk)
    assert (customer.name, customer.email, customer.phone, customer.address) == ("Erased customer", "", "", {})
    assert customer.external_id == f"erased-{customer.pk}"
    assert set(Message.objects.filter(conversation=conversation).values_list("content", flat=True)) == {ERASED}
    conversation.refresh_from_db()
    assert (conversation.contact_email, conversation.csat_comment, conversation.csat) == ("", "", "up")
    turn = CopilotTurn.objects.get(conversation=conversation)
    assert (turn.intent, turn.sentiment, turn.qa_score, turn.entities) == ("orders", "negative", 8.0, {})
    assert not ConversationMemory.objects.filter(conversation=conversation).exists()
    ticket = Ticket.objects.get(conversation=conversation)
    assert (ticket.subject, ticket.reason) == ("Erased customer", "")
    assert customer.orders.get().shipping_address == {}
    assert (report["integration_logs"], report["webhook_deliveries"]) == (1, 2)
    assert IntegrationLog.objects.get().data == {}
    # The deliveries keep their event for the log; the retry never sends her data now.
    deliveries = WebhookDelivery.objects.order_by("pk")
    assert [d.payload for d in deliveries] == [
        {"id": "e1", "type": "escalation.created", "created_at": None, "data": {"erased": True}}
    ] * 2
    assert [d.status for d in deliveries] == [WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.FAILED]
    assert "Iva" not in json.dumps(list(WebhookDelivery.objects.values_list("payload", flat=True)))
    # Nothing that names her is left anywhere the export reads.
    leftover = json.dumps(customer_export(customer=customer, by=admin), ensure_ascii=False)
    for trace in ("Iva", "iva@example.cz", "777 000 111", "Brno", "Lidická"):
        assert trace not in leftover
    assert AuditEntry.objects.filter(action=AuditEntry.Action.ERASE, customer_id=customer.pk).count() == 1
    # Erasing again changes no more text.
    assert customer_erase(customer=customer, by=admin)["messages"] == 0


def test_the_admin_exports_and_erases_after_a_confirmation(admin_client, customer_with_history):
    changelist = reverse("admin:crm_customer_changelist")
    selected = {"_selected_action": [customer_with_history.pk]}
    export = admin_client.post(changelist, {"action": "export_json", **selected})
    assert export.status_code == 200
    assert export["Content-Disposition"].startswith('attachment; filename="customers-export-')
    assert json.loads(export.content)[0]["customer"]["email"] == "iva@example.cz"

    asked = admin_client.post(changelist, {"action": "erase", **selected})
    assert asked.status_code == 200
    assert b"Yes, erase them" in asked.content
    assert Customer.objects.get(pk=customer_with_history.pk).name == "Iva Nová"
    done = admin_client.post(changelist, {"action": "erase", "confirmed": "yes", **selected}, follow=True)
    assert b"Erased 1 customers." in done.content
    assert Customer.objects.get(pk=customer_with_history.pk).name == "Erased customer"


@pytest.fixture
def integration(client):
    user = UserFactory(username="privacy-bridge")
    user.user_permissions.add(Permission.objects.get(codename="use_api", content_type__app_label="integrations"))
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    return client


def test_the_api_exports_and_erases_by_crm_id(integration, customer_with_history):
    external_id = customer_with_history.external_id
    export = integration.get(reverse("api-integration-customer-export", args=[external_id]))
    assert export.status_code == 200
    assert export.json()["customer"]["name"] == "Iva Nová"
    erased = integration.post(reverse("api-integration-customer-erase", args=[external_id]))
    assert erased.status_code == 200
    assert erased.json()["status"] == "erased"
    assert erased.json()["erased"]["messages"] == 3
    # The CRM id is gone with the person.
    assert integration.get(reverse("api-integration-customer-export", args=[external_id])).status_code == 404


def test_an_agents_token_cannot_export_or_erase(client, customer_with_history):
    agent = AgentProfileFactory().user
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=agent).key}"
    external_id = customer_with_history.external_id
    assert client.get(reverse("api-integration-customer-export", args=[external_id])).status_code == 403
    assert client.post(reverse("api-integration-customer-erase", args=[external_id])).status_code == 403
    assert Customer.objects.get(pk=customer_with_history.pk).name == "Iva Nová"


# ---------------------------------------------------------------- audit log


def test_agents_actions_are_audited():
    jana = AgentProfileFactory().user
    marek = AgentProfileFactory().user
    conversation = ConversationFactory(status=Conversation.Status.PENDING_HUMAN)
    conversation_take_over(conversation_id=conversation.pk, agent=jana)
    conversation_assign(conversation_id=conversation.pk, agent=jana, assignee=marek)
    conversation_resolve(conversation=Conversation.objects.get(pk=conversation.pk), by=marek)
    entries = list(AuditEntry.objects.filter(conversation_id=conversation.pk).order_by("id"))
    assert [(entry.action, entry.actor) for entry in entries] == [
        ("takeover", jana),
        ("assign", jana),
        ("resolve", marek),
    ]
    assert entries[1].detail == {"from": jana.get_username(), "to": marek.get_username()}
    assert all(entry.customer_id == conversation.customer_id for entry in entries)
    # The entry outlives the user, by name.
    name = jana.get_username()
    jana.delete()
    entries[0].refresh_from_db()
    assert entries[0].actor is None
    assert entries[0].actor_name == name
