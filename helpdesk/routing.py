"""Websocket routes: the customer chat (by conversation token) and the agent console.

Both check the Origin header. The console rides on the session cookie, so only the site
itself may open it: the same scheme, host and port as the handshake, as Django's CSRF check
demands of a form. The chat authenticates with its token and is embedded on shop sites, so
it accepts any of our hosts and the origins in WIDGET_ALLOWED_ORIGINS."""

from urllib.parse import urlsplit

from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import path

from helpdesk.consumers import ChatConsumer, ConsoleConsumer

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the default port filled in; None for anything malformed."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname, port


def _handshake_scheme(headers: dict[bytes, bytes], scope: dict) -> str:
    """https when the socket is TLS here or behind the proxy that SECURE_PROXY_SSL_HEADER trusts."""
    if scope.get("scheme") in ("wss", "https"):
        return "https"
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        header = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        if headers.get(header, b"").decode("latin1").split(",")[0].strip() == secure_value:
            return "https"
    return "http"


def websocket_origin_is_own(scope: dict) -> bool:
    """Whether the handshake's Origin is this site itself (or one of CSRF_TRUSTED_ORIGINS)."""
    headers = {name: value for name, value in scope.get("headers", [])}
    origin = headers.get(b"origin", b"").decode("latin1")
    host = headers.get(b"host", b"").decode("latin1").strip()
    domain, _ = split_domain_port(host)
    if not origin or not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    own = _origin_key(f"{_handshake_scheme(headers, scope)}://{host}")
    given = _origin_key(origin)
    if given is None or own is None:
        return False
    return given == own or given in {_origin_key(trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS}


class SameOriginValidator:
    """Refuses the handshake (403) unless ``websocket_origin_is_own``: a page on another port
    of the same host is another origin, and must not ride on an agent's cookie."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if websocket_origin_is_own(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def widget_origin_validator(application):
    validator = AllowedHostsOriginValidator(application)
    validator.allowed_origins = [*validator.allowed_origins, *settings.WIDGET_ALLOWED_ORIGINS]
    return validator


websocket_urlpatterns = [
    path("ws/chat/<str:token>/", widget_origin_validator(ChatConsumer.as_asgi())),
    path("ws/console/", SameOriginValidator(ConsoleConsumer.as_asgi())),
]
