"""Input and output shapes of the agents' REST API (docs/live-chat.md, "Agent console").

Conversations and messages go out as the dicts of ``helpdesk.payloads`` (the same shapes
the console's websocket sends); their serializers here document those dicts for the
OpenAPI schema. Tickets and customers are serialized from their rows.

Only the conversation's status is an enum under the name ``status``: drf-spectacular
names enums by field name, and a second choice set called ``status`` would collide with
it. Other statuses are documented as strings listing their values.
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from copilot.models import URGENCIES
from crm.models import Customer
from helpdesk.api.errors import ErrorSerializer
from helpdesk.api.widget import CitationSerializer
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.payloads import agent_name

# The widget's limit on a message; an agent's reply is held to the same.
MAX_TEXT_LENGTH = 4000


def _values(choices) -> str:
    return ", ".join(value for value, _ in choices)


def _eligible_users():
    return get_user_model().objects.filter(is_active=True)


@extend_schema_field({"type": "string", "description": f"One of: {_values(Ticket.Status.choices)}."})
class TicketStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=Ticket.Status.choices, **kwargs)


# ---------------------------------------------------------------- input


class ConversationQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)
    priority = serializers.ChoiceField(
        choices=Ticket.Priority.choices, required=False, help_text="The open ticket's priority"
    )
    mine = serializers.BooleanField(required=False, default=False, help_text="Only conversations assigned to me")
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Customer name, email or id, or the subject"
    )


class TicketQuerySerializer(serializers.Serializer):
    status = TicketStatusField(required=False)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    mine = serializers.BooleanField(required=False, default=False, help_text="Only tickets assigned to me")


class CustomerQuerySerializer(serializers.Serializer):
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Name or email (contains), or the exact id"
    )


class TextSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_TEXT_LENGTH)


class AssignSerializer(serializers.Serializer):
    agent = serializers.SlugRelatedField(
        slug_field="username", queryset=_eligible_users(), help_text="The username of the agent to assign"
    )


class TicketUpdateSerializer(serializers.Serializer):
    status = TicketStatusField(required=False)
    assignee = serializers.SlugRelatedField(
        slug_field="username", queryset=_eligible_users(), required=False, help_text="An agent's username"
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("Give a status, an assignee or both.")
        return attrs


# ---------------------------------------------------------------- conversations (payload dicts)


class AgentRefSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()


class UserAgentSerializer(AgentRefSerializer):
    """An agent from their user row."""

    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return agent_name(user)


class CustomerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.ChoiceField(choices=Customer.Tier.choices)


class TicketRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices)
    status = serializers.CharField(help_text=f"One of: {_values(Ticket.Status.choices)}.")


class ConversationSummarySerializer(serializers.Serializer):
    """One row of the queue: ``helpdesk.payloads.conversation_summary_payload``."""

    id = serializers.IntegerField()
    public_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    channel = serializers.ChoiceField(choices=Conversation.Channel.choices)
    language = serializers.CharField()
    customer = CustomerRefSerializer(allow_null=True)
    subject = serializers.CharField(allow_blank=True)
    last_message = serializers.CharField(allow_blank=True, help_text="The latest customer-visible message, cut short")
    last_message_at = serializers.DateTimeField(allow_null=True)
    ticket = TicketRefSerializer(allow_null=True, help_text="The open ticket")
    assigned_agent = AgentRefSerializer(allow_null=True)
    intent = serializers.CharField(allow_blank=True, help_text="The copilot's latest reading")
    sentiment = serializers.CharField(allow_blank=True, help_text="The copilot's latest reading")
    csat = serializers.ChoiceField(choices=Conversation.Csat.choices, allow_null=True)


class ConsoleMessageSerializer(serializers.Serializer):
    """``helpdesk.api.agents.console_message_payload``: ``helpdesk.payloads.message_payload``
    plus ``emailed_at``; agents also see internal notes. The websocket's message frames
    carry the customer's shape, without ``emailed_at``."""

    id = serializers.IntegerField()
    conversation = serializers.IntegerField()
    role = serializers.ChoiceField(choices=Message.Role.choices)
    content = serializers.CharField()
    author = serializers.CharField(allow_blank=True, help_text="The agent's name; empty for the customer and the bot")
    created_at = serializers.DateTimeField()
    citations = CitationSerializer(many=True)
    client_id = serializers.CharField(allow_blank=True)
    offer_human = serializers.BooleanField()
    emailed_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When an agent's reply was also emailed to the customer (an email follow-up); "
        "null until the email has gone out, which is after the reply is stored",
    )


class TranscriptSerializer(serializers.Serializer):
    messages = ConsoleMessageSerializer(many=True, help_text="Oldest first")
    truncated = serializers.BooleanField(help_text="Older messages exist beyond the ones returned")


class CustomerAccountSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField(help_text="active, suspended or refund_eligible")
    subscription_tier = serializers.CharField()


class CustomerOrderSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    placed_at = serializers.DateField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()


class CustomerTicketSerializer(serializers.Serializer):
    reference = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.CharField()


