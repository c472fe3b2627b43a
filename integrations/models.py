import secrets
import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q


def webhook_secret_new() -> str:
    return secrets.token_urlsafe(32)


class WebhookEvent(models.TextChoices):
    ESCALATION_CREATED = "escalation.created", "escalation.created: the copilot or a customer asked for a human"
    CONVERSATION_RESOLVED = "conversation.resolved", "conversation.resolved: an agent or the customer resolved it"
    TICKET_UPDATED = "ticket.updated", "ticket.updated: status, priority or assignee changed"


# Sent to one endpoint when an admin asks (nobody subscribes to it), to check the URL and the secret.
PING_EVENT = "webhook.ping"
DELIVERY_EVENTS = [*WebhookEvent.choices, (PING_EVENT, "webhook.ping: a test sent from the admin")]


class WebhookEndpoint(models.Model):
    """A receiver that other systems run; admins configure which events it gets."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=200,
        default=webhook_secret_new,
        help_text="Shared with the receiver, which checks each body's HMAC-SHA256 signature with it.",
    )
    events = ArrayField(models.CharField(max_length=40, choices=WebhookEvent.choices), default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~Q(secret=""), name="integrations_webhook_secret_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


class WebhookDelivery(models.Model):
    """One event for one endpoint, with every attempt to deliver it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=DELIVERY_EVENTS)
    # The same for every endpoint the event went to; receivers de-duplicate on it.
    event_id = models.UUIDField(default=uuid.uuid4)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    attempt_log = models.JSONField(default=list, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="integrations_delivery_once_per_endpoint"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "retrying", "succeeded", "failed"]),
                name="integrations_delivery_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "retrying"]),
                name="integrations_delivery_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint.name} ({self.status})"


class IntegrationLog(models.Model):
    """An event another system records through ``POST /api/analytics/log``."""

    event = models.CharField(max_length=100)
    customer = models.ForeignKey(
        "crm.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="integration_logs"
    )
    conversation = models.ForeignKey(
        "helpdesk.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="integration_logs"
    )
    data = models.JSONField(default=dict, blank=True)
    source = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="integration_logs"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        # Whoever holds a token with this permission may call the integration API (docs/integrations.md).
        permissions = [("use_api", "Can call the integration API")]
        constraints = [models.CheckConstraint(condition=~Q(event=""), name="integrations_log_event_not_empty")]
        indexes = [
            models.Index(fields=["event", "-created_at"], name="integrations_log_event_idx"),
            GinIndex(fields=["data"], name="integrations_log_data_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.event}"

    @property
    def reference(self) -> str:
        return f"LOG-{self.pk or 0:06d}"
