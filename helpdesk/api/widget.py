"""REST for the customer widget, authenticated by the conversation token (docs/live-chat.md)."""

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from helpdesk.api.errors import ErrorSerializer, body_parse, service_errors
from helpdesk.api.params import BIGINT_MAX, query_int
from helpdesk.client_ip import request_client_ip
from helpdesk.identity import IdentityError, conversation_token_read
from helpdesk.models import Conversation
from helpdesk.payloads import conversation_public_payload, message_payload
from helpdesk.selectors import (
    AccessRevoked,
    agents_online_get,
    conversation_follow_up_get,
    conversation_for_token,
    messages_for_customer,
)
from helpdesk.services import (
    conversation_contact_email_set,
    conversation_csat_record,
    widget_session_start,
)
from knowledge.api import LiveScopedRateThrottle


class WidgetVisitor:
    """The request's principal: whoever holds this conversation's token. Not a Django user."""

    is_authenticated = True

    def __init__(self, conversation: Conversation):
        self.conversation = conversation
        # Throttling keys on the principal's pk: each conversation has its own budget.
        self.pk = f"conversation-{conversation.pk}"


class ConversationTokenAuthentication(BaseAuthentication):
    """``Authorization: Conversation <token>``; the token opens exactly one conversation."""

    keyword = "Conversation"

    def authenticate(self, request: Request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace") != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Conversation <token>'.")
        claims = conversation_token_read(token=parts[1].decode(errors="replace"))
        if claims is None:
            raise exceptions.AuthenticationFailed("The conversation token is invalid or has expired.")
        try:
            conversation = conversation_for_token(claims=claims)
        except AccessRevoked as exc:
            raise exceptions.AuthenticationFailed("This conversation token has been revoked.") from exc
        if conversation is None:
            raise exceptions.AuthenticationFailed("The conversation token no longer opens a conversation.")
        return WidgetVisitor(conversation), None

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ConversationTokenScheme(OpenApiAuthenticationExtension):
    target_class = ConversationTokenAuthentication
    name = "conversationToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "Conversation <token>"}


class HasConversationToken(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, WidgetVisitor)


class WidgetRateThrottle(LiveScopedRateThrottle):
    scope = "widget"


class CitationSerializer(serializers.Serializer):
    n = serializers.IntegerField(allow_null=True)
    title = serializers.CharField()
    url = serializers.CharField()


class WidgetMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.ChoiceField(choices=["customer", "assistant", "agent", "system"])
    content = serializers.CharField()
    author = serializers.CharField()
    created_at = serializers.DateTimeField()
    citations = CitationSerializer(many=True)
    client_id = serializers.CharField()
    offer_human = serializers.BooleanField()


class AgentNameSerializer(serializers.Serializer):
    name = serializers.CharField()


class WidgetConversationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    language = serializers.CharField()
    agent = AgentNameSerializer(allow_null=True)
    csat = serializers.ChoiceField(choices=Conversation.Csat.choices, allow_null=True)


class WidgetCustomerSerializer(serializers.Serializer):
    name = serializers.CharField()
    verified = serializers.BooleanField()


class FollowUpSerializer(serializers.Serializer):
    by_email = serializers.BooleanField()
    email = serializers.CharField(help_text="Masked address; empty while the visitor has not left one.")


class WidgetStartSerializer(serializers.Serializer):
    customer_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    identity_hash = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=128,
        # ASCII hex only: the HMAC's hexdigest, in either case ([0-9a-f], never \d, which takes any script's digits).
        validators=[RegexValidator(r"^[0-9A-Fa-f]*$", "The hexadecimal HMAC-SHA256 of the customer id.")],
    )
    language = serializers.ChoiceField(
        choices=[code for code, _ in settings.LANGUAGES], required=False, allow_blank=True
    )
    token = serializers.CharField(required=False, allow_blank=True, max_length=512)


