import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    class Channel(models.TextChoices):
        WIDGET = "widget", "Website widget"
        EMAIL = "email", "Email"
        API = "api", "API"
        CLI = "cli", "Command line"

    class Status(models.TextChoices):
        BOT = "bot", "Bot"
        PENDING_HUMAN = "pending_human", "Waiting for a human"
        HUMAN = "human", "Human"
        RESOLVED = "resolved", "Resolved"

    class Csat(models.TextChoices):
        UP = "up", "Thumbs up"
        DOWN = "down", "Thumbs down"

    # Opaque id for clients; conversation tokens are signed over it, never over the pk.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "crm.Customer", on_delete=models.CASCADE, null=True, blank=True, related_name="conversations"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WIDGET)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOT)
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
    )
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    subject = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # When each side first wrote: set by ``message_create``, read by the analytics' response times.
    first_customer_message_at = models.DateTimeField(null=True, blank=True)
    first_bot_reply_at = models.DateTimeField(null=True, blank=True)
    first_agent_reply_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    csat = models.CharField(max_length=4, choices=Csat.choices, blank=True)
    csat_comment = models.TextField(blank=True)
    csat_at = models.DateTimeField(null=True, blank=True)
    # Where a visitor asked to be answered when no agent was online; a verified customer's
    # CRM email is used when this is empty.
    contact_email = models.EmailField(blank=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["bot", "pending_human", "human", "resolved"]),
                name="helpdesk_conversation_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="human") | Q(assigned_agent__isnull=False),
                name="helpdesk_conversation_human_has_agent",
            ),
            models.CheckConstraint(
                condition=~Q(status="resolved") | Q(resolved_at__isnull=False),
                name="helpdesk_conversation_resolved_has_date",
            ),
            models.CheckConstraint(condition=Q(csat__in=["", "up", "down"]), name="helpdesk_conversation_csat_valid"),
        ]
        indexes = [
            models.Index(fields=["status", "-last_message_at"], name="helpdesk_conv_status_idx"),
            models.Index(fields=["customer", "-last_message_at"], name="helpdesk_conv_customer_idx"),
            models.Index(fields=["assigned_agent", "status"], name="helpdesk_conv_agent_idx"),
            # The analytics page selects conversations by when they started.
            models.Index(fields=["created_at"], name="helpdesk_conv_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.get_status_display()})"

    @property
    def bot_active(self) -> bool:
        return self.status == self.Status.BOT


class Message(models.Model):
    class Role(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        ASSISTANT = "assistant", "Assistant"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"
        NOTE = "note", "Internal note"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    # Set by the client per message it sends; a resend with the same id is not stored twice.
    client_message_id = models.CharField(max_length=64, blank=True, default="")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When an agent's reply was also sent to the customer by email (an email follow-up).
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_message_id"],
                condition=~Q(client_message_id=""),
                name="helpdesk_message_client_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["customer", "assistant", "agent", "system", "note"]),
                name="helpdesk_message_role_valid",
            ),
            models.CheckConstraint(condition=~Q(content=""), name="helpdesk_message_content_not_empty"),
        ]
        indexes = [
            models.Index(fields=["conversation", "id"], name="helpdesk_message_conv_idx"),
            # First answer of each kind per conversation, for the analytics' response times.
            models.Index(fields=["conversation", "role", "created_at"], name="helpdesk_message_role_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.content[:60]}"

    @property
    def is_visible_to_customer(self) -> bool:
        return self.role != self.Role.NOTE


# Ticket priorities from least to most pressing, for comparing and ordering them.
TICKET_PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "urgent": 3}


class Ticket(models.Model):
    class Kind(models.TextChoices):
        ESCALATION = "escalation", "Escalation"
        REQUEST = "request", "Request"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    OPEN_STATUSES = (Status.OPEN, Status.PENDING)

    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    customer = models.ForeignKey(
        "crm.Customer", on_delete=models.CASCADE, null=True, blank=True, related_name="tickets"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REQUEST)
    subject = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    sla_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # No agent was online at escalation, so the customer was promised an answer by email;
    # the acknowledgement email went out at follow_up_acknowledged_at.
    follow_up_by_email = models.BooleanField(default=False)
    follow_up_acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One live escalation per conversation: repeated escalation decisions reuse it.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(kind="escalation", status__in=["open", "pending"]),
                name="helpdesk_ticket_one_open_escalation",
            ),
            models.CheckConstraint(condition=Q(kind__in=["escalation", "request"]), name="helpdesk_ticket_kind_valid"),
            models.CheckConstraint(
                condition=Q(priority__in=["low", "medium", "high", "urgent"]), name="helpdesk_ticket_priority_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "pending", "resolved", "closed"]), name="helpdesk_ticket_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "pending"]) | Q(resolved_at__isnull=False),
                name="helpdesk_ticket_resolved_has_date",
            ),
            models.CheckConstraint(condition=~Q(subject=""), name="helpdesk_ticket_subject_not_empty"),
        ]
        indexes = [
            models.Index(fields=["status", "priority", "sla_due_at"], name="helpdesk_ticket_queue_idx"),
            models.Index(fields=["assignee", "status"], name="helpdesk_ticket_assignee_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.subject}"

    @property
    def reference(self) -> str:
        prefix = "ESC" if self.kind == self.Kind.ESCALATION else "REQ"
        return f"{prefix}-{self.pk or 0:06d}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class AgentProfile(models.Model):
    class Presence(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    display_name = models.CharField(max_length=100)
    presence = models.CharField(max_length=8, choices=Presence.choices, default=Presence.OFFLINE)
    max_concurrent_chats = models.PositiveSmallIntegerField(default=5)
    # Open console sockets; with a recent heartbeat (last_seen_at) the agent is online.
    console_connections = models.PositiveSmallIntegerField(default=0)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(presence__in=["online", "away", "offline"]), name="helpdesk_agent_presence_valid"
            ),
            models.CheckConstraint(condition=~Q(display_name=""), name="helpdesk_agent_display_name_not_empty"),
        ]
        indexes = [models.Index(fields=["presence"], name="helpdesk_agent_presence_idx")]

    def __str__(self) -> str:
        return self.display_name


class AuditEntry(models.Model):
    """Who did what to which conversation or customer: agents' and admins' actions, for the record."""

    class Action(models.TextChoices):
        TAKEOVER = "takeover", "Took over a conversation"
        ASSIGN = "assign", "Assigned a conversation"
        RESOLVE = "resolve", "Resolved a conversation"
        EXPORT = "export", "Exported a customer's data"
        ERASE = "erase", "Erased a customer's data"
        PURGE = "purge", "Purged old conversations"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    # Kept as text: the entry outlives the user, and an erased customer must not be re-identifiable by it.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    conversation_id = models.PositiveBigIntegerField(null=True, blank=True)
    customer_id = models.PositiveBigIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["takeover", "assign", "resolve", "export", "erase", "purge"]),
                name="helpdesk_audit_action_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation_id", "-created_at"], name="helpdesk_audit_conv_idx"),
            models.Index(fields=["customer_id", "-created_at"], name="helpdesk_audit_customer_idx"),
            models.Index(fields=["actor", "-created_at"], name="helpdesk_audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'}: {self.get_action_display()}"
