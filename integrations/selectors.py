from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from integrations.models import WebhookDelivery, WebhookEndpoint

# A first try is queued when its transaction commits; the sweep only picks it up if that
# queueing was lost (the broker was down), so it waits this long before assuming so.
FIRST_TRY_GRACE = timedelta(seconds=60)


def webhook_endpoints_for_event(*, event: str) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(is_active=True, events__contains=[event]))


def webhook_attempt_seconds_max() -> int:
    """The longest one attempt may run: the webhook task's hard time limit. httpx's timeout bounds
    each phase of a request (connect, write, every read), not the whole of it, so a receiver that
    trickles its answer would outlast the timeout; the worker kills the task at this limit."""
    return int(settings.WEBHOOK_TIMEOUT * 4) + 30


def webhook_send_stale_before(*, now: datetime) -> datetime:
    """A send claimed before this has lost its worker: no attempt outlives its task's time limit."""
    return now - timedelta(seconds=webhook_attempt_seconds_max() + 30)


def webhook_deliveries_due(*, now: datetime, limit: int) -> list[tuple[int, int]]:
    """(id, attempts so far) of the retries that are due, the first tries whose queueing was
    lost, and the sends whose worker died."""
    due = (
        Q(status=WebhookDelivery.Status.RETRYING, next_attempt_at__lte=now)
        | Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now - FIRST_TRY_GRACE)
        | Q(status=WebhookDelivery.Status.SENDING, claimed_at__lt=webhook_send_stale_before(now=now))
    )
    return list(WebhookDelivery.objects.filter(due).order_by("next_attempt_at").values_list("pk", "attempts")[:limit])
