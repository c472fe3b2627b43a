"""The integration API (docs/integrations.md): classic support-workflow endpoints, so an existing
workflow, an email bridge or a partner's backend can use the helpdesk as its backend.

Token authentication only (``Authorization: Token <key>``), for users holding the
``integrations.use_api`` permission. Customers are named by the CRM's id (``cus_1001``).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from crm.models import Customer
from crm.remote import CrmUnavailable
from crm.selectors import account_record_get
from helpdesk.api.errors import service_errors
from helpdesk.api.serializers import ErrorSerializer
from helpdesk.models import Ticket
from helpdesk.selectors import customer_get_by_external_id
from helpdesk.services.retention import customer_erase, customer_export
from integrations.services.support import (
    analytics_log_record,
    api_chat_turn,
    support_escalate,
    support_message_send,
)

TAGS = ["integration"]


class CanUseIntegrationApi(BasePermission):
    message = "This token's user lacks the integrations.use_api permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("integrations.use_api"))


class IntegrationRateThrottle(UserRateThrottle):
    scope = "integration"
    rate = "600/min"


class IntegrationView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [CanUseIntegrationApi]
    throttle_classes = [IntegrationRateThrottle]

    # Export and erase still reach an erased customer (an erasure asked twice is not an error).
    include_erased = False

    def customer(self, external_id: str) -> Customer:
        customer = customer_get_by_external_id(external_id=external_id, include_erased=self.include_erased)
        if customer is None:
            raise exceptions.NotFound("No customer with this id.")
        return customer


NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such customer, account or conversation")


@contextmanager
def _not_found() -> Iterator[None]:
    try:
        yield
    except ObjectDoesNotExist as exc:
        raise exceptions.NotFound(str(exc) or "Not found.") from exc


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class SessionField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(required=False, allow_blank=True, max_length=64, **kwargs)


# ---------------------------------------------------------------- accounts


class AccountSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    customer_id = serializers.CharField()
    status = serializers.CharField()
    subscription_tier = serializers.CharField()
    balance = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    last_payment = serializers.DictField(allow_null=True)


class CrmUnavailableError(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The CRM did not answer; try again later."
    default_code = "crm_unavailable"


class AccountView(IntegrationView):
    @extend_schema(
        tags=TAGS,
        responses={
            200: AccountSerializer,
            404: NOT_FOUND,
            503: OpenApiResponse(ErrorSerializer, description="CRM_BACKEND=http and the CRM did not answer"),
        },
    )
    def get(self, request: Request, account_id: str) -> Response:
        """An account by its number (``ACC-…``) or by its customer's CRM id, from the configured CRM."""
        try:
            found = account_record_get(account_id=account_id)
        except CrmUnavailable as exc:
            raise CrmUnavailableError(f"The CRM did not answer ({exc}); try again later.") from exc
        if found is None:
            raise exceptions.NotFound("No account with this id.")
        customer_id, account = found
        last_payment = (
            {
                "at": account.last_payment_at,
                "amount": str(account.last_payment_amount) if account.last_payment_amount is not None else None,
                "currency": account.currency,
            }
            if account.last_payment_at
            else None
        )
        body = {
            "account_id": account.number,
            "customer_id": customer_id,
            "status": account.status,
            "subscription_tier": account.subscription_tier,
            "balance": account.balance,
            "currency": account.currency,
            "last_payment": last_payment,
        }
        return Response(AccountSerializer(body).data)


# ---------------------------------------------------------------- escalate


class EscalateInSerializer(serializers.Serializer):
    customer_id = serializers.CharField(max_length=64)
    reason = serializers.CharField(max_length=2000)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, default=Ticket.Priority.MEDIUM)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    session_id = SessionField()


class EscalateOutSerializer(serializers.Serializer):
    ticket_id = serializers.CharField()
    status = serializers.CharField()
    assigned_to = serializers.CharField(allow_null=True)
    priority = serializers.CharField()
    session_id = serializers.CharField()


