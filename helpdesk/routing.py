"""Websocket routes. The customer chat and agent console consumers are added with live chat."""

websocket_urlpatterns: list = []