class WidgetSessionSerializer(serializers.Serializer):
    token = serializers.CharField()
    conversation = WidgetConversationSerializer()
    customer = WidgetCustomerSerializer(allow_null=True)
    agents_online = serializers.BooleanField()
    follow_up = FollowUpSerializer(allow_null=True)


class WidgetHistorySerializer(serializers.Serializer):
    conversation = WidgetConversationSerializer()
    messages = WidgetMessageSerializer(many=True)
    follow_up = FollowUpSerializer(allow_null=True)


class ContactEmailSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class ContactEmailResultSerializer(serializers.Serializer):
    follow_up = FollowUpSerializer(allow_null=True)


class CsatSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=Conversation.Csat.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class WidgetConversationsView(APIView):
    """Start the widget's conversation, or resume the one a still-valid token names."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [WidgetRateThrottle]
    throttle_scope = "widget"

    @extend_schema(
        request=WidgetStartSerializer,
        responses={
            200: WidgetSessionSerializer,
            201: WidgetSessionSerializer,
            403: OpenApiResponse(ErrorSerializer, description="The identity hash does not vouch for the customer id"),
        },
        tags=["widget"],
    )
    def post(self, request: Request) -> Response:
        data = WidgetStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            session = widget_session_start(
                customer_external_id=data.validated_data.get("customer_id", ""),
                identity_hash=data.validated_data.get("identity_hash", ""),
                language=data.validated_data.get("language", ""),
                token=data.validated_data.get("token", ""),
            )
        except IdentityError as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        customer = session.customer
        body = {
            "token": session.token,
            "conversation": conversation_public_payload(session.conversation),
            "customer": {"name": customer.name, "verified": True} if customer else None,
            "agents_online": bool(agents_online_get()),
            "follow_up": conversation_follow_up_get(conversation=session.conversation),
        }
        return Response(body, status=status.HTTP_200_OK if session.resumed else status.HTTP_201_CREATED)


class WidgetTokenView(APIView):
    """The endpoints a conversation token opens: ``request.user.conversation`` is that conversation."""

    authentication_classes = [ConversationTokenAuthentication]
    permission_classes = [HasConversationToken]
    throttle_classes = [WidgetRateThrottle]
    throttle_scope = "widget"


class WidgetConversationView(WidgetTokenView):
    """The token's conversation and the messages the customer may see."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": BIGINT_MAX},
                description="Only messages with a larger id",
            )
        ],
        responses=WidgetHistorySerializer,
        tags=["widget"],
    )
    def get(self, request: Request) -> Response:
        after = query_int(request, "after", default=0, message="Must be a message id.")
        conversation = request.user.conversation
        messages = messages_for_customer(conversation=conversation, after_id=after)
        return Response(
            {
                "conversation": conversation_public_payload(conversation),
                "messages": [message_payload(m) for m in messages],
                "follow_up": conversation_follow_up_get(conversation=conversation),
            }
        )


class WidgetCsatView(WidgetTokenView):
    """Thumbs up or down, with an optional comment, once the conversation is resolved."""

    @extend_schema(
        request=CsatSerializer,
        responses={
            200: WidgetConversationSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The conversation is not resolved yet"),
        },
        tags=["widget"],
    )
    def post(self, request: Request) -> Response:
        data = body_parse(CsatSerializer, request)
        with service_errors():
            conversation = conversation_csat_record(
                conversation_id=request.user.conversation.pk, rating=data["rating"], comment=data["comment"]
            )
        return Response(conversation_public_payload(conversation))


class WidgetContactEmailView(WidgetTokenView):
    """Where to follow up by email when no agent is online; a queued request is acknowledged there."""

    @extend_schema(request=ContactEmailSerializer, responses=ContactEmailResultSerializer, tags=["widget"])
    def post(self, request: Request) -> Response:
        email = body_parse(ContactEmailSerializer, request)["email"]
        with service_errors():
            conversation = conversation_contact_email_set(
                conversation_id=request.user.conversation.pk, email=email, client_ip=request_client_ip(request)
            )
        return Response({"follow_up": conversation_follow_up_get(conversation=conversation)})
