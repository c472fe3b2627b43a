"""How the services' errors are answered over REST, for the widget's and the agents' APIs alike
(docs/live-chat.md): ``ConversationTaken`` and ``TransitionError`` are 409, other validation
errors 400, an unknown conversation or ticket 404."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.request import Request

from helpdesk.models import Conversation, Ticket
from helpdesk.payloads import agent_name
from helpdesk.services import ConversationTaken, TransitionError


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
    except DjangoValidationError as exc:
        raise exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc
    except (Conversation.DoesNotExist, Ticket.DoesNotExist) as exc:
        raise exceptions.NotFound() from exc


def body_parse(serializer_class, request: Request) -> dict:
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data
