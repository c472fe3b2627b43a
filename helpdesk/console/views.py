"""The agent console: a server-rendered shell; the queue, transcript and copilot panel are
filled by ``static/console/console.js`` from the agent REST API and ``ws/console/``
(docs/live-chat.md)."""

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from helpdesk.models import AgentProfile, Conversation, Ticket
from helpdesk.payloads import agent_name
from helpdesk.selectors import user_is_agent


class ConsoleAuthenticationForm(AuthenticationForm):
    """Only agents and staff may sign in here; anyone else is told so instead of a bare 403."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "not_agent": "This account has no access to the agent console.",
    }

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not user_is_agent(user=user):
            raise forms.ValidationError(self.error_messages["not_agent"], code="not_agent")


class ConsoleLoginView(auth_views.LoginView):
    template_name = "console/login.html"
    authentication_form = ConsoleAuthenticationForm
    redirect_authenticated_user = True


def console_locked(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """django-axes' lockout response (AXES_LOCKOUT_CALLABLE), for the console and admin logins."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return render(request, "console/locked.html", {"username": username, "minutes": minutes}, status=429)


class ConsoleLogoutView(auth_views.LogoutView):
    """POST only (Django's LogoutView refuses GET); back to the console's login page."""

    next_page = "console:login"


STATUS_FILTERS = [
    ("", "All"),
    (Conversation.Status.PENDING_HUMAN, "Waiting for agent"),
    (Conversation.Status.HUMAN, "With agent"),
    (Conversation.Status.BOT, "Bot"),
    (Conversation.Status.RESOLVED, "Resolved"),
]


@require_safe
@login_required
@ensure_csrf_cookie
def console_index(request: HttpRequest) -> HttpResponse:
    if not user_is_agent(user=request.user):
        return render(request, "console/forbidden.html", status=403)
    user = request.user
    config = {
        "user": {"username": user.get_username(), "name": _display_name(user), "is_staff": user.is_staff},
        "api": "/api/",
        "websocket": "/ws/console/",
        "ping_seconds": 25,
        "presence_timeout": getattr(settings, "AGENT_PRESENCE_TIMEOUT", 90),
    }
    return render(
        request,
        "console/index.html",
        {
            "config": config,
            "display_name": config["user"]["name"],
            "status_filters": STATUS_FILTERS,
            "priority_filters": [("", "Any priority"), *reversed(Ticket.Priority.choices)],
        },
    )


def _display_name(user) -> str:
    try:
        profile = user.agent_profile
    except AgentProfile.DoesNotExist:
        profile = None
    return (profile.display_name if profile else "") or agent_name(user)
