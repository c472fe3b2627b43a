"""Retention and privacy (docs/privacy.md): purging old conversations, and a customer's export
and erasure. Each is written to the audit log."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from copilot.models import ConversationMemory, CopilotTurn
from crm.models import Account, Customer, Order
from helpdesk import realtime
from helpdesk.models import AuditEntry, Conversation, Message, Ticket
from helpdesk.services.audit import audit_record
from integrations.models import IntegrationLog, WebhookDelivery

ERASED = "[erased]"
PURGE_BATCH = 500


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def conversations_purge(
    *, older_than: timedelta, now: datetime | None = None, dry_run: bool = False, actor: AbstractUser | None = None
) -> int:
    """Delete conversations with no activity for ``older_than``, with their messages and copilot turns.

    A conversation waiting for or with an agent is kept, however old: it is unfinished work.
    Tickets stay (without their conversation), and so do the knowledge gaps. Returns how many.
    """
    cutoff = (now or timezone.now()) - older_than
    stale = (
        Conversation.objects.annotate(active_at=Coalesce("last_message_at", "created_at"))
        .filter(active_at__lt=cutoff)
        .exclude(status__in=[Conversation.Status.PENDING_HUMAN, Conversation.Status.HUMAN])
    )
    if dry_run:
        return stale.count()
    purged = 0
    # In batches: one transaction over years of chats would hold locks and memory for too long.
    while True:
        with transaction.atomic():
            # Locked as they are chosen: a conversation a customer is writing in right now (its row
            # is being updated) is skipped, and none becomes active between the choice and the delete.
            ids = list(stale.select_for_update(skip_locked=True).values_list("pk", flat=True)[:PURGE_BATCH])
            if not ids:
                break
            purged += Conversation.objects.filter(pk__in=ids).delete()[1].get("helpdesk.Conversation", 0)
    if purged:
        audit_record(
            actor=actor, action=AuditEntry.Action.PURGE, detail={"conversations": purged, "cutoff": cutoff.isoformat()}
        )
    return purged


def conversations_purge_scheduled() -> int:
    """The daily purge: ``RETENTION_DAYS`` of inactivity, or nothing when that is 0 (keep everything)."""
    if not settings.RETENTION_DAYS:
        return 0
    return conversations_purge(older_than=timedelta(days=settings.RETENTION_DAYS))


def _customer_data(customer: Customer) -> dict:
    account = Account.objects.filter(customer=customer).first()
    conversations = Conversation.objects.filter(customer=customer).prefetch_related("messages").order_by("created_at")
    return {
        "customer": {
            "id": customer.external_id,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "tier": customer.tier,
            "locale": customer.locale,
            "address": customer.address,
            "created_at": _iso(customer.created_at),
        },
        "account": (
            {
                "number": account.number,
                "status": account.status,
                "subscription_tier": account.subscription_tier,
                "balance": str(account.balance),
                "currency": account.currency,
            }
            if account
            else None
        ),
        "orders": [
            {
                "number": order.number,
                "status": order.status,
                "total": str(order.total),
                "currency": order.currency,
                "placed_at": _iso(order.placed_at),
                "shipping_address": order.shipping_address,
                "items": [{"name": item.name, "quantity": item.quantity} for item in order.items.all()],
            }
            for order in Order.objects.filter(customer=customer).prefetch_related("items").order_by("placed_at")
        ],
        "conversations": [
            {
                "id": str(conversation.public_id),
                "channel": conversation.channel,
                "status": conversation.status,
                "created_at": _iso(conversation.created_at),
                "resolved_at": _iso(conversation.resolved_at),
                "contact_email": conversation.contact_email,
                "csat": conversation.csat,
                "csat_comment": conversation.csat_comment,
                "messages": [
                    {"role": message.role, "content": message.content, "created_at": _iso(message.created_at)}
                    for message in conversation.messages.all()
                    if message.role != Message.Role.NOTE
                ],
            }
            for conversation in conversations
        ],
        "integration_logs": [
            {"id": log.reference, "event": log.event, "data": log.data, "created_at": _iso(log.created_at)}
            for log in IntegrationLog.objects.filter(customer=customer).order_by("created_at")
        ],
        "tickets": [
            {
                "id": ticket.reference,
                "subject": ticket.subject,
                "status": ticket.status,
                "created_at": _iso(ticket.created_at),
            }
            for ticket in Ticket.objects.filter(customer=customer).order_by("created_at")
        ],
    }


def customer_export(*, customer: Customer, by: AbstractUser | None) -> dict:
    """Everything the helpdesk holds about the customer, as JSON-ready data (agents' notes excluded)."""
    data = {"exported_at": timezone.now().isoformat(), **_customer_data(customer)}
    audit_record(
        actor=by,
        action=AuditEntry.Action.EXPORT,
        customer_id=customer.pk,
        detail={"conversations": len(data["conversations"]), "orders": len(data["orders"])},
    )
    return data


def _webhook_payloads_erase(*, external_id: str) -> int:
    """Deliveries about the customer keep their event, not its content; those not yet sent never go."""
    about = WebhookDelivery.objects.filter(
        Q(payload__data__ticket__customer_id=external_id) | Q(payload__data__customer_id=external_id)
    )
    about.filter(
        status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING, WebhookDelivery.Status.SENDING]
    ).update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None, last_error="the customer was erased")
    erased = 0
    for delivery in about.only("pk", "payload"):
        payload = {key: delivery.payload.get(key) for key in ("id", "type", "created_at")}
        erased += WebhookDelivery.objects.filter(pk=delivery.pk).update(payload={**payload, "data": {"erased": True}})
    return erased


