"""Who may use the agents' REST API, and how often."""

from django.apps import apps
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import UserRateThrottle

from helpdesk.selectors import user_is_agent


class IsAgent(BasePermission):
    """Staff and users with an agent profile; customers never have a login."""

    message = "Only support agents and staff can use the console API."

    def has_permission(self, request, view) -> bool:
        return user_is_agent(user=request.user)


class AgentRateThrottle(UserRateThrottle):
    """A generous per-agent ceiling: the console polls and clicks, a runaway script is stopped."""

    scope = "agent"
    rate = "600/min"


def agent_authentication_classes() -> list:
    """The console's login session (with CSRF), and ``Authorization: Token <key>`` once the
    ``rest_framework.authtoken`` app is installed. Session comes first, so an anonymous
    request is answered 403, as the rest of the API does."""
    classes: list = [SessionAuthentication]
    if apps.is_installed("rest_framework.authtoken"):
        classes.append(TokenAuthentication)
    return classes
