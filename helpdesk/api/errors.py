"""How the services' errors are answered over REST, for the widget's and the agents' APIs alike
(docs/live-chat.md): ``ConversationTaken`` and ``TransitionError`` are 409, other validation
errors 400, an unknown conversation or ticket 404."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request

from helpdesk.models import Conversation, Ticket
from helpdesk.payloads import agent_name
from helpdesk.selectors import AccessRevoked
from helpdesk.services import ConversationTaken, TransitionError
from helpdesk.services.limits import RateLimited


class ErrorSerializer(serializers.Serializer):
    """DRF's shape for every error that is not a field's: ``{"detail": "..."}``."""

    detail = serializers.CharField()


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The conversation's state does not allow this."
    default_code = "conflict"

    def __init__(self, body: dict):
        # A dict detail is answered as it is: {"detail": ..., "owner": ...}.
        super().__init__(detail=body)


@contextmanager
def service_errors() -> Iterator[None]:
    try:
        yield
    except ConversationTaken as exc:
        owner = exc.owner
        body = {"detail": exc.messages[0]}
        if owner is not None:
            body["owner"] = {"username": owner.get_username(), "name": agent_name(owner)}
        raise Conflict(body) from exc
    except TransitionError as exc:
        raise Conflict({"detail": exc.messages[0]}) from exc
    except RateLimited as exc:
        # Before ValidationError, its base: a limit is "wait", not "you sent it wrong".
        raise exceptions.Throttled(detail=exc.messages[0]) from exc
    except DjangoValidationError as exc:
        raise exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc
    except (Conversation.DoesNotExist, Ticket.DoesNotExist) as exc:
        raise exceptions.NotFound() from exc
    except AccessRevoked as exc:
        # The customer was erased while the request was under way: they are gone.
        raise exceptions.NotFound("This customer was erased.") from exc


def body_parse(serializer_class, request: Request) -> dict:
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: under /api/ an address no route takes (``/api/tickets/abc``) is a JSON 404 as
    the API's own are, not Django's HTML page; elsewhere Django's page."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
