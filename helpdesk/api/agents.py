"""REST for the agent console (docs/live-chat.md, "Agent console"): agents and staff only.

Each view parses its input, calls one service or selector and answers; the services'
errors map to HTTP through ``helpdesk.api.errors.service_errors``.
"""

from collections.abc import Callable

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from copilot.models import CopilotTurn
from copilot.selectors import customer_card_for_agents, memory_get, turns_for_conversation
from crm.models import Customer
from helpdesk.api import serializers as s
from helpdesk.api.errors import body_parse, service_errors
from helpdesk.api.permissions import AgentRateThrottle, IsAgent, agent_authentication_classes
from helpdesk.models import Conversation, Message
from helpdesk.payloads import citations_payload, conversation_summary_payload, message_payload
from helpdesk.selectors import (
    TRANSCRIPT_LIMIT,
    agents_list,
    agents_online_get,
    conversation_get_for_agent,
    conversation_queue,
    conversation_reply_email_get,
    customer_conversations,
    customer_get,
    customer_search,
    messages_for_agent,
    reply_suggestion_get,
    ticket_get,
    ticket_queue,
)
from helpdesk.services import (
    agent_message_send,
    conversation_assign,
    conversation_hand_back,
    conversation_resolve,
    conversation_take_over,
    note_add,
    ticket_update,
)

TAGS = ["console"]

NOT_FOUND = OpenApiResponse(s.ErrorSerializer, description="Not found")
CONFLICT = OpenApiResponse(s.ConflictSerializer, description="Another agent has it, or its state forbids this")
STATE_CHANGE = {200: s.ConversationSummarySerializer, 404: NOT_FOUND, 409: CONFLICT}


class AgentPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class AgentAPIView(APIView):
    authentication_classes = agent_authentication_classes()
    permission_classes = [IsAgent]
    throttle_classes = [AgentRateThrottle]
    # List views set AgentPagination; drf-spectacular then documents their pages.
    pagination_class: type[PageNumberPagination] | None = None

    def paginated(self, rows: QuerySet, payload: Callable[[list], list]) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, self.request, view=self)
        return paginator.get_paginated_response(payload(page))


