from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from integrations.models import WebhookDelivery, WebhookEndpoint

# A first try is queued when its transaction commits; the sweep only picks it up if that
# queueing was lost (the broker was down), so it waits this long before assuming so.
FIRST_TRY_GRACE = timedelta(seconds=60)


def webhook_endpoints_for_event(*, event: str) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(is_active=True, events__contains=[event]))


def webhook_send_stale_before(*, now: datetime) -> datetime:
    """A send claimed before this has lost its worker: no attempt runs longer than the timeout."""
    return now - timedelta(seconds=settings.WEBHOOK_TIMEOUT + 60)


def webhook_deliveries_due_ids(*, now: datetime, limit: int) -> list[int]:
    """Retries that are due, first tries whose queueing was lost, and sends whose worker died."""
    due = (
        Q(status=WebhookDelivery.Status.RETRYING, next_attempt_at__lte=now)
        | Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now - FIRST_TRY_GRACE)
        | Q(status=WebhookDelivery.Status.SENDING, claimed_at__lt=webhook_send_stale_before(now=now))
    )
    return list(WebhookDelivery.objects.filter(due).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