class EscalateView(IntegrationView):
    @extend_schema(tags=TAGS, request=EscalateInSerializer, responses={201: EscalateOutSerializer, 404: NOT_FOUND})
    def post(self, request: Request) -> Response:
        """Hand the customer's conversation to a human: opens an ``ESC-…`` ticket, or returns the open one."""
        data = _validated(EscalateInSerializer, request.data)
        customer = self.customer(data.pop("customer_id"))
        with service_errors(), _not_found():
            ticket = support_escalate(customer=customer, **data)
        body = {
            "ticket_id": ticket.reference,
            "status": "escalated",
            "assigned_to": ticket.assignee.get_username() if ticket.assignee else None,
            "priority": ticket.priority,
            "session_id": str(ticket.conversation.public_id),
        }
        return Response(EscalateOutSerializer(body).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- send


class SendInSerializer(serializers.Serializer):
    customer_id = serializers.CharField(max_length=64)
    message = serializers.CharField(max_length=settings.CHAT_MESSAGE_MAX_CHARS)
    session_id = SessionField()


class SendOutSerializer(serializers.Serializer):
    message_id = serializers.CharField()
    status = serializers.CharField()
    delivery_status = serializers.ChoiceField(choices=["delivered", "email_queued", "stored"])
    session_id = serializers.CharField()


class SendView(IntegrationView):
    @extend_schema(tags=TAGS, request=SendInSerializer, responses={201: SendOutSerializer, 404: NOT_FOUND})
    def post(self, request: Request) -> Response:
        """Send the customer a message from the support team, into their chat."""
        data = _validated(SendInSerializer, request.data)
        customer = self.customer(data["customer_id"])
        with service_errors(), _not_found():
            sent = support_message_send(
                customer=customer, text=data["message"], author=request.user, session_id=data.get("session_id")
            )
        body = {
            "message_id": sent.reference,
            "status": "sent",
            "delivery_status": sent.delivery_status,
            "session_id": str(sent.message.conversation.public_id),
        }
        return Response(SendOutSerializer(body).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- analytics log


class LogInSerializer(serializers.Serializer):
    event = serializers.CharField(max_length=100)
    data = serializers.JSONField(required=False, default=dict)
    customer_id = serializers.CharField(max_length=64, required=False)
    session_id = SessionField()

    def validate_data(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("An object.")
        return value


class LogOutSerializer(serializers.Serializer):
    log_id = serializers.CharField()
    status = serializers.CharField()
    indexed = serializers.BooleanField()


class AnalyticsLogView(IntegrationView):
    @extend_schema(tags=TAGS, request=LogInSerializer, responses={201: LogOutSerializer, 404: NOT_FOUND})
    def post(self, request: Request) -> Response:
        """Record an event from another system; ``indexed`` is true once it is stored and searchable."""
        data = _validated(LogInSerializer, request.data)
        customer = self.customer(data["customer_id"]) if data.get("customer_id") else None
        with service_errors(), _not_found():
            log = analytics_log_record(
                event=data["event"],
                data=data["data"],
                source=request.user,
                customer=customer,
                session_id=data.get("session_id"),
            )
        body = {"log_id": log.reference, "status": "logged", "indexed": log.pk is not None}
        return Response(LogOutSerializer(body).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- chat


class ChatInSerializer(serializers.Serializer):
    customer_id = serializers.CharField(max_length=64)
    message = serializers.CharField(max_length=settings.CHAT_MESSAGE_MAX_CHARS)
    session_id = SessionField()


class ChatOutSerializer(serializers.Serializer):
    response = serializers.CharField(allow_null=True)
    sentiment = serializers.CharField(allow_null=True)
    needs_escalation = serializers.BooleanField()
    session_id = serializers.CharField()


class ChatView(IntegrationView):
    @extend_schema(tags=TAGS, request=ChatInSerializer, responses={200: ChatOutSerializer, 404: NOT_FOUND})
    def post(self, request: Request) -> Response:
        """One customer message through the copilot pipeline; leave out ``session_id`` to start a conversation.

        ``response`` is null while an agent has the conversation (the bot is silent then).
        """
        data = _validated(ChatInSerializer, request.data)
        customer = self.customer(data["customer_id"])
        with service_errors(), _not_found():
            answer = api_chat_turn(customer=customer, text=data["message"], session_id=data.get("session_id"))
        body = {
            "response": answer.response,
            "sentiment": answer.sentiment,
            "needs_escalation": answer.needs_escalation,
            "session_id": str(answer.conversation.public_id),
        }
        return Response(ChatOutSerializer(body).data)


# ---------------------------------------------------------------- privacy


class CustomerExportView(IntegrationView):
    include_erased = True

    @extend_schema(tags=TAGS, responses={200: dict, 404: NOT_FOUND})
    def get(self, request: Request, customer_id: str) -> Response:
        """Everything the helpdesk holds about the customer (a data-access request), as JSON."""
        return Response(customer_export(customer=self.customer(customer_id), by=request.user))


class EraseOutSerializer(serializers.Serializer):
    status = serializers.CharField()
    erased = serializers.DictField(child=serializers.IntegerField())


class CustomerEraseView(IntegrationView):
    include_erased = True

    @extend_schema(tags=TAGS, request=None, responses={200: EraseOutSerializer, 404: NOT_FOUND})
    def post(self, request: Request, customer_id: str) -> Response:
        """Anonymise the customer (a right-to-erasure request); counts and ratings stay for the analytics."""
        report = customer_erase(customer=self.customer(customer_id), by=request.user)
        return Response(EraseOutSerializer({"status": "erased", "erased": report}).data)