class CustomerCardSerializer(serializers.Serializer):
    """``copilot.selectors.customer_card_for_agents``: who the customer is, their account and latest orders."""

    id = serializers.IntegerField()
    external_id = serializers.CharField()
    name = serializers.CharField()
    first_name = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    tier = serializers.ChoiceField(choices=Customer.Tier.choices)
    locale = serializers.CharField()
    account = CustomerAccountSerializer(allow_null=True)
    recent_orders = CustomerOrderSerializer(many=True)
    open_tickets = CustomerTicketSerializer(many=True)
    crm_error = serializers.CharField(
        allow_blank=True, help_text="Why the external CRM's account and orders are missing; empty when shown."
    )


class CopilotCitationSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.CharField()
    heading = serializers.CharField(allow_blank=True)


class CopilotFollowUpSerializer(serializers.Serializer):
    # Not "FollowUpSerializer": the widget's email follow-up (helpdesk.api.widget) has that
    # name, and drf-spectacular names schema components after the class.

    steps = serializers.ListField(child=serializers.CharField())
    priority = serializers.CharField(help_text="The ticket's priority, or none")


class CopilotPanelSerializer(serializers.Serializer):
    """What the copilot made of the conversation, from its latest turn."""

    turn = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    intent = serializers.CharField(allow_blank=True)
    intent_confidence = serializers.FloatField()
    sentiment = serializers.CharField()
    sentiment_trajectory = serializers.ListField(child=serializers.CharField(), help_text="One per turn, oldest first")
    urgency = serializers.ChoiceField(choices=[(u, u) for u in URGENCIES])
    entities = serializers.JSONField()
    tools = serializers.JSONField(help_text="The account and order tools the turn called, with their results")
    escalation_reasons = serializers.ListField(child=serializers.CharField())
    citations = CopilotCitationSerializer(many=True)
    qa_score = serializers.FloatField(allow_null=True, help_text="0-10")
    qa_reasons = serializers.ListField(child=serializers.CharField())
    flagged = serializers.BooleanField()
    follow_up = CopilotFollowUpSerializer(
        help_text="Next steps for the agent; empty until the turn's follow-up has run"
    )
    suggested_replies = serializers.ListField(child=serializers.CharField())


class MemorySerializer(serializers.Serializer):
    summary = serializers.CharField(allow_blank=True)
    facts = serializers.DictField()
    pending_actions = serializers.ListField(child=serializers.DictField())
    resolved_issues = serializers.ListField(child=serializers.DictField())


class TicketSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    kind = serializers.ChoiceField(choices=Ticket.Kind.choices)
    subject = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices)
    status = TicketStatusField()
    sla_due_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    conversation = serializers.IntegerField(source="conversation_id", allow_null=True)
    customer = CustomerRefSerializer(allow_null=True)
    assignee = UserAgentSerializer(allow_null=True)
    follow_up_by_email = serializers.BooleanField(
        help_text="No agent was online at escalation: the customer was promised an answer by email, "
        "and agents' replies on the conversation are also emailed"
    )
    follow_up_acknowledged_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the acknowledgement email went out; null until then (e.g. while no address is known)",
    )


class ConversationDetailSerializer(ConversationSummarySerializer):
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    csat_comment = serializers.CharField(allow_blank=True)
    contact_email = serializers.CharField(
        allow_blank=True, help_text="The address a visitor left for an email follow-up; empty if none"
    )
    reply_email = serializers.CharField(
        allow_blank=True,
        help_text="Where an email follow-up goes: contact_email, else the verified customer's CRM email; "
        "empty while no address is known",
    )
    ticket = TicketSerializer(allow_null=True, help_text="The open ticket, in full")
    customer_card = CustomerCardSerializer(allow_null=True)
    copilot = CopilotPanelSerializer(allow_null=True, help_text="Null until the copilot has answered once")
    memory = MemorySerializer()


class SuggestionSerializer(serializers.Serializer):
    text = serializers.CharField()
    source = serializers.ChoiceField(
        choices=[("copilot", "copilot"), ("last_answer", "last_answer"), ("greeting", "greeting")],
        help_text="copilot: the latest turn's draft; last_answer: the bot's last answer; greeting: an opener",
    )


# ---------------------------------------------------------------- customers and agents


class CustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    tier = serializers.ChoiceField(choices=Customer.Tier.choices)
    locale = serializers.CharField()
    account = CustomerAccountSerializer(allow_null=True)


class CustomerConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    subject = serializers.CharField(allow_blank=True)
    last_message_at = serializers.DateTimeField(allow_null=True)


class CustomerDetailSerializer(CustomerCardSerializer):
    phone = serializers.CharField(allow_blank=True)
    conversations = CustomerConversationSerializer(many=True, help_text="The latest ones")


class AgentPresenceSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    online = serializers.BooleanField()


# ---------------------------------------------------------------- errors
# ErrorSerializer ({"detail": ...}) lives in helpdesk.api.errors, beside the errors it documents.


class ConflictSerializer(ErrorSerializer):
    owner = AgentRefSerializer(required=False, help_text="When another agent has the conversation")
