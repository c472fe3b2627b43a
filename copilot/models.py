from django.db import models
from django.db.models import Q
from pgvector.django import VectorField

from knowledge.models import EMBEDDING_DIMENSIONS

SENTIMENTS = ["positive", "neutral", "negative", "frustrated", "angry"]
URGENCIES = ["low", "medium", "high"]


class Intent(models.Model):
    """One class of the taxonomy the copilot sorts customer messages into; shops edit it in admin."""

    class Tool(models.TextChoices):
        NONE = "", "None"
        ACCOUNT_STATUS = "account_status", "Account status"
        ORDER_STATUS = "order_status", "Order status"
        RETURN_ELIGIBILITY = "return_eligibility", "Return eligibility"

    name = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    tool = models.CharField(max_length=32, choices=Tool.choices, blank=True, default=Tool.NONE)
    # A message with this intent is a request for a human, e.g. human_request.
    escalates = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(tool__in=["", "account_status", "order_status", "return_eligibility"]),
                name="copilot_intent_tool_valid",
            ),
            models.CheckConstraint(condition=~Q(label=""), name="copilot_intent_label_not_empty"),
        ]

    def __str__(self) -> str:
        return self.label


class IntentExample(models.Model):
    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="examples")
    text = models.CharField(max_length=500)
    # Filled lazily before training. The vector is stale when the text was edited since
    # (``embedded_text`` differs) or another model made it.
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=100, blank=True, editable=False)
    embedded_text = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["intent", "id"]
        constraints = [
            models.UniqueConstraint(fields=["intent", "text"], name="copilot_example_unique_text"),
            models.CheckConstraint(condition=~Q(text=""), name="copilot_example_text_not_empty"),
        ]

    def __str__(self) -> str:
        return self.text


class ConversationMemory(models.Model):
    """What the copilot remembers about one conversation beyond its raw messages."""

    conversation = models.OneToOneField("helpdesk.Conversation", on_delete=models.CASCADE, related_name="memory")
    summary = models.TextField(blank=True)
    # Facts carried between turns, e.g. {"order_number": "12345"}.
    facts = models.JSONField(default=dict, blank=True)
    pending_actions = models.JSONField(default=list, blank=True)
    resolved_issues = models.JSONField(default=list, blank=True)
    sentiment_trajectory = models.JSONField(default=list, blank=True)
    # Turns in a row where the copilot could not help; two escalate.
    failure_streak = models.PositiveSmallIntegerField(default=0)
    turn_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "conversation memories"

    def __str__(self) -> str:
        return f"Memory of conversation {self.conversation_id}"


class CopilotTurn(models.Model):
    """The trace of one copilot turn: what it saw, decided and answered, and how long each step took."""

    class Delivery(models.TextChoices):
        VERIFIED = "verified", "Verified before sending"
        STREAM = "stream", "Streamed with sentence guards"

    conversation = models.ForeignKey("helpdesk.Conversation", on_delete=models.CASCADE, related_name="copilot_turns")
    # One turn per customer message: a redelivered message is not answered twice.
    customer_message = models.OneToOneField("helpdesk.Message", on_delete=models.CASCADE, related_name="copilot_turn")
    reply = models.OneToOneField("helpdesk.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    engine = models.CharField(max_length=16)
    model = models.CharField(max_length=100, blank=True)
    delivery = models.CharField(max_length=16, choices=Delivery.choices)
    # Why (part of) the turn fell back to the offline engine; empty when it did not.
    fallback = models.TextField(blank=True)
    steps = models.JSONField(default=list, blank=True)
    total_ms = models.PositiveIntegerField(default=0)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    llm_calls = models.PositiveSmallIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    language = models.CharField(max_length=8)
    intent = models.CharField(max_length=64, blank=True)
    intent_confidence = models.FloatField(default=0.0)
    sentiment = models.CharField(max_length=16, choices=[(s, s) for s in SENTIMENTS], default="neutral")
    urgency = models.CharField(max_length=8, choices=[(u, u) for u in URGENCIES], default="low")
    entities = models.JSONField(default=dict, blank=True)
    tools = models.JSONField(default=list, blank=True)
    retrieval_confidence = models.FloatField(null=True, blank=True)
    citations = models.JSONField(default=list, blank=True)
    escalated = models.BooleanField(default=False)
    escalation_reasons = models.JSONField(default=list, blank=True)
    ticket = models.ForeignKey(
        "helpdesk.Ticket", on_delete=models.SET_NULL, null=True, blank=True, related_name="copilot_turns"
    )
    qa_score = models.FloatField(null=True, blank=True)
    qa_reasons = models.JSONField(default=list, blank=True)
    regenerated = models.BooleanField(default=False)
    # Agents should look at this turn: a low QA score or a guard that held a sentence back.
    flagged = models.BooleanField(default=False)
    guard_blocks = models.JSONField(default=list, blank=True)
    suggested_replies = models.JSONField(default=list, blank=True)
    follow_up = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(qa_score__isnull=True) | (Q(qa_score__gte=0) & Q(qa_score__lte=10)),
                name="copilot_turn_qa_score_range",
            ),
            models.CheckConstraint(condition=Q(sentiment__in=SENTIMENTS), name="copilot_turn_sentiment_valid"),
            models.CheckConstraint(condition=Q(urgency__in=URGENCIES), name="copilot_turn_urgency_valid"),
            models.CheckConstraint(
                condition=Q(delivery__in=["verified", "stream"]), name="copilot_turn_delivery_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "-created_at"], name="copilot_turn_conv_idx"),
            models.Index(fields=["-created_at"], name="copilot_turn_created_idx"),
            models.Index(fields=["intent", "-created_at"], name="copilot_turn_intent_idx"),
        ]

    def __str__(self) -> str:
        return f"Turn {self.pk} of conversation {self.conversation_id}"


class AnalyticsEvent(models.Model):
    """A fact for dashboards, written once per turn in the background."""

    class Kind(models.TextChoices):
        TURN = "turn", "Copilot turn"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    turn = models.ForeignKey(CopilotTurn, on_delete=models.CASCADE, related_name="events")
    conversation = models.ForeignKey("helpdesk.Conversation", on_delete=models.CASCADE, related_name="+")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A retried task does not count the same turn twice.
            models.UniqueConstraint(fields=["turn", "kind"], name="copilot_event_once_per_turn"),
            models.CheckConstraint(condition=Q(kind__in=["turn"]), name="copilot_event_kind_valid"),
        ]
        indexes = [models.Index(fields=["kind", "-created_at"], name="copilot_event_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} event of turn {self.turn_id}"
