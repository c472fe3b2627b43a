"""Websocket routes: the customer chat (by conversation token) and the agent console.

Both check the Origin header. The console rides on the session cookie, so only our own
hosts may open it; the chat authenticates with its token and is embedded on shop sites,
so it also accepts the origins in WIDGET_ALLOWED_ORIGINS."""

from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.urls import path

from helpdesk.consumers import ChatConsumer, ConsoleConsumer


def widget_origin_validator(application):
    validator = AllowedHostsOriginValidator(application)
    validator.allowed_origins = [*validator.allowed_origins, *settings.WIDGET_ALLOWED_ORIGINS]
    return validator


websocket_urlpatterns = [
    path("ws/chat/<str:token>/", widget_origin_validator(ChatConsumer.as_asgi())),
    path("ws/console/", AllowedHostsOriginValidator(ConsoleConsumer.as_asgi())),
]
