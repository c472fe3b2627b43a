"""The client's address, for login lockouts and per-address rate limits.

X-Forwarded-For is trusted only as far as TRUSTED_PROXY_COUNT says: each proxy appends the
address it was connected from, so with N proxies the client is the N-th entry from the
right, and anything further left was written by the client and may be forged.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(*, remote_addr: str, forwarded_for: str = "") -> str:
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0 or not forwarded_for:
        return remote_addr
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    return hops[-proxies] if len(hops) >= proxies else remote_addr


def request_client_ip(request: HttpRequest) -> str:
    return client_ip(
        remote_addr=request.META.get("REMOTE_ADDR", ""), forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", "")
    )


def scope_client_ip(scope: dict) -> str:
    """The same for an ASGI (websocket) scope."""
    peer = scope.get("client") or ("", 0)
    headers = dict(scope.get("headers") or [])
    forwarded_for = headers.get(b"x-forwarded-for", b"").decode("latin-1")
    return client_ip(remote_addr=peer[0] or "", forwarded_for=forwarded_for)
