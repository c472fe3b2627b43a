"""Outbound webhooks: events other systems subscribe to, signed and delivered with retries.

An event becomes one ``WebhookDelivery`` row per subscribed endpoint, in the same transaction
as the change it reports, so it is never sent for a change that rolled back and never lost
for one that committed. Each attempt first claims its row with a conditional update; a
duplicate task, a sweep and a redelivered task therefore never send the same delivery at
the same time, and a delivered one is never sent again unless an admin asks.
"""

import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from helpdesk.jobs import task_enqueue_on_commit
from integrations.models import PING_EVENT, WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.selectors import webhook_deliveries_due, webhook_endpoints_for_event, webhook_send_stale_before

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Webhook-Signature"
# Receivers should refuse a signature older than this, so a captured request cannot be replayed later.
SIGNATURE_TOLERANCE_SECONDS = 300
MAX_BACKOFF_SECONDS = 3600
# Attempts kept on a delivery for the admin's log; the count goes on beyond it.
ATTEMPT_LOG_SIZE = 20
# How long a sweep's queued task holds its delivery before another sweep may queue it again.
SWEEP_LEASE = timedelta(minutes=5)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: the time is signed too, against replays."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_signature_verify(
    *, secret: str, body: bytes, header: str, now: float | None = None, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does with the signature header: recompute, compare in constant time, check the age."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    # A timestamp beyond a float's range is too old or too new anyway (and would overflow the subtraction).
    if abs(timestamp) > 2**53 or abs(now - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body).split("v1=", 1)[1]
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged header may have them).
    return hmac.compare_digest(expected.encode(), given.encode())


def webhook_backoff_seconds(*, attempts: int) -> int:
    """Seconds before the next try after ``attempts`` failed ones: the base, doubling, at most an hour."""
    return min(settings.WEBHOOK_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


def webhook_event_publish(*, event: str, data: dict) -> list[WebhookDelivery]:
    """Queue ``event`` for every active endpoint subscribed to it; each is sent after the commit."""
    if event not in WebhookEvent.values:
        raise ValueError(f"Unknown webhook event {event!r}.")
    return _deliveries_queue(endpoints=webhook_endpoints_for_event(event=event), event=event, data=data)


def webhook_endpoint_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send ``webhook.ping`` to this endpoint alone, signed like any event: an admin's test of
    its URL and secret. Its outcome is in the delivery log like any other delivery."""
    data = {"endpoint": endpoint.name, "events": list(endpoint.events)}
    (delivery,) = _deliveries_queue(endpoints=[endpoint], event=PING_EVENT, data=data)
    return delivery


def _deliveries_queue(*, endpoints: list[WebhookEndpoint], event: str, data: dict) -> list[WebhookDelivery]:
    if not endpoints:
        return []
    now = timezone.now()
    event_id = uuid.uuid4()
    payload = {"id": str(event_id), "type": event, "created_at": now.isoformat(), "data": data}
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint=endpoint, event=event, event_id=event_id, payload=payload, next_attempt_at=now)
            for endpoint in endpoints
        ]
    )
    for delivery in deliveries:
        _deliver_on_commit(delivery.pk, attempts=0)
    return deliveries


def _deliver_on_commit(delivery_id: int, *, attempts: int) -> None:
    from integrations.tasks import webhook_deliver_task

    # Never run in the request instead: a slow receiver must not hold it. The row is stored,
    # and the due-deliveries sweep queues it once the broker is back.
    task_enqueue_on_commit(webhook_deliver_task, delivery_id, attempts, run_here=False)


def _claim(*, delivery_id: int, now: datetime, attempts: int | None) -> bool:
    claimable = Q(status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING]) | Q(
        status=WebhookDelivery.Status.SENDING, claimed_at__lt=webhook_send_stale_before(now=now)
    )
    if attempts is not None:
        # A task is queued for one attempt: copies of it (the sweep queueing a first try again while
        # workers lag, a redelivered message) find the count moved on and send nothing, instead of
        # each spending an attempt at once and skipping the backoff.
        claimable &= Q(attempts=attempts)
    return bool(
        WebhookDelivery.objects.filter(claimable, pk=delivery_id).update(
            status=WebhookDelivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    )


def _post(*, delivery: WebhookDelivery, now: datetime) -> tuple[int | None, str]:
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "SupportCopilot-Webhooks/1",
        "X-Webhook-Event": delivery.event,
        "X-Webhook-Id": str(delivery.event_id),
        "X-Webhook-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: webhook_signature(secret=delivery.endpoint.secret, timestamp=int(now.timestamp()), body=body),
    }
    try:
        # No redirects: the signed body goes only to the URL the admin configured.
        with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT, follow_redirects=False) as client:
            response = client.post(delivery.endpoint.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


def webhook_delivery_attempt(*, delivery_id: int, attempts: int | None = None) -> WebhookDelivery | None:
    """Try once to deliver. None when the delivery is gone, already delivered, being sent by
    another worker, or (``attempts`` given: the count the task was queued at) tried since."""
    now = timezone.now()
    if not _claim(delivery_id=delivery_id, now=now, attempts=attempts):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    started = time.perf_counter()
    if delivery.endpoint.is_active:
        status_code, error = _post(delivery=delivery, now=now)
    else:
        status_code, error = None, "the endpoint is disabled"
    finished = timezone.now()
    entry = {
        "at": now.isoformat(),
        "attempt": delivery.attempts,
        "status_code": status_code,
        "error": error,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }
    changes = {
        "last_status_code": status_code,
        "last_error": error,
        "attempt_log": [*delivery.attempt_log, entry][-ATTEMPT_LOG_SIZE:],
        "claimed_at": None,
    }
    if not error:
        changes.update(status=WebhookDelivery.Status.SUCCEEDED, delivered_at=finished, next_attempt_at=None)
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS or not delivery.endpoint.is_active:
        changes.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
        logger.warning(
            "Webhook delivery %s failed for good after %s attempts: %s", delivery_id, delivery.attempts, error
        )
    else:
        retry_in = webhook_backoff_seconds(attempts=delivery.attempts)
        changes.update(status=WebhookDelivery.Status.RETRYING, next_attempt_at=finished + timedelta(seconds=retry_in))
    # Only this claim's outcome is written: a sweep that judged the send stale owns the row now.
    WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.SENDING, claimed_at=now).update(
        **changes
    )
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_due_queue(*, limit: int = 500) -> int:
    """Queue the deliveries that are due (the beat schedule runs this); returns how many."""
    now = timezone.now()
    due = webhook_deliveries_due(now=now, limit=limit)
    if not due:
        return 0
    # A lease, so the next sweep does not queue them again while these tasks wait for a worker.
    WebhookDelivery.objects.filter(pk__in=[pk for pk, _ in due], status=WebhookDelivery.Status.RETRYING).update(
        next_attempt_at=now + SWEEP_LEASE
    )
    for delivery_id, attempts in due:
        _deliver_on_commit(delivery_id, attempts=attempts)
    return len(due)


def webhook_delivery_redeliver(*, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, whatever its state: an admin's redeliver. Its attempt log is kept."""
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.claimed_at = None
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "claimed_at"])
    _deliver_on_commit(delivery.pk, attempts=0)
    return delivery


