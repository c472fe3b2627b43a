"""Websocket routes: the customer chat (by conversation token) and the agent console.

Both check the Origin header. The console rides on the session cookie, so only the site
itself may open it: the same scheme, host and port as the handshake, as Django's CSRF check
demands of a form. The chat authenticates with its token and is embedded on shop sites, so
it accepts any of our hosts and the origins in WIDGET_ALLOWED_ORIGINS."""

import logging
from urllib.parse import urlsplit

from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import is_same_domain, split_domain_port, validate_host
from django.urls import path

from helpdesk.consumers import ChatConsumer, ConsoleConsumer

logger = logging.getLogger(__name__)

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


def websocket_origin_is_own(*, scope: dict) -> bool:
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
    return given == own or any(_trusted(given, trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS)


def _trusted(given: tuple[str, str, int], trusted: str) -> bool:
    """Whether an origin matches a CSRF_TRUSTED_ORIGINS entry, "https://*.example.com" included,
    as Django's CSRF check reads them."""
    scheme, _, rest = trusted.strip().lower().partition("://")
    if rest.startswith("*."):
        key = _origin_key(f"{scheme}://{rest[2:]}")
        return key is not None and given[0] == key[0] and given[2] == key[2] and is_same_domain(given[1], rest[1:])
    return given == _origin_key(trusted)


def handshake_headers_problem(*, scope: dict) -> str:
    """Which header of a websocket handshake holds a NUL (raw, or as a cookie's ``\\000``
    escape), or "". The session lookup would carry it to PostgreSQL, which refuses NUL in text:
    the handshake would die with an error instead of a refusal."""
    for name, value in scope.get("headers", []):
        if b"\x00" in value:
            return name.decode("latin1")
        cookies = parse_cookie(value.decode("latin1")) if name == b"cookie" else {}
        if any("\x00" in key + item for key, item in cookies.items()):
            return "cookie"
    return ""


class HandshakeGuard:
    """Refuses (403) a websocket handshake whose headers ``handshake_headers_problem`` objects to,
    before the session middleware reads them."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and (header := handshake_headers_problem(scope=scope)):
            logger.info("Refused a websocket handshake: a NUL in its %s header", header)
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


class SameOriginValidator:
    """Refuses the handshake (403) unless ``websocket_origin_is_own``: a page on another port
    of the same host is another origin, and must not ride on an agent's cookie."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if websocket_origin_is_own(scope=scope):
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
