"""ASGI entry point: daphne serves HTTP and websockets from this one application."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings.production")

# Django must be set up before anything imports models, routing included.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from helpdesk.routing import HandshakeGuard, websocket_urlpatterns  # noqa: E402
from helpdesk.websocket_protocol import websocket_protocol_configure  # noqa: E402

websocket_protocol_configure()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Each route checks its own origins (helpdesk/routing.py).
        "websocket": HandshakeGuard(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