# ---------------------------------------------------------------- the events


def _agent(user) -> str | None:
    return user.get_username() if user is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def webhook_ticket_data(ticket) -> dict:
    return {
        "ticket_id": ticket.reference,
        "kind": ticket.kind,
        "subject": ticket.subject,
        "reason": ticket.reason,
        "priority": ticket.priority,
        "status": ticket.status,
        "assigned_to": _agent(ticket.assignee),
        "conversation_id": ticket.conversation_id,
        "customer_id": ticket.customer.external_id if ticket.customer_id else None,
        "sla_due_at": _iso(ticket.sla_due_at),
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "resolved_at": _iso(ticket.resolved_at),
    }


def escalation_created_publish(*, ticket) -> None:
    webhook_event_publish(event=WebhookEvent.ESCALATION_CREATED, data={"ticket": webhook_ticket_data(ticket)})


def ticket_updated_publish(*, ticket, changes: list[str]) -> None:
    webhook_event_publish(
        event=WebhookEvent.TICKET_UPDATED, data={"ticket": webhook_ticket_data(ticket), "changes": sorted(changes)}
    )


def conversation_resolved_publish(*, conversation, by=None) -> None:
    customer = conversation.customer
    webhook_event_publish(
        event=WebhookEvent.CONVERSATION_RESOLVED,
        data={
            "conversation_id": conversation.pk,
            "public_id": str(conversation.public_id),
            "channel": conversation.channel,
            "customer_id": customer.external_id if customer is not None else None,
            "resolved_by": _agent(by),
            "resolved_at": _iso(conversation.resolved_at),
            "assigned_to": _agent(conversation.assigned_agent),
        },
    )
