"""Celery tasks for webhooks: thin, by id, safe to run twice (each attempt claims its row)."""

from celery import shared_task

from integrations.selectors import webhook_attempt_seconds_max
from integrations.services.webhooks import webhook_deliveries_due_queue, webhook_delivery_attempt


@shared_task(time_limit=webhook_attempt_seconds_max())
def webhook_deliver_task(delivery_id: int, attempts: int | None = None) -> str:
    delivery = webhook_delivery_attempt(delivery_id=delivery_id, attempts=attempts)
    return delivery.status if delivery else "skipped"


@shared_task
def webhook_deliveries_due_task() -> int:
    return webhook_deliveries_due_queue()
