"""Websocket routes: the customer chat (by conversation token) and the agent console."""

from django.urls import path

from helpdesk.consumers import ChatConsumer, ConsoleConsumer

websocket_urlpatterns = [
    path("ws/chat/<str:token>/", ChatConsumer.as_asgi()),
    path("ws/console/", ConsoleConsumer.as_asgi()),
]