@transaction.atomic
def customer_erase(*, customer: Customer, by: AbstractUser | None) -> dict:
    """Anonymise the customer: their identity, their messages and what the copilot remembered.

    What counts stays: conversations, turns (intent, sentiment, scores, timings), tickets, orders
    and CSAT ratings remain as rows for the analytics, with no text that names the person.
    Returns what was changed.
    """
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    conversations = Conversation.objects.filter(customer=customer)
    messages = Message.objects.filter(conversation__in=conversations).exclude(content=ERASED)
    report = {
        "conversations": conversations.count(),
        "messages": messages.update(content=ERASED, metadata={}, client_message_id=""),
    }
    conversations.update(subject="", contact_email="", csat_comment="")
    CopilotTurn.objects.filter(conversation__in=conversations).update(
        entities={}, suggested_replies=[], follow_up={}, tools=[], guard_blocks=[], qa_reasons=[]
    )
    report["memories"] = ConversationMemory.objects.filter(conversation__in=conversations).delete()[0]
    report["tickets"] = Ticket.objects.filter(Q(customer=customer) | Q(conversation__in=conversations)).update(
        subject="Erased customer", reason=""
    )
    report["orders"] = Order.objects.filter(customer=customer).update(shipping_address={})
    # The account stays for the figures, but its public number, like the customer's id, named the
    # person in the shop's systems; freed, the shop (or the demo seed) can open that number anew.
    report["accounts"] = Account.objects.filter(customer=customer).update(number=f"erased-{customer.pk}")
    report["integration_logs"] = IntegrationLog.objects.filter(
        Q(customer=customer) | Q(conversation__in=conversations)
    ).update(data={})
    report["webhook_deliveries"] = _webhook_payloads_erase(external_id=customer.external_id)
    customer.name = "Erased customer"
    customer.email = ""
    customer.phone = ""
    customer.address = {}
    customer.external_id = f"erased-{customer.pk}"
    customer.erased_at = customer.erased_at or timezone.now()
    customer.save(update_fields=["name", "email", "phone", "address", "external_id", "erased_at", "updated_at"])
    # Every token issued to them stops working (``conversation_for_token``); open chat sockets close now.
    for conversation_id in conversations.values_list("pk", flat=True):
        realtime.send_on_commit(realtime.conversation_group(conversation_id), {"type": realtime.ACCESS_REVOKED})
    audit_record(actor=by, action=AuditEntry.Action.ERASE, customer_id=customer.pk, detail=report)
    return report