def _query(serializer_class, request: Request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _conversation(pk: int) -> Conversation:
    conversation = conversation_get_for_agent(conversation_id=pk)
    if conversation is None:
        raise exceptions.NotFound("No such conversation.")
    return conversation


# ---------------------------------------------------------------- payloads


def copilot_panel_payload(turns: list[CopilotTurn]) -> dict | None:
    if not turns:
        return None
    latest = turns[-1]
    follow_up = latest.follow_up or {}
    return {
        "turn": latest.pk,
        "created_at": latest.created_at.isoformat(),
        "intent": latest.intent,
        "intent_confidence": latest.intent_confidence,
        "sentiment": latest.sentiment,
        "sentiment_trajectory": [turn.sentiment for turn in turns],
        "urgency": latest.urgency,
        "entities": latest.entities,
        "tools": latest.tools,
        "escalation_reasons": latest.escalation_reasons,
        "citations": citations_payload(latest.citations, with_heading=True),
        "qa_score": latest.qa_score,
        "qa_reasons": latest.qa_reasons,
        "flagged": latest.flagged,
        "follow_up": {"steps": follow_up.get("steps", []), "priority": follow_up.get("priority", "none")},
        "suggested_replies": latest.suggested_replies,
    }


def console_message_payload(message: Message) -> dict:
    """A message as agents see it: the customer's shape plus when it was also emailed.

    ``helpdesk.payloads.message_payload`` is also what the widget gets, so agent-only
    fields are added here and never there.
    """
    return {**message_payload(message), "emailed_at": message.emailed_at.isoformat() if message.emailed_at else None}


def conversation_detail_payload(conversation: Conversation) -> dict:
    """The queue row plus what an agent needs to answer: customer card, open ticket, copilot panel, memory."""
    memory = memory_get(conversation=conversation)
    ticket = ticket_get(ticket_id=getattr(conversation, "ticket_id", None))
    return {
        **conversation_summary_payload(conversation),
        "created_at": conversation.created_at.isoformat(),
        "resolved_at": conversation.resolved_at.isoformat() if conversation.resolved_at else None,
        "csat_comment": conversation.csat_comment,
        "contact_email": conversation.contact_email,
        "reply_email": conversation_reply_email_get(conversation=conversation),
        "ticket": s.TicketSerializer(ticket).data if ticket else None,
        "customer_card": customer_card_for_agents(customer=conversation.customer).as_dict()
        if conversation.customer_id
        else None,
        "copilot": copilot_panel_payload(turns_for_conversation(conversation=conversation)),
        "memory": {
            "summary": memory.summary,
            "facts": memory.facts,
            "pending_actions": memory.pending_actions,
            "resolved_issues": memory.resolved_issues,
        },
    }


def customer_detail_payload(customer: Customer) -> dict:
    return {
        **customer_card_for_agents(customer=customer).as_dict(),
        "phone": customer.phone,
        "conversations": [
            {
                "id": c.pk,
                "status": c.status,
                "subject": c.subject,
                "last_message_at": c.last_message_at.isoformat() if c.last_message_at else None,
            }
            for c in customer_conversations(customer=customer)
        ],
    }


# ---------------------------------------------------------------- views


class ConversationListView(AgentAPIView):
    """The queue: waiting for a human first, then owned by an agent, then with the bot; newest activity first."""

    pagination_class = AgentPagination

    @extend_schema(
        parameters=[s.ConversationQuerySerializer], responses=s.ConversationSummarySerializer(many=True), tags=TAGS
    )
    def get(self, request: Request) -> Response:
        query = _query(s.ConversationQuerySerializer, request)
        rows = conversation_queue(
            agent=request.user,
            status=query.get("status"),
            priority=query.get("priority"),
            mine=query["mine"],
            search=query.get("search") or None,
        )
        return self.paginated(rows, lambda page: [conversation_summary_payload(c) for c in page])


class ConversationView(AgentAPIView):
    @extend_schema(responses={200: s.ConversationDetailSerializer, 404: NOT_FOUND}, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        return Response(conversation_detail_payload(_conversation(pk)))


class ConversationMessagesView(AgentAPIView):
    @extend_schema(
        responses={200: s.TranscriptSerializer, 404: NOT_FOUND},
        description=f"The latest {TRANSCRIPT_LIMIT} messages, internal notes included, oldest first.",
        tags=TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        messages, truncated = messages_for_agent(conversation=_conversation(pk))
        return Response({"messages": [console_message_payload(m) for m in messages], "truncated": truncated})


class ConversationTakeOverView(AgentAPIView):
    @extend_schema(request=None, responses=STATE_CHANGE, tags=TAGS)
    def post(self, request: Request, pk: int) -> Response:
        with service_errors():
            conversation_take_over(conversation_id=pk, agent=request.user)
        return Response(conversation_summary_payload(_conversation(pk)))


class ConversationReplyView(AgentAPIView):
    @extend_schema(
        request=s.TextSerializer,
        responses={201: s.ConsoleMessageSerializer, 404: NOT_FOUND, 409: CONFLICT},
        description="Sent live to the customer. Replying to a conversation nobody has takes it over.",
        tags=TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        text = body_parse(s.TextSerializer, request)["text"]
        with service_errors():
            message = agent_message_send(conversation_id=pk, agent=request.user, text=text)
        return Response(console_message_payload(message), status=status.HTTP_201_CREATED)


class ConversationNotesView(AgentAPIView):
    @extend_schema(
        request=s.TextSerializer,
        responses={201: s.ConsoleMessageSerializer, 404: NOT_FOUND},
        description="An internal note: agents see it, the customer never does.",
        tags=TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        text = body_parse(s.TextSerializer, request)["text"]
        with service_errors():
            message = note_add(conversation_id=pk, agent=request.user, text=text)
        return Response(console_message_payload(message), status=status.HTTP_201_CREATED)


class ConversationHandBackView(AgentAPIView):
    @extend_schema(request=None, responses=STATE_CHANGE, tags=TAGS)
    def post(self, request: Request, pk: int) -> Response:
        with service_errors():
            conversation_hand_back(conversation_id=pk, agent=request.user)
        return Response(conversation_summary_payload(_conversation(pk)))


class ConversationResolveView(AgentAPIView):
    @extend_schema(request=None, responses=STATE_CHANGE, tags=TAGS)
    def post(self, request: Request, pk: int) -> Response:
        with service_errors():
            conversation_resolve(conversation=_conversation(pk), by=request.user)
        return Response(conversation_summary_payload(_conversation(pk)))


class ConversationAssignView(AgentAPIView):
    @extend_schema(
        request=s.AssignSerializer,
        responses=STATE_CHANGE,
        tags=TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        assignee = body_parse(s.AssignSerializer, request)["agent"]
        with service_errors():
            conversation_assign(conversation_id=pk, agent=request.user, assignee=assignee)
        return Response(conversation_summary_payload(_conversation(pk)))


class ConversationSuggestView(AgentAPIView):
    @extend_schema(request=None, responses={200: s.SuggestionSerializer, 404: NOT_FOUND}, tags=TAGS)
    def post(self, request: Request, pk: int) -> Response:
        return Response(reply_suggestion_get(conversation=_conversation(pk)))


class TicketListView(AgentAPIView):
    """Open tickets first, then by priority and SLA."""

    pagination_class = AgentPagination

    @extend_schema(parameters=[s.TicketQuerySerializer], responses=s.TicketSerializer(many=True), tags=TAGS)
    def get(self, request: Request) -> Response:
        query = _query(s.TicketQuerySerializer, request)
        rows = ticket_queue(
            agent=request.user, status=query.get("status"), priority=query.get("priority"), mine=query["mine"]
        )
        return self.paginated(rows, lambda page: s.TicketSerializer(page, many=True).data)


class TicketView(AgentAPIView):
    @extend_schema(responses={200: s.TicketSerializer, 404: NOT_FOUND}, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        ticket = ticket_get(ticket_id=pk)
        if ticket is None:
            raise exceptions.NotFound("No such ticket.")
        return Response(s.TicketSerializer(ticket).data)

    @extend_schema(
        request=s.TicketUpdateSerializer,
        responses={200: s.TicketSerializer, 404: NOT_FOUND, 409: CONFLICT},
        description="Resolving a ticket of a live conversation resolves the conversation; assigning it assigns both.",
        tags=TAGS,
    )
    def patch(self, request: Request, pk: int) -> Response:
        changes = body_parse(s.TicketUpdateSerializer, request)
        with service_errors():
            ticket = ticket_update(
                ticket_id=pk, by=request.user, status=changes.get("status"), assignee=changes.get("assignee")
            )
        return Response(s.TicketSerializer(ticket).data)


class CustomerListView(AgentAPIView):
    pagination_class = AgentPagination

    @extend_schema(parameters=[s.CustomerQuerySerializer], responses=s.CustomerSerializer(many=True), tags=TAGS)
    def get(self, request: Request) -> Response:
        query = _query(s.CustomerQuerySerializer, request)
        rows = customer_search(search=query.get("search", ""))
        return self.paginated(rows, lambda page: s.CustomerSerializer(page, many=True).data)


class CustomerView(AgentAPIView):
    @extend_schema(responses={200: s.CustomerDetailSerializer, 404: NOT_FOUND}, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        customer = customer_get(customer_id=pk)
        if customer is None:
            raise exceptions.NotFound("No such customer.")
        return Response(customer_detail_payload(customer))


class AgentListView(AgentAPIView):
    @extend_schema(responses=s.AgentPresenceSerializer(many=True), tags=TAGS)
    def get(self, request: Request) -> Response:
        online = {profile.pk for profile in agents_online_get()}
        return Response(
            [
                {"username": p.user.get_username(), "name": p.display_name, "online": p.pk in online}
                for p in agents_list()
            ]
        )
